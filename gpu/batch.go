package gpu

import (
	"fmt"
	"strings"

	"github.com/oliverbestmann/webgpu/wgpu"
)

// batch is the command encoder being recorded: one compute pass that
// collects dispatches until Flush submits them together.
type batch struct {
	enc      *wgpu.CommandEncoder
	pass     *wgpu.ComputePassEncoder
	n        int
	uniforms []*wgpu.Buffer // one per dispatch; recycled after submit
	timer    *timer         // non-nil while Measure records
}

// Grid is a dispatch size in workgroups.
type Grid [3]uint32

// Groups spreads n workgroups over x and y so that no dimension passes
// the device's limit. Kernels recover the flat index as y*X + x and must
// ignore indices at or past n.
func (d *Device) Groups(n int) Grid {
	max := int(d.Limits.MaxGroupsPerDim)
	if max == 0 {
		max = 65535
	}
	if n <= max {
		return Grid{uint32(n), 1, 1}
	}
	y := (n + max - 1) / max
	x := (n + y - 1) / y
	return Grid{uint32(x), uint32(y), 1}
}

// BatchLimit is how many dispatches a batch records before it is
// submitted on its own. CPU drivers get a small one: lavapipe was seen to
// crash after one long submission.
func (d *Device) batchLimit() int {
	if d.Info.Class == ClassCPU {
		return 16
	}
	return 256
}

