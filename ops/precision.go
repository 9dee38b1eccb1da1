package ops

import (
	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// Precision is the arithmetic a linear layer's product may use.
type Precision int

// The precisions of LinearForwardPrecision.
const (
	// PrecisionExact multiplies and sums in f32: the spec's tolerances, the default.
	PrecisionExact Precision = iota
	// PrecisionF16Products rounds the operands to f16 and sums each K step
	// of the tile (8 or 16 products) in f16 before adding it to f32
	// accumulators. Opt-in: on the H200 it ran 1.15-1.17x faster than
	// exact with f16 and bf16 storage, at 0.21-0.29 of the spec's f16
	// tolerance, and slower than exact with f32 storage
	// (bench/results/2026-11-28-h200-s2-matmul-limits.md), so it takes
	// 16-bit storage only. bf16 values beyond f16's range (65504)
	// overflow, and products the launch policy gives a GEMV or Simple
	// tile (small M or N, CPU drivers) stay exact.
	PrecisionF16Products
)

// String names the precision: "exact" or "f16-products".
func (p Precision) String() string {
	if p == PrecisionF16Products {
		return "f16-products"
	}
	return "exact"
}

// LinearForwardPrecision is LinearForward with the product in precision p.
func LinearForwardPrecision(x, weight, bias *gpu.Tensor, p Precision) (*gpu.Tensor, error) {
	s := &matmulSpec{op: "Linear", x: x, w: weight, b: bias}
	switch p {
	case PrecisionExact:
	case PrecisionF16Products:
		if x != nil && x.DType != dtype.F16 && x.DType != dtype.BF16 {
			return nil, errorf("Linear", "x", "precision %v takes f16 or bf16 storage, not %v (it is slower than exact in f32)", p, x.DType)
		}
		if x != nil && !x.Device().Features.ShaderF16 {
			return nil, errorf("Linear", "x", "precision %v needs shader-f16, which %v does not offer", p, x.Device())
		}
		s.halfMath = true
	default:
		return nil, errorf("Linear", "", "unknown precision %d", int(p))
	}
	return matmul(s)
}
