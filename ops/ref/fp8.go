package ref

import (
	"fmt"
	"math"

	"github.com/webfuser/webfuser/internal/dtype"
)

// QuantizeFP8 quantises x [M,K]: scale = max(absmax, 1e-12) / fmax per
// row (or for the whole tensor when perTensor), rounded to f32, and q =
// fp8(x / scale) saturating. It returns q in format and scale [M,1] or [1,1] f32.
func QuantizeFP8(x *Tensor, perTensor bool, format dtype.DType) (q, scale *Tensor, err error) {
	if len(x.Shape) != 2 {
		return nil, nil, fmt.Errorf("ref.QuantizeFP8: x %v, want [M,K]", x.Shape)
	}
	fmax := dtype.E4M3Max
	if format == dtype.FP8E5M2 {
		fmax = dtype.E5M2Max
	}
	m, k := x.Shape[0], x.Shape[1]
	rows := m
	if perTensor {
		rows = 1
	}
	scale = New(dtype.F32, rows, 1)
	for r := 0; r < m; r++ {
		for _, v := range x.Data[r*k : (r+1)*k] {
			i := r
			if perTensor {
				i = 0
			}
			scale.Data[i] = math.Max(scale.Data[i], math.Abs(v))
		}
	}
	for i, a := range scale.Data {
		scale.Data[i] = float64(float32(math.Max(a, 1e-12) / fmax))
	}
	q = New(format, m, k)
	for i, v := range x.Data {
		s := scale.Data[0]
		if !perTensor {
			s = scale.Data[i/k]
		}
		q.Data[i] = dtype.Round(format, v/s)
	}
	return q, scale, nil
}

// LinearFP8 computes x @ dq(w)ᵀ + bias with dq(w)[n,:] = w[n,:] *
// weightScale[n] (or the one scale of a [1,1]); with perToken the
// activations are first quantised per row to w's format and dequantised.
// The output has x's dtype.
func LinearFP8(x, w, weightScale, bias *Tensor, perToken bool) (*Tensor, error) {
	if len(w.Shape) != 2 {
		return nil, fmt.Errorf("ref.LinearFP8: weight %v, want [N,K]", w.Shape)
	}
	n, k := w.Shape[0], w.Shape[1]
	dw := New(dtype.F32, n, k)
	for i, v := range w.Data {
		s := weightScale.Data[0]
		if weightScale.Numel() == n {
			s = weightScale.Data[i/k]
		}
		dw.Data[i] = v * s
	}
	xin := x
	if perToken {
		x2 := &Tensor{Shape: []int{x.Numel() / k, k}, DType: x.DType, Data: x.Data}
		q, s, err := QuantizeFP8(x2, false, w.DType)
		if err != nil {
			return nil, err
		}
		xin = New(x.DType, x.Shape...)
		for i, v := range q.Data {
			xin.Data[i] = v * s.Data[i/k]
		}
	}
	y, err := linear64(xin, dw, bias)
	if err != nil {
		return nil, err
	}
	return y.Round(x.DType), nil
}
