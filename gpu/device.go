package gpu

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/oliverbestmann/webgpu/wgpu"
)

// Features records the optional capabilities the kernels care about.
type Features struct {
	ShaderF16 bool // WGSL f16 arithmetic ("shader-f16")
	Subgroups bool // subgroup builtins (standard or wgpu-native feature)
	// SubgroupsEnable is true when WGSL must say "enable subgroups;" (Dawn/Tint);
	// naga in wgpu-native rejects the directive and accepts the builtins alone.
	SubgroupsEnable bool
	Timestamps      bool // timestamp queries on compute passes
}

// Limits records the device limits the kernels are sized by.
type Limits struct {
	MaxBindingSize     uint64 // largest storage-buffer binding, bytes
	MaxBufferSize      uint64 // largest buffer, bytes
	MaxWorkgroupMemory uint32 // workgroup memory, bytes
	MaxInvocations     uint32 // invocations per workgroup
	MaxWorkgroupSizeX  uint32
	MaxGroupsPerDim    uint32 // workgroups per dispatch dimension
	MaxStorageBuffers  uint32 // storage buffers per shader stage
}

// Class is the kind of adapter a device runs on; launch policy keys on it.
type Class uint8

// The adapter classes, from fastest to slowest in general.
const (
	ClassOther      Class = iota // a GPU of unknown kind
	ClassDiscrete                // a discrete GPU
	ClassIntegrated              // an integrated GPU
	ClassCPU                     // a software driver (lavapipe, SwiftShader)
)

// String names the class as WebGPU does ("discrete-gpu", "cpu", ...).
func (c Class) String() string {
	return [...]string{"unknown", "discrete-gpu", "integrated-gpu", "cpu"}[c]
}

// Info describes the adapter a device was opened on.
type Info struct {
	Name, Vendor, Driver, Backend, Type string
	Class                               Class
}

// Options choose an adapter. Empty fields fall back to the environment
// variables WEBFUSER_ADAPTER (substring of the adapter name) and
// WEBFUSER_BACKEND (vulkan, metal, dx12, gl).
type Options struct {
	Adapter string
	Backend string
	// Checked keeps naga's runtime bounds checks and loop bounding on. Kernels
	// never need them; the option exists to measure what they cost.
	Checked bool
}

// Device is an open WebGPU device with its caches. Its methods are safe
// for use by one goroutine at a time; a mutex serialises the rest.
type Device struct {
	mu       sync.Mutex
	instance *wgpu.Instance
	adapter  *wgpu.Adapter
	dev      *wgpu.Device
	queue    *wgpu.Queue

	Info     Info
	Features Features
	Limits   Limits
	checked  bool

	pipelines map[string]*Pipeline
	pool      pool
	batch     *batch
	lost      error
	timing    *timer    // set while Measure records
	guardOn   bool      // NewOutput allocates guarded tensors (tests)
	guarded   []*Tensor // guarded outputs not yet checked
}

// Open picks an adapter and opens a device: a discrete GPU first, then any
// GPU, then a CPU driver (lavapipe, SwiftShader), unless Options or the
// environment force one.
func Open(opt Options) (*Device, error) {
	if opt.Adapter == "" {
		opt.Adapter = os.Getenv("WEBFUSER_ADAPTER")
	}
	if opt.Backend == "" {
		opt.Backend = os.Getenv("WEBFUSER_BACKEND")
	}
	return openPlatform(opt)
}

// adapterRank orders adapters: discrete, integrated, other GPUs, CPU.
func adapterRank(t wgpu.AdapterType) int {
	switch t {
	case wgpu.AdapterTypeDiscreteGPU:
		return 0
	case wgpu.AdapterTypeIntegratedGPU:
		return 1
	case wgpu.AdapterTypeCPU:
		return 3
	}
	return 2
}

// classOf maps the binding's adapter type to a Class.
func classOf(t wgpu.AdapterType) Class {
	switch t {
	case wgpu.AdapterTypeDiscreteGPU:
		return ClassDiscrete
	case wgpu.AdapterTypeIntegratedGPU:
		return ClassIntegrated
	case wgpu.AdapterTypeCPU:
		return ClassCPU
	}
	return ClassOther
}

// chooseAdapter returns the best adapter whose name contains want.
func chooseAdapter(adapters []*wgpu.Adapter, want string) (*wgpu.Adapter, error) {
	var names []string
	var cands []*wgpu.Adapter
	for _, a := range adapters {
		info := a.GetInfo()
		names = append(names, fmt.Sprintf("%q (%v, %v)", info.Device, info.AdapterType, info.BackendType))
		if want == "" || strings.Contains(strings.ToLower(info.Device), strings.ToLower(want)) {
			cands = append(cands, a)
		}
	}
	if len(cands) == 0 {
		if len(adapters) == 0 {
			return nil, errorf("open", "no WebGPU adapter found (is a Vulkan driver installed? try: apt-get install mesa-vulkan-drivers libvulkan1)")
		}
		return nil, errorf("open", "no adapter name contains %q; have %s", want, strings.Join(names, ", "))
	}
	sort.SliceStable(cands, func(i, j int) bool {
		return adapterRank(cands[i].GetInfo().AdapterType) < adapterRank(cands[j].GetInfo().AdapterType)
	})
	return cands[0], nil
}

// setup fills the device's description once its handle exists.
func (d *Device) setup(info wgpu.AdapterInfo) {
	d.queue = d.dev.GetQueue()
	d.Info = Info{
		Name: info.Device, Vendor: info.Vendor, Driver: info.Description,
		Backend: info.BackendType.String(), Type: info.AdapterType.String(),
		Class: classOf(info.AdapterType),
	}
	l := d.dev.GetLimits()
	d.Limits = Limits{
		MaxBindingSize:     l.MaxStorageBufferBindingSize,
		MaxBufferSize:      l.MaxBufferSize,
		MaxWorkgroupMemory: l.MaxComputeWorkgroupStorageSize,
		MaxInvocations:     l.MaxComputeInvocationsPerWorkgroup,
		MaxWorkgroupSizeX:  l.MaxComputeWorkgroupSizeX,
		MaxGroupsPerDim:    l.MaxComputeWorkgroupsPerDimension,
		MaxStorageBuffers:  l.MaxStorageBuffersPerShaderStage,
	}
	d.pipelines = map[string]*Pipeline{}
	d.pool.init()
}

// String summarises the device in one line.
func (d *Device) String() string {
	return fmt.Sprintf("%s (%s, %s)", d.Info.Name, d.Info.Backend, d.Info.Type)
}

// Raw returns the underlying binding device, for code that needs a call
// this package does not wrap.
func (d *Device) Raw() *wgpu.Device { return d.dev }
