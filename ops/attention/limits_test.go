package attention

import (
	"fmt"
	"math"
	"math/rand"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
	"github.com/webfuser/webfuser/ops/ref"
)

// A limit probe is the shipped register-blocked flash kernel
// (wgsl/attention_tiled.wgsl, tiledKernel) with parts of its work taken
// out by replacing generated snippets, so that the difference between
// probes shows what each part costs (as ops' BenchmarkMatmulLimits does
// for the matmul). Every probe keeps the tile, the workgroup size, the
// grid, the loops over query/key and value stages with their FETCH,
// STASH and barriers (noload's FETCH loads nothing) and STORE, which writes every
// accumulator of every row, normalised by the row sums: whatever a
// probe keeps flows into the output, so no compiler can delete it.
// Benchmark-only. A probe is a set of cuts:
//
//	noqk       no S = Q Kᵀ: the QK snippet (its FMAs and its reads of
//	           the staged Q and K packs) is gone and each score starts
//	           as a value made in registers from lid, its place in the
//	           block and the tile's first key (synthScores); Q and K are
//	           still fetched and staged, the d4 loop runs empty
//	nosoftmax  P = S: no scale, mask, row maxima (red and its barrier
//	           with Fold), exp2 or rescale of l and O; the scores go
//	           into P's workgroup array as they are and add to l
//	nopv       no O += P V: the PV snippet (its FMAs and its reads of P
//	           and of the staged V packs) is gone; V is still fetched
//	           and staged, the k4 loop runs empty, and each row's l is
//	           added to its first accumulator once per key tile, so that
//	           the scores (and softmax) stay live
//	noload     no global loads: rlu_q/k/v return units made in registers
//	           from their index (fetch keeps its bounds and indexing),
//	           so the staging is register -> workgroup memory only
//	noread     no workgroup-memory reads in the products: QK's Q and K
//	           packs and PV's P and V packs are registers (TM + TN + TM
//	           + DJ vec4, declared with O, each V pack's four keys four
//	           swizzles of one register), rotated after every d4 and k4
//	           so that no step repeats the last; the FMAs, the staging
//	           and the barriers as shipped (one pack of the stage read
//	           per key tile into l keeps its stores live); its 4·(2TM +
//	           TN + DJ) registers more than shipped may cost occupancy
//	           or spill, so a noread below shipped says registers, not
//	           workgroup memory, bound the products
//
// The probes:
//
//	shipped         the kernel as it runs
//	nosoftmax       the two GEMMs, staging and barriers
//	qk              Q Kᵀ and softmax (nopv)
//	pv              softmax and P V on register-made scores (noqk)
//	qk-nosoftmax    Q Kᵀ, staging and barriers only
//	pv-nosoftmax    P V, staging and barriers only
//	staging         neither GEMM nor softmax: fetch, stash and barriers
//	noload          the kernel as it runs, units made in registers
//	noread          the kernel as it runs, the products on registers
//
// so that shipped - nosoftmax is what softmax costs, shipped - pv what
// Q Kᵀ costs, shipped - qk what P V costs, shipped - noload what the
// global loads cost beyond what the stage stream hides and shipped -
// noread what the products' workgroup-memory reads cost.
type attnProbe struct {
	name                                  string
	noqk, nosoftmax, nopv, noload, noread bool
}

var attnProbes = []attnProbe{
	{name: "shipped"},
	{name: "nosoftmax", nosoftmax: true},
	{name: "qk", nopv: true},
	{name: "pv", noqk: true},
	{name: "qk-nosoftmax", nopv: true, nosoftmax: true},
	{name: "pv-nosoftmax", noqk: true, nosoftmax: true},
	{name: "staging", noqk: true, nosoftmax: true, nopv: true},
	{name: "noload", noload: true},
	{name: "noread", noread: true},
}

