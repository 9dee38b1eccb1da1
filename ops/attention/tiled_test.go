package attention

import (
	"fmt"
	"math/rand"
	"runtime"
	"sync"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/launch"
	"github.com/webfuser/webfuser/internal/masks"
	"github.com/webfuser/webfuser/ops/ref"
)

// tiledCases are odd shapes for every tiled configuration: Sq and Sk
// from {1, 7, 77, 300}, D from {32, 64, 80, 128} (and two heads that
// are not multiples of 8, which take 8-byte units), grouped heads,
// causal masks, both layouts and the three storage dtypes.
func tiledCases() []attnCase {
	f32, f16, bf16 := dtype.F32, dtype.F16, dtype.BF16
	return []attnCase{
		{b: 1, sq: 1, sk: 1, h: 2, hk: 2, d: 32, dt: f32},
		{b: 1, sq: 7, sk: 7, h: 3, hk: 1, d: 64, causal: true, dt: bf16, in: BNSD},
		{b: 2, sq: 77, sk: 77, h: 4, hk: 2, d: 80, dt: f16, out: BNSD},
		{b: 1, sq: 300, sk: 300, h: 2, hk: 1, d: 128, causal: true, dt: f32, in: BNSD, out: BNSD},
		{b: 1, sq: 1, sk: 300, h: 2, hk: 2, d: 128, dt: bf16},
		{b: 1, sq: 7, sk: 77, h: 2, hk: 1, d: 80, causal: true, dt: f32},
		{b: 1, sq: 77, sk: 300, h: 2, hk: 2, d: 64, causal: true, dt: f16, in: BNSD},
		{b: 2, sq: 300, sk: 7, h: 2, hk: 2, d: 32, dt: bf16, out: BNSD},
		{b: 1, sq: 300, sk: 77, h: 4, hk: 1, d: 128, scale: 0.2, dt: f16},
		{b: 1, sq: 77, sk: 1, h: 1, hk: 1, d: 64, dt: f32},
		{b: 1, sq: 7, sk: 300, h: 2, hk: 2, d: 12, dt: bf16},
		{b: 1, sq: 77, sk: 300, h: 2, hk: 1, d: 36, causal: true, dt: f16, out: BNSD},
	}
}

// slowBuild reports whether the test runs on Dawn with -short, where
// SwiftShader's build of a tiled kernel takes 20 s to minutes: only the
// smallest candidate runs there, on one case (TestTiledCandidatesCompile
// still has Tint compile every candidate).
func slowBuild() bool { return runtime.GOOS == "js" && testing.Short() }

// heavyBuild reports whether c's kernel is too heavy for Dawn's CPU
// driver to build: register blocks of more than 16 scores.
func heavyBuild(d *gpu.Device, c launch.AttentionTile) bool {
	return runtime.GOOS == "js" && d.Info.Class == gpu.ClassCPU && c.TM*c.TN > 16
}

// fitting returns the candidates that fit d for head dimension hd,
// logging the others: they are checked on devices with more workgroup
// memory (the NVIDIA machine runs this test too).
func fitting(t *testing.T, d *gpu.Device, hd int) []launch.AttentionTile {
	return fittingOf(t, d, hd, launch.AttentionTiles)
}

// withUnion returns launch.AttentionTiles and the Union variants, so
// that a device whose memory the planner's Union tile exceeds (lavapipe's
// 32 KiB) still checks the Union layout.
func withUnion() []launch.AttentionTile {
	all := append([]launch.AttentionTile{}, launch.AttentionTiles...)
	for _, c := range launch.AttentionVariants {
		if c.Union {
			all = append(all, c)
		}
	}
	return all
}

// fittingOf is fitting over the configurations all.
func fittingOf(t *testing.T, d *gpu.Device, hd int, all []launch.AttentionTile) []launch.AttentionTile {
	var cs []launch.AttentionTile
	if slowBuild() {
		all = all[len(all)-1:]
	}
	for _, c := range all {
		if heavyBuild(d, c) {
			if _, seen := notRun.LoadOrStore(fmt.Sprint(t.Name(), c), true); !seen {
				t.Logf("%v: not built on %v (SwiftShader took over 10 minutes and 17 GB for a 64x64/8x4 kernel); Tint compiles it in TestTiledCandidatesCompile", c, d)
			}
			continue
		}
		if c.Fits(d.Limits, hd) {
			cs = append(cs, c)
		} else if _, seen := notRun.LoadOrStore(fmt.Sprint(t.Name(), c), true); !seen {
			t.Logf("%v (%d bytes at D=%d, %d invocations) does not fit %v: not run here", c, c.Layout(hd).Smem(), hd, c.Invocations(), d)
		}
	}
	return cs
}

var notRun sync.Map

func TestTiledCandidatesMatchReference(t *testing.T) {
	d := testDevice(t)
	cases := tiledCases()
	if slowBuild() {
		cases = cases[1:2]
	}
	checkTiled(t, d, cases, 100, launch.AttentionTiles)
}

