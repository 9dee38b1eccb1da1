package ops

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// ExpertsFP8 holds a MoE's expert weights in FP8 E4M3 with one f32 scale
// per output channel (TeleFuser's quantize_expert_weight_fp8, as
// QuantizeExpertsFP8 makes them): W1, W3 [E,I,D] with S1, S3 [E,I], and
// W2 [E,D,I] with S2 [E,D].
type ExpertsFP8 struct {
	W1, W2, W3 *gpu.Tensor
	S1, S2, S3 *gpu.Tensor
}

// QuantizeExpertsFP8 is TeleFuser's quantize_expert_weight_fp8 for expert
// weights w [E,N,K] (any float dtype): per output channel (e, n), scale =
// max(absmax, 1e-12) / 448 and q = e4m3(clamp(w / scale)), rounded to
// nearest even (QuantizeFP8 per row; TeleFuser floors the absmax at f32's
// smallest normal instead, which changes only rows below 1e-12). It
// returns q fp8_e4m3 [E,N,K] and scale f32 [E,N].
func QuantizeExpertsFP8(w *gpu.Tensor) (q, scale *gpu.Tensor, err error) {
	const op = "QuantizeExpertsFP8"
	if err := checkFloat(op, "w", w); err != nil {
		return nil, nil, err
	}
	if len(w.Shape) != 3 || w.Numel() == 0 {
		return nil, nil, errorf(op, "w", "shape %v, want non-empty [experts, out_features, in_features]", w.Shape)
	}
	rows, err := w.Reshape(w.Shape[0]*w.Shape[1], w.Shape[2])
	if err != nil {
		return nil, nil, err
	}
	q, scale, err = QuantizeFP8(rows, PerToken, dtype.FP8E4M3)
	if err != nil {
		return nil, nil, err
	}
	q.Shape, scale.Shape = append([]int(nil), w.Shape...), []int{w.Shape[0], w.Shape[1]}
	return q, scale, nil
}

// NewExpertsFP8 quantises a MoE's expert weights w1, w3 [E,I,D] and w2
// [E,D,I] (any float dtype) with QuantizeExpertsFP8.
func NewExpertsFP8(w1, w2, w3 *gpu.Tensor) (ExpertsFP8, error) {
	var e ExpertsFP8
	var err error
	if e.W1, e.S1, err = QuantizeExpertsFP8(w1); err != nil {
		return ExpertsFP8{}, err
	}
	if e.W2, e.S2, err = QuantizeExpertsFP8(w2); err == nil {
		if e.W3, e.S3, err = QuantizeExpertsFP8(w3); err == nil {
			return e, nil
		}
		e.W2.Release()
		e.S2.Release()
	}
	e.W1.Release()
	e.S1.Release()
	return ExpertsFP8{}, err
}

// GroupedExpertForwardFP8 is TeleFuser's fp8_expert_forward (dynamic W8A8)
// for tokens x [T,D] (any float dtype), indices i32 and weights f32 [T,K]
// (RouteTopK's) and FP8 experts e: for each pair (t, k) whose weight is
// not 0, with n its expert, x_t is quantised to E4M3 per row
// (QuantizeFP8), gate = bf16(Σ x_q w1_q[n] * s_x * s1[n]) and up likewise
// with w3 (torch._scaled_mm with bf16 output), h = bf16(bf16(act(gate)) *
// up), h is quantised per row again, and o = bf16(Σ h_q w2_q[n] * s_h *
// s2[n]) rounded to x's dtype; y_t = Σ_k weight * o in f32, in x's dtype.
// The products accumulate the decoded codes in f32 in the grouped GEMMs
// of GroupedExpertForward. act ActNone means SiLU.
func GroupedExpertForwardFP8(x, indices, weights *gpu.Tensor, e ExpertsFP8, act Activation) (*gpu.Tensor, error) {
	const op = "GroupedExpertForwardFP8"
	if act == ActNone {
		act = ActSiLU
	}
	if err := checkAct(op, act); err != nil {
		return nil, err
	}
	for _, nt := range (operands{{"w1", e.W1}, {"w2", e.W2}, {"w3", e.W3}}) {
		if nt.t == nil || nt.t.DType != dtype.FP8E4M3 {
			return nil, errorf(op, nt.name, "want fp8_e4m3 expert weights (QuantizeExpertsFP8), got %v", nt.t)
		}
	}
	sh, err := checkExperts(op, x, indices, weights, e.W1, e.W2, e.W3)
	if err != nil {
		return nil, err
	}
	for _, nt := range []struct {
		name string
		t    *gpu.Tensor
		n    int
	}{{"s1", e.S1, sh.I}, {"s2", e.S2, sh.D}, {"s3", e.S3, sh.I}} {
		if nt.t == nil || nt.t.DType != dtype.F32 || nt.t.Numel() != sh.E*nt.n {
			return nil, errorf(op, nt.name, "want f32 [%d,%d] (one scale per expert and output channel), got %v", sh.E, nt.n, nt.t)
		}
		if err := (operands{{nt.name, nt.t}}).check(op, x.Device()); err != nil {
			return nil, err
		}
	}
	if gu, dn, ok := moeTiles(x, sh); ok {
		return groupedForward(x, indices, weights, sh, gu.BM, func(g *expertGroups) (*gpu.Tensor, error) {
			return tiledExpertsFP8(x, e, act, g, gu, dn)
		})
	}
	return groupedForward(x, indices, weights, sh, launch.MoETile.BM, func(g *expertGroups) (*gpu.Tensor, error) {
		return fp8Experts(x, e, act, g)
	})
}

