package ref

import (
	"fmt"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/shapes"
)

// FusedScaleShift computes y = x * (scaleConstant + scale) + shift for x
// [B,L,C], with scale and shift in any of the broadcast forms; the output
// has x's dtype.
func FusedScaleShift(x, scale, shift *Tensor, scaleConstant float64) (*Tensor, error) {
	bs, err := shapes.ModulateBroadcast(x.Shape, scale.Shape)
	if err != nil {
		return nil, fmt.Errorf("ref.FusedScaleShift: scale: %v", err)
	}
	bh, err := shapes.ModulateBroadcast(x.Shape, shift.Shape)
	if err != nil {
		return nil, fmt.Errorf("ref.FusedScaleShift: shift: %v", err)
	}
	B, L, C := x.Shape[0], x.Shape[1], x.Shape[2]
	y := New(x.DType, x.Shape...)
	for b := 0; b < B; b++ {
		for l := 0; l < L; l++ {
			for c := 0; c < C; c++ {
				i := (b*L+l)*C + c
				v := x.Data[i]*(scaleConstant+scale.Data[bs.Index(b, l, c)]) + shift.Data[bh.Index(b, l, c)]
				y.Data[i] = dtype.Round(x.DType, v)
			}
		}
	}
	return y, nil
}

// Modulate is TeleFuser's modulate(x, shift, scale): FusedScaleShift with constant 1.
func Modulate(x, shift, scale *Tensor) (*Tensor, error) {
	return FusedScaleShift(x, scale, shift, 1)
}
