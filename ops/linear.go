package ops

import (
	"fmt"
	"strings"
	"sync"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// GateResidual is the epilogue y = Residual + Gate * y. Gate is [N],
// [B,N], [B,1,N] (per batch of x [B,...,K]) or the output's shape;
// Residual has the output's shape.
type GateResidual struct {
	Gate, Residual *gpu.Tensor
}

// matmulSpec is one validated matmul: y = epi(A @ Bᵀ) with A [M,K], B [N,K].
type matmulSpec struct {
	op            string
	x, w, b       *gpu.Tensor
	xScale        *gpu.Tensor // per-row scale of an FP8 x [M,1]
	wScale        *gpu.Tensor // per-row [N,1] or scalar [1,1] scale of an FP8 w
	act           Activation
	gr            *GateResidual
	m, n, k       int
	gdiv, gstride int
	outDT         dtype.DType
	outShape      []int
	// halfMath asks the Blocked kernel for f16 products: operands rounded
	// to f16, each K step of the tile (BK terms) summed in f16, the steps
	// in f32 (wgsl/matmul_tiled.wgsl). Not exact to the spec's f32 bound;
	// only benchmarks and its tests set it (bench/matmul.md). Float
	// operands on a device with shader-f16 only.
	halfMath bool
}

// validate checks shapes and dtypes and fills the sizes. x may have any
// leading shape; its last dimension is K.
func (s *matmulSpec) validate() error {
	op := s.op
	if s.x == nil {
		return errorf(op, "x", "is required")
	}
	if s.xScale == nil {
		if err := checkFloat(op, "x", s.x); err != nil {
			return err
		}
	} else if s.x.DType != dtype.FP8E4M3 && s.x.DType != dtype.FP8E5M2 {
		return errorf(op, "x", "dtype %v, want fp8 with a scale", s.x.DType)
	}
	if s.w == nil {
		return errorf(op, "weight", "is required")
	}
	isFP8W := s.w.DType == dtype.FP8E4M3 || s.w.DType == dtype.FP8E5M2
	if isFP8W && s.wScale == nil {
		return errorf(op, "weight_scale", "is required for an fp8 weight (dequantisation needs it)")
	}
	if !isFP8W {
		if err := checkFloat(op, "weight", s.w); err != nil {
			return err
		}
	}
	if len(s.x.Shape) == 0 {
		return errorf(op, "x", "shape %v has no last dimension", s.x.Shape)
	}
	s.k = s.x.Shape[len(s.x.Shape)-1]
	if len(s.w.Shape) != 2 || s.w.Shape[1] != s.k {
		return errorf(op, "weight", "shape %v, want [N,%d] (x is %v)", s.w.Shape, s.k, s.x.Shape)
	}
	s.n = s.w.Shape[0]
	s.m = 1
	for _, v := range s.x.Shape[:len(s.x.Shape)-1] {
		s.m *= v
	}
	if s.wScale != nil {
		if err := checkFloat(op, "weight_scale", s.wScale); err != nil {
			return err
		}
		if n := s.wScale.Numel(); n != s.n && n != 1 {
			return errorf(op, "weight_scale", "shape %v, want [%d,1] (per output channel) or [1,1]", s.wScale.Shape, s.n)
		}
	}
	if s.xScale != nil && s.xScale.Numel() != s.m {
		return errorf(op, "x_scale", "shape %v, want [%d,1]", s.xScale.Shape, s.m)
	}
	if err := checkVector(op, "bias", s.b, s.n); err != nil {
		return err
	}
	if err := checkAct(op, s.act); err != nil {
		return err
	}
	s.outShape = append(append([]int(nil), s.x.Shape[:len(s.x.Shape)-1]...), s.n)
	if s.outDT == 0 && s.x.DType.IsFloat() && s.xScale == nil {
		s.outDT = s.x.DType
	}
	var ts operands
	ts.add("x", s.x)
	ts.add("weight", s.w)
	ts.add("bias", s.b)
	ts.add("weight_scale", s.wScale)
	ts.add("x_scale", s.xScale)
	if s.gr != nil {
		if err := s.checkGateResidual(&ts); err != nil {
			return err
		}
	}
	return ts.check(op, s.x.Device())
}

// checkGateResidual validates the gate and residual of s.gr against the
// output (s.m, s.n, s.outShape), sets gdiv and gstride and adds both to ts.
func (s *matmulSpec) checkGateResidual(ts *operands) error {
	op, g, r := s.op, s.gr.Gate, s.gr.Residual
	if err := checkFloat(op, "gate", g); err != nil {
		return err
	}
	if err := checkFloat(op, "residual", r); err != nil {
		return err
	}
	if !sameShape(r.Shape, s.outShape) {
		return errorf(op, "residual", "shape %v, want the output's %v", r.Shape, s.outShape)
	}
	if err := s.gateBroadcast(g.Shape); err != nil {
		return err
	}
	ts.add("gate", g)
	ts.add("residual", r)
	return nil
}

// gateBroadcast sets gdiv and gstride: output row m reads gate row m/gdiv.
func (s *matmulSpec) gateBroadcast(g []int) error {
	n, m := s.n, s.m
	switch {
	case len(g) == 1 && g[0] == n:
		s.gdiv, s.gstride = 1, 0
	case sameShape(g, s.outShape) || (len(g) == 2 && g[0] == m && g[1] == n):
		s.gdiv, s.gstride = 1, n
	case len(s.outShape) >= 2 && g[0] == s.outShape[0] && g[len(g)-1] == n && gpu.Numel(g) == g[0]*n && (len(g) == 2 || len(g) == 3):
		s.gdiv, s.gstride = max(1, m/max(1, g[0])), n
	default:
		return errorf(s.op, "gate", "shape %v does not broadcast to the output %v (want [N], [B,N], [B,1,N] or the output's shape)", g, s.outShape)
	}
	return nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// run declares the product with tile t and dispatches it.
func (s *matmulSpec) run(t launch.Tile) (*gpu.Tensor, error) {
	return s.kernel(t).RunOne(s.x.Device())
}

// kernel declares the product y = epi(x @ wᵀ) with tile t: the kernel
// the tile's kind names (launch.Simple, launch.Blocked, launch.GEMV).
// FP8 operands are decoded by the kernels and scaled by their scales.
func (s *matmulSpec) kernel(t launch.Tile) *kernel.Kernel {
	switch t.Kind {
	case launch.Blocked:
		return s.blockedKernel(t)
	case launch.GEMV:
		return s.gemvKernel(t, s.x.Device().Features.Subgroups)
	}
	return s.simpleKernel(t)
}

func isHalf(dt dtype.DType) bool { return dt == dtype.F16 || dt == dtype.BF16 }
func isFP8(dt dtype.DType) bool  { return dt == dtype.FP8E4M3 || dt == dtype.FP8E5M2 }

// operands declares the bindings and uniforms every matmul kernel shares
// (x, w and their scales, bias, gate and residual, m, n, k, gdiv,
// gstride) and returns the scalar loads LOAD_A (row gm, column gk) and
// LOAD_B (row gn) and the epilogue, which sees v, m and n. With
// wordsW the weight is bound as 16-byte words (w_buf, for an FP8 weight
// the caller decodes itself).
func (s *matmulSpec) operands(k *kernel.Kernel, wordsW bool) (loadA, loadB, epilogue string) {
	k.In("x", s.x).In("w", s.w)
	loadA, loadB = "ld_x(gm * p.k + gk)", "ld_w(gn * p.k + gk)"
	if wordsW {
		k.Words() // the caller decodes it; loadB does not apply
	}
	if s.xScale != nil {
		k.In("xs", s.xScale)
		loadA += " * ld_xs(gm)"
	}
	if s.wScale != nil {
		k.In("ws", s.wScale)
		loadB += " * " + s.wScaleAt("gn")
	}
	var epi []string
	if s.b != nil {
		k.In("b", s.b)
		epi = append(epi, "v = v + ld_b(n);")
	}
	if s.act != ActNone || s.gr != nil {
		epi = append(epi, "v = rnd1_y(v);")
	}
	if s.act != ActNone {
		epi = append(epi, fmt.Sprintf("v = rnd1_y(%s(v));", s.act.wgslFn()))
	}
	k.U32("m", s.m).U32("n", s.n).U32("k", s.k)
	if s.gr != nil {
		k.In("g", s.gr.Gate).In("res", s.gr.Residual)
		k.U32("gdiv", max(1, s.gdiv)).U32("gstride", s.gstride)
		epi = append(epi, "v = ld_res(m * p.n + n) + rnd1_y(ld_g((m / p.gdiv) * p.gstride + n) * v);")
	}
	k.Out("y", s.outDT, s.outShape...)
	return loadA, loadB, strings.Join(epi, "\n  ")
}

// wScaleAt is the weight scale of row n (WGSL), one scale or one per row.
func (s *matmulSpec) wScaleAt(n string) string {
	if s.wScale.Numel() == 1 {
		return "ld_ws(0u)"
	}
	return "ld_ws(" + n + ")"
}

func fp8Name(dt dtype.DType) string {
	if dt == dtype.FP8E5M2 {
		return "e5m2"
	}
	return "e4m3"
}

// packStore returns WGSL that stores the outputs of row m from column
// n: a (vec4) in packs of 4 when vec is 4, element by element with
// bounds tests otherwise (four, from an expression per lane).
func packStore(vec int, lane func(i int) string) string { return packStoreTo("y", "m", vec, lane) }

// packStoreTo is packStore into binding name at output row row (WGSL).
func packStoreTo(name, row string, vec int, lane func(i int) string) string {
	at := "(" + row + ") * p.n + n"
	if vec == 4 {
		return fmt.Sprintf("stv_%s((%s) / 4u, P(%s, %s, %s, %s));", name, at, lane(0), lane(1), lane(2), lane(3))
	}
	s := fmt.Sprintf("st_%s(%s, %s);", name, at, lane(0))
	for i := 1; i < 4; i++ {
		s += fmt.Sprintf(" if (n + %du < p.n) { st_%s(%s + %du, %s); }", i, name, at, i, lane(i))
	}
	return s
}

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
	k.Uint("BM", t.BM).Uint("BN", t.BN).Uint("BK", t.BK).Uint("TM", t.TM).Uint("TN", t.TN).Bool("DOUBLE", t.Double).Bool("UNITS", units)
	k.Uint("GROUP", max(t.Group, 1))
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

// gemvKernel declares wgsl/matmul_gemv.wgsl with tile t for the product's
// m rows (meant for m up to launch.GEMVMaxRows: each invocation keeps
// t.GEMVColumns() x m accumulators), reducing with subgroup operations when
// subgroups is true (the device must have them), through workgroup
// memory alone otherwise.
func (s *matmulSpec) gemvKernel(t launch.Tile, subgroups bool) *kernel.Kernel {
	d := s.x.Device()
	vec := launch.PackWidth(s.n)
	// Rows: m up to 4, then rounded up to a multiple of 4 (rows past m
	// read row m-1 and are never stored), so that few row counts share
	// few pipelines.
	nc, cg, wg, mr := t.GEMVColumns(), t.GEMVGroups(), t.Threads, s.m
	// Subgroup partials must not straddle two column groups: with
	// more than one, subgroups serve only where no subgroup is wider
	// than a group.
	subgroups = subgroups && (cg == 1 || (d.Features.SubgroupMaxSize > 0 && int(d.Features.SubgroupMaxSize) <= wg/cg))
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
	k := &kernel.Kernel{Name: "matmul", Vec: vec, Units: h, Subgroups: subgroups,
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
		xScale: s.xScale != nil, subgroups: k.Subgroups, w: s.w.DType})
	k.Snippet("REGS", gt.regs).Snippet("UNIT_STEP", gt.step).Snippet("ELEMENT_STEP", gt.elem).Snippet("REDUCE", gt.reduce).Snippet("STORE", gt.store)
	return k
}

// gemvShape is what the GEMV's generated loops depend on.
type gemvShape struct {
	nc, mr, ku, su, vs, vc            int
	fp8W, fastE4M3, xScale, subgroups bool
	w                                 dtype.DType
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
	// subgroup or per invocation) into red, summed by reduce_chunk.
	if fastE4M3 {
		for c := 0; c < nc; c++ {
			fmt.Fprintf(&reduce, "if (nan%d != 0u) {", c)
			for m := 0; m < mr; m++ {
				fmt.Fprintf(&reduce, " %s = bitcast<f32>(0x7fc00000u | nan%d);", acc(m, c), c)
			}
			reduce.WriteString(" }\n  ")
		}
	}
	if g.subgroups {
		reduce.WriteString("let nslot = (KS + sg_size - 1u) / sg_size;\n  ")
	} else {
		reduce.WriteString("let nslot = KS;\n  ")
	}
	for cb := 0; cb < nv; cb += vc {
		for v := cb; v < cb+vc; v++ {
			a := acc(v/nc, v%nc)
			if g.subgroups {
				fmt.Fprintf(&reduce, "{ let t = subgroupAdd(%s); if (sg_lane == 0u) { red[%du * WG + lid / sg_size] = t; } }\n  ", a, v-cb)
			} else {
				fmt.Fprintf(&reduce, "red[%du * WG + lid] = %s;\n  ", v-cb, a)
			}
		}
		fmt.Fprintf(&reduce, "workgroupBarrier();\n  reduce_chunk(%du, nslot, n0, lid);\n  ", cb)
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

// tile returns the tile the launch policy picks for s.
func (s *matmulSpec) tile() launch.Tile {
	return launch.MatmulTile(s.x.Device(), s.m, s.n, s.k, s.w.DType.Size())
}

// matmul validates s and runs it with the tile the launch policy picks.
func matmul(s *matmulSpec) (*gpu.Tensor, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s.run(s.tile())
}

// LinearForward computes y = x @ weightᵀ + bias for x [..., K], weight
// [N, K] and bias [N] (nil for none), accumulating in f32; y has x's dtype.
func LinearForward(x, weight, bias *gpu.Tensor) (*gpu.Tensor, error) {
	return matmul(&matmulSpec{op: "Linear", x: x, w: weight, b: bias})
}

// Linear is torch.nn.Linear: Weight [Out, In] and an optional Bias [Out],
// with the Precision its Forward multiplies in (PrecisionExact unless set).
type Linear struct {
	In, Out      int
	Weight, Bias *gpu.Tensor
	Precision    Precision
}

// NewLinear wraps a weight [Out, In] and optional bias [Out] as a layer.
func NewLinear(weight, bias *gpu.Tensor) (*Linear, error) {
	if err := checkFloat("Linear", "weight", weight); err != nil {
		return nil, err
	}
	if len(weight.Shape) != 2 {
		return nil, errorf("Linear", "weight", "shape %v, want [out, in]", weight.Shape)
	}
	if err := checkVector("Linear", "bias", bias, weight.Shape[0]); err != nil {
		return nil, err
	}
	return &Linear{In: weight.Shape[1], Out: weight.Shape[0], Weight: weight, Bias: bias}, nil
}

// Forward computes x @ Weightᵀ + Bias in the layer's Precision.
func (l *Linear) Forward(x *gpu.Tensor) (*gpu.Tensor, error) {
	return LinearForwardPrecision(x, l.Weight, l.Bias, l.Precision)
}

// ForwardAct computes act(x @ Weightᵀ + Bias) by the path the dispatch table picks.
func (l *Linear) ForwardAct(x *gpu.Tensor, act Activation) (*gpu.Tensor, error) {
	return LinearAct(x, l.Weight, l.Bias, act)
}

// Dims returns the input and output features.
func (l *Linear) Dims() (in, out int) { return l.In, l.Out }

// Parameters returns the tensors the layer owns.
func (l *Linear) Parameters() []*gpu.Tensor { return nonNil(l.Weight, l.Bias) }

func nonNil(ts ...*gpu.Tensor) []*gpu.Tensor {
	var out []*gpu.Tensor
	for _, t := range ts {
		if t != nil {
			out = append(out, t)
		}
	}
	return out
}