// checkTiled runs every configuration of list that fits d on each case
// (inputs seeded from seed + the case's index) inside guard regions and
// compares the output with the float64 reference.
func checkTiled(t *testing.T, d *gpu.Device, cases []attnCase, seed int64, list []launch.AttentionTile) {
	for ci, c := range cases {
		rng := rand.New(rand.NewSource(seed + int64(ci)))
		q, k, v := c.inputs(rng)
		want, err := ref.Attention(q, k, v, c.causal, float64(c.scale))
		if err != nil {
			t.Fatal(err)
		}
		gq, gk, gv := upload(t, d, toLayout(q, c.in)), upload(t, d, toLayout(k, c.in)), upload(t, d, toLayout(v, c.in))
		for _, cfg := range fittingOf(t, d, c.d, list) {
			t.Run(fmt.Sprintf("%v/%v", cfg, c), func(t *testing.T) {
				gputest.Guard(t, d)
				l := &call{op: "Attention", q: gq, k: gk, v: gv, in: c.in, out: c.out, causal: c.causal, scale: c.scale, tile: &cfg}
				o, err := l.run()
				if err != nil {
					t.Fatal(err)
				}
				defer o.Release()
				expectClose(t, o, toLayout(want, c.out))
			})
		}
	}
}

// TestTiledVariantsMatchReference checks launch.AttentionVariants (Late
// conversion of 16-bit units, the reduction folded into P) against the
// reference on the odd shapes of tiledCases that take 16- and 8-byte
// units in every storage dtype, causal and not, with guard regions. The
// variants over this device's limits run on the NVIDIA machine.
func TestTiledVariantsMatchReference(t *testing.T) {
	d := testDevice(t)
	all := tiledCases()
	cases := []attnCase{all[1], all[3], all[4], all[6], all[10]}
	if slowBuild() {
		cases = cases[:1] // and fittingOf keeps the last variant
	}
	checkTiled(t, d, cases, 300, launch.AttentionVariants)
}

func TestTiledCandidatesBlockSparse(t *testing.T) {
	// Live key blocks only, a query block with none (zeros), causal,
	// blocks of 64 keys inside tiles of 128 and of 32; and local sparse
	// attention's token order through every candidate.
	d := testDevice(t)
	type sc struct {
		attnCase
		bq, bk int
	}
	cases := []sc{
		{attnCase{b: 1, sq: 300, sk: 300, h: 2, hk: 1, d: 64, causal: true, dt: dtype.BF16}, 128, 64},
		{attnCase{b: 2, sq: 200, sk: 330, h: 2, hk: 2, d: 80, dt: dtype.F32, in: BNSD}, 128, 128},
	}
	if slowBuild() {
		t.Skip("SwiftShader's build of a tiled kernel is too slow for -short (see slowBuild)")
	}
	for ci, c := range cases {
		rng := rand.New(rand.NewSource(int64(200 + ci)))
		q, k, v := c.inputs(rng)
		nq, nk := ceilDiv(c.sq, c.bq), ceilDiv(c.sk, c.bk)
		mt := ref.New(dtype.U8, c.h, nq, nk)
		for i := range mt.Data {
			if rng.Float64() < 0.5 {
				mt.Data[i] = 1
			}
		}
		for j := 0; j < nk; j++ {
			mt.Data[nk+j] = 0
		}
		want, err := ref.BlockSparseAttention(q, k, v, mt, c.bq, c.bk, c.causal, 0)
		if err != nil {
			t.Fatal(err)
		}
		m, err := MaskFromRef(mt, c.bq, c.bk)
		if err != nil {
			t.Fatal(err)
		}
		gq, gk, gv := upload(t, d, toLayout(q, c.in)), upload(t, d, toLayout(k, c.in)), upload(t, d, toLayout(v, c.in))
		for _, cfg := range fittingOf(t, d, c.d, withUnion()) {
			t.Run(fmt.Sprintf("%v/%v", cfg, c.attnCase), func(t *testing.T) {
				gputest.Guard(t, d)
				l := &call{op: "BlockSparseAttention", q: gq, k: gk, v: gv, in: c.in, causal: c.causal, mask: m, tile: &cfg}
				o, err := l.run()
				if err != nil {
					t.Fatal(err)
				}
				defer o.Release()
				expectClose(t, o, want)
			})
		}
	}
	rng := rand.New(rand.NewSource(7))
	const f, hh, ww = 2, 16, 16
	S := f * hh * ww
	q := randTensor(rng, dtype.F16, []int{1, S, 2, 32}, 1)
	k := randTensor(rng, dtype.F16, []int{1, S, 1, 32}, 1)
	v := randTensor(rng, dtype.F16, []int{1, S, 1, 32}, 1)
	win := [3]int{2, 8, 8}
	want, wmask, err := ref.LocalSparseAttention(q, k, v, f, hh, ww, 3, 2, win)
	if err != nil {
		t.Fatal(err)
	}
	m, err := MaskFromRef(wmask, 128, 128)
	if err != nil {
		t.Fatal(err)
	}
	gq, gk, gv := upload(t, d, q), upload(t, d, k), upload(t, d, v)
	for _, cfg := range fitting(t, d, 32) {
		t.Run(fmt.Sprintf("%v/local", cfg), func(t *testing.T) {
			gputest.Guard(t, d)
			l := &call{op: "LocalSparseAttention", q: gq, k: gk, v: gv, mask: m, tile: &cfg,
				perm: masks.LocalWindowPerm(f, hh, ww, win)}
			o, err := l.run()
			if err != nil {
				t.Fatal(err)
			}
			defer o.Release()
			expectClose(t, o, want)
		})
	}
}

