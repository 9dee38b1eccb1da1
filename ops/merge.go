package ops

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// MergeAttnStates merges two partial attention results computed over
// disjoint key sets, TeleFuser's merge_attn_states and the building
// block of split-K, ring and long-context attention. prevOut and suffOut
// are [..., D] (e.g. [B,N,H,D]) with one log-sum-exp per row of D in
// prevLSE and suffLSE (e.g. [B,N,H,1] or [B,N,H]), natural log. With
// w = sigmoid(s - p): out = prevOut - w*(prevOut - suffOut) and lse =
// log(exp(p) + exp(s)), in f32. An infinite lse (either sign) marks a
// state that saw no key: the other passes through, and when both are
// empty out = prevOut and lse = -inf. out has suffOut's dtype and shape,
// lse suffLSE's.
func MergeAttnStates(prevOut, prevLSE, suffOut, suffLSE *gpu.Tensor) (out, lse *gpu.Tensor, err error) {
	const op = "MergeAttnStates"
	ts := operands{{"prev_out", prevOut}, {"prev_lse", prevLSE}, {"suff_out", suffOut}, {"suff_lse", suffLSE}}
	for _, nt := range ts {
		if err := checkFloat(op, nt.name, nt.t); err != nil {
			return nil, nil, err
		}
	}
	if len(suffOut.Shape) == 0 || suffOut.Shape[len(suffOut.Shape)-1] == 0 {
		return nil, nil, errorf(op, "suff_out", "shape %v has no last dimension D", suffOut.Shape)
	}
	if !sameShape(prevOut.Shape, suffOut.Shape) {
		return nil, nil, errorf(op, "prev_out", "shape %v, want suff_out's %v", prevOut.Shape, suffOut.Shape)
	}
	d := suffOut.Shape[len(suffOut.Shape)-1]
	rows := suffOut.Numel() / d
	for _, nt := range []int{1, 3} {
		nt := ts[nt]
		if nt.t.Numel() != rows {
			return nil, nil, errorf(op, nt.name, "shape %v, want one value per row of D (%d values, e.g. %v)", nt.t.Shape, rows, append(append([]int(nil), suffOut.Shape[:len(suffOut.Shape)-1]...), 1))
		}
	}
	if err := ts.check(op, suffOut.Device()); err != nil {
		return nil, nil, err
	}
	outs, err := mergeKernel(prevOut, prevLSE, suffOut, suffLSE, rows, d).Run(suffOut.Device())
	if err != nil {
		return nil, nil, err
	}
	return outs[0], outs[1], nil
}

// mergeKernel declares the merge for validated operands.
func mergeKernel(po, pl, so, sl *gpu.Tensor, rows, d int) *kernel.Kernel {
	vec := launch.PackWidth(d)
	n := rows * d / vec
	k := &kernel.Kernel{Name: "merge_attn_states", Vec: vec, Files: []string{"merge_state", "merge_attn_states"}, Grid: launch.Flat(po.Device(), n)}
	k.In("po", po).In("pl", pl).In("so", so).In("sl", sl)
	k.Out("out", so.DType, so.Shape...)
	k.Out("lse", sl.DType, sl.Shape...).Words()
	k.U32("n", n).U32("dp", d/vec).U32("rows", rows)
	lpw := 1
	store := "lse_buf[row >> 2u][row & 3u] = bitcast<u32>(merge_lse(lp, ls));"
	if sl.DType != dtype.F32 {
		lpw = 2
		enc := "f32_to_bf16"
		if sl.DType == dtype.F16 {
			enc = "f32_to_f16"
		}
		// Two 16-bit values a word; past the last row the word keeps its upper half.
		store = fmt.Sprintf(`let w = row >> 1u;
    var bits = %[1]s(merge_lse(lp, ls));
    if (row + 1u < p.rows) {
      bits = bits | (%[1]s(merge_lse(ld_pl(row + 1u), ld_sl(row + 1u))) << 16u);
    } else {
      bits = bits | (lse_buf[w >> 2u][w & 3u] & 0xffff0000u);
    }
    lse_buf[w >> 2u][w & 3u] = bits;`, enc)
	}
	return k.Uint("LPW", lpw).Snippet("STORE_LSE", store)
}
