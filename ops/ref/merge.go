package ref

import (
	"fmt"
	"math"

	"github.com/webfuser/webfuser/internal/dtype"
)

// MergeAttnStates merges two partial attention results over disjoint key
// sets, TeleFuser's merge_attn_states: prevOut and suffOut [..., D] with
// their log-sum-exps prevLSE and suffLSE (one per row of D, e.g.
// [B,N,H,1]). With w = sigmoid(s - p), out = prevOut - w*(prevOut -
// suffOut) and lse = log(exp(p) + exp(s)). An infinite lse (either sign:
// TeleFuser maps +inf to -inf) marks a state that saw no key: the other
// state passes through, and when both are empty out = prevOut and lse =
// -inf (TeleFuser's formula gives NaN there). out has suffOut's dtype,
// lse suffLSE's.
func MergeAttnStates(prevOut, prevLSE, suffOut, suffLSE *Tensor) (out, lse *Tensor, err error) {
	if len(suffOut.Shape) == 0 || fmt.Sprint(prevOut.Shape) != fmt.Sprint(suffOut.Shape) {
		return nil, nil, fmt.Errorf("ref.MergeAttnStates: prev_out %v and suff_out %v must have one shape [..., D]", prevOut.Shape, suffOut.Shape)
	}
	rows, d := lastDim(suffOut)
	if prevLSE.Numel() != rows || suffLSE.Numel() != rows {
		return nil, nil, fmt.Errorf("ref.MergeAttnStates: lse tensors %v, %v must hold %d values", prevLSE.Shape, suffLSE.Shape, rows)
	}
	out, lse = New(suffOut.DType, suffOut.Shape...), New(suffLSE.DType, suffLSE.Shape...)
	for r := 0; r < rows; r++ {
		p, s := prevLSE.Data[r], suffLSE.Data[r]
		w, l := MergeWeight(p, s)
		for c := 0; c < d; c++ {
			i := r*d + c
			po, so := prevOut.Data[i], suffOut.Data[i]
			var v float64
			switch w {
			case 0:
				v = po
			case 1:
				v = so
			default:
				v = po - w*(po-so)
			}
			out.Data[i] = dtype.Round(out.DType, v)
		}
		lse.Data[r] = dtype.Round(lse.DType, l)
	}
	return out, lse, nil
}

// MergeWeight returns the weight of the suffix state and the merged
// log-sum-exp for the lse values p and s, with MergeAttnStates' rule for
// infinite (empty) states: a weight of exactly 0 or 1 passes one state through.
func MergeWeight(p, s float64) (w, lse float64) {
	pe, se := math.IsInf(p, 0), math.IsInf(s, 0)
	switch {
	case pe && se:
		return 0, math.Inf(-1)
	case pe:
		return 1, s
	case se:
		return 0, p
	}
	return 1 / (1 + math.Exp(p-s)), math.Max(p, s) + math.Log1p(math.Exp(-math.Abs(p-s)))
}
