package ops

import (
	"fmt"
	"math"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// MoEConfig configures TeleFuser's MoE routing (ops/moe.py route_topk,
// LingBot's group-limited sigmoid router) and expert activation.
type MoEConfig struct {
	TopK         int        // experts per token
	Groups       int        // expert groups of consecutive experts; 0 means 1
	TopKGroups   int        // groups kept per token; 0 means Groups
	RoutingScale float32    // factor on the normalised weights; 0 means 1
	Activation   Activation // of the gated expert MLP; ActNone means SiLU (TeleFuser's)
}

// maxExperts bounds the experts a router kernel keeps in registers and
// the sort keeps in workgroup memory.
const maxExperts = 1024

func (c MoEConfig) resolve(op string, experts int) (MoEConfig, error) {
	if c.Groups == 0 {
		c.Groups = 1
	}
	if c.TopKGroups == 0 {
		c.TopKGroups = c.Groups
	}
	if c.RoutingScale == 0 {
		c.RoutingScale = 1
	}
	if c.Activation == ActNone {
		c.Activation = ActSiLU
	}
	switch {
	case experts < 1 || experts > maxExperts:
		return c, errorf(op, "", "%d experts, want 1 to %d", experts, maxExperts)
	case c.Groups < 1 || experts%c.Groups != 0:
		return c, errorf(op, "", "%d experts do not divide into %d groups", experts, c.Groups)
	case c.TopKGroups < 1 || c.TopKGroups > c.Groups:
		return c, errorf(op, "", "top_k_groups %d must be within 1..%d groups", c.TopKGroups, c.Groups)
	case c.TopK < 1 || c.TopK > c.TopKGroups*(experts/c.Groups):
		return c, errorf(op, "", "top_k %d must be within 1..%d (the experts of the kept groups)", c.TopK, c.TopKGroups*(experts/c.Groups))
	case math.IsNaN(float64(c.RoutingScale)) || math.IsInf(float64(c.RoutingScale), 0):
		return c, errorf(op, "", "routing_scale %g is not finite", c.RoutingScale)
	}
	return c, checkAct(op, c.Activation)
}

// dtypeEps is torch.finfo(dt).eps, TeleFuser's floor of the weight sum.
func dtypeEps(dt dtype.DType) float64 {
	switch dt {
	case dtype.BF16:
		return 0.0078125
	case dtype.F16:
		return 0.0009765625
	}
	return 1.1920928955078125e-07
}

// RouteTopK is TeleFuser's route_topk for router logits [T,E]: scores =
// sigmoid(logits) rounded to the logits' dtype; selection scores sel =
// scores + correctionBias (f32; the bias [E] may be nil), which only
// choose; each of cfg.Groups groups of consecutive experts scores the sum
// of its top min(2, E/Groups) sel (f32), the TopKGroups best groups stay,
// and their TopK largest sel are chosen (ties: the lower index wins).
// weights = the chosen scores divided by their sum (rounded, clamped below
// at the dtype's eps), times RoutingScale, rounded to the logits' dtype at
// each step. It returns indices i32 [T,TopK], best first, and weights f32
// [T,TopK].
func RouteTopK(logits, correctionBias *gpu.Tensor, cfg MoEConfig) (indices, weights *gpu.Tensor, err error) {
	const op = "RouteTopK"
	if err := checkFloat(op, "logits", logits); err != nil {
		return nil, nil, err
	}
	if len(logits.Shape) != 2 {
		return nil, nil, errorf(op, "logits", "shape %v, want [tokens, experts]", logits.Shape)
	}
	T, E := logits.Shape[0], logits.Shape[1]
	if cfg, err = cfg.resolve(op, E); err != nil {
		return nil, nil, err
	}
	if err := checkVector(op, "correction_bias", correctionBias, E); err != nil {
		return nil, nil, err
	}
	var ts operands
	ts.add("logits", logits)
	ts.add("correction_bias", correctionBias)
	if err := ts.check(op, logits.Device()); err != nil {
		return nil, nil, err
	}
	d := logits.Device()
	k := elementwise(d, "moe_route", 1, T, "fp8", "moe_route")
	k.Uint("NE", E).Uint("NG", cfg.Groups).Uint("EPG", E/cfg.Groups).Uint("TKG", cfg.TopKGroups).Uint("TOPK", cfg.TopK).
		Const("EPS", fmt.Sprintf("%.9g", dtypeEps(logits.DType)))
	k.In("lg", logits)
	sel := "return score(t, e);"
	if correctionBias != nil {
		k.In("cb", correctionBias)
		sel = "return score(t, e) + ld_cb(e);"
	}
	k.Out("idx", dtype.I32, T, cfg.TopK).Out("wts", dtype.F32, T, cfg.TopK).F32("scale", cfg.RoutingScale)
	k.Snippet("SEL", sel).Snippet("BODY", `let t = i;
  var gs: array<f32, NG>;
  for (var g = 0u; g < NG; g = g + 1u) {
    var a = -3.0e38;
    var b = -3.0e38;
    for (var j = 0u; j < EPG; j = j + 1u) {
      let v = sel(t, g * EPG + j);
      if (v > a) { b = a; a = v; } else if (v > b) { b = v; }
    }
    gs[g] = select(a, a + b, EPG > 1u);
  }
  var keep: array<bool, NG>;
  for (var r = 0u; r < TKG; r = r + 1u) {
    var best = 0u;
    var found = false;
    for (var g = 0u; g < NG; g = g + 1u) {
      if (!keep[g] && (!found || gs[g] > gs[best])) { best = g; found = true; }
    }
    keep[best] = true;
  }
  var taken: array<bool, NE>;
  var sum = 0.0;
  for (var k = 0u; k < TOPK; k = k + 1u) {
    var best = 0u;
    var bv = 0.0;
    var found = false;
    for (var e = 0u; e < NE; e = e + 1u) {
      if (keep[e / EPG] && !taken[e]) {
        let v = sel(t, e);
        if (!found || v > bv) { best = e; bv = v; found = true; }
      }
    }
    taken[best] = true;
    idx_buf[t * TOPK + k] = best;
    let s = score(t, best);
    st_wts(t * TOPK + k, s);
    sum = sum + s;
  }
  let den = max(rnd1_lg(sum), EPS);
  for (var k = 0u; k < TOPK; k = k + 1u) {
    let j = t * TOPK + k;
    st_wts(j, rnd1_lg(rnd1_lg(div_rn(ld_wts(j), den)) * p.scale));
  }`)
	outs, err := k.Run(d)
	if err != nil {
		return nil, nil, err
	}
	return outs[0], outs[1], nil
}

// roundTo returns WGSL that rounds the f32 expression v to dt.
func roundTo(dt dtype.DType, v string) string {
	switch dt {
	case dtype.BF16:
		return "bf16_to_f32(f32_to_bf16(" + v + "))"
	case dtype.F16:
		return "f16_to_f32(f32_to_f16(" + v + "))"
	}
	return v
}

// GroupedExpertForward is TeleFuser's grouped_expert_forward for tokens x
// [T,D], indices i32 and weights f32 [T,K] (RouteTopK's), and the experts'
// gated MLPs w1, w3 [E,I,D] and w2 [E,D,I], any float dtypes: for each
// pair (t, k), with e its expert, h = act(x_t @ w1[e]ᵀ) * (x_t @ w3[e]ᵀ)
// and o = h @ w2[e]ᵀ, each stored intermediate (both products, the
// activation, h, o) rounded to x's dtype (TeleFuser casts to bf16 for
// torch._grouped_mm; here the intermediates take x's dtype); y_t =
// Σ_k weight * o in f32 over the pairs whose weight is not 0, in x's
// dtype. The pairs are grouped by expert on the device (a counting sort
// in one workgroup) and the two GEMMs run over tiles that hold one
// expert's rows, reading each expert's weights once per tile: the dense
// matmul's register-tiled kernel where launch.MoETiles fits the device
// (ops/moe_tiled.go), else moe_gemm.wgsl. An index outside [0,E) is
// treated as E-1. act ActNone means SiLU.
func GroupedExpertForward(x, indices, weights, w1, w2, w3 *gpu.Tensor, act Activation) (*gpu.Tensor, error) {
	const op = "GroupedExpertForward"
	if act == ActNone {
		act = ActSiLU
	}
	if err := checkAct(op, act); err != nil {
		return nil, err
	}
	for _, nt := range (operands{{"w1", w1}, {"w2", w2}, {"w3", w3}}) {
		if err := checkFloat(op, nt.name, nt.t); err != nil {
			return nil, err
		}
	}
	sh, err := checkExperts(op, x, indices, weights, w1, w2, w3)
	if err != nil {
		return nil, err
	}
	if gu, dn, ok := moeTiles(x, sh); ok {
		return groupedForward(x, indices, weights, sh, gu.BM, func(g *expertGroups) (*gpu.Tensor, error) {
			return tiledExperts(x, w1, w2, w3, act, g, gu, dn)
		})
	}
	return groupedForward(x, indices, weights, sh, launch.MoETile.BM, func(g *expertGroups) (*gpu.Tensor, error) {
		return bf16Experts(x, w1, w2, w3, act, g)
	})
}

// bf16Experts runs the two grouped GEMMs of GroupedExpertForward on
// moe_gemm.wgsl and returns o [T*K, D] (f32 storage).
func bf16Experts(x, w1, w2, w3 *gpu.Tensor, act Activation, g *expertGroups) (*gpu.Tensor, error) {
	d, sh := x.Device(), g.sh
	// Gate and up in one pass: h = act(x w1ᵀ) * (x w3ᵀ), f32 storage of values rounded to x's dtype.
	g1 := g.gemm("moe_gemm_gate_up", sh.I, sh.D, true)
	g1.In("x", x).In("w", w1).In("w3", w3).Out("out", dtype.F32, sh.T*sh.K, sh.I)
	g1.Snippet("LOAD_A", "ld_x((a / p.topk) * p.k + gk)").Snippet("LOAD_B", "ld_w(ex + gn * p.k + gk)").Snippet("LOAD_C", "ld_w3(ex + gn * p.k + gk)").
		Snippet("EPILOGUE", fmt.Sprintf("v = rnd1_x(rnd1_x(%s(rnd1_x(g))) * rnd1_x(u));", act.wgslFn()))
	h, err := g1.RunOne(d)
	if err != nil {
		return nil, err
	}
	defer h.Release()
	g2 := g.gemm("moe_gemm_down", sh.D, sh.I, false)
	g2.In("h", h).In("w", w2).Out("out", dtype.F32, sh.T*sh.K, sh.D)
	g2.Snippet("LOAD_A", "ld_h(a * p.k + gk)").Snippet("LOAD_B", "ld_w(ex + gn * p.k + gk)").Snippet("LOAD_C", "0.0").
		Snippet("EPILOGUE", "v = "+roundTo(x.DType, "g")+";")
	return g2.RunOne(d)
}

// groupedForward is the frame of a grouped expert forward: an empty
// output for no tokens, else the sort by expert into tiles of up to bm
// rows, experts (which returns each pair's output o [T*K, D], in
// assignment order) and the weighted combine.
func groupedForward(x, indices, weights *gpu.Tensor, sh expertShape, bm int, experts func(*expertGroups) (*gpu.Tensor, error)) (*gpu.Tensor, error) {
	if sh.T == 0 {
		return x.Device().NewOutput(x.DType, sh.T, sh.D)
	}
	g, err := sortByExpert(indices, sh, bm)
	if err != nil {
		return nil, err
	}
	defer g.release()
	o, err := experts(g)
	if err != nil {
		return nil, err
	}
	defer o.Release()
	return combineExperts(o, weights, x.DType, sh)
}

// expertShape holds the sizes of a grouped expert forward: T tokens of D
// features, K experts each, E experts of I intermediate features.
type expertShape struct{ T, D, K, E, I int }

// checkExperts validates the operands of a grouped expert forward (any
// weight dtype: the caller checks those) and returns their sizes.
func checkExperts(op string, x, indices, weights, w1, w2, w3 *gpu.Tensor) (expertShape, error) {
	var sh expertShape
	for _, nt := range (operands{{"x", x}, {"weights", weights}}) {
		if err := checkFloat(op, nt.name, nt.t); err != nil {
			return sh, err
		}
	}
	if len(x.Shape) != 2 || x.Shape[1] == 0 {
		return sh, errorf(op, "x", "shape %v, want [tokens, hidden]", x.Shape)
	}
	T, D := x.Shape[0], x.Shape[1]
	if len(w1.Shape) != 3 || w1.Shape[2] != D {
		return sh, errorf(op, "w1", "shape %v, want [E,I,%d]", w1.Shape, D)
	}
	E, I := w1.Shape[0], w1.Shape[1]
	if !sameShape(w3.Shape, w1.Shape) {
		return sh, errorf(op, "w3", "shape %v, want w1's %v", w3.Shape, w1.Shape)
	}
	if !sameShape(w2.Shape, []int{E, D, I}) {
		return sh, errorf(op, "w2", "shape %v, want [%d,%d,%d]", w2.Shape, E, D, I)
	}
	if E > maxExperts || I == 0 {
		return sh, errorf(op, "w1", "%d experts of %d features, want 1 to %d experts", E, I, maxExperts)
	}
	if indices == nil || indices.DType != dtype.I32 || len(indices.Shape) != 2 || indices.Shape[0] != T {
		return sh, errorf(op, "indices", "want i32 [%d, top_k]", T)
	}
	K := indices.Shape[1]
	if K == 0 {
		return sh, errorf(op, "indices", "shape %v has no expert per token", indices.Shape)
	}
	if weights.DType != dtype.F32 || !sameShape(weights.Shape, indices.Shape) {
		return sh, errorf(op, "weights", "shape %v %v, want f32 %v", weights.DType, weights.Shape, indices.Shape)
	}
	ts := operands{{"x", x}, {"indices", indices}, {"weights", weights}, {"w1", w1}, {"w2", w2}, {"w3", w3}}
	if err := ts.check(op, x.Device()); err != nil {
		return sh, err
	}
	return expertShape{T: T, D: D, K: K, E: E, I: I}, nil
}

// expertGroups is the sort of a grouped forward's (token, expert) pairs
// by expert (moe_sort.wgsl): perm, and tiles of up to BM pairs of one
// expert each.
type expertGroups struct {
	sh          expertShape
	perm, tiles *gpu.Tensor
	maxTiles    int
}

// sortByExpert groups the pairs of indices [T,K] by expert, in tiles of
// up to bm rows.
func sortByExpert(indices *gpu.Tensor, sh expertShape, bm int) (*expertGroups, error) {
	g := &expertGroups{sh: sh, maxTiles: (sh.T*sh.K+bm-1)/bm + sh.E}
	sk := &kernel.Kernel{Name: "moe_sort", Files: []string{"moe_sort"}, Grid: gpu.Grid{1, 1, 1}}
	sk.Uint("NE", sh.E).Uint("BM", bm).In("idx", indices).Out("perm", dtype.I32, sh.T*sh.K).Out("tiles", dtype.I32, 1+3*g.maxTiles).U32("n", sh.T*sh.K)
	sorted, err := sk.Run(indices.Device())
	if err != nil {
		return nil, err
	}
	g.perm, g.tiles = sorted[0], sorted[1]
	return g, nil
}

func (g *expertGroups) release() {
	g.perm.Release()
	g.tiles.Release()
}

// gemm declares a grouped GEMM (moe_gemm.wgsl) of n outputs over k
// inputs per pair, dual for the gated product; the caller binds the
// operands and snippets.
func (g *expertGroups) gemm(name string, n, k int, dual bool, files ...string) *kernel.Kernel {
	t := launch.MoETile
	kn := &kernel.Kernel{Name: name, Files: append(files, "act", "moe_gemm"), Grid: gpu.Grid{uint32((n + t.BN - 1) / t.BN), uint32(g.maxTiles), 1}}
	kn.Uint("WX", t.BN/4).Uint("WY", t.BM/4).Uint("BK", t.BK).Bool("DUAL", dual)
	kn.In("perm", g.perm).In("tiles", g.tiles)
	kn.U32("n", n).U32("k", k)
	if dual {
		kn.U32("topk", g.sh.K)
	}
	return kn
}

// combineExperts sums each token's expert outputs o [T*K, D] (any float dtype) times
// their routing weights, skipping zero weights, into y [T,D] of dtype dt.
func combineExperts(o, weights *gpu.Tensor, dt dtype.DType, sh expertShape) (*gpu.Tensor, error) {
	d := o.Device()
	vec := launch.PackWidth(sh.D)
	ck := elementwise(d, "moe_combine", vec, sh.T*sh.D/vec).Snippet("BODY", `let t = i / p.dp;
  let j = i - t * p.dp;
  var s = P(0.0);
  for (var k = 0u; k < p.topk; k = k + 1u) {
    let w = ld_wts(t * p.topk + k);
    if (w != 0.0) { s = s + P(w) * ldv_o((t * p.topk + k) * p.dp + j); }
  }
  stv_y(i, s);`)
	ck.In("o", o).In("wts", weights).Out("y", dt, sh.T, sh.D).U32("dp", sh.D/vec).U32("topk", sh.K)
	return ck.RunOne(d)
}

// MoEForward is RouteTopK followed by GroupedExpertForward (the golden op
// moe): x [T,D], router logits [T,E], correctionBias [E] or nil, experts
// w1, w3 [E,I,D] and w2 [E,D,I].
func MoEForward(x, logits, correctionBias, w1, w2, w3 *gpu.Tensor, cfg MoEConfig) (*gpu.Tensor, error) {
	idx, w, err := RouteTopK(logits, correctionBias, cfg)
	if err != nil {
		return nil, err
	}
	defer idx.Release()
	defer w.Release()
	return GroupedExpertForward(x, idx, w, w1, w2, w3, cfg.Activation)
}
