//go:build !js

package gpu

import (
	"fmt"
	"strings"
	"sync"

	"github.com/oliverbestmann/webgpu/wgpu"
)

// Backend bits of wgpu-native's WGPUInstanceBackend.
var backendBits = map[string]wgpu.InstanceBackend{
	"vulkan": 1 << 0, "gl": 1 << 1, "metal": 1 << 2, "dx12": 1 << 3,
}

func openPlatform(opt Options) (*Device, error) {
	var backends wgpu.InstanceBackend
	if opt.Backend != "" {
		b, ok := backendBits[strings.ToLower(opt.Backend)]
		if !ok {
			return nil, errorf("open", "unknown backend %q (want vulkan, metal, dx12 or gl)", opt.Backend)
		}
		backends = b
	}
	inst := wgpu.CreateInstance(&wgpu.InstanceDescriptor{Backends: backends})
	adapters := inst.EnumerateAdapters(&wgpu.InstanceEnumerateAdapterOptons{Backends: backends})
	a, err := chooseAdapter(adapters, opt.Adapter)
	// Release every adapter but the one kept, and the instance on failure,
	// now rather than whenever the garbage collector gets to them.
	for _, x := range adapters {
		if x != a {
			x.Release()
		}
	}
	if err != nil {
		inst.Release()
		return nil, err
	}
	var req []wgpu.FeatureName
	f := Features{}
	if a.HasFeature(wgpu.FeatureNameShaderF16) {
		req, f.ShaderF16 = append(req, wgpu.FeatureNameShaderF16), true
	}
	if a.HasFeature(wgpu.FeatureNameTimestampQuery) {
		req, f.Timestamps = append(req, wgpu.FeatureNameTimestampQuery), true
	}
	// naga accepts subgroup builtins under wgpu-native's own feature only.
	if a.HasFeature(wgpu.NativeFeatureSubgroup) {
		req, f.Subgroups = append(req, wgpu.NativeFeatureSubgroup), true
	}
	al := a.GetLimits()
	lost := &lostState{}
	dev, err := a.RequestDevice(&wgpu.DeviceDescriptor{
		Label:            "webfuser",
		RequiredFeatures: req,
		RequiredLimits:   &al, // the adapter's best, not WebGPU's defaults
		// The driver reports a lost device here, on any thread.
		DeviceLostCallback: func(reason wgpu.DeviceLostReason, msg string) {
			lost.report(fmt.Sprintf("device lost (%v): %s", reason, msg))
		},
	})
	if err != nil {
		a.Release()
		inst.Release()
		return nil, wrap("request device", err)
	}
	d := &Device{instance: inst, adapter: a, dev: dev, Features: f, checked: opt.Checked}
	lost.attach(d)
	d.setup(a.GetInfo())
	d.Features.FusedFMA = fusedFMA(d.Info.Class)
	return d, nil
}

// lostState forwards the device-lost callback, which may come before
// the Device exists, to the device's lostMsg.
type lostState struct {
	mu  sync.Mutex
	d   *Device
	msg *string
}

func (l *lostState) report(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msg = &msg
	if l.d != nil {
		l.d.lostMsg.Store(&msg)
	}
}

func (l *lostState) attach(d *Device) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = d
	if l.msg != nil {
		d.lostMsg.Store(l.msg)
	}
}

// platformState is empty natively: the callback above is all there is.
type platformState struct{}

// closePlatform releases the queue, destroys and releases the device,
// and releases the adapter and the instance. d.mu is held.
func (d *Device) closePlatform() {
	d.queue.Release()
	if d.dev.IsValid() {
		destroyDevice(d.dev)
	}
	d.dev.Release()
	d.adapter.Release()
	d.instance.Release()
}
