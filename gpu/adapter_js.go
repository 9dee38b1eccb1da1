//go:build js

package gpu

import (
	"strings"
	"sync"
	"syscall/js"
	"unsafe"

	"github.com/oliverbestmann/webgpu/jsx"
	"github.com/oliverbestmann/webgpu/wgpu"
)

// On js the binding wraps navigator.gpu, but it leaves gaps that this file
// and shader_js.go fill through syscall/js: it ignores RequiredLimits, it
// returns an empty AdapterInfo, and its Try* calls return nil where the
// browser reports a validation error later, as an uncapturederror event.
//
// Every promise is awaited by blocking the calling goroutine, as the
// binding does. That is only safe outside JavaScript callbacks: code that
// reacts to a browser event must start a goroutine before it calls into
// this package (see web/wasm for the pattern).

// The binding's js types hold one js.Value and nothing else; these lines
// stop the build if that ever changes, since jsValue and wrapJS rely on it.
const (
	_ = uint(unsafe.Sizeof(wgpu.Device{}) - unsafe.Sizeof(js.Value{}))
	_ = uint(unsafe.Sizeof(js.Value{}) - unsafe.Sizeof(wgpu.Device{}))
	_ = uint(unsafe.Sizeof(wgpu.ShaderModule{}) - unsafe.Sizeof(js.Value{}))
	_ = uint(unsafe.Sizeof(js.Value{}) - unsafe.Sizeof(wgpu.ShaderModule{}))
	_ = uint(unsafe.Sizeof(wgpu.ComputePipeline{}) - unsafe.Sizeof(js.Value{}))
	_ = uint(unsafe.Sizeof(js.Value{}) - unsafe.Sizeof(wgpu.ComputePipeline{}))
	_ = uint(unsafe.Sizeof(wgpu.PipelineLayout{}) - unsafe.Sizeof(js.Value{}))
	_ = uint(unsafe.Sizeof(js.Value{}) - unsafe.Sizeof(wgpu.PipelineLayout{}))
	_ = uint(unsafe.Sizeof(wgpu.Queue{}) - unsafe.Sizeof(js.Value{}))
	_ = uint(unsafe.Sizeof(js.Value{}) - unsafe.Sizeof(wgpu.Queue{}))
	_ = uint(unsafe.Sizeof(wgpu.Adapter{}) - unsafe.Sizeof(js.Value{}))
	_ = uint(unsafe.Sizeof(js.Value{}) - unsafe.Sizeof(wgpu.Adapter{}))
)

// jsValue returns the JavaScript object behind one of the binding's types.
func jsValue[T any](p *T) js.Value { return *(*js.Value)(unsafe.Pointer(p)) }

// wrapJS makes one of the binding's types around a JavaScript object.
func wrapJS[T any](v js.Value) *T {
	p := new(T)
	*(*js.Value)(unsafe.Pointer(p)) = v
	return p
}

// jsDevice is what the browser tells a device between calls: the loss of
// the device and validation errors raised outside an error scope. Its
// mutex is only ever held for a few assignments, never across an await,
// because the callbacks that take it run on the JavaScript event loop.
type jsDevice struct {
	mu         sync.Mutex
	lost       string
	uncaptured []string
	funcs      []js.Func // kept for the device's lifetime
	dev        *Device   // set once the Device exists
}

var (
	jsDevicesMu sync.Mutex
	jsDevices   = map[*wgpu.Device]*jsDevice{}
)

func stateOf(d *Device) *jsDevice {
	jsDevicesMu.Lock()
	defer jsDevicesMu.Unlock()
	return jsDevices[d.dev]
}