// TestTiledCandidatesCompile hands every candidate's kernel in its
// variants (storage dtypes, heads with 16- and 8-byte units, causal,
// block-sparse, token order) to the WGSL compiler: naga (and the
// driver's pipeline build) natively, Tint under GOOS=js. Candidates over
// this device's limits are compiled too; only where the compile stops
// short of a pipeline (Tint) may a limit show up.
func TestTiledCandidatesCompile(t *testing.T) {
	d := testDevice(t)
	nt := tensorMaker(t, d)
	mask, err := NewBlockMask([]int{2, 2}, 128, 128, []uint8{1, 0, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	rp, cl := nt(dtype.I32, 3), nt(dtype.I32, 3)
	tok := nt(dtype.I32, 256)
	type variantCase struct {
		dt             dtype.DType
		hd             int
		causal, sparse bool
		tok            bool
	}
	vcs := []variantCase{
		{dtype.F32, 128, false, false, false},
		{dtype.BF16, 128, true, false, false},
		{dtype.F16, 80, false, true, true},
		{dtype.BF16, 12, true, true, false},
		{dtype.F32, 36, false, false, true},
	}
	type build struct {
		cfg launch.AttentionTile
		vcs []variantCase
	}
	var builds []build
	for _, cfg := range launch.AttentionTiles {
		builds = append(builds, build{cfg, vcs})
	}
	for _, cfg := range launch.AttentionVariants {
		// 16-bit storage with 16- and 8-byte units (Late), causal and
		// block-sparse with token order (Fold).
		builds = append(builds, build{cfg, vcs[1:4]})
	}
	for _, bd := range builds {
		cfg := bd.cfg
		for _, vc := range bd.vcs {
			t.Run(fmt.Sprintf("%v/%v/D%d/causal=%v/sparse=%v/tok=%v", cfg, vc.dt, vc.hd, vc.causal, vc.sparse, vc.tok), func(t *testing.T) {
				x := nt(vc.dt, 1, 256, 2, vc.hd)
				l := &call{op: "Attention", q: x, k: x, v: x, causal: vc.causal, tile: &cfg}
				var r, c, tk *gpu.Tensor
				if vc.sparse {
					l.mask, r, c = mask, rp, cl
				}
				if vc.tok {
					tk = tok
				}
				if err := l.validate(); err != nil {
					t.Fatal(err)
				}
				if err := gputest.CompileOnly(d, l.tiledKernel(cfg.Layout(vc.hd), r, c, tk)); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestTiledPlan(t *testing.T) {
	// Decoding keeps the row kernel's key splits; the rest is tiled where
	// a configuration fits.
	d := testDevice(t)
	x := func(s ...int) *gpu.Tensor {
		v, err := d.NewTensor(dtype.F32, s...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.Release)
		return v
	}
	dec := &call{op: "Attention", q: x(1, 1, 2, 64), k: x(1, 1000, 2, 64), v: x(1, 1000, 2, 64)}
	full := &call{op: "Attention", q: x(1, 100, 2, 64), k: x(1, 100, 2, 64), v: x(1, 100, 2, 64)}
	for _, l := range []*call{dec, full} {
		if err := l.validate(); err != nil {
			t.Fatal(err)
		}
	}
	if pl := dec.plan(d.Features.Subgroups); pl.Tiled || pl.NSplit < 2 {
		t.Errorf("decode: tiled %v, %d splits", pl.Tiled, pl.NSplit)
	}
	if pl := full.plan(d.Features.Subgroups); pl.Tiled != (d.Info.Class != gpu.ClassCPU) {
		t.Errorf("S=100 on a %v device: tiled %v", d.Info.Class, pl.Tiled)
	}
	full.tiled = true
	if pl := full.plan(d.Features.Subgroups); !pl.Tiled {
		t.Errorf("S=100, tiled wanted: not tiled")
	}
	full.tiled, full.rows = false, true
	if pl := full.plan(d.Features.Subgroups); pl.Tiled {
		t.Errorf("S=100, row kernel wanted: tiled")
	}
}
