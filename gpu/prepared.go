package gpu

import (
	"github.com/oliverbestmann/webgpu/wgpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// Prepared is one dispatch whose bind group and uniform buffer were made
// once, so that Encode can record it again and again at the cost of
// three pass commands: what a replayed graph is made of. It holds its
// tensors' buffers bound; Encode refuses it once one of them is
// released.
type Prepared struct {
	d    *Device
	p    *Pipeline
	g    Grid
	bg   *wgpu.BindGroup
	ubuf *wgpu.Buffer
	args []*Tensor
}

// Prepare checks one dispatch as Dispatch does and makes its bind group
// and uniform buffer, recording nothing.
func (d *Device) Prepare(p *Pipeline, g Grid, params []byte, args ...*Tensor) (*Prepared, error) {
	if d == nil || p == nil {
		return nil, errorf("prepare", "no device or no pipeline")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	op := "prepare " + p.name()
	if err := d.usableLocked(op); err != nil {
		return nil, err
	}
	for _, n := range g {
		if n > d.Limits.MaxGroupsPerDim {
			return nil, kindf(ErrLimit, op, "%d workgroups in one dimension exceeds the limit of %d", n, d.Limits.MaxGroupsPerDim)
		}
	}
	if d.pipelines[p.Key] != p {
		return nil, errorf(op, "the pipeline was not made by this device")
	}
	bg, ubuf, err := d.bindLocked(op, p, params, args)
	d.noteLost(err)
	if err != nil {
		return nil, err
	}
	return &Prepared{d: d, p: p, g: g, bg: bg, ubuf: ubuf, args: append([]*Tensor(nil), args...)}, nil
}

// Release frees the bind group and the uniform buffer, the latter once
// the batch being recorded (which may have encoded the dispatch) is
// submitted. It is idempotent, and after the device was closed (which
// freed everything) it only drops them.
func (x *Prepared) Release() {
	if x == nil || x.bg == nil {
		return
	}
	d := x.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		x.bg.Release()
		if d.batch != nil && x.ubuf != nil {
			d.batch.uniforms = append(d.batch.uniforms, x.ubuf)
		} else {
			dropUniform(x.ubuf)
		}
	}
	x.bg, x.ubuf, x.args = nil, nil, nil
}

// Encode records the prepared dispatches, in order, into the current
// batch's compute pass, and counts them as one dispatch towards the
// batch's length limit: a step of a graph is never split, and the work
// its caller adds after it goes in the same submission unless that work
// fills a batch of its own. A released tensor, a released Prepared or a
// closed device is an error and records nothing.
func (d *Device) Encode(xs []*Prepared) error {
	if d == nil {
		return kindf(ErrClosed, "encode", "no device")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usableLocked("encode"); err != nil {
		return err
	}
	for _, x := range xs {
		if x == nil || x.bg == nil {
			return errorf("encode", "a prepared dispatch was released")
		}
		for _, t := range x.args {
			if err := d.use("encode "+x.p.name(), t); err != nil {
				return err
			}
		}
	}
	if err := d.begin(); err != nil {
		d.noteLost(err)
		return err
	}
	b := d.batch
	for _, x := range xs {
		if x.g[0] == 0 || x.g[1] == 0 || x.g[2] == 0 {
			continue
		}
		if err := b.timer.beforeDispatch(d, b, x.p.Key, x.g, x.args); err != nil {
			return err
		}
		b.pass.SetPipeline(x.p.pipe)
		b.pass.SetBindGroup(0, x.bg, nil)
		b.pass.DispatchWorkgroups(x.g[0], x.g[1], x.g[2])
	}
	b.n++
	return nil
}

// ViewAs returns a view of the tensor's storage as dtype dt and shape,
// which must fit in the buffer: how a graph lays the intermediates whose
// lifetimes do not overlap into one arena buffer. Like a Reshape, the
// view needs no Release and ends when the tensor is released.
func (t *Tensor) ViewAs(dt dtype.DType, shape ...int) (*Tensor, error) {
	if t == nil || t.dev == nil {
		return nil, kindf(ErrReleased, "view", "%v was never allocated (a zero Tensor)", t)
	}
	if err := checkShape("view", dt, shape); err != nil {
		return nil, err
	}
	d := t.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.use("view", t); err != nil {
		return nil, err
	}
	need := (wordBytes(Numel(shape), dt) + 15) &^ 15
	if t.offset+need > t.st.size {
		return nil, errorf("view", "%v%v needs %d bytes; %v's buffer holds %d", dt, shape, need, t, t.st.size-t.offset)
	}
	return &Tensor{Shape: append([]int(nil), shape...), DType: dt, dev: d, st: t.st, offset: t.offset, view: true}, nil
}

// Storage identifies the buffer a tensor and its views share.
type Storage struct{ st *storage }

// Storage returns the identity of the tensor's buffer: equal for a
// tensor and its views, different for tensors allocated separately
// (even when the pool handed them the same device buffer in turn).
func (t *Tensor) Storage() Storage {
	if t == nil {
		return Storage{}
	}
	return Storage{t.st}
}
