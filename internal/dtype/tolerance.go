package dtype

import "math"

// Tolerance is an elementwise bound: got passes when
// |got - want| <= Atol + Rtol*|want|.
type Tolerance struct{ Atol, Rtol float64 }

// DefaultTolerance returns the spec's default tolerance for an output
// stored as dt; products selects the looser f32 bound of operators with
// matrix products or softmax (2e-3 instead of 1e-4). FP8 outputs get
// about one unit in the last place of E4M3.
func DefaultTolerance(dt DType, products bool) Tolerance {
	switch dt {
	case F16:
		return Tolerance{1e-2, 1e-2}
	case BF16:
		return Tolerance{3e-2, 3e-2}
	case FP8E4M3, FP8E5M2:
		return Tolerance{0.125, 0.125}
	}
	if products {
		return Tolerance{2e-3, 2e-3}
	}
	return Tolerance{1e-4, 1e-4}
}

// Within reports whether got is within the tolerance of want (NaN never is).
func (t Tolerance) Within(got, want float64) bool {
	return math.Abs(got-want) <= t.Atol+t.Rtol*math.Abs(want)
}
