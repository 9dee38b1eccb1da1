package ops

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// moeTileChoice picks the tiles of the grouped expert GEMMs for a device
// and operand size (launch.MoETiles); ok false keeps moe_gemm.wgsl.
// Tests and BenchmarkParity replace it to run each path.
var moeTileChoice = launch.MoETiles

// moeTiles returns the tiles of x's expert GEMMs of shape sh on
// matmul_tiled.wgsl and whether that path runs (else moe_gemm.wgsl's,
// MoETile).
func moeTiles(x *gpu.Tensor, sh expertShape) (gateUp, down launch.Tile, ok bool) {
	eb := 4
	if isHalf(x.DType) {
		eb = 2
	}
	gateUp, down, ok = moeTileChoice(x.Device(), eb, sh.T*sh.K/max(sh.E, 1))
	return gateUp, down, ok && gateUp.TN == 8 && gateUp.BM == down.BM
}

// tiledGEMM declares a grouped GEMM on matmul_tiled.wgsl and
// moe_tiled.wgsl with tile t over the sorted pairs of g: A is binding
// aName (a), row moe_tok(gm) of x for the gated product (dual: w and w3
// [E,ni,k] interleaved, moe_tiled.wgsl), row gm (sorted) otherwise (w
// [E,ni,k]). The caller binds the output and sets EPILOGUE, STORE4 and,
// for dual, WRITE, GATED and STORE_H (moe_gated.wgsl).
func (g *expertGroups) tiledGEMM(name string, t launch.Tile, dual bool, aName string, a, w, w3 *gpu.Tensor, k, ni int) *kernel.Kernel {
	sh := g.sh
	vec := launch.PackWidth(sh.D, sh.I)
	units := vec == 4
	n := ni
	files := []string{"act", "fp8", "matmul_fp8", "matmul_tiled", "moe_tiled"}
	if dual {
		ht := t.TN / 2
		n = 2 * ((ni + ht - 1) / ht) * ht
		files = append(files, "moe_gated")
	}
	kn := &kernel.Kernel{Name: name, Vec: vec, Files: files, Grid: gpu.Grid{uint32((n + t.BN - 1) / t.BN), uint32(g.maxTiles), 1}}
	tileConsts(kn, t, units)
	kn.Bool("DUAL", dual)
	kn.In("perm", g.perm).Ints().In("tiles", g.tiles).Ints().In(aName, a).In("w", w)
	rowA, ub, mb := "gm", "let row = moe_wrow(gn);\n  ", ""
	wu := unitLoad("w", "row", w.DType, 1, units, "1.0")
	if dual {
		// One loader serves w and w3: raw words when they share a dtype,
		// else each decoded at fetch.
		kn.In("w3", w3)
		rowA = "moe_tok(gm)"
		w3u := unitLoad("w3", "row", w3.DType, 1, units, "1.0")
		if w3.DType != w.DType {
			wu, w3u = wu.decoded(), w3u.decoded()
		}
		ub += "if (moe_up(gn)) {\n    " + w3u.Fetch + "\n  }\n  "
		mb = "if (moe_up(gn)) { return ld_w3(row * p.k + gk); }\n  "
	}
	wu.Fetch = ub + wu.Fetch
	mb += "return ld_w(row * p.k + gk);"
	kn.U32("m", sh.T*sh.K).U32("n", n).U32("k", k).U32("ni", ni).U32("topk", sh.K)
	kn.Snippet("ORIGIN", "let m0 = moe_origin(mt, lid);\n  if (m0 == NONE) { return; }")
	kn.Snippet("LOAD_A", fmt.Sprintf("ld_%s(%s * p.k + gk)", aName, rowA))
	setUnit(kn, "A", unitLoad(aName, rowA, a.DType, 1, units, "1.0"))
	setUnit(kn, "B", wu)
	kn.Snippet("LOAD_B", "moe_b(gn, gk)").Snippet("MOE_B", mb).Snippet("STORE8", "")
	for _, sn := range blockedSnippets(t, 1, false) {
		if !dual || sn.Name != "WRITE" {
			kn.Snippet(sn.Name, sn.WGSL)
		}
	}
	return kn
}

