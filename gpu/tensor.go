package gpu

import (
	"fmt"
	"math"

	"github.com/oliverbestmann/webgpu/wgpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// Tensor is a dense, row-major array on the device: a shape, a storage
// dtype and the buffer range that holds it. Elements narrower than four
// bytes are packed into 32-bit words, lane 0 in the low bits.
//
// Lifetime: a tensor made by NewTensor, Upload or an operator owns its
// buffer until Release. A view (Reshape) borrows its parent's buffer: it
// holds no reference of its own, so dropping a view needs no Release,
// and releasing the parent ends every view of it too. Every later use
// of a released tensor, or of a view of one, returns an error wrapping
// ErrReleased; Release itself is idempotent. A zero Tensor{} belongs to
// no device and behaves as a released one.
//
// Concurrency: a tensor may be used, read and released from several
// goroutines at once; each call takes its device's lock.
type Tensor struct {
	Shape []int
	DType dtype.DType

	dev      *Device
	st       *storage // shared by a tensor and its views
	offset   uint64   // byte offset of element 0 in the buffer
	view     bool     // made by Reshape: releasing it ends only this handle
	released bool     // this handle was released; guarded by dev.mu
}

// storage is one device buffer and the state every handle on it shares.
// Its fields after buf change only under the device's lock.
type storage struct {
	buf      *wgpu.Buffer
	size     uint64 // bytes of buf
	pooled   bool   // goes back to the pool on release
	guarded  bool   // made by NewGuarded: binds its whole buffer
	released bool
	checking bool // a guarded buffer that CheckGuards has yet to read
}

// Numel returns the number of elements.
func (t *Tensor) Numel() int { return Numel(t.Shape) }

// ByteSize returns the bytes the elements occupy, rounded up to whole 32-bit words.
func (t *Tensor) ByteSize() uint64 { return wordBytes(t.Numel(), t.DType) }

// Device returns the device that holds the tensor. A tensor that was
// never allocated (a zero Tensor{}) returns a closed placeholder device
// with no limits, so that code reading its limits does not panic and
// every call on it returns ErrClosed.
func (t *Tensor) Device() *Device {
	if t == nil || t.dev == nil {
		return detached
	}
	return t.dev
}

// String describes the tensor as dtype[shape].
func (t *Tensor) String() string { return fmt.Sprintf("%v%v", t.DType, t.Shape) }

// Released reports whether the tensor can no longer be used: it, or the
// tensor it is a view of, was released, its device was closed, or it was
// never allocated (a zero Tensor{} or nil).
func (t *Tensor) Released() bool {
	if t == nil || t.dev == nil || t.st == nil {
		return true
	}
	t.dev.mu.Lock()
	defer t.dev.mu.Unlock()
	return t.releasedLocked()
}

func (t *Tensor) releasedLocked() bool {
	return t.released || t.st.released || t.dev.closed
}

// Numel returns the product of a shape's dimensions (1 for a scalar).
// It does not check for overflow; NewTensor refuses shapes that would.
func Numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

func wordBytes(n int, dt dtype.DType) uint64 {
	if n < 0 {
		return math.MaxUint64 &^ 3 // a hand-made shape that overflowed: never fits
	}
	b := uint64(n) * uint64(dt.Size())
	b = (b + 3) &^ 3
	if b == 0 {
		b = 4
	}
	return b
}

// maxElements bounds a tensor's element count, so that its byte size
// never overflows (and stays exact as a float64).
const maxElements = 1 << 53

func checkShape(op string, dt dtype.DType, shape []int) error {
	if dt > dtype.I32 {
		return errorf(op, "unknown dtype %d", uint8(dt))
	}
	n := 1
	for _, s := range shape {
		if s < 0 {
			return errorf(op, "negative dimension in shape %v", shape)
		}
		if s > 0 && n > maxElements/s {
			return kindf(ErrLimit, op, "shape %v has more than 2^53 elements", shape)
		}
		n *= s
	}
	return nil
}

// use checks, under d.mu, that t may be used on d by op.
func (d *Device) use(op string, t *Tensor) error {
	if err := d.usableLocked(op); err != nil {
		return err
	}
	switch {
	case t == nil:
		return errorf(op, "no tensor")
	case t.dev == nil || t.st == nil:
		return kindf(ErrReleased, op, "%v was never allocated (a zero Tensor)", t)
	case t.dev != d:
		return errorf(op, "%v is on another device", t)
	case t.released || t.st.released:
		return kindf(ErrReleased, op, "%v was released", t)
	}
	return nil
}

// NewTensor allocates an uninitialised tensor (its contents are whatever
// the pooled buffer held).
func (d *Device) NewTensor(dt dtype.DType, shape ...int) (*Tensor, error) {
	if d == nil {
		return nil, kindf(ErrClosed, "tensor", "no device")
	}
	if err := checkShape("tensor", dt, shape); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usableLocked("tensor"); err != nil {
		return nil, err
	}
	n := wordBytes(Numel(shape), dt)
	b, err := d.storageBuffer(n)
	if err != nil {
		return nil, &Error{Op: "tensor", Msg: fmt.Sprintf("%v%v: %v", dt, shape, err), Err: err}
	}
	st := &storage{buf: b, size: b.GetSize(), pooled: true}
	d.track(st)
	return &Tensor{Shape: append([]int(nil), shape...), DType: dt, dev: d, st: st}, nil
}

// Upload creates a tensor of type dt from float32 values, rounding each
// to dt (nearest even, FP8 saturating).
func (d *Device) Upload(dt dtype.DType, shape []int, data []float32) (*Tensor, error) {
	if err := checkShape("upload", dt, shape); err != nil {
		return nil, err
	}
	if len(data) != Numel(shape) {
		return nil, errorf("upload", "%d values for shape %v (%d elements)", len(data), shape, Numel(shape))
	}
	return d.UploadBytes(dt, shape, dtype.Encode(dt, data))
}

// UploadBytes creates a tensor from its little-endian storage bytes.
func (d *Device) UploadBytes(dt dtype.DType, shape []int, b []byte) (*Tensor, error) {
	if err := checkShape("upload", dt, shape); err != nil {
		return nil, err
	}
	if uint64(len(b)) != uint64(Numel(shape))*uint64(dt.Size()) {
		return nil, errorf("upload", "%d bytes for %v%v", len(b), dt, shape)
	}
	t, err := d.NewTensor(dt, shape...)
	if err != nil {
		return nil, err
	}
	if err := t.Write(b); err != nil {
		t.Release()
		return nil, err
	}
	return t, nil
}

// Write replaces the tensor's contents with little-endian storage bytes.
func (t *Tensor) Write(b []byte) error {
	if t == nil || t.dev == nil {
		return kindf(ErrReleased, "write", "%v was never allocated (a zero Tensor)", t)
	}
	if uint64(len(b)) > t.ByteSize() {
		return errorf("write", "%d bytes into %v", len(b), t)
	}
	if pad := len(b) % 4; pad != 0 {
		b = append(append([]byte(nil), b...), make([]byte, 4-pad)...)
	}
	d := t.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.use("write", t); err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	return wrap("write "+t.String(), d.queue.TryWriteBuffer(t.st.buf, t.offset, b))
}

// Bytes downloads the tensor's storage bytes (exactly Numel*Size of them).
func (t *Tensor) Bytes() ([]byte, error) {
	if t == nil || t.dev == nil {
		return nil, kindf(ErrReleased, "download", "%v was never allocated (a zero Tensor)", t)
	}
	b, err := t.dev.readTensor(t)
	if err != nil {
		return nil, err
	}
	return b[:t.Numel()*t.DType.Size()], nil
}

// Float32 downloads the tensor and widens every element to float32.
func (t *Tensor) Float32() ([]float32, error) {
	b, err := t.Bytes()
	if err != nil {
		return nil, err
	}
	return dtype.Decode(t.DType, b, t.Numel()), nil
}

// Reshape returns a view of the same storage with another shape of the
// same size. The view borrows the tensor's buffer: it needs no Release,
// and it ends when the tensor is released.
func (t *Tensor) Reshape(shape ...int) (*Tensor, error) {
	if t == nil || t.dev == nil {
		return nil, kindf(ErrReleased, "reshape", "%v was never allocated (a zero Tensor)", t)
	}
	if err := checkShape("reshape", t.DType, shape); err != nil {
		return nil, err
	}
	if Numel(shape) != t.Numel() {
		return nil, errorf("reshape", "%v to %v changes the element count", t, shape)
	}
	d := t.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.use("reshape", t); err != nil {
		return nil, err
	}
	return &Tensor{Shape: append([]int(nil), shape...), DType: t.DType, dev: d, st: t.st, offset: t.offset, view: true}, nil
}

// Release returns the tensor's buffer to the device's pool and ends the
// tensor and every view of it; releasing a view ends that view only.
// Release is idempotent and safe to call from several goroutines, on
// a nil or zero tensor, and after the device was closed.
func (t *Tensor) Release() {
	if t == nil || t.dev == nil || t.st == nil {
		return
	}
	d := t.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.released {
		return
	}
	t.released = true
	if t.view {
		return
	}
	d.releaseLocked(t.st)
}

// binding returns the buffer range a kernel binds for the tensor; d.mu
// is held and use has accepted t.
func (t *Tensor) binding(i uint32) wgpu.BindGroupEntry {
	// Whole 16-byte units, so a kernel may declare any buffer as an array
	// of vec4<f32> or vec2<u32> (pool and guarded buffers are large enough).
	size := (t.ByteSize() + 15) &^ 15
	if t.st.guarded {
		size = t.st.size
	}
	return wgpu.BindGroupEntry{Binding: i, Buffer: t.st.buf, Offset: t.offset, Size: size}
}