// Dispatch records one kernel invocation into the current batch. Tensors
// bind, in order, to the kernel's storage bindings; params (a byte image of
// the WGSL uniform struct) fill its uniform binding. Nothing runs until
// Flush, a download, or the batch filling up.
func (d *Device) Dispatch(p *Pipeline, g Grid, params []byte, args ...*Tensor) error {
	if d == nil || p == nil {
		return errorf("dispatch", "no device or no pipeline")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.dispatchLocked(p, g, params, args)
	d.noteLost(err)
	return err
}

func (d *Device) dispatchLocked(p *Pipeline, g Grid, params []byte, args []*Tensor) error {
	op := "dispatch " + p.name()
	if err := d.usableLocked(op); err != nil {
		return err
	}
	if g[0] == 0 || g[1] == 0 || g[2] == 0 {
		return nil
	}
	for _, n := range g {
		if n > d.Limits.MaxGroupsPerDim {
			return kindf(ErrLimit, op, "%d workgroups in one dimension exceeds the limit of %d", n, d.Limits.MaxGroupsPerDim)
		}
	}
	if _, ok := d.pipelines[p.Key]; !ok || d.pipelines[p.Key] != p {
		return errorf(op, "the pipeline was not made by this device")
	}
	bg, ubuf, err := d.bindLocked(op, p, params, args)
	if err != nil {
		return err
	}
	// The pass keeps what it needs of the bind group.
	defer bg.Release()
	fail := func(err error) error {
		dropUniform(ubuf)
		return err
	}
	if err := d.begin(); err != nil {
		return fail(err)
	}
	b := d.batch
	if ubuf != nil {
		b.uniforms = append(b.uniforms, ubuf)
	}
	if err := b.timer.beforeDispatch(d, b, p.Key, g, args); err != nil {
		return err
	}
	b.pass.SetPipeline(p.pipe)
	b.pass.SetBindGroup(0, bg, nil)
	b.pass.DispatchWorkgroups(g[0], g[1], g[2])
	b.n++
	if b.timer == nil && b.n >= d.batchLimit() {
		return d.flushLocked()
	}
	return nil
}

// bindLocked makes the bind group of one dispatch of p on args and,
// when p has a uniform binding, a uniform buffer filled with params
// (nil otherwise; dropUniform takes either). d.mu is held.
func (d *Device) bindLocked(op string, p *Pipeline, params []byte, args []*Tensor) (*wgpu.BindGroup, *wgpu.Buffer, error) {
	entries := make([]wgpu.BindGroupEntry, 0, len(p.bindings))
	next := 0
	size := uint64((len(params) + 15) &^ 15)
	if size == 0 {
		size = 16
	}
	var ubuf *wgpu.Buffer
	fail := func(err error) (*wgpu.BindGroup, *wgpu.Buffer, error) {
		dropUniform(ubuf)
		return nil, nil, err
	}
	for i, a := range p.bindings {
		if a == Uniform {
			dropUniform(ubuf)
			b, err := d.dev.TryCreateBuffer(&wgpu.BufferDescriptor{
				Label: "params", Size: size,
				Usage: wgpu.BufferUsageUniform | wgpu.BufferUsageCopyDst,
			})
			if err != nil {
				return fail(wrap(op, err))
			}
			ubuf = b
			buf := make([]byte, size)
			copy(buf, params)
			if err := d.queue.TryWriteBuffer(ubuf, 0, buf); err != nil {
				return fail(wrap(op, err))
			}
			entries = append(entries, wgpu.BindGroupEntry{Binding: uint32(i), Buffer: ubuf, Size: size})
			continue
		}
		if next >= len(args) {
			return fail(errorf(op, "kernel binds %d buffers, got %d tensors", len(p.bindings), len(args)))
		}
		t := args[next]
		next++
		if t == nil {
			return fail(errorf(op, "argument %d is nil", next-1))
		}
		if err := d.use(fmt.Sprintf("%s: argument %d", op, next-1), t); err != nil {
			return fail(err)
		}
		if t.ByteSize() > d.Limits.MaxBindingSize {
			return fail(kindf(ErrLimit, op, "tensor %v is %d bytes, over the device's maxStorageBufferBindingSize of %d", t, t.ByteSize(), d.Limits.MaxBindingSize))
		}
		entries = append(entries, t.binding(uint32(i)))
	}
	if next != len(args) {
		return fail(errorf(op, "kernel binds %d tensors, got %d", next, len(args)))
	}
	bg, err := d.dev.TryCreateBindGroup(&wgpu.BindGroupDescriptor{Label: p.Key, Layout: p.layout, Entries: entries})
	if err != nil {
		return fail(wrap("bind "+p.name(), err))
	}
	return bg, ubuf, nil
}

// dropUniform destroys a uniform buffer, if there is one.
func dropUniform(b *wgpu.Buffer) {
	if b != nil {
		destroyBuffer(b)
	}
}

// name returns the kernel's name: its key up to the first '/'.
func (p *Pipeline) name() string {
	if i := strings.IndexByte(p.Key, '/'); i >= 0 {
		return p.Key[:i]
	}
	return p.Key
}

// begin opens a batch if none is open.
func (d *Device) begin() error {
	if d.batch != nil {
		return nil
	}
	enc, err := d.dev.TryCreateCommandEncoder(&wgpu.CommandEncoderDescriptor{Label: "webfuser"})
	if err != nil {
		return wrap("encode", err)
	}
	b := &batch{enc: enc}
	desc := &wgpu.ComputePassDescriptor{Label: "webfuser"}
	if d.timing != nil {
		b.timer = d.timing
		desc.TimestampWrites = d.timing.writes()
	}
	b.pass = enc.BeginComputePass(desc)
	d.batch = b
	return nil
}

// Flush submits the dispatches recorded so far.
func (d *Device) Flush() error {
	if d == nil {
		return kindf(ErrClosed, "submit", "no device")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.flushLocked()
}

func (d *Device) flushLocked() (err error) {
	if err := d.usableLocked("submit"); err != nil {
		return err
	}
	defer func() { d.noteLost(err) }()
	b := d.batch
	if b == nil {
		return nil
	}
	d.batch = nil
	defer b.enc.Release()
	defer b.pass.Release()
	err = d.scope("submit", func() error {
		if err := b.pass.TryEnd(); err != nil {
			return err
		}
		if b.timer != nil {
			if err := b.timer.resolve(b.enc); err != nil {
				return err
			}
		}
		cb, err := b.enc.TryFinish(nil)
		if err != nil {
			return err
		}
		d.queue.Submit(cb)
		cb.Release()
		return nil
	})
	for _, u := range b.uniforms {
		destroyBuffer(u) // freed once the submission is done with it
	}
	d.pool.settle()
	return err
}

// Sync submits pending work and waits until the device has finished it.
func (d *Device) Sync() error {
	if d == nil {
		return kindf(ErrClosed, "sync", "no device")
	}
	if err := d.Flush(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usableLocked("sync"); err != nil {
		return err
	}
	return d.waitIdle()
}