// gatedGEMM declares the gated product h = gated(x w1ᵀ, x w3ᵀ) of tile t
// (TN 8) into h [T*K, I] of dtype hdt in sorted row order: gated is
// WGSL that sets v from the gate gj and up uj of column n, sorted row m.
func (g *expertGroups) gatedGEMM(name string, t launch.Tile, x, w1, w3 *gpu.Tensor, hdt dtype.DType, gated string) *kernel.Kernel {
	sh := g.sh
	kn := g.tiledGEMM(name, t, true, "x", x, w1, w3, sh.D, sh.I)
	kn.Out("h", hdt, sh.T*sh.K, sh.I)
	store := "for (var j = 0u; j < 4u; j = j + 1u) {\n    if (c + j < p.ni) { st_h(m * p.ni + c + j, o[j]); }\n  }"
	if kn.Vec == 4 {
		store = "stv_h((m * p.ni + c) / 4u, P(o));"
	}
	write := blockRows(t) + "    store_gated(m + r, n / 2u, o0, o1);\n  }"
	return kn.Snippet("WRITE", write).Snippet("GATED", gated).Snippet("STORE_H", store).Snippet("EPILOGUE", "").Snippet("STORE4", "")
}

// downGEMM declares the product o = epi(h w2ᵀ) of tile t over the sorted
// rows of h [T*K, I] into o [T*K, D] of dtype odt, in assignment order
// (row perm[m]); epilogue sets v from v, m (sorted) and n.
func (g *expertGroups) downGEMM(name string, t launch.Tile, h, w2 *gpu.Tensor, odt dtype.DType, epilogue string) *kernel.Kernel {
	sh := g.sh
	kn := g.tiledGEMM(name, t, false, "h", h, w2, nil, sh.I, sh.D)
	kn.Out("o", odt, sh.T*sh.K, sh.D)
	lane := func(i int) string { return fmt.Sprintf("epi(a.%c, m, n + %du)", "xyzw"[i], i) }
	store := "if (m >= moe_end) { return; }\n  " + packStoreTo("o", "u32(perm_buf[m])", kn.Vec, lane)
	return kn.Snippet("EPILOGUE", epilogue).Snippet("STORE4", store)
}

// tiledExperts runs the two grouped GEMMs of GroupedExpertForward on
// matmul_tiled.wgsl (tiles gateUp and down) and returns o [T*K, D] in
// x's dtype: h and o hold values rounded to x's dtype, so storing them in
// it is exact.
func tiledExperts(x, w1, w2, w3 *gpu.Tensor, act Activation, g *expertGroups, gateUp, down launch.Tile) (*gpu.Tensor, error) {
	d := x.Device()
	h, err := g.gatedGEMM("moe_tiled_gate_up", gateUp, x, w1, w3, x.DType,
		fmt.Sprintf("v = rnd1_x(rnd1_x(%s(rnd1_x(gj))) * rnd1_x(uj));", act.wgslFn())).RunOne(d)
	if err != nil {
		return nil, err
	}
	defer h.Release()
	return g.downGEMM("moe_tiled_down", down, h, w2, x.DType, "v = "+roundTo(x.DType, "v")+";").RunOne(d)
}

// tiledExpertsFP8 is fp8Experts on matmul_tiled.wgsl: h in sorted rows.
func tiledExpertsFP8(x *gpu.Tensor, e ExpertsFP8, act Activation, g *expertGroups, gateUp, down launch.Tile) (*gpu.Tensor, error) {
	return fp8Forward(x, func(xq, sx *gpu.Tensor) *kernel.Kernel {
		k := g.gatedGEMM("moe_tiled_fp8_gate_up", gateUp, xq, e.W1, e.W3, dtype.F32, fp8Gated(act, "gj", "uj", "moe_tok(m)", "moe_e * p.ni + n"))
		return k.In("sx", sx).In("s1", e.S1).In("s3", e.S3)
	}, func(hq, shs *gpu.Tensor) *kernel.Kernel {
		k := g.downGEMM("moe_tiled_fp8_down", down, hq, e.W2, x.DType, "v = "+fp8Down(x.DType, "v", "m", "moe_e")+";")
		return k.In("sh", shs).In("s2", e.S2)
	})
}
