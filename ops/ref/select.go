package ref

import (
	"fmt"
	"math"

	"github.com/webfuser/webfuser/internal/dtype"
)

// GateSelectSets are the operands of TeleFuser's per-token modulation
// select: two sets of scale, shift and gate, each [B,C], and Index
// [B,L], whose nonzero entries pick set 1 for that token.
type GateSelectSets struct {
	Scale0, Shift0, Gate0 *Tensor
	Scale1, Shift1, Gate1 *Tensor
	Index                 *Tensor
}

// check validates the sets against x [B,L,C].
func (s GateSelectSets) check(op string, x *Tensor) error {
	if len(x.Shape) != 3 {
		return fmt.Errorf("ref.%s: x %v, want [B,L,C]", op, x.Shape)
	}
	B, L, C := x.Shape[0], x.Shape[1], x.Shape[2]
	for _, o := range []struct {
		name string
		t    *Tensor
	}{{"scale0", s.Scale0}, {"shift0", s.Shift0}, {"gate0", s.Gate0}, {"scale1", s.Scale1}, {"shift1", s.Shift1}, {"gate1", s.Gate1}} {
		if o.t == nil || len(o.t.Shape) != 2 || o.t.Shape[0] != B || o.t.Shape[1] != C {
			return fmt.Errorf("ref.%s: %s must be [%d,%d]", op, o.name, B, C)
		}
	}
	if s.Index == nil || len(s.Index.Shape) != 2 || s.Index.Shape[0] != B || s.Index.Shape[1] != L {
		return fmt.Errorf("ref.%s: index must be [%d,%d]", op, B, L)
	}
	return nil
}

// modulateSelect writes, for token row (b*L+l) of x whose float64 row is
// v, y = v*(1+scale)+shift and the selected gate, both rounded to x's dtype.
func (s GateSelectSets) modulateSelect(row, L, C int, v []float64, dt dtype.DType, y, gate *Tensor) {
	b := row / L
	sc, sh, g := s.Scale0, s.Shift0, s.Gate0
	if s.Index.Data[row] != 0 {
		sc, sh, g = s.Scale1, s.Shift1, s.Gate1
	}
	for c := 0; c < C; c++ {
		y.Data[row*C+c] = dtype.Round(dt, v[c]*(1+sc.Data[b*C+c])+sh.Data[b*C+c])
		gate.Data[row*C+c] = dtype.Round(dt, g.Data[b*C+c])
	}
}

// ScaleShiftGateSelect is TeleFuser's fused_scale_shift_gate_select:
// for x [B,L,C], y = x*(1+scale)+shift with the set Index picks per
// token, and the picked gate broadcast to [B,L,C]; both have x's dtype.
func ScaleShiftGateSelect(x *Tensor, s GateSelectSets) (y, gate *Tensor, err error) {
	if err := s.check("ScaleShiftGateSelect", x); err != nil {
		return nil, nil, err
	}
	L, C := x.Shape[1], x.Shape[2]
	y, gate = New(x.DType, x.Shape...), New(x.DType, x.Shape...)
	for row := 0; row < x.Shape[0]*L; row++ {
		s.modulateSelect(row, L, C, x.Data[row*C:(row+1)*C], x.DType, y, gate)
	}
	return y, gate, nil
}

// layerNormRow returns (v - mean) / sqrt(var + eps) * weight + bias for
// one row (biased variance; weight and bias may be nil).
func layerNormRow(v []float64, weight, bias *Tensor, eps float64) []float64 {
	n := float64(len(v))
	var mean, ss float64
	for _, a := range v {
		mean += a
	}
	mean /= n
	for _, a := range v {
		ss += (a - mean) * (a - mean)
	}
	inv := 1 / math.Sqrt(ss/n+eps)
	out := make([]float64, len(v))
	for c, a := range v {
		h := (a - mean) * inv
		if weight != nil {
			h *= weight.Data[c]
		}
		if bias != nil {
			h += bias.Data[c]
		}
		out[c] = h
	}
	return out
}

// LayerNormScaleShiftGateSelect is TeleFuser's
// fused_layernorm_scale_shift_gate_select01: LayerNorm of x over C
// (biased variance, eps, optional affine weight and bias, none of it
// rounded), then ScaleShiftGateSelect's modulation and gate.
func LayerNormScaleShiftGateSelect(x, weight, bias *Tensor, eps float64, s GateSelectSets) (y, gate *Tensor, err error) {
	const op = "LayerNormScaleShiftGateSelect"
	if err := s.check(op, x); err != nil {
		return nil, nil, err
	}
	L, C := x.Shape[1], x.Shape[2]
	if err := checkVec(op, "weight", weight, C); err != nil {
		return nil, nil, err
	}
	if err := checkVec(op, "bias", bias, C); err != nil {
		return nil, nil, err
	}
	y, gate = New(x.DType, x.Shape...), New(x.DType, x.Shape...)
	for row := 0; row < x.Shape[0]*L; row++ {
		h := layerNormRow(x.Data[row*C:(row+1)*C], weight, bias, eps)
		s.modulateSelect(row, L, C, h, x.DType, y, gate)
	}
	return y, gate, nil
}

// ResidualLayerNormScaleShiftGateSelect is TeleFuser's
// fused_residual_layernorm_scale_shift_gate_select01: r = residual +
// residualGate * x (all [B,L,C]); residualOut is r rounded to x's dtype,
// and the LayerNorm of LayerNormScaleShiftGateSelect runs on r unrounded.
func ResidualLayerNormScaleShiftGateSelect(x, residual, residualGate, weight, bias *Tensor, eps float64, s GateSelectSets) (y, residualOut, gate *Tensor, err error) {
	const op = "ResidualLayerNormScaleShiftGateSelect"
	if err := s.check(op, x); err != nil {
		return nil, nil, nil, err
	}
	for _, o := range []struct {
		name string
		t    *Tensor
	}{{"residual", residual}, {"residual_gate", residualGate}} {
		if o.t == nil || fmt.Sprint(o.t.Shape) != fmt.Sprint(x.Shape) {
			return nil, nil, nil, fmt.Errorf("ref.%s: %s must have x's shape %v", op, o.name, x.Shape)
		}
	}
	L, C := x.Shape[1], x.Shape[2]
	if err := checkVec(op, "weight", weight, C); err != nil {
		return nil, nil, nil, err
	}
	if err := checkVec(op, "bias", bias, C); err != nil {
		return nil, nil, nil, err
	}
	y, gate, residualOut = New(x.DType, x.Shape...), New(x.DType, x.Shape...), New(x.DType, x.Shape...)
	r := make([]float64, C)
	for row := 0; row < x.Shape[0]*L; row++ {
		for c := range r {
			i := row*C + c
			r[c] = residual.Data[i] + residualGate.Data[i]*x.Data[i]
			residualOut.Data[i] = dtype.Round(x.DType, r[c])
		}
		s.modulateSelect(row, L, C, layerNormRow(r, weight, bias, eps), x.DType, y, gate)
	}
	return y, residualOut, gate, nil
}
