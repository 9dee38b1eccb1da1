package gpu

import (
	"bytes"

	"github.com/oliverbestmann/webgpu/wgpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// guardBytes is the size of each guard region around a guarded tensor;
// it is also a valid storage-buffer offset alignment on every device seen.
const guardBytes = 256

const guardByte = 0xA5

// NewGuarded allocates a tensor followed by a region of known bytes in
// the same buffer, and binds the whole buffer, guard included, wherever
// the tensor is passed to a kernel. Kernels run with runtime bounds checks
// off, so tests use it to prove that they never write past their output:
// the guard lies inside the binding, where a driver's own robustness
// (lavapipe discards writes outside a binding) cannot hide an overrun.
func (d *Device) NewGuarded(dt dtype.DType, shape ...int) (*Tensor, error) {
	if err := checkShape(shape); err != nil {
		return nil, err
	}
	n := wordBytes(Numel(shape), dt)
	total := (n+guardBytes-1)/guardBytes*guardBytes + guardBytes
	d.mu.Lock()
	defer d.mu.Unlock()
	b, err := d.dev.TryCreateBuffer(&wgpu.BufferDescriptor{
		Label: "guarded", Size: total,
		Usage: wgpu.BufferUsageStorage | wgpu.BufferUsageCopySrc | wgpu.BufferUsageCopyDst,
	})
	if err != nil {
		return nil, wrap("allocate guarded", err)
	}
	if err := d.queue.TryWriteBuffer(b, 0, bytes.Repeat([]byte{guardByte}, int(total))); err != nil {
		return nil, wrap("allocate guarded", err)
	}
	return &Tensor{Shape: append([]int(nil), shape...), DType: dt, dev: d, buf: b, guarded: true}, nil
}

// GuardsIntact reports whether every byte of a guarded tensor's buffer
// outside its elements still holds the guard pattern. The padding that
// rounds a narrow tensor up to whole words counts as guard too.
func (t *Tensor) GuardsIntact() (bool, error) {
	if !t.guarded {
		return false, errorf("guards", "%v was not made by NewGuarded", t)
	}
	all, err := t.dev.readBuffer(t.buf, 0, t.buf.GetSize())
	if err != nil {
		return false, err
	}
	end := t.Numel() * t.DType.Size()
	for _, c := range all[end:] {
		if c != guardByte {
			return false, nil
		}
	}
	return true, nil
}

// GuardOutputs turns guarded outputs on or off: while on, NewOutput
// allocates with NewGuarded and remembers each tensor for CheckGuards.
// Tests turn it on so that every kernel output proves it stays in bounds.
func (d *Device) GuardOutputs(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.guardOn = on
	if !on {
		d.guarded = nil
	}
}

// NewOutput allocates a kernel's output: a pooled tensor, or a guarded
// one while GuardOutputs is on.
func (d *Device) NewOutput(dt dtype.DType, shape ...int) (*Tensor, error) {
	d.mu.Lock()
	on := d.guardOn
	d.mu.Unlock()
	if !on {
		return d.NewTensor(dt, shape...)
	}
	t, err := d.NewGuarded(dt, shape...)
	if err == nil {
		d.mu.Lock()
		d.guarded = append(d.guarded, t)
		d.mu.Unlock()
	}
	return t, err
}

// CheckGuards checks the guard regions of every output allocated since
// GuardOutputs was turned on (or since the last CheckGuards), released
// ones included, and forgets them. It returns an error naming the
// outputs that were written past their end.
func (d *Device) CheckGuards() error {
	d.mu.Lock()
	ts := d.guarded
	d.guarded = nil
	d.mu.Unlock()
	var bad []string
	for _, t := range ts {
		ok, err := t.GuardsIntact()
		if err != nil {
			return err
		}
		if !ok {
			bad = append(bad, t.String())
		}
	}
	if len(bad) > 0 {
		return errorf("guards", "kernels wrote past the end of %d output(s): %v", len(bad), bad)
	}
	return nil
}