// attnProbeKernel declares probe p of l's tiled kernel for layout t (l
// validated, dense).
func attnProbeKernel(l *call, t launch.AttentionLayout, p attnProbe) *kernel.Kernel {
	k := l.tiledKernel(t, nil, nil, nil)
	k.Name = "attention-" + p.name // so that keys, errors and dumps (gpu.DumpEnv) name the probe
	sn := map[string]*string{}
	for i := range k.Snippets {
		sn[k.Snippets[i].Name] = &k.Snippets[i].WGSL
	}
	if p.noqk {
		*sn["QK"] = ""
		*sn["SDECL"] = synthScores(t)
	}
	if p.nosoftmax {
		*sn["SOFTMAX1"] = ""
		*sn["SOFTMAX2"] = rawP(t)
	}
	if p.nopv {
		*sn["PV"] = ""
		for i := 0; i < t.TM; i++ {
			*sn["SOFTMAX2"] += fmt.Sprintf("o_%d_0 = o_%d_0 + vec4<f32>(l_%d);\n    ", i, i, i)
		}
	}
	if p.noload {
		*sn["RAW"] = synthUnits(*sn["RAW"])
	}
	if p.noread {
		regOperands(t, sn["ODECL"], sn["QK"], sn["PV"])
		// One read of the stage per key tile, so that its stores (and
		// the loads before them) are not dead code.
		*sn["SOFTMAX2"] += "l_0 = l_0 + abs(stage[lid].x);\n    "
	}
	return k
}

// Operand reads of the QK and PV snippets, by the register they fill.
var (
	qkRead = regexp.MustCompile(`let (q|kv)(\d+) = stage\[[^\]]*\];`)
	pvRead = regexp.MustCompile(`let p(\d+) = (?:ps|stage)\[[^\]]*\];|let v(\d)_(\d+) = stage_v\([^)]*\);`)
)

// regOperands rewrites ODECL, QK and PV for the noread cut: QK's
// operands come from registers rq<i> and rk<j>, PV's from rp<i> and
// rv<j> (lanes swizzled by key: v<c>_<j> is rv<j> rotated by c), all
// declared with O from lid and their index and rotated after each step.
func regOperands(t launch.AttentionLayout, odecl, qk, pv *string) {
	swz := []string{"xyzw", "yzwx", "zwxy", "wxyz"}
	var decl, rotQK, rotPV strings.Builder
	reg := func(name string, i int, a, b string) {
		fmt.Fprintf(&decl, "var %s%d = vec4<f32>(f32(lid & 7u), %s, %s, f32(%d)) * 0.01;\n  ", name, i, a, b, i)
	}
	for i := 0; i < t.TM; i++ {
		reg("rq", i, "1.0", "0.5")
		reg("rp", i, "0.25", "2.0")
		fmt.Fprintf(&rotQK, "rq%[1]d = rq%[1]d.yzwx;\n        ", i)
		fmt.Fprintf(&rotPV, "rp%[1]d = rp%[1]d.yzwx;\n        ", i)
	}
	for j := 0; j < t.TN; j++ {
		reg("rk", j, "0.5", "1.0")
		fmt.Fprintf(&rotQK, "rk%[1]d = rk%[1]d.wxyz;\n        ", j)
	}
	for j := 0; j < t.DJ; j++ {
		reg("rv", j, "2.0", "0.25")
		fmt.Fprintf(&rotPV, "rv%[1]d = rv%[1]d.wxyz;\n        ", j)
	}
	*odecl = decl.String() + *odecl
	n := 0
	*qk = qkRead.ReplaceAllStringFunc(*qk, func(m string) string {
		n++
		g := qkRead.FindStringSubmatch(m)
		r := "rq"
		if g[1] == "kv" {
			r = "rk"
		}
		return fmt.Sprintf("let %s%s = %s%s;", g[1], g[2], r, g[2])
	}) + rotQK.String()
	*pv = pvRead.ReplaceAllStringFunc(*pv, func(m string) string {
		n++
		g := pvRead.FindStringSubmatch(m)
		if g[1] != "" {
			return fmt.Sprintf("let p%s = rp%s;", g[1], g[1])
		}
		c := int(g[2][0] - '0')
		return fmt.Sprintf("let v%s_%s = rv%s.%s;", g[2], g[3], g[3], swz[c])
	}) + rotPV.String()
	if want := t.TM + t.TN + t.TM + 4*t.DJ; n != want {
		panic(fmt.Sprintf("noread probe: %d operand reads replaced, want %d", n, want))
	}
	if strings.Contains(*qk, "stage[") || strings.Contains(*pv, "ps[") || strings.Contains(*pv, "stage[") || strings.Contains(*pv, "stage_v(") {
		panic("noread probe: a product still reads workgroup memory:\n" + *qk + *pv)
	}
}

