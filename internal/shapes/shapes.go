// Package shapes holds the shape and broadcast rules that the operators
// and their float64 reference share: which operand shapes broadcast
// against x and how, and what a block mask's shape must be.
package shapes

import "fmt"

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

// MaskPlane returns the index of the [nqb, nkb] plane of a block mask of
// rank 2 (shared), 3 ([H,...]) or 4 ([B,H,...]) that serves (b, h).
func MaskPlane(shape []int, b, h int) int {
	switch len(shape) {
	case 3:
		return h
	case 4:
		return b*shape[1] + h
	}
	return 0
}

// CheckBlockMask returns an error unless mask is a block mask for B
// batches, H heads and nqb x nkb blocks.
func CheckBlockMask(shape []int, B, H, nqb, nkb int) error {
	r := len(shape)
	if r < 2 || r > 4 || shape[r-2] != nqb || shape[r-1] != nkb ||
		(r == 3 && shape[0] != H) || (r == 4 && (shape[0] != B || shape[1] != H)) {
		return fmt.Errorf("block mask shape %v, want [%d %d], [H=%d %d %d] or [B=%d H=%d %d %d]", shape, nqb, nkb, H, nqb, nkb, B, H, nqb, nkb)
	}
	return nil
}

// Numel returns the product of a shape's dimensions, or an error if a
// dimension is negative or the product overflows an int.
func Numel(shape []int) (int, error) {
	n := 1
	for _, s := range shape {
		if s < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if s != 0 && n > (1<<62)/s {
			return 0, fmt.Errorf("shape %v has too many elements", shape)
		}
		n *= s
	}
	return n, nil
}
