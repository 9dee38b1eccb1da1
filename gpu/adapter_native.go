//go:build !js

package gpu

import (
	"strings"

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
	if err != nil {
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
	dev, err := a.RequestDevice(&wgpu.DeviceDescriptor{
		Label:            "webfuser",
		RequiredFeatures: req,
		RequiredLimits:   &al, // the adapter's best, not WebGPU's defaults
	})
	if err != nil {
		return nil, wrap("request device", err)
	}
	d := &Device{instance: inst, adapter: a, dev: dev, Features: f, checked: opt.Checked}
	d.setup(a.GetInfo())
	return d, nil
}