// synthScores is the SDECL snippet of the noqk cut: score (i, j) is
// made from lid, i, j and the tile's first key k0, a multiple of 1/8 in
// [0, 1), so that no two tiles' scores are the same constant.
func synthScores(t launch.AttentionLayout) string {
	var b strings.Builder
	for i := 0; i < t.TM; i++ {
		for j := 0; j < t.TN; j++ {
			fmt.Fprintf(&b, "var s_%d_%d = f32((k0 / 4u + lid + %du) & 7u) * 0.125;\n    ", i, j, i*t.TN+j)
		}
	}
	return b.String()
}

// rawP is the SOFTMAX2 snippet of the nosoftmax cut: P = S into P's
// workgroup array (where SOFTMAX2 puts it) and each score added to its
// row's partial sum l.
func rawP(t launch.AttentionLayout) string {
	var b strings.Builder
	for i := 0; i < t.TM; i++ {
		var sum []string
		for j := 0; j < t.TN; j++ {
			fmt.Fprintf(&b, "%s[(ty + %du) * %du + tx / 4u + %du][tx %% 4u] = s_%d_%d;\n    ", pArray(t), i*t.NTY, t.PS, j*t.NTX/4, i, j)
			sum = append(sum, fmt.Sprintf("s_%d_%d", i, j))
		}
		fmt.Fprintf(&b, "l_%d = l_%d + %s;\n    ", i, i, strings.Join(sum, " + "))
	}
	return b.String()
}

var rluDecl = regexp.MustCompile(`fn rlu_([qkv])\(i: u32\) -> RU \{ (return [^}]*;) \}`)

// synthUnits rewrites the RAW snippet for the noload cut: rlu_q/k/v
// return units made from their index i, f32 units (RU = PU) of
// ((i * 7) mod 16) / 16, raw 16-bit words (Late) near 1.0 in bf16. The
// load stays behind a test no index passes (i = 2³²-1), so that q, k
// and v remain bound and used.
func synthUnits(raw string) string {
	body := "return splat(f32((i * 7u) & 15u) * 0.0625);"
	if !strings.Contains(raw, "alias RU = PU;") {
		body = "return RU(0x3f803f80u ^ ((i & 7u) * 0x00010001u));"
	}
	if n := len(rluDecl.FindAllString(raw, -1)); n != 3 {
		panic(fmt.Sprintf("noload probe: %d of rlu_q/k/v found in RAW:\n%s", n, raw))
	}
	return rluDecl.ReplaceAllString(raw, "fn rlu_${1}(i: u32) -> RU {\n  if (i == 0xffffffffu) { ${2} }\n  "+body+"\n}")
}

// limitTiles returns the tiles the probes run for head dimension dh on
// d: the planner's and its counterpart (limitPair) that fits, which
// differ in their stages and barriers.
func limitTiles(d *gpu.Device, dh int) []launch.AttentionTile {
	tile, ok := launch.ChooseAttentionTile(d.Limits, dh, 0)
	if !ok {
		return nil
	}
	tiles := []launch.AttentionTile{tile}
	if c, ok := limitPair(tile, func(c launch.AttentionTile) bool { return c.Fits(d.Limits, dh) }); ok {
		tiles = append(tiles, c)
	}
	return tiles
}

// limitPair returns the tile the probes compare with first: the first of
// launch.AttentionTiles and AttentionVariants with the other Union
// setting for which fits holds. On the H200 the planner's Union tile
// (AttentionTiles[0]) pairs with the same tile at DC = 16 without Union
// (AttentionTiles[1]); on lavapipe its 64x32 tile with the 64x32 Union
// variant.
func limitPair(first launch.AttentionTile, fits func(launch.AttentionTile) bool) (launch.AttentionTile, bool) {
	for _, c := range append(append([]launch.AttentionTile{}, launch.AttentionTiles...), launch.AttentionVariants...) {
		if c.Union != first.Union && fits(c) {
			return c, true
		}
	}
	return launch.AttentionTile{}, false
}

