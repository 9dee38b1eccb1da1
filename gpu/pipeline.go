package gpu

import (
	"os"

	"github.com/oliverbestmann/webgpu/wgpu"
)

// Access says how a kernel binds one buffer.
type Access uint8

// Binding kinds, in group 0 in the order a Kernel lists them.
const (
	Read      Access = iota // var<storage, read>
	ReadWrite               // var<storage, read_write>
	Uniform                 // var<uniform>, filled from the dispatch's params
)

// Kernel is one compiled variant of a WGSL program. Key must name
// everything the source was specialised on (operator, dtypes, features,
// tile sizes): pipelines are cached by it.
type Kernel struct {
	Key      string
	Source   string
	Entry    string // entry point; "main" when empty
	Bindings []Access
}

// Pipeline is a compiled, cached compute pipeline with its explicit layout.
type Pipeline struct {
	Key      string
	pipe     *wgpu.ComputePipeline
	layout   *wgpu.BindGroupLayout
	bindings []Access
}

// Cached returns the pipeline compiled under key, or nil, so that callers
// can skip assembling a kernel's source when its variant is known.
func (d *Device) Cached(key string) *Pipeline {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pipelines[key]
}

// Pipeline returns the cached pipeline for k, compiling it on first use.
// WGSL compile and validation errors are returned with the kernel's key.
func (d *Device) Pipeline(k Kernel) (*Pipeline, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.pipelines[k.Key]; ok {
		return p, nil
	}
	entry := k.Entry
	if entry == "" {
		entry = "main"
	}
	mod, err := d.createModule(k.Key, k.Source)
	if err != nil {
		return nil, err
	}
	entries := make([]wgpu.BindGroupLayoutEntry, len(k.Bindings))
	for i, a := range k.Bindings {
		t := wgpu.BufferBindingTypeReadOnlyStorage
		switch a {
		case ReadWrite:
			t = wgpu.BufferBindingTypeStorage
		case Uniform:
			t = wgpu.BufferBindingTypeUniform
		}
		entries[i] = wgpu.BindGroupLayoutEntry{
			Binding: uint32(i), Visibility: wgpu.ShaderStageCompute,
			Buffer: wgpu.BufferBindingLayout{Type: t},
		}
	}
	bgl, err := d.dev.TryCreateBindGroupLayout(&wgpu.BindGroupLayoutDescriptor{Label: k.Key, Entries: entries})
	if err != nil {
		return nil, wrap("layout "+k.Key, err)
	}
	pl, err := d.dev.TryCreatePipelineLayout(&wgpu.PipelineLayoutDescriptor{Label: k.Key, BindGroupLayouts: []*wgpu.BindGroupLayout{bgl}})
	if err != nil {
		return nil, wrap("layout "+k.Key, err)
	}
	pipe, err := d.createPipeline(k.Key, pl, mod, entry)
	if err != nil {
		return nil, wrap("pipeline "+k.Key, err)
	}
	p := &Pipeline{Key: k.Key, pipe: pipe, layout: bgl, bindings: append([]Access(nil), k.Bindings...)}
	d.pipelines[k.Key] = p
	if dir := os.Getenv(DumpEnv); dir != "" {
		dumpKernel(dir, k)
	}
	return p, nil
}

// CachedPipelines returns how many pipeline variants are compiled.
func (d *Device) CachedPipelines() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pipelines)
}
