// The tiled matmul kernels' declarations: wgsl/matmul.wgsl (Simple) and
// wgsl/matmul_tiled.wgsl (Blocked, with its unrolled snippets).

package ops

import (
	"fmt"
	"strings"
	"sync"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// simpleKernel declares wgsl/matmul.wgsl with tile t.
func (s *matmulSpec) simpleKernel(t launch.Tile) *kernel.Kernel {
	d := s.x.Device()
	vec := launch.PackWidth(s.n)
	k := &kernel.Kernel{Name: "matmul", Vec: vec, Files: []string{"act", "fp8", "matmul"}, Grid: launch.MatmulGrid(d, t, s.m, s.n)}
	k.Uint("WX", t.BN/4).Uint("WY", t.BM/4).Uint("BK", t.BK)
	loadA, loadB, epi := s.operands(k, false)
	lane := func(i int) string { return fmt.Sprintf("epi(a.%c, m, n + %du)", "xyzw"[i], i) }
	return k.Snippet("LOAD_A", loadA).Snippet("LOAD_B", loadB).Snippet("EPILOGUE", epi).Snippet("STORE", packStore(vec, lane))
}

// blockedUnits returns the packs per unit H of the Blocked kernel: 2
// (16-byte accesses of eight 16-bit elements, stores of eight) when an
// operand is 16-bit, the shape and register block allow and the tile is
// not Narrow, else 1.
func (s *matmulSpec) blockedUnits(t launch.Tile, vec int) int {
	if !t.Narrow && vec == 4 && s.n%8 == 0 && s.k%8 == 0 && t.TN%8 == 0 && (isHalf(s.x.DType) || isHalf(s.w.DType)) {
		return 2
	}
	return 1
}

// unitRead is how the Blocked kernel reads a unit of one operand: Type,
// what a prefetch register holds between fetch and stash; Fetch, the
// body of the loader (UNIT_A, UNIT_B); Dec, the body that decodes raw
// unit r to UV in the staging step (DEC_A, DEC_B).
type unitRead struct{ Type, Fetch, Dec string }

// unitLoad returns the unit read of binding name (row r, K offset gk, h
// packs of 4): 16-bit storage is fetched as raw words (vec2<u32>, or
// vec4<u32> for h = 2) and decoded in the staging step, so the
// products between fetch and stash never wait on the load (on the H200
// decoding at fetch held bf16 at 28.5 TFLOP/s where f32 ran at 36.6 on
// the same tile, 2026-11-29); FP8 words are decoded times scale at
// fetch; f32 passes through; zeros when units is false (the loader is
// then never called).
func unitLoad(name, r string, dt dtype.DType, h int, units bool, scale string) unitRead {
	pass := unitRead{Type: "UV", Dec: "return r;"}
	switch {
	case !units:
		pass.Fetch = "return UV();"
	case isFP8(dt):
		var parts []string
		for i := 0; i < h; i++ {
			parts = append(parts, fmt.Sprintf("%sx4(%s_buf[i + %du]) * s", fp8Name(dt), name, i))
		}
		pass.Fetch = fmt.Sprintf("let i = (%s * p.k + gk) / 4u;\n  let s = %s;\n  return UV(%s);", r, scale, strings.Join(parts, ", "))
	case isHalf(dt):
		dec := "bf16x4_to_f32"
		if dt == dtype.F16 {
			dec = "f16x4_to_f32"
		}
		if h == 2 {
			return unitRead{Type: "vec4<u32>", Fetch: fmt.Sprintf("return %s_buf[(%s * p.k + gk) / 8u];", name, r),
				Dec: fmt.Sprintf("return UV(%[1]s(r.xy), %[1]s(r.zw));", dec)}
		}
		return unitRead{Type: "vec2<u32>", Fetch: fmt.Sprintf("return %s_buf[(%s * p.k + gk) / 4u];", name, r),
			Dec: fmt.Sprintf("return UV(%s(r));", dec)}
	case h == 2:
		// Element by element: naga tells PU and UV apart.
		pass.Fetch = fmt.Sprintf("let u = ldu_%s((%s * p.k + gk) / 8u);\n  return UV(u[0], u[H - 1u]);", name, r)
	default:
		pass.Fetch = fmt.Sprintf("return UV(ldv_%s((%s * p.k + gk) / 4u));", name, r)
	}
	return pass
}

// decoded returns u with the decoding moved into the fetch (prefetch
// registers of UV), for an operand whose loader serves two dtypes.
func (u unitRead) decoded() unitRead {
	if u.Type == "UV" {
		return u
	}
	raw := strings.TrimSuffix(strings.TrimPrefix(u.Fetch, "return "), ";")
	return unitRead{Type: "UV", Fetch: "let r = " + raw + ";\n  " + u.Dec, Dec: "return r;"}
}

// setUnit sets the unit snippets of operand op ("A" or "B") from u.
func setUnit(k *kernel.Kernel, op string, u unitRead) {
	k.Snippet("RAW_"+op, u.Type).Snippet("UNIT_"+op, u.Fetch).Snippet("DEC_"+op, u.Dec)
}

// blockedKernel declares wgsl/matmul_tiled.wgsl with tile t.
func (s *matmulSpec) blockedKernel(t launch.Tile) *kernel.Kernel {
	d := s.x.Device()
	vec := launch.PackWidth(s.n)
	h := s.blockedUnits(t, vec)
	units := vec == 4 && s.k%(4*h) == 0
	half := s.halfMath && !isFP8(s.x.DType) && !isFP8(s.w.DType)
	k := &kernel.Kernel{Name: "matmul", Vec: vec, Units: h, F16: half, Files: []string{"act", "fp8", "matmul_fp8", "matmul_tiled"}, Grid: launch.MatmulGrid(d, t, s.m, s.n)}
	tileConsts(k, t, units)
	loadA, loadB, epi := s.operands(k, false)
	xs, ws := "1.0", "1.0"
	if s.xScale != nil {
		xs = "ld_xs(gm)"
	}
	if s.wScale != nil {
		ws = s.wScaleAt("gn")
	}
	k.Snippet("LOAD_A", loadA).Snippet("LOAD_B", loadB).Snippet("EPILOGUE", epi)
	setUnit(k, "A", unitLoad("x", "gm", s.x.DType, h, units, xs))
	setUnit(k, "B", unitLoad("w", "gn", s.w.DType, h, units, ws))
	store4, store8 := "", ""
	if h == 2 {
		lane := func(v string, n int) string {
			return fmt.Sprintf("P(epi(%[1]s.x, m, n + %[2]du), epi(%[1]s.y, m, n + %[3]du), epi(%[1]s.z, m, n + %[4]du), epi(%[1]s.w, m, n + %[5]du))", v, n, n+1, n+2, n+3)
		}
		store8 = fmt.Sprintf("stu_y((m * p.n + n) / 8u, PU(%s, %s));", lane("a", 0), lane("b", 4))
	} else {
		store4 = packStore(vec, func(i int) string { return fmt.Sprintf("epi(a.%c, m, n + %du)", "xyzw"[i], i) })
	}
	k.Snippet("STORE4", store4).Snippet("STORE8", store8).Snippet("ORIGIN", "let m0 = mt * BM;")
	for _, sn := range blockedSnippets(t, h, half) {
		k.Snippet(sn.Name, sn.WGSL)
	}
	return k
}

// tileConsts sets the constants of wgsl/matmul_tiled.wgsl that tile t
// and the unit path (units) decide.
func tileConsts(k *kernel.Kernel, t launch.Tile, units bool) {
	k.Uint("BM", t.BM).Uint("BN", t.BN).Uint("BK", t.BK).Uint("TM", t.TM).Uint("TN", t.TN).Bool("DOUBLE", t.Double).Bool("UNITS", units)
	k.Uint("GROUP", max(t.Group, 1))
}

type blockKey struct {
	t    launch.Tile
	h    int
	half bool
}

var blockCache sync.Map // blockKey -> []kernel.Snippet

// blockedSnippets returns the hand-unrolled parts of the Blocked kernel
// for tile t, h packs per unit and f32 or f16 products (half; cached:
// they depend on nothing else):
//
//	SS     the scalar type of the staged tiles: f32, or f16 with half
//	REGS   the TM x TN/4 vec4 accumulators cR_J (f32), with half also
//	       as many f16 ones hR_J, and the prefetch registers ra*, rb*
//	       (whole units, ceil(units / WG) of each)
//	FETCH  loads step k1's units into them; STASH stores them into buffer nb
//	MMA    one k of the register block: TM/4 vec4 of A, TN/4 of B, TM*TN/4
//	       FMAs (into hR_J with half)
//	CHUNK  after a K step, with half: cR_J += hR_J, hR_J = 0
//	WRITE  stores the block (rows m.., columns n..) in packs of 4 or units of 8,
//	       row by row
func blockedSnippets(t launch.Tile, h int, half bool) []kernel.Snippet {
	key := blockKey{t, h, half}
	if v, ok := blockCache.Load(key); ok {
		return v.([]kernel.Snippet)
	}
	wg := t.Invocations()
	upr := t.BK / (4 * h)
	la, lb := (t.BM*upr+wg-1)/wg, (t.BN*upr+wg-1)/wg
	var regs, fetch, stash, mma, chunk, write strings.Builder
	acc, ss, sv := "c", "f32", "vec4<f32>"
	if half {
		acc, ss, sv = "h", "f16", "vec4<f16>"
	}
	for r := 0; r < t.TM; r++ {
		for j := 0; j < t.TN/4; j++ {
			fmt.Fprintf(&regs, "var c%d_%d = vec4<f32>(0.0);\n  ", r, j)
			if half {
				fmt.Fprintf(&regs, "var h%d_%d = vec4<f16>();\n  ", r, j)
				fmt.Fprintf(&chunk, "c%[1]d_%[2]d = c%[1]d_%[2]d + vec4<f32>(h%[1]d_%[2]d); h%[1]d_%[2]d = vec4<f16>();\n    ", r, j)
			}
		}
	}
	for i := 0; i < la; i++ {
		fmt.Fprintf(&regs, "var ra%d: RA;\n  ", i)
		fmt.Fprintf(&fetch, "ra%d = fetch_a(m0, k1, lid + %du);\n    ", i, i*wg)
		fmt.Fprintf(&stash, "stash_a(nb, lid + %du, ra%d);\n    ", i*wg, i)
	}
	for i := 0; i < lb; i++ {
		fmt.Fprintf(&regs, "var rb%d: RB;\n  ", i)
		fmt.Fprintf(&fetch, "rb%d = fetch_b(n0, k1, lid + %du);\n    ", i, i*wg)
		fmt.Fprintf(&stash, "stash_b(nb, lid + %du, rb%d);\n    ", i*wg, i)
	}
	for i := 0; i < t.TM/4; i++ {
		fmt.Fprintf(&mma, "let a%d = As[ai + %du];\n      ", i, i)
	}
	for j := 0; j < t.TN/4; j++ {
		fmt.Fprintf(&mma, "let b%d = Bs[bi + %du];\n      ", j, j)
	}
	for r := 0; r < t.TM; r++ {
		for j := 0; j < t.TN/4; j++ {
			fmt.Fprintf(&mma, "%[5]s%[1]d_%[2]d = fma(%[6]s(a%[3]d.%[4]c), b%[2]d, %[5]s%[1]d_%[2]d);\n      ", r, j, r/4, "xyzw"[r%4], acc, sv)
		}
	}
	// WRITE: a loop over the rows whose switch copies row r's
	// accumulators by name (never an index into them), so the epilogue is
	// emitted TN/4 times rather than TM*TN/4 times.
	write.WriteString(blockRows(t))
	if h == 2 {
		for j := 0; j < t.TN/8; j++ {
			fmt.Fprintf(&write, "    store8(m + r, n + %du, o%d, o%d);\n", 8*j, 2*j, 2*j+1)
		}
	} else {
		for j := 0; j < t.TN/4; j++ {
			fmt.Fprintf(&write, "    store4(m + r, n + %du, o%d);\n", 4*j, j)
		}
	}
	write.WriteString("  }")
	trim := func(b *strings.Builder) string { return strings.TrimSpace(b.String()) }
	sn := []kernel.Snippet{{Name: "SS", WGSL: ss}, {Name: "REGS", WGSL: trim(&regs)}, {Name: "FETCH", WGSL: trim(&fetch)},
		{Name: "STASH", WGSL: trim(&stash)}, {Name: "MMA", WGSL: trim(&mma)}, {Name: "CHUNK", WGSL: trim(&chunk)}, {Name: "WRITE", WGSL: trim(&write)}}
	blockCache.Store(key, sn)
	return sn
}

// blockRows returns the head of the Blocked kernel's WRITE: a loop over
// the register block's rows r whose switch copies row r's accumulators
// into o0 .. o(TN/4-1) by name; the caller adds the stores and the
// loop's closing brace.
func blockRows(t launch.Tile) string {
	var w strings.Builder
	w.WriteString("for (var r = 0u; r < TM; r = r + 1u) {\n")
	for j := 0; j < t.TN/4; j++ {
		fmt.Fprintf(&w, "    var o%d: vec4<f32>;\n", j)
	}
	w.WriteString("    switch (r) {\n")
	for r := 0; r < t.TM; r++ {
		if r == t.TM-1 {
			w.WriteString("      default: {")
		} else {
			fmt.Fprintf(&w, "      case %du: {", r)
		}
		for j := 0; j < t.TN/4; j++ {
			fmt.Fprintf(&w, " o%d = c%d_%d;", j, r, j)
		}
		w.WriteString(" }\n")
	}
	w.WriteString("    }\n")
	return w.String()
}
