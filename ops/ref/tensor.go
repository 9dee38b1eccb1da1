// Package ref is the pure-Go reference of every WebFuser operator. It
// computes in float64 and rounds results to the output dtype with the
// spec's rules, so GPU kernels, golden cases and the CPU fallback can be
// checked against one independent implementation. It has no cgo and
// builds for every target, wasip1 included.
package ref

import (
	"fmt"

	"github.com/webfuser/webfuser/internal/dtype"
)

// Tensor is a dense row-major array of values held as float64, each
// already representable in DType.
type Tensor struct {
	Shape []int
	DType dtype.DType
	Data  []float64
}

// New returns a zero tensor.
func New(dt dtype.DType, shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), DType: dt, Data: make([]float64, numel(shape))}
}

// FromFloat32 builds a tensor from values, rounding each to dt.
func FromFloat32(dt dtype.DType, shape []int, v []float32) (*Tensor, error) {
	if len(v) != numel(shape) {
		return nil, fmt.Errorf("ref: %d values for shape %v", len(v), shape)
	}
	t := New(dt, shape...)
	for i, x := range v {
		t.Data[i] = dtype.Round(dt, float64(x))
	}
	return t, nil
}

// Float32 returns the values as float32 (exact for every storage dtype but f32-overflowing results).
func (t *Tensor) Float32() []float32 {
	out := make([]float32, len(t.Data))
	for i, v := range t.Data {
		out[i] = float32(v)
	}
	return out
}

// Numel returns the number of elements.
func (t *Tensor) Numel() int { return numel(t.Shape) }

// Round rounds every element to dt and sets the tensor's dtype.
func (t *Tensor) Round(dt dtype.DType) *Tensor {
	for i, v := range t.Data {
		t.Data[i] = dtype.Round(dt, v)
	}
	t.DType = dt
	return t
}

func numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

// lastDim returns the size of the last dimension and the number of rows before it.
func lastDim(t *Tensor) (rows, d int) {
	if len(t.Shape) == 0 {
		return 1, 1
	}
	d = t.Shape[len(t.Shape)-1]
	if d == 0 {
		return 0, 0
	}
	return t.Numel() / d, d
}
