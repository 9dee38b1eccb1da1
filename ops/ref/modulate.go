package ref

import (
	"fmt"

	"github.com/webfuser/webfuser/internal/dtype"
)

// Broadcast says where element (b, l, c) of x [B,L,C] finds its operand:
// at b*SB + (l/LDiv)*SL + c*SC. Form names which of the spec's six shapes
// the operand had.
type Broadcast struct {
	Form             string // "scalar", "[C]", "[B,C]", "[B,1,C]", "[B,L,C]", "[B,F,1,C]"
	SB, SL, LDiv, SC int
}

// Index returns the operand index of element (b, l, c).
func (s Broadcast) Index(b, l, c int) int { return b*s.SB + (l/s.LDiv)*s.SL + c*s.SC }

// Scalar reports whether the operand is a single value.
func (s Broadcast) Scalar() bool { return s.SC == 0 }

// ModulateBroadcast classifies an operand shape against x [B,L,C]. The
// accepted shapes are [], [C], [B,C], [B,1,C], [B,L,C] and [B,F,1,C]
// with L divisible by F; anything else is an error naming the forms.
func ModulateBroadcast(x, op []int) (Broadcast, error) {
	if len(x) != 3 {
		return Broadcast{}, fmt.Errorf("x must be [B,L,C], got %v", x)
	}
	B, L, C := x[0], x[1], x[2]
	switch {
	case len(op) == 0 || (len(op) == 1 && op[0] == 1 && C != 1):
		return Broadcast{Form: "scalar", LDiv: 1}, nil
	case len(op) == 1 && op[0] == C:
		return Broadcast{Form: "[C]", LDiv: 1, SC: 1}, nil
	case len(op) == 2 && op[0] == B && op[1] == C:
		return Broadcast{Form: "[B,C]", SB: C, LDiv: 1, SC: 1}, nil
	case len(op) == 3 && op[0] == B && op[1] == 1 && op[2] == C:
		return Broadcast{Form: "[B,1,C]", SB: C, LDiv: 1, SC: 1}, nil
	case len(op) == 3 && op[0] == B && op[1] == L && op[2] == C:
		return Broadcast{Form: "[B,L,C]", SB: L * C, SL: C, LDiv: 1, SC: 1}, nil
	case len(op) == 4 && op[0] == B && op[2] == 1 && op[3] == C && op[1] > 0 && L%op[1] == 0:
		F := op[1]
		return Broadcast{Form: "[B,F,1,C]", SB: F * C, SL: C, LDiv: L / F, SC: 1}, nil
	}
	return Broadcast{}, fmt.Errorf("shape %v does not broadcast to x %v: want [], [C], [B,C], [B,1,C], [B,L,C] or [B,F,1,C] with L divisible by F", op, x)
}

// FusedScaleShift computes y = x * (scaleConstant + scale) + shift for x
// [B,L,C], with scale and shift in any of the broadcast forms; the output
// has x's dtype.
func FusedScaleShift(x, scale, shift *Tensor, scaleConstant float64) (*Tensor, error) {
	bs, err := ModulateBroadcast(x.Shape, scale.Shape)
	if err != nil {
		return nil, fmt.Errorf("ref.FusedScaleShift: scale: %v", err)
	}
	bh, err := ModulateBroadcast(x.Shape, shift.Shape)
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
