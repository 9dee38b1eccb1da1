// Package ref is the pure-Go reference of every WebFuser operator. It
// computes in float64 and rounds results to the output dtype with the
// spec's rules, so GPU kernels, golden cases and the CPU fallback can be
// checked against one independent implementation. It has no cgo and
// builds for every target, wasip1 included. Production code never links
// it: only tests and tools do (see internal/layers_test.go).
package ref

import (
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/host"
)

// Tensor is the host tensor the reference computes on (host.Tensor).
type Tensor = host.Tensor

// New returns a zero tensor.
func New(dt dtype.DType, shape ...int) *Tensor { return host.New(dt, shape...) }

// FromFloat32 builds a tensor from values, rounding each to dt.
func FromFloat32(dt dtype.DType, shape []int, v []float32) (*Tensor, error) {
	return host.FromFloat32(dt, shape, v)
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
