package gpu

import (
	"fmt"

	"github.com/oliverbestmann/webgpu/wgpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// Tensor is a dense, row-major array on the device: a shape, a storage
// dtype and the buffer range that holds it. Elements narrower than four
// bytes are packed into 32-bit words, lane 0 in the low bits.
type Tensor struct {
	Shape []int
	DType dtype.DType

	dev     *Device
	buf     *wgpu.Buffer
	offset  uint64 // byte offset of element 0 in buf
	pooled  bool
	guarded bool // made by NewGuarded: binds its whole buffer
}

// Numel returns the number of elements.
func (t *Tensor) Numel() int { return Numel(t.Shape) }

// ByteSize returns the bytes the elements occupy, rounded up to whole 32-bit words.
func (t *Tensor) ByteSize() uint64 { return wordBytes(t.Numel(), t.DType) }

// Device returns the device that holds the tensor.
func (t *Tensor) Device() *Device { return t.dev }

// String describes the tensor as dtype[shape].
func (t *Tensor) String() string { return fmt.Sprintf("%v%v", t.DType, t.Shape) }

// Numel returns the product of a shape's dimensions (1 for a scalar).
func Numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

func wordBytes(n int, dt dtype.DType) uint64 {
	b := uint64(n) * uint64(dt.Size())
	b = (b + 3) &^ 3
	if b == 0 {
		b = 4
	}
	return b
}

func checkShape(shape []int) error {
	n := 1
	for _, s := range shape {
		if s < 0 {
			return errorf("tensor", "negative dimension in shape %v", shape)
		}
		if s > 0 && n > (1<<53)/s {
			return errorf("tensor", "shape %v is too large", shape)
		}
		n *= s
	}
	return nil
}

// NewTensor allocates an uninitialised tensor (its contents are whatever
// the pooled buffer held).
func (d *Device) NewTensor(dt dtype.DType, shape ...int) (*Tensor, error) {
	if err := checkShape(shape); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := wordBytes(Numel(shape), dt)
	b, err := d.storageBuffer(n)
	if err != nil {
		return nil, errorf("tensor", "%v%v: %v", dt, shape, err)
	}
	return &Tensor{Shape: append([]int(nil), shape...), DType: dt, dev: d, buf: b, pooled: true}, nil
}

// Upload creates a tensor of type dt from float32 values, rounding each
// to dt (nearest even, FP8 saturating).
func (d *Device) Upload(dt dtype.DType, shape []int, data []float32) (*Tensor, error) {
	if len(data) != Numel(shape) {
		return nil, errorf("upload", "%d values for shape %v (%d elements)", len(data), shape, Numel(shape))
	}
	return d.UploadBytes(dt, shape, dtype.Encode(dt, data))
}

// UploadBytes creates a tensor from its little-endian storage bytes.
func (d *Device) UploadBytes(dt dtype.DType, shape []int, b []byte) (*Tensor, error) {
	if len(b) != Numel(shape)*dt.Size() {
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
	if uint64(len(b)) > t.ByteSize() {
		return errorf("write", "%d bytes into %v", len(b), t)
	}
	if pad := len(b) % 4; pad != 0 {
		b = append(append([]byte(nil), b...), make([]byte, 4-pad)...)
	}
	if len(b) == 0 {
		return nil
	}
	t.dev.mu.Lock()
	defer t.dev.mu.Unlock()
	return wrap("write "+t.String(), t.dev.queue.TryWriteBuffer(t.buf, t.offset, b))
}

// Bytes downloads the tensor's storage bytes (exactly Numel*Size of them).
func (t *Tensor) Bytes() ([]byte, error) {
	b, err := t.dev.readBuffer(t.buf, t.offset, t.ByteSize())
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

// Reshape returns a view of the same storage with another shape of the same size.
func (t *Tensor) Reshape(shape ...int) (*Tensor, error) {
	if Numel(shape) != t.Numel() {
		return nil, errorf("reshape", "%v to %v changes the element count", t, shape)
	}
	v := *t
	v.Shape = append([]int(nil), shape...)
	v.pooled = false // a view never returns the buffer
	return &v, nil
}

// Release returns the tensor's buffer to the device's pool. The tensor
// must not be used afterwards; views of it must not be used either.
func (t *Tensor) Release() {
	if t == nil || !t.pooled || t.buf == nil {
		return
	}
	d := t.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pool.put(t.buf, d.batch != nil)
	t.buf = nil
}

// binding returns the buffer range a kernel binds for the tensor.
func (t *Tensor) binding(i uint32) wgpu.BindGroupEntry {
	// Whole 16-byte units, so a kernel may declare any buffer as an array
	// of vec4<f32> or vec2<u32> (pool and guarded buffers are large enough).
	size := (t.ByteSize() + 15) &^ 15
	if t.guarded {
		size = t.buf.GetSize()
	}
	return wgpu.BindGroupEntry{Binding: i, Buffer: t.buf, Offset: t.offset, Size: size}
}