// fp8Experts runs the grouped GEMMs of GroupedExpertForwardFP8 on
// moe_gemm.wgsl and returns o [T*K, D] (f32 storage).
func fp8Experts(x *gpu.Tensor, e ExpertsFP8, act Activation, g *expertGroups) (*gpu.Tensor, error) {
	sh := g.sh
	return fp8Forward(x, func(xq, sx *gpu.Tensor) *kernel.Kernel {
		// The expert of the workgroup's tile is tinfo.y (moe_gemm.wgsl).
		g1 := g.gemm("moe_fp8_gate_up", sh.I, sh.D, true, "fp8")
		g1.In("x", xq).In("w", e.W1).In("w3", e.W3).In("sx", sx).In("s1", e.S1).In("s3", e.S3).Out("out", dtype.F32, sh.T*sh.K, sh.I)
		return g1.Snippet("LOAD_A", "ld_x((a / p.topk) * p.k + gk)").Snippet("LOAD_B", "ld_w(ex + gn * p.k + gk)").Snippet("LOAD_C", "ld_w3(ex + gn * p.k + gk)").
			Snippet("EPILOGUE", fp8Gated(act, "g", "u", "a / p.topk", "tinfo.y * p.n + n"))
	}, func(hq, shs *gpu.Tensor) *kernel.Kernel {
		g2 := g.gemm("moe_fp8_down", sh.D, sh.I, false, "fp8")
		g2.In("h", hq).In("w", e.W2).In("sh", shs).In("s2", e.S2).Out("out", dtype.F32, sh.T*sh.K, sh.D)
		return g2.Snippet("LOAD_A", "ld_h(a * p.k + gk)").Snippet("LOAD_B", "ld_w(ex + gn * p.k + gk)").Snippet("LOAD_C", "0.0").
			Snippet("EPILOGUE", "v = "+fp8Down(x.DType, "g", "a", "tinfo.y")+";")
	})
}

// fp8Forward is the frame of the FP8 expert GEMMs: x quantised per row
// (xq, sx) feeds gateUp, whose h (f32 storage) is quantised per row
// (hq, sh) for down, whose output it returns.
func fp8Forward(x *gpu.Tensor, gateUp func(xq, sx *gpu.Tensor) *kernel.Kernel, down func(hq, sh *gpu.Tensor) *kernel.Kernel) (*gpu.Tensor, error) {
	d := x.Device()
	xq, sx, err := QuantizeFP8(x, PerToken, dtype.FP8E4M3)
	if err != nil {
		return nil, err
	}
	defer xq.Release()
	defer sx.Release()
	h, err := gateUp(xq, sx).RunOne(d)
	if err != nil {
		return nil, err
	}
	defer h.Release()
	hq, shs, err := QuantizeFP8(h, PerToken, dtype.FP8E4M3)
	if err != nil {
		return nil, err
	}
	defer hq.Release()
	defer shs.Release()
	return down(hq, shs).RunOne(d)
}

// fp8Gated is the FP8 gated epilogue (WGSL): v from the accumulators g
// and u, token tok's activation scale and the weight scales at index ws
// (the expert's row of the column), bf16 at each step (torch._scaled_mm
// with bf16 output).
func fp8Gated(act Activation, g, u, tok, ws string) string {
	bf := func(v string) string { return roundTo(dtype.BF16, v) }
	return fmt.Sprintf(`let sa = ld_sx(%s);
      let ws = %s;
      let gs = %s;
      let us = %s;
      v = %s;`, tok, ws, bf(g+" * sa * ld_s1(ws)"), bf(u+" * sa * ld_s3(ws)"), bf(bf(act.wgslFn()+"(gs)")+" * us"))
}

// fp8Down is the FP8 down product's output (WGSL) from accumulator v of
// column n, h's row scale at row and expert e's scale, in dt.
func fp8Down(dt dtype.DType, v, row, e string) string {
	return roundTo(dt, roundTo(dtype.BF16, fmt.Sprintf("%s * ld_sh(%s) * ld_s2(%s * p.n + n)", v, row, e)))
}

// MoEForwardFP8 is RouteTopK followed by GroupedExpertForwardFP8 (the
// golden op moe_fp8): x [T,D], router logits [T,E], correctionBias [E]
// or nil, and the FP8 experts e.
func MoEForwardFP8(x, logits, correctionBias *gpu.Tensor, e ExpertsFP8, cfg MoEConfig) (*gpu.Tensor, error) {
	idx, w, err := RouteTopK(logits, correctionBias, cfg)
	if err != nil {
		return nil, err
	}
	defer idx.Release()
	defer w.Release()
	return GroupedExpertForwardFP8(x, idx, w, e, cfg.Activation)
}
