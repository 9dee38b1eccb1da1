// The GEMV's declaration (wgsl/matmul_gemv.wgsl) and its generated loops.

package ops

import (
	"fmt"
	"strings"
	"sync"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// gemvKernel declares wgsl/matmul_gemv.wgsl with tile t for the product's
// m rows (meant for m up to launch.GEMVMaxRows: each invocation keeps
// t.GEMVColumns() x m accumulators). It sums the invocations' partial
// products through workgroup memory, never with subgroupAdd: on the H200
// (2026-11-29, tenth session) a subgroupAdd per value was slower at every
// row count, by 1-8% at one row and up to 1.6x at sixteen
// (bench/results/2026-11-29-h200-s10-gemv-subgroup-sums.md, -s10-gemv-shared-sums.txt).
func (s *matmulSpec) gemvKernel(t launch.Tile) *kernel.Kernel {
	d := s.x.Device()
	vec := launch.PackWidth(s.n)
	// Rows: m up to 4, then rounded up to a multiple of 4 (rows past m
	// read row m-1 and are never stored), so that few row counts share
	// few pipelines.
	nc, cg, wg, mr := t.GEMVColumns(), t.GEMVGroups(), t.Threads, s.m
	if mr > 4 {
		mr = (mr + 3) / 4 * 4
	}
	fp8W := isFP8(s.w.DType)
	h := 1 // 16-byte units of 16-bit storage need stores of eight columns
	if vec == 4 && s.n%8 == 0 && s.k%8 == 0 && nc == 8 && (isHalf(s.x.DType) || isHalf(s.w.DType)) {
		h = 2
	}
	ku := 4 * h // K elements per unit: one 16-byte weight access
	if fp8W {
		ku = 16
	}
	su := min(ku, 8) // elements per sub-unit, the step of the dot products
	units := vec == 4 && s.k%ku == 0
	vs := vec // columns per store
	if h == 2 {
		vs = 8
	}
	nv := nc * mr
	vc := 1 // values per reduction chunk: a power of two dividing nv
	for vc*2 <= min(launch.GEMVScratch/wg, wg/cg, 32) && nv%(vc*2) == 0 {
		vc *= 2
	}
	// Named "matmul" like the other matmul kernels (its key names its
	// files), so that per-kernel breakdowns give the products one row.
	k := &kernel.Kernel{Name: "matmul", Vec: vec, Units: h,
		Files: []string{"act", "fp8", "matmul_fp8", "matmul_gemv"}, Grid: launch.MatmulGrid(d, t, s.m, s.n)}
	k.Uint("WG", wg).Uint("NC", nc).Uint("CG", cg).Uint("MR", mr).Uint("KU", ku).Uint("SU", su).Uint("VC", vc).Uint("VS", vs).Bool("UNITS", units)
	_, _, epi := s.operands(k, fp8W)
	k.Snippet("EPILOGUE", epi)

	// The weight scale goes on the sums; e4m3x4_fast returns 1/256 of
	// the values.
	fastE4M3 := units && s.w.DType == dtype.FP8E4M3
	wq := "1.0"
	if fastE4M3 {
		wq = "256.0"
	}
	if s.wScale != nil {
		k.Snippet("WSCALE", "return "+s.wScaleAt("n")+" * "+wq+";")
	} else {
		k.Snippet("WSCALE", "return "+wq+";")
	}

	// Sub-unit loaders: 16-byte accessors for float storage, exact
	// decoding for FP8 x (times its row scale).
	sub := func(name string, dt dtype.DType, scale string) string {
		switch {
		case !units:
			return "return XS();"
		case isFP8(dt):
			parts := make([]string, su/4)
			for i := range parts {
				parts[i] = fmt.Sprintf("%sx4(%s_buf[e / 4u + %du]) * s", fp8Name(dt), name, i)
			}
			return fmt.Sprintf("let s = %s;\n  return XS(%s);", scale, strings.Join(parts, ", "))
		case h == 2:
			return fmt.Sprintf("let u = ldu_%s(e / 8u);\n  return XS(u[0], u[H - 1u]);", name)
		case su == 8:
			return fmt.Sprintf("return XS(ldv_%[1]s(e / 4u), ldv_%[1]s(e / 4u + 1u));", name)
		}
		return fmt.Sprintf("return XS(ldv_%s(e / 4u));", name)
	}
	xScale := "1.0"
	if s.xScale != nil {
		xScale = "ld_xs(m)"
	}
	k.Snippet("XSUB", sub("x", s.x.DType, xScale))
	if fp8W {
		k.Snippet("WSUB", "return XS();") // FP8 weights are decoded in UNIT_STEP
	} else {
		k.Snippet("WSUB", sub("w", s.w.DType, "1.0"))
	}

	gt := gemvBody(gemvShape{nc: nc, mr: mr, ku: ku, su: su, vs: vs, vc: vc, fp8W: fp8W, fastE4M3: fastE4M3,
		xScale: s.xScale != nil, w: s.w.DType})
	k.Snippet("REGS", gt.regs).Snippet("UNIT_STEP", gt.step).Snippet("ELEMENT_STEP", gt.elem).Snippet("REDUCE", gt.reduce).Snippet("STORE", gt.store)
	return k
}

// gemvShape is what the GEMV's generated loops depend on.
type gemvShape struct {
	nc, mr, ku, su, vs, vc int
	fp8W, fastE4M3, xScale bool
	w                      dtype.DType
}

// gemvText is the generated WGSL of the GEMV's loops, reduction and
// stores for one gemvShape.
type gemvText struct{ regs, step, elem, reduce, store string }

// gemvBodies memoises gemvBody: every eager call declares its kernel,
// and generating this text took most of a GEMV call's declaration
// (BenchmarkEagerHost/declare).
var gemvBodies sync.Map // gemvShape -> gemvText

// gemvBody returns the REGS, UNIT_STEP, ELEMENT_STEP, REDUCE and STORE
// snippets of wgsl/matmul_gemv.wgsl for g.
func gemvBody(g gemvShape) gemvText {
	if t, ok := gemvBodies.Load(g); ok {
		return t.(gemvText)
	}
	nc, mr, ku, su, vs, vc, fp8W, fastE4M3 := g.nc, g.mr, g.ku, g.su, g.vs, g.vc, g.fp8W, g.fastE4M3
	nv := nc * mr
	acc := func(m, c int) string { return fmt.Sprintf("a%d_%d", m, c) }
	var regs, step, elem, reduce strings.Builder
	for m := 0; m < mr; m++ {
		fmt.Fprintf(&regs, "let row%d = min(%du, p.m - 1u);\n  ", m, m)
	}
	for c := 0; c < nc; c++ {
		fmt.Fprintf(&regs, "let col%d = min(nc0 + %du, p.n - 1u);\n  ", c, c)
		if fastE4M3 {
			fmt.Fprintf(&regs, "var nan%d = 0u;\n  ", c)
		}
		for m := 0; m < mr; m++ {
			fmt.Fprintf(&regs, "var %s = 0.0;\n  ", acc(m, c))
		}
	}

	// UNIT_STEP: the NC weight units first (an FP8 unit is one 16-byte
	// word), then per sub-unit the decoded weights and, row by row of x,
	// its elements and NC dot products, each a chain of fma.
	if fp8W {
		for c := 0; c < nc; c++ {
			fmt.Fprintf(&step, "let q%d = w_buf[(col%d * p.k) / 16u + u];\n      ", c, c)
			if fastE4M3 {
				fmt.Fprintf(&step, "nan%[1]d = nan%[1]d | e4m3x4_nan(q%[1]d.x) | e4m3x4_nan(q%[1]d.y) | e4m3x4_nan(q%[1]d.z) | e4m3x4_nan(q%[1]d.w);\n      ", c)
			}
		}
	}
	for sb := 0; sb < ku/su; sb++ {
		step.WriteString("{\n")
		for c := 0; c < nc; c++ {
			if fp8W {
				dec := fp8Name(g.w) + "x4_fast"
				fmt.Fprintf(&step, "        let w%d = XS(%s(q%d.%c), %s(q%d.%c));\n", c, dec, c, "xyzw"[2*sb], dec, c, "xyzw"[2*sb+1])
			} else {
				fmt.Fprintf(&step, "        let w%d = wsub(col%d * p.k + u * KU + %du);\n", c, c, sb*su)
			}
		}
		for m := 0; m < mr; m++ {
			fmt.Fprintf(&step, "        {\n          let xv = xsub(row%d, row%d * p.k + u * KU + %du);\n", m, m, sb*su)
			for c := 0; c < nc; c++ {
				// One chain of scalar fma from the accumulator: a + dot(..)
				// costs a multiply and an add more per four products
				// (-9 to -23% time at M = 4 to 16, bench/matmul.md).
				a := acc(m, c)
				for q := 0; q < su/4; q++ {
					for _, e := range "xyzw" {
						a = fmt.Sprintf("fma(xv[%d].%c, w%d[%d].%c, %s)", q, e, c, q, e, a)
					}
				}
				fmt.Fprintf(&step, "          %s = %s;\n", acc(m, c), a)
			}
			step.WriteString("        }\n")
		}
		step.WriteString("      }\n      ")
	}

	// ELEMENT_STEP: element k of each row of x, then of each weight row.
	for m := 0; m < mr; m++ {
		fmt.Fprintf(&elem, "let x%d = ld_x(row%d * p.k + k)", m, m)
		if g.xScale {
			fmt.Fprintf(&elem, " * ld_xs(row%d)", m)
		}
		elem.WriteString(";\n      ")
	}
	for c := 0; c < nc; c++ {
		wv := fmt.Sprintf("ld_w(col%d * p.k + k)", c)
		if fp8W {
			wv = fmt.Sprintf("%s_decode((w_buf[(col%[2]d * p.k + k) >> 4u][((col%[2]d * p.k + k) >> 2u) & 3u] >> (((col%[2]d * p.k + k) & 3u) * 8u)) & 0xffu)", fp8Name(g.w), c)
		}
		fmt.Fprintf(&elem, "{\n        let wv = %s;\n", wv)
		for m := 0; m < mr; m++ {
			fmt.Fprintf(&elem, "        %[1]s = fma(x%[2]d, wv, %[1]s);\n", acc(m, c), m)
		}
		elem.WriteString("      }\n      ")
	}

	// REDUCE: a NaN code poisons its column's sums (e4m3x4_fast decodes
	// it as a number), then VC values at a time: their partials (one per
	// invocation) into red, summed by reduce_chunk.
	if fastE4M3 {
		for c := 0; c < nc; c++ {
			fmt.Fprintf(&reduce, "if (nan%d != 0u) {", c)
			for m := 0; m < mr; m++ {
				fmt.Fprintf(&reduce, " %s = bitcast<f32>(0x7fc00000u | nan%d);", acc(m, c), c)
			}
			reduce.WriteString(" }\n  ")
		}
	}
	for cb := 0; cb < nv; cb += vc {
		for v := cb; v < cb+vc; v++ {
			fmt.Fprintf(&reduce, "red[%du * WG + lid] = %s;\n  ", v-cb, acc(v/nc, v%nc))
		}
		fmt.Fprintf(&reduce, "workgroupBarrier();\n  reduce_chunk(%du, n0, lid);\n  ", cb)
	}
	trim := func(b *strings.Builder) string { return strings.TrimSpace(b.String()) }
	out := gemvText{regs: trim(&regs), step: trim(&step), elem: trim(&elem), reduce: trim(&reduce)}

	// STORE: VS columns of row m from column n, the sums at tot[b ..].
	lanes := make([]string, vs)
	for i := range lanes {
		lanes[i] = fmt.Sprintf("epi(tot[b + %du], m, n + %du)", i, i)
	}
	switch vs {
	case 8:
		out.store = fmt.Sprintf("stu_y((m * p.n + n) / 8u, PU(P(%s), P(%s)));", strings.Join(lanes[:4], ", "), strings.Join(lanes[4:], ", "))
	case 4:
		out.store = fmt.Sprintf("stv_y((m * p.n + n) / 4u, P(%s));", strings.Join(lanes, ", "))
	default:
		out.store = "st_y(m * p.n + n, " + lanes[0] + ");"
	}
	gemvBodies.Store(g, out)
	return out
}
