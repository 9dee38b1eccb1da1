package gpu

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// FusedFMA is true where WGSL's fma rounds once: GPU adapters. CPU
	// drivers (lavapipe's is not fused) and unknown adapters get false,
	// and their kernels divide with integer-checked rounding (div_rn in
	// wgsl/fp8.wgsl), which costs an H200 0.75x -> 0.44x of a copy in FP8
	// quantisation (bench/results/2026-11-28-h200-s2-divrn.md).
	FusedFMA bool
	// SubgroupMatrixI8 lists the i8 -> i32 subgroup-matrix shapes the
	// device was created with (Dawn's chromium-experimental-subgroup-matrix,
	// which needs "enable chromium_experimental_subgroup_matrix;"); empty
	// elsewhere, wgpu-native included (issue 13: its cooperative-matrix
	// device request fails).
	SubgroupMatrixI8 []MatrixShape
	// SubgroupMaxSize is the adapter's largest subgroup size (0 where it
	// does not say); a subgroup-matrix kernel's workgroup x size must be a
	// multiple of it.
	SubgroupMaxSize uint32
	// SubgroupMinSize is the adapter's smallest subgroup size (0 where it
	// does not say); equal to SubgroupMaxSize, every subgroup has that size.
	SubgroupMinSize uint32
}

// MatrixShape is one subgroup-matrix configuration: the left operand is
// M x K, the right K x N, the result M x N.
type MatrixShape struct{ M, N, K int }

// HasSubgroupMatrixI8 reports whether the device offers the i8 -> i32
// subgroup-matrix shape s.
func (f Features) HasSubgroupMatrixI8(s MatrixShape) bool {
	for _, c := range f.SubgroupMatrixI8 {
		if c == s {
			return true
		}
	}
	return false
}

// fusedFMA reports whether adapters of class c round fma once.
func fusedFMA(c Class) bool { return c == ClassDiscrete || c == ClassIntegrated }

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
	// ReadTimeout bounds how long a download waits for the device;
	// zero means DefaultReadTimeout. A download that runs out of time
	// returns ErrDeviceLost, and the device counts as lost afterwards.
	ReadTimeout time.Duration
}

// DefaultReadTimeout is how long a download waits for the device when
// Options.ReadTimeout is zero: far longer than any one submission takes
// (the batch limits keep each one short), short enough that a hung
// driver becomes an error.
const DefaultReadTimeout = 2 * time.Minute

// Device is an open WebGPU device with its caches. Its methods, and
// those of its tensors, may be called from several goroutines: a mutex
// serialises them, so calls from different goroutines run one at a time,
// and a kernel recorded by one goroutine may be submitted by another's
// Flush or download. Measure and Profile must not run concurrently with
// each other or with Close.
//
// Close frees everything the device holds; after it, every call returns
// an error wrapping ErrClosed (Release stays a no-op). A loss of the
// device that the driver reports, a download that times out, or a raw
// device released behind the package's back make every later call
// return an error wrapping ErrDeviceLost.
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

	closed      bool
	live        map[*storage]struct{} // buffers of tensors not yet released
	liveBytes   uint64
	readTimeout time.Duration
	// lostMsg is set by the driver's device-lost callback, which may run
	// on any thread (and inside a call that holds mu), hence an atomic.
	lostMsg atomic.Pointer[string]
	// tuned is what SetTuned attached: a launch policy's measured
	// choices, read on every launch, hence atomic rather than under mu.
	tuned atomic.Pointer[any]
	// platform holds what one runtime keeps per device (adapter_*.go).
	platform platformState
	// polls counts the helpers waiting in the driver for a download
	// (readback_native.go); one outlives its call when the call times out.
	polls sync.WaitGroup
}

// detached is the device of a tensor that was never allocated: closed,
// with WebGPU's default limits so that code sizing work by them neither
// panics nor asks for anything large.
var detached = &Device{closed: true, Info: Info{Name: "no device", Type: "none", Backend: "none"},
	Limits: Limits{MaxBindingSize: 128 << 20, MaxBufferSize: 256 << 20, MaxWorkgroupMemory: 16384,
		MaxInvocations: 256, MaxWorkgroupSizeX: 256, MaxGroupsPerDim: 65535, MaxStorageBuffers: 8}}

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
	if opt.ReadTimeout < 0 {
		return nil, errorf("open", "negative ReadTimeout %v", opt.ReadTimeout)
	}
	d, err := openPlatform(opt)
	if err != nil {
		return nil, err
	}
	d.readTimeout = opt.ReadTimeout
	if d.readTimeout == 0 {
		d.readTimeout = DefaultReadTimeout
	}
	return d, nil
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
	d.live = map[*storage]struct{}{}
}

