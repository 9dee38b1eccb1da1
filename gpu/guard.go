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
	if d == nil {
		return nil, kindf(ErrClosed, "allocate guarded", "no device")
	}
	if err := checkShape("allocate guarded", dt, shape); err != nil {
		return nil, err
	}
	n := wordBytes(Numel(shape), dt)
	total := (n+guardBytes-1)/guardBytes*guardBytes + guardBytes
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usableLocked("allocate guarded"); err != nil {
		return nil, err
	}
	if total > d.Limits.MaxBufferSize {
		return nil, kindf(ErrLimit, "allocate guarded", "%d bytes exceeds the device's maxBufferSize of %d", total, d.Limits.MaxBufferSize)
	}
	b, err := d.dev.TryCreateBuffer(&wgpu.BufferDescriptor{
		Label: "guarded", Size: total,
		Usage: wgpu.BufferUsageStorage | wgpu.BufferUsageCopySrc | wgpu.BufferUsageCopyDst,
	})
	if err != nil {
		return nil, wrap("allocate guarded", err)
	}
	if err := d.queue.TryWriteBuffer(b, 0, bytes.Repeat([]byte{guardByte}, int(total))); err != nil {
		destroyBuffer(b)
		return nil, wrap("allocate guarded", err)
	}
	st := &storage{buf: b, size: total, guarded: true}
	d.track(st)
	return &Tensor{Shape: append([]int(nil), shape...), DType: dt, dev: d, st: st}, nil
}

// GuardsIntact reports whether every byte of a guarded tensor's buffer
// outside its elements still holds the guard pattern. The padding that
// rounds a narrow tensor up to whole words counts as guard too.
func (t *Tensor) GuardsIntact() (bool, error) {
	if t == nil || t.dev == nil {
		return false, kindf(ErrReleased, "guards", "%v was never allocated (a zero Tensor)", t)
	}
	d := t.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.use("guards", t); err != nil {
		return false, err
	}
	return d.guardsLocked(t)
}

// guardsLocked reads a guarded buffer, released or not. d.mu is held.
func (d *Device) guardsLocked(t *Tensor) (bool, error) {
	if !t.st.guarded {
		return false, errorf("guards", "%v was not made by NewGuarded", t)
	}
	all, err := d.readLocked("guards "+t.String(), t.st.buf, 0, t.st.size)
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
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.guardOn = on
	if !on {
		for _, t := range d.guarded {
			d.forgetGuardLocked(t)
		}
		d.guarded = nil
	}
}

// forgetGuardLocked stops holding a guarded output for CheckGuards,
// destroying its buffer if it was released meanwhile. d.mu is held.
func (d *Device) forgetGuardLocked(t *Tensor) {
	if !t.st.checking {
		return
	}
	t.st.checking = false
	if t.st.released && !d.closed {
		d.pool.discard(t.st.buf, d.batch != nil)
	}
}

// NewOutput allocates a kernel's output: a pooled tensor, or a guarded
// one while GuardOutputs is on.
func (d *Device) NewOutput(dt dtype.DType, shape ...int) (*Tensor, error) {
	if d == nil {
		return nil, kindf(ErrClosed, "allocate", "no device")
	}
	d.mu.Lock()
	on := d.guardOn
	d.mu.Unlock()
	if !on {
		return d.NewTensor(dt, shape...)
	}
	t, err := d.NewGuarded(dt, shape...)
	if err == nil {
		d.mu.Lock()
		t.st.checking = true
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
	if d == nil {
		return kindf(ErrClosed, "guards", "no device")
	}
	d.mu.Lock()
	ts := d.guarded
	d.guarded = nil
	d.mu.Unlock()
	var bad []string
	var first error
	for _, t := range ts {
		d.mu.Lock()
		var ok bool
		err := d.usableLocked("guards")
		if err == nil {
			ok, err = d.guardsLocked(t)
		}
		d.forgetGuardLocked(t)
		d.mu.Unlock()
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		if !ok {
			bad = append(bad, t.String())
		}
	}
	if first != nil {
		return first
	}
	if len(bad) > 0 {
		return errorf("guards", "kernels wrote past the end of %d output(s): %v", len(bad), bad)
	}
	return nil
}
