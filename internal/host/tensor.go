// Package host holds tensors on the host: a shape, a storage dtype and
// float64 values each representable in that dtype. Operators upload
// them, the float64 reference computes on them, and golden cases and
// weight files decode into them.
package host

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
		return nil, fmt.Errorf("host: %d values for shape %v", len(v), shape)
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

// SwapAxes12 returns a copy of a rank-4 tensor with axes 1 and 2 swapped
// (BSND <-> BNSD).
func SwapAxes12(t *Tensor) *Tensor {
	A, X, Y, D := t.Shape[0], t.Shape[1], t.Shape[2], t.Shape[3]
	o := New(t.DType, A, Y, X, D)
	for a := 0; a < A; a++ {
		for x := 0; x < X; x++ {
			for y := 0; y < Y; y++ {
				copy(o.Data[((a*Y+y)*X+x)*D:][:D], t.Data[((a*X+x)*Y+y)*D:][:D])
			}
		}
	}
	return o
}