// usableLocked returns ErrClosed after Close, and ErrDeviceLost once the
// driver reported the device lost, a download timed out or the raw
// device was released. d.mu is held.
func (d *Device) usableLocked(op string) error {
	if d.closed {
		return kindf(ErrClosed, op, "the device was closed")
	}
	if d.lost == nil {
		if m := d.lostMsg.Load(); m != nil {
			d.lost = kindf(ErrDeviceLost, op, "%s", *m)
		} else if !d.dev.IsValid() {
			d.lost = kindf(ErrDeviceLost, op, "the device's handle was released (through Raw)")
		}
	}
	return d.lost
}

// Err returns the error every call on the device now returns (one
// wrapping ErrClosed or ErrDeviceLost), or nil while it is usable.
func (d *Device) Err() error {
	if d == nil {
		return kindf(ErrClosed, "device", "no device")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.usableLocked("device")
}

// Close frees everything the device holds: work recorded but not yet
// submitted is dropped, submitted work is waited for, every buffer (the
// pool's and every live tensor's) is destroyed, and the pipelines, the
// queue, the device, its adapter and its instance are released. Every
// later call on the device or its tensors returns an error wrapping
// ErrClosed. Close is idempotent; Open may be called again afterwards.
func (d *Device) Close() error {
	if d == nil || d == detached {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	healthy := d.usableLocked("close") == nil
	d.closed = true
	if b := d.batch; b != nil {
		d.batch = nil
		b.pass.TryEnd()
		b.pass.Release()
		b.enc.Release()
		for _, u := range b.uniforms {
			u.Destroy()
			u.Release()
		}
	}
	if healthy {
		d.waitIdle()
	}
	if !d.pollsDone(5 * time.Second) {
		// A download timed out and its helper is still inside the
		// driver: freeing the device under it could crash the process,
		// so leave the device to the driver and drop our references only.
		d.live, d.liveBytes, d.guarded, d.pipelines = nil, 0, nil, nil
		return nil
	}
	for st := range d.live {
		st.released = true
		destroyBuffer(st.buf)
	}
	for _, t := range d.guarded {
		if t.st.checking && t.st.released { // released outputs CheckGuards would have read
			destroyBuffer(t.st.buf)
		}
	}
	d.live, d.liveBytes, d.guarded = nil, 0, nil
	d.pool.close()
	for _, p := range d.pipelines {
		p.pipe.Release()
		p.layout.Release()
	}
	d.pipelines = nil
	d.closePlatform()
	return nil
}

func destroyBuffer(b *wgpu.Buffer) {
	b.Destroy()
	b.Release()
}

// track records a newly allocated buffer as live. d.mu is held.
func (d *Device) track(st *storage) {
	d.live[st] = struct{}{}
	d.liveBytes += st.size
}

// releaseLocked ends a storage: its buffer goes back to the pool (or is
// destroyed), after the batch being recorded when one is. d.mu is held.
func (d *Device) releaseLocked(st *storage) {
	if st.released {
		return
	}
	st.released = true
	if d.closed {
		return // Close destroyed the buffer
	}
	if _, ok := d.live[st]; ok {
		delete(d.live, st)
		d.liveBytes -= st.size
	}
	switch {
	case st.checking: // CheckGuards still reads it, then destroys it
	case st.pooled:
		d.pool.put(st.buf, d.batch != nil)
	default:
		d.pool.discard(st.buf, d.batch != nil)
	}
}

// MemStats is what a device holds in buffers.
type MemStats struct {
	LiveTensors int    // buffers of tensors not yet released (views not counted)
	LiveBytes   uint64 // their sizes
	PoolBuffers int    // released buffers the pool keeps for reuse
	PoolBytes   uint64 // their sizes
}

// MemStats reports the device's live and pooled buffers.
func (d *Device) MemStats() MemStats {
	if d == nil {
		return MemStats{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return MemStats{LiveTensors: len(d.live), LiveBytes: d.liveBytes, PoolBuffers: d.pool.count, PoolBytes: d.pool.bytes}
}

// String summarises the device in one line.
func (d *Device) String() string {
	return fmt.Sprintf("%s (%s, %s)", d.Info.Name, d.Info.Backend, d.Info.Type)
}

// Raw returns the underlying binding device, for code that needs a call
// this package does not wrap, or nil once the device is closed. The
// device must not be released through it: if it is, every later call
// returns ErrDeviceLost.
func (d *Device) Raw() *wgpu.Device {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	return d.dev
}

// SetTuned attaches v, the launch policy's measured choices for this
// device (ops.Tuning.Apply sets them), replacing any before; nil removes them.
func (d *Device) SetTuned(v any) {
	if v == nil {
		d.tuned.Store(nil)
		return
	}
	d.tuned.Store(&v)
}

// Tuned returns what SetTuned attached, or nil.
func (d *Device) Tuned() any {
	if d == nil {
		return nil
	}
	if p := d.tuned.Load(); p != nil {
		return *p
	}
	return nil
}
