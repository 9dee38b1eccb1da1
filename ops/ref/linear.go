package ref

import (
	"fmt"

	"github.com/webfuser/webfuser/internal/dtype"
)

// Linear computes x @ weightᵀ + bias in float64 for x [..., K], weight
// [N, K], bias [N] (or nil); the output has x's dtype.
func Linear(x, weight, bias *Tensor) (*Tensor, error) {
	y, err := linear64(x, weight, bias)
	if err != nil {
		return nil, err
	}
	return y.Round(x.DType), nil
}

// linear64 returns the unrounded product (DType set to x's).
func linear64(x, weight, bias *Tensor) (*Tensor, error) {
	if len(x.Shape) == 0 || len(weight.Shape) != 2 || weight.Shape[1] != x.Shape[len(x.Shape)-1] {
		return nil, fmt.Errorf("ref.Linear: weight %v does not match x %v", weight.Shape, x.Shape)
	}
	n, k := weight.Shape[0], weight.Shape[1]
	if err := checkVec("Linear", "bias", bias, n); err != nil {
		return nil, err
	}
	m := 1
	for _, v := range x.Shape[:len(x.Shape)-1] {
		m *= v
	}
	shape := append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), n)
	y := New(x.DType, shape...)
	for i := 0; i < m; i++ {
		xr := x.Data[i*k : (i+1)*k]
		for j := 0; j < n; j++ {
			wr := weight.Data[j*k : (j+1)*k]
			s := 0.0
			for c, v := range xr {
				s += v * wr[c]
			}
			if bias != nil {
				s += bias.Data[j]
			}
			y.Data[i*n+j] = s
		}
	}
	return y, nil
}

// LinearAct computes act(linear(x)), the linear output rounded to x's
// dtype before the activation, as PyTorch stores it.
func LinearAct(x, weight, bias *Tensor, act string) (*Tensor, error) {
	y, err := Linear(x, weight, bias)
	if err != nil {
		return nil, err
	}
	return Activation(y, act)
}

// GateResidual computes residual + gate * h with each product rounded to
// h's dtype; gate broadcasts as [N], [B,N], [B,1,N] or h's shape, where B
// is h's first dimension.
func GateResidual(h, gate, residual *Tensor) (*Tensor, error) {
	rows, n := lastDim(h)
	if residual.Numel() != h.Numel() {
		return nil, fmt.Errorf("ref.GateResidual: residual %v does not match %v", residual.Shape, h.Shape)
	}
	gdiv, gstride := 1, n
	switch g := gate.Numel(); {
	case g == n:
		gstride = 0
	case g == h.Numel():
	case len(h.Shape) >= 2 && g == h.Shape[0]*n:
		gdiv = rows / h.Shape[0]
	default:
		return nil, fmt.Errorf("ref.GateResidual: gate %v does not broadcast to %v", gate.Shape, h.Shape)
	}
	y := New(h.DType, h.Shape...)
	for r := 0; r < rows; r++ {
		for c := 0; c < n; c++ {
			g := gate.Data[(r/gdiv)*gstride+c]
			v := dtype.Round(h.DType, g*h.Data[r*n+c])
			y.Data[r*n+c] = dtype.Round(h.DType, residual.Data[r*n+c]+v)
		}
	}
	return y, nil
}