// take returns and clears what the callbacks recorded.
func (s *jsDevice) take() (lost string, uncaptured []string) {
	if s == nil {
		return "", nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lost, uncaptured = s.lost, s.uncaptured
	s.uncaptured = nil
	return lost, uncaptured
}

// await waits for a promise and returns its value, or its rejection as an
// error. It must not be called from inside a JavaScript callback.
func await(op string, p js.Value) (js.Value, error) {
	v, ok := jsx.Await(p)
	if !ok {
		return v, errorf(op, "%s", jsErrorText(v))
	}
	return v, nil
}

// jsErrorText renders a thrown or rejected JavaScript value.
func jsErrorText(v js.Value) string {
	if v.Type() == js.TypeObject {
		if m := v.Get("message"); m.Type() == js.TypeString {
			return m.String()
		}
	}
	if v.IsUndefined() || v.IsNull() {
		return "unknown error"
	}
	return js.Global().Get("String").Invoke(v).String()
}

// limitNames are the limits the kernels are sized by; the device asks for
// the adapter's best value of each, not WebGPU's defaults.
var limitNames = []string{
	"maxStorageBufferBindingSize", "maxBufferSize", "maxComputeWorkgroupStorageSize",
	"maxComputeInvocationsPerWorkgroup", "maxComputeWorkgroupSizeX", "maxComputeWorkgroupSizeY",
	"maxComputeWorkgroupSizeZ", "maxComputeWorkgroupsPerDimension", "maxStorageBuffersPerShaderStage",
	"maxUniformBufferBindingSize",
}

// Unavailable is the start of every message Open returns when the
// runtime has no usable WebGPU, so that a page can tell this apart from
// a failure of the library.
const Unavailable = "WebGPU is unavailable"

func openPlatform(opt Options) (*Device, error) {
	nav := js.Global().Get("navigator")
	if !nav.Truthy() {
		return nil, errorf("open", "%s: there is no navigator object (not a browser; under node, set globalThis.navigator = {gpu: ...} from a WebGPU module)", Unavailable)
	}
	gpuObj := nav.Get("gpu")
	if !gpuObj.Truthy() {
		return nil, errorf("open", "%s: navigator.gpu is undefined (this browser has no WebGPU, it is switched off, or the page is not a secure context: use https or localhost)", Unavailable)
	}
	popts := map[string]any{}
	if strings.EqualFold(opt.Backend, "low-power") || strings.EqualFold(opt.Backend, "high-performance") {
		popts["powerPreference"] = strings.ToLower(opt.Backend)
	}
	av, err := await("open", gpuObj.Call("requestAdapter", popts))
	if err != nil {
		return nil, errorf("open", "%s: requestAdapter failed: %v", Unavailable, err)
	}
	if !av.Truthy() {
		return nil, errorf("open", "%s: navigator.gpu.requestAdapter() returned no adapter (no GPU, GPU blocklisted, or hardware acceleration switched off)", Unavailable)
	}
	info, err := adapterInfo(av)
	if err != nil {
		return nil, err
	}
	if opt.Adapter != "" {
		desc := strings.ToLower(info.Name + " " + info.Vendor + " " + info.Driver)
		if !strings.Contains(desc, strings.ToLower(opt.Adapter)) {
			return nil, errorf("open", "no adapter name contains %q; have %q", opt.Adapter, info.Name+" ("+info.Vendor+", "+info.Driver+")")
		}
	}

	has := func(name string) bool { return av.Get("features").Call("has", name).Bool() }
	var req []any
	f := Features{}
	if has("shader-f16") {
		req, f.ShaderF16 = append(req, "shader-f16"), true
	}
	if has("timestamp-query") {
		req, f.Timestamps = append(req, "timestamp-query"), true
	}
	// Tint accepts subgroup builtins only after "enable subgroups;".
	if has("subgroups") {
		req, f.Subgroups, f.SubgroupsEnable = append(req, "subgroups"), true, true
	}
	// Tensor cores through Dawn (issue 13): request the subgroup-matrix
	// feature only where it has i8 -> i32 configurations; Dawn offers it
	// only on an instance created with allow_unsafe_apis (web/testrunner).
	if has(subgroupMatrixFeature) {
		if f.SubgroupMatrixI8 = subgroupMatrixI8(av); len(f.SubgroupMatrixI8) > 0 {
			req = append(req, subgroupMatrixFeature)
		}
	}
	if ai := av.Get("info"); ai.Truthy() && ai.Get("subgroupMaxSize").Type() == js.TypeNumber {
		f.SubgroupMaxSize = uint32(ai.Get("subgroupMaxSize").Int())
		if ai.Get("subgroupMinSize").Type() == js.TypeNumber {
			f.SubgroupMinSize = uint32(ai.Get("subgroupMinSize").Int())
		}
	}
	al := av.Get("limits")
	limits := map[string]any{}
	for _, n := range limitNames {
		if v := al.Get(n); v.Type() == js.TypeNumber {
			limits[n] = v.Float()
		}
	}
	dv, err := await("request device", av.Call("requestDevice", map[string]any{
		"label":            "webfuser",
		"requiredFeatures": req,
		"requiredLimits":   limits,
	}))
	if err != nil {
		return nil, err
	}
	if !dv.Truthy() {
		return nil, errorf("request device", "the adapter returned no device")
	}

	dev := wrapJS[wgpu.Device](dv)
	st := &jsDevice{}
	onLost := js.FuncOf(func(this js.Value, args []js.Value) any {
		msg := "device lost"
		if len(args) > 0 && args[0].Truthy() {
			msg = "device lost (" + args[0].Get("reason").String() + "): " + args[0].Get("message").String()
		}
		st.mu.Lock()
		st.lost = msg
		if st.dev != nil {
			st.dev.lostMsg.Store(&msg)
		}
		st.mu.Unlock()
		return nil
	})
	onError := js.FuncOf(func(this js.Value, args []js.Value) any {
		msg := "uncaptured error"
		if len(args) > 0 && args[0].Truthy() {
			msg = jsErrorText(args[0].Get("error"))
		}
		st.mu.Lock()
		if len(st.uncaptured) < 16 {
			st.uncaptured = append(st.uncaptured, msg)
		}
		st.mu.Unlock()
		return nil
	})
	st.funcs = append(st.funcs, onLost, onError)
	dv.Get("lost").Call("then", onLost)
	if dv.Get("addEventListener").Type() == js.TypeFunction {
		dv.Call("addEventListener", "uncapturederror", onError)
	} else {
		dv.Set("onuncapturederror", onError)
	}
	jsDevicesMu.Lock()
	jsDevices[dev] = st
	jsDevicesMu.Unlock()

	d := &Device{
		instance: wgpu.CreateInstance(nil), adapter: wrapJS[wgpu.Adapter](av),
		dev: dev, Features: f, checked: opt.Checked,
	}
	d.setup(wgpu.AdapterInfo{})
	d.Info = info
	d.Features.FusedFMA = fusedFMA(d.Info.Class)
	d.platform.st = st
	st.mu.Lock()
	st.dev = d
	st.mu.Unlock()
	return d, nil
}

// platformState is what the browser side keeps per device.
type platformState struct{ st *jsDevice }

// closePlatform destroys the device (the browser frees its memory and
// settles its lost promise), forgets its callbacks and releases its
// JavaScript functions. d.mu is held.
func (d *Device) closePlatform() {
	jsValue(d.dev).Call("destroy")
	jsDevicesMu.Lock()
	delete(jsDevices, d.dev)
	jsDevicesMu.Unlock()
	if st := d.platform.st; st != nil {
		st.mu.Lock()
		funcs := st.funcs
		st.funcs, st.dev = nil, nil
		st.mu.Unlock()
		// The lost promise settles as the device is destroyed; its
		// callback may still be queued, so release it a little later.
		var later js.Func
		later = js.FuncOf(func(js.Value, []js.Value) any {
			for _, f := range funcs {
				f.Release()
			}
			later.Release()
			return nil
		})
		js.Global().Call("setTimeout", later, 1000)
	}
}

// adapterInfo reads GPUAdapterInfo (adapter.info, or the older
// requestAdapterInfo()), which the binding leaves empty.
func adapterInfo(a js.Value) (Info, error) {
	iv := a.Get("info")
	if !iv.Truthy() && a.Get("requestAdapterInfo").Type() == js.TypeFunction {
		var err error
		if iv, err = await("adapter info", a.Call("requestAdapterInfo")); err != nil {
			return Info{}, err
		}
	}
	str := func(name string) string {
		if !iv.Truthy() {
			return ""
		}
		if v := iv.Get(name); v.Type() == js.TypeString {
			return v.String()
		}
		return ""
	}
	info := Info{
		Name:    str("device"),
		Vendor:  str("vendor"),
		Driver:  str("description"),
		Backend: "webgpu",
		Type:    "unknown",
	}
	if info.Name == "" {
		info.Name = str("architecture")
	}
	if info.Name == "" {
		info.Name = info.Driver
	}
	if info.Name == "" {
		info.Name = "WebGPU adapter"
	}
	if arch := str("architecture"); arch != "" && !strings.Contains(info.Vendor, arch) {
		info.Vendor = strings.TrimSpace(info.Vendor + " " + arch)
	}
	// Browsers do not say what kind of adapter they offer; a fallback
	// adapter or a known software rasteriser is a CPU one.
	fallback := (iv.Truthy() && iv.Get("isFallbackAdapter").Truthy()) || a.Get("isFallbackAdapter").Truthy()
	all := strings.ToLower(info.Name + " " + info.Vendor + " " + info.Driver)
	if fallback || strings.Contains(all, "swiftshader") || strings.Contains(all, "llvmpipe") || strings.Contains(all, "lavapipe") {
		info.Type = "cpu"
		info.Class = ClassCPU
	}
	return info, nil
}

// subgroupMatrixFeature is Dawn's name of the subgroup-matrix feature.
const subgroupMatrixFeature = "chromium-experimental-subgroup-matrix"

// subgroupMatrixI8 reads the i8 -> i32 configurations of
// adapter.info.subgroupMatrixConfigs.
func subgroupMatrixI8(a js.Value) []MatrixShape {
	iv := a.Get("info")
	if !iv.Truthy() {
		return nil
	}
	cfgs := iv.Get("subgroupMatrixConfigs")
	if !cfgs.Truthy() || cfgs.Get("length").Type() != js.TypeNumber {
		return nil
	}
	var out []MatrixShape
	for i := 0; i < cfgs.Length(); i++ {
		c := cfgs.Index(i)
		if c.Get("componentType").String() != "i8" || c.Get("resultComponentType").String() != "i32" {
			continue
		}
		out = append(out, MatrixShape{M: c.Get("M").Int(), N: c.Get("N").Int(), K: c.Get("K").Int()})
	}
	return out
}