// runProbe runs probe kernel k over its ntiles query tiles (runTiles
// leaves the grid at its last chunk) and returns the output.
func runProbe(d *gpu.Device, k *kernel.Kernel, ntiles, work int) (*gpu.Tensor, error) {
	k.Grid[0] = uint32(ntiles)
	outs, err := runTiles(d, k, work)
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// BenchmarkAttentionLimits bounds dense f32 (and bf16) flash attention
// from above: for the tile the planner picks at S=4096, H=24, D=128
// (S=256, H=2 and f32 only on a CPU driver), and its counterpart with
// the other Union setting (limitTiles), it times each attnProbe and reports
// TFLOP/s of the full attention, 4·S²·H·D, whatever the probe leaves
// out, and ms per call, so that the rates of the probes compare as
// times do.
//
//	./bin/attention.test -test.run '^$' -test.bench 'BenchmarkAttentionLimits' -test.benchtime 1x
func BenchmarkAttentionLimits(b *testing.B) {
	d := testDevice(b)
	S, H, D := 4096, 24, 128
	dts := []dtype.DType{dtype.F32, dtype.BF16}
	if d.Info.Class == gpu.ClassCPU {
		S, H, dts = 256, 2, dts[:1]
	}
	tiles := limitTiles(d, D)
	if len(tiles) == 0 {
		b.Skip("no tiled configuration fits the device")
	}
	flops := 4 * float64(S) * float64(S) * float64(H) * float64(D)
	for _, dt := range dts {
		q, k, v := benchInputs(b, d, dt, S, H, D)
		for _, tile := range tiles {
			l := &call{op: "Attention", q: q, k: k, v: v, tile: &tile}
			if err := l.validate(); err != nil {
				b.Fatal(err)
			}
			lay := l.plan(false).Layout
			for _, p := range attnProbes {
				benchProbe(b, d, fmt.Sprintf("%v/S%d_H%d_D%d/%v/%s", dt, S, H, D, tile, p.name), flops, attnProbeKernel(l, lay, p), ceilDiv(S, lay.BQ), lay.BQ*S*D*H)
			}
		}
		q.Release()
		k.Release()
		v.Release()
	}
}

// benchProbe times probe kernel k (ntiles query tiles of about work
// multiply-adds each) as the sub-benchmark name, after 300 ms of it (the
// clocks drop during the compile), reporting TFLOP/s of flops.
func benchProbe(b *testing.B, d *gpu.Device, name string, flops float64, kern *kernel.Kernel, ntiles, work int) {
	b.Run(name, func(b *testing.B) {
		run := func() (*gpu.Tensor, error) { return runProbe(d, kern, ntiles, work) }
		// The compile (the first run), then 300 ms of the probe.
		for i, start := 0, time.Now(); i == 0 || time.Since(start) < 300*time.Millisecond; i++ {
			o, err := run()
			if err != nil {
				b.Fatal(err)
			}
			if err := d.Sync(); err != nil {
				b.Fatal(err)
			}
			o.Release()
			if i == 0 {
				start = time.Now()
			}
		}
		reportAttention(b, d, "limits "+name, flops, run)
	})
}

// TestAttentionLimitProbes compiles every probe of the tiles
// BenchmarkAttentionLimits probes on the H200 (launch.AttentionTiles[0]
// and its limitPair) at D=128 in f32 and bf16 (Tint under
// GOOS=js, naga natively), then runs every probe of this device's
// limitTiles into guarded outputs at an odd shape (keys past the range,
// a partial query tile): outputs must be finite and not all zero, and
// nosoftmax, on positive q and k, must give O = (S V) / rowsum(S) with
// S = Q Kᵀ (float64 on the host). Under GOOS=js with -short, the
// planner's tile's nosoftmax and noload only run.
func TestAttentionLimitProbes(t *testing.T) {
	d := testDevice(t)
	nt := tensorMaker(t, d)
	h200 := []launch.AttentionTile{launch.AttentionTiles[0]}
	if c, ok := limitPair(h200[0], func(launch.AttentionTile) bool { return true }); ok {
		h200 = append(h200, c)
	}
	for _, cfg := range h200 {
		for _, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
			x := nt(dt, 1, 256, 2, 128)
			l := &call{op: "Attention", q: x, k: x, v: x, tile: &cfg}
			if err := l.validate(); err != nil {
				t.Fatal(err)
			}
			for _, p := range attnProbes {
				t.Run(fmt.Sprintf("compile/%v/%v/%s", dt, cfg, p.name), func(t *testing.T) {
					if err := gputest.CompileOnly(d, attnProbeKernel(l, cfg.Layout(128), p)); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}

	const S, H, D = 100, 2, 64
	tiles := limitTiles(d, D)
	if len(tiles) == 0 {
		t.Skip("no tiled configuration fits the device")
	}
	if slowBuild() || heavyBuild(d, tiles[0]) {
		tiles = tiles[:1]
		if heavyBuild(d, tiles[0]) {
			tiles[0] = launch.AttentionTiles[len(launch.AttentionTiles)-1]
		}
	}
	rng := rand.New(rand.NewSource(7))
	rq := gputest.Rand(rng, dtype.F32, []int{1, S, H, D}, 0.1, 0.5)
	rk := gputest.Rand(rng, dtype.F32, []int{1, S, H, D}, 0.1, 0.5)
	rv := gputest.Rand(rng, dtype.F32, []int{1, S, H, D}, 1, 0)
	gq, gk, gv := upload(t, d, rq), upload(t, d, rk), upload(t, d, rv)
	for _, tile := range tiles {
		l := &call{op: "Attention", q: gq, k: gk, v: gv, tile: &tile}
		if err := l.validate(); err != nil {
			t.Fatal(err)
		}
		lay := l.plan(false).Layout
		for _, p := range attnProbes {
			if slowBuild() && p.name != "nosoftmax" && p.name != "noload" {
				continue // SwiftShader builds each in about 10 s; Tint compiled them above
			}
			t.Run(fmt.Sprintf("run/%v/%s", tile, p.name), func(t *testing.T) {
				gputest.Guard(t, d)
				o, err := runProbe(d, attnProbeKernel(l, lay, p), ceilDiv(S, lay.BQ), lay.BQ*S*D*H)
				if err != nil {
					t.Fatal(err)
				}
				defer o.Release()
				y, err := o.Float32()
				if err != nil {
					t.Fatal(err)
				}
				gputest.Live(t, y)
				if p.name == "nosoftmax" {
					checkRawP(t, y, rq, rk, rv)
				}
			})
		}
	}
}

// checkRawP checks y, [1,S,H,D], against O = (S V) / rowsum(S), S = Q Kᵀ
// per head, in float64.
func checkRawP(t *testing.T, y []float32, q, k, v *ref.Tensor) {
	t.Helper()
	S, H, D := q.Shape[1], q.Shape[2], q.Shape[3]
	at := func(r *ref.Tensor, s, h, e int) float64 { return r.Data[(s*H+h)*D+e] }
	for h := 0; h < H; h++ {
		for i := 0; i < S; i++ {
			w := make([]float64, D)
			sum := 0.0
			for j := 0; j < S; j++ {
				s := 0.0
				for e := 0; e < D; e++ {
					s += at(q, i, h, e) * at(k, j, h, e)
				}
				sum += s
				for e := 0; e < D; e++ {
					w[e] += s * at(v, j, h, e)
				}
			}
			for e := 0; e < D; e++ {
				want := w[e] / sum
				if got := float64(y[(i*H+h)*D+e]); math.Abs(got-want) > 1e-4*(1+math.Abs(want)) {
					t.Fatalf("o[%d,%d,%d] = %v, want %v", i, h, e, got, want)
				}
			}
		}
	}
}
