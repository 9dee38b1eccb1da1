package ops

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// A limit probe is the shipped Blocked kernel (wgsl/matmul_tiled.wgsl,
// f32 storage) with parts of its work taken out by replacing snippets,
// so that the difference between probes shows what each part costs.
// Every probe keeps the tile's register block, workgroup size, grid,
// loop over K and WRITE, which stores every accumulator: no compiler
// can delete the products. Benchmark-only.
//
//	shipped      the kernel as it runs
//	smem         no global loads: each unit is made in registers from
//	             its row and K offset (synthUnit); staging into
//	             workgroup memory, barriers and the inner loop as shipped
//	inner        no staging in the loop (the tiles staged once, before
//	             it): only the inner loop's workgroup-memory reads, its
//	             FMAs and the barriers
//	fma          no memory: the inner loop's operands are registers,
//	             rotated after every k (so no k repeats the last);
//	             FMAs, loop and barriers
//	fma-x4       as fma with four times the FMAs per k: the FMA rate with
//	             the loop and barrier overhead a quarter as large
//	unroll       as shipped, with the BK steps of the inner loop written
//	             out (in its first iteration; the rest are empty), so
//	             that every workgroup-memory read has a constant offset
//	             and no k-loop arithmetic is left between the FMAs
//	unroll-inner unroll without the staging in the loop, as inner
//	nopf         as shipped, with each step's global loads issued right
//	             before their stash, after the products, instead of
//	             before them: no prefetch registers live across the
//	             inner loop, the loads' latency exposed
type limitProbe struct {
	name string
	reps int // FMA work per k, in register blocks (fma-x4: 4)
}

var limitProbes = []limitProbe{{"shipped", 1}, {"smem", 1}, {"inner", 1}, {"fma", 1}, {"fma-x4", 4}, {"unroll", 1}, {"unroll-inner", 1}, {"nopf", 1}}

// snippet returns the WGSL of k's snippet name, which must exist (the
// probes rewrite a kernel's snippets).
func snippet(k *kernel.Kernel, name string) string {
	for _, s := range k.Snippets {
		if s.Name == name {
			return s.WGSL
		}
	}
	panic("no snippet " + name)
}

// setSnippet replaces the WGSL of k's snippet name, which must exist.
func setSnippet(k *kernel.Kernel, name, src string) {
	for i := range k.Snippets {
		if k.Snippets[i].Name == name {
			k.Snippets[i].WGSL = src
			return
		}
	}
	panic("no snippet " + name)
}

// synthUnit is the UNIT_A/UNIT_B body of the smem probe: the unit of
// elements gk..gk+3 of row r, made from r and gk without memory.
func synthUnit(r string) string {
	return fmt.Sprintf("return UV(vec4<f32>(f32(%s & 15u), f32(gk & 7u), 0.5, 0.25) * 0.0625);", r)
}

// synthValue is the element synthUnit gives row r, column k.
func synthValue(r, k int) float64 {
	return [4]float64{float64(r&15) / 16, float64(k&^3&7) / 16, 0.5 / 16, 0.25 / 16}[k%4]
}

// probeKernel declares probe p of sp's Blocked kernel with tile t (f32
// operands whose N and K are multiples of 4: the unit path).
func probeKernel(sp *matmulSpec, t launch.Tile, p limitProbe) *kernel.Kernel {
	k := sp.blockedKernel(t)
	k.Name = "matmul-" + p.name // so that keys, errors and dumps (gpu.DumpEnv) name the probe
	set := func(name, src string) { setSnippet(k, name, src) }
	get := func(name string) string { return snippet(k, name) }
	if strings.HasPrefix(p.name, "unroll") {
		// Step kk of the tile from the constant offsets kk*ASV, kk*BSV,
		// each in a block of its own; the loop's first iteration runs
		// them all.
		mma := strings.NewReplacer("As[ai + ", "As[au + ", "Bs[bi + ", "Bs[bu + ").Replace(get("MMA"))
		var u strings.Builder
		u.WriteString("if (kk == 0u) {\n")
		for kk := 0; kk < t.BK; kk++ {
			fmt.Fprintf(&u, "      {\n      let au = abase + %[1]du * ASV;\n      let bu = bbase + %[1]du * BSV;\n      %[2]s\n      }\n", kk, mma)
		}
		u.WriteString("      }")
		set("MMA", u.String())
	}
	if p.name == "nopf" {
		set("STASH", get("FETCH")+"\n    "+get("STASH"))
		set("FETCH", "")
	}
	switch p.name {
	case "smem":
		set("UNIT_A", synthUnit("gm"))
		set("UNIT_B", synthUnit("gn"))
	case "inner", "unroll-inner":
		// Only the staging before the loop (k1 = 0), so the tiles hold data.
		set("FETCH", "if (k1 == 0u) {\n    "+get("FETCH")+"\n    }")
		set("STASH", "if (k1 == 0u) {\n    "+get("STASH")+"\n    }")
	case "fma", "fma-x4":
		set("FETCH", "")
		set("STASH", "")
		// Register operands: the MMA's loads become copies of pa*/pb*,
		// which REGS declares and CHUNK rotates after each K step.
		var regs, rot strings.Builder
		mma := get("MMA")
		for i := 0; i < t.TM/4; i++ {
			fmt.Fprintf(&regs, "var pa%d = vec4<f32>(f32(lid & 7u), 1.0, 0.5, f32(%d)) * 0.01;\n  ", i, i)
			fmt.Fprintf(&rot, "pa%[1]d = pa%[1]d.yzwx;\n    ", i)
			mma = strings.Replace(mma, fmt.Sprintf("As[ai + %du]", i), fmt.Sprintf("pa%d", i), 1)
		}
		for j := 0; j < t.TN/4; j++ {
			fmt.Fprintf(&regs, "var pb%d = vec4<f32>(f32(lid >> 3u), 0.25, 2.0, f32(%d)) * 0.01;\n  ", j, j)
			fmt.Fprintf(&rot, "pb%[1]d = pb%[1]d.wxyz;\n    ", j)
			mma = strings.Replace(mma, fmt.Sprintf("Bs[bi + %du]", j), fmt.Sprintf("pb%d", j), 1)
		}
		if strings.Contains(mma, "As[") || strings.Contains(mma, "Bs[") {
			panic("fma probe: the MMA still reads workgroup memory:\n" + mma)
		}
		// Repeats: the FMA lines again, repeat r with A's lane shifted by
		// r and B's lanes rotated by r, so that no product repeats and
		// none can be folded into another.
		var fmas []string
		for _, l := range strings.Split(mma, "\n") {
			if strings.Contains(l, "fma(") {
				fmas = append(fmas, strings.TrimSpace(l))
			}
		}
		for r := 1; r < p.reps; r++ {
			for _, l := range fmas {
				mma += "\n      " + shiftFMA(l, r)
			}
		}
		// The rotation after every k: free register renaming once the
		// compiler unrolls the k loop (BK is a constant).
		mma += "\n      " + strings.TrimSpace(rot.String())
		set("REGS", regs.String()+get("REGS"))
		set("MMA", mma)
	}
	return k
}

// limitTiles are the tiles BenchmarkMatmulLimits probes: the one the
// launch policy picks for s (the shipped default where it picks another
// kind), the one it picks at 4096³ where that differs, the 64x64 8x8
// tile of environment.md's register-blocked probe, and two 128x128
// tiles (8x8 and 8x4 register blocks, double-buffered).
func limitTiles(d *gpu.Device, s mnk) []launch.Tile {
	blocked := func(t launch.Tile) launch.Tile {
		if t.Kind != launch.Blocked {
			return f16Tiles[0]
		}
		return t
	}
	b := func(bm, bn, bk, tm, tn int) launch.Tile {
		return launch.Tile{Kind: launch.Blocked, BM: bm, BN: bn, BK: bk, TM: tm, TN: tn, Double: true, Group: launch.MatmulGroup}
	}
	var ts []launch.Tile
	for _, t := range []launch.Tile{blocked(launch.MatmulTile(d, s.m, s.n, s.k, 4)), blocked(launch.MatmulTile(d, 4096, 4096, 4096, 4)),
		b(64, 64, 8, 8, 8), b(128, 128, 16, 8, 8), b(128, 128, 8, 8, 4)} {
		if !slices.Contains(ts, t) {
			ts = append(ts, t)
		}
	}
	return ts
}

// BenchmarkMatmulLimits bounds the f32 matmul from above: for the
// shipped tile (and a 64x64 one) at 4096³ (256³ on a CPU driver) it
// times each limitProbe and reports TFLOP/s of 2·M·N·K (times the
// probe's reps), so that shipped < smem < inner < fma shows how much
// the global loads, the staging, the workgroup-memory reads and the
// loop cost, and fma-x4 what FMA rate the WGSL -> compiler -> driver
// path reaches at all with this register block and workgroup.
//
//	./bin/ops.test -test.run '^$' -test.bench 'BenchmarkMatmulLimits' -test.benchtime 1x
func BenchmarkMatmulLimits(b *testing.B) {
	d := testDevice(b)
	sp, s := limitSpec(b, d)
	for _, tile := range limitTiles(d, s) {
		if !tile.Fits(d) {
			continue
		}
		for _, p := range limitProbes {
			k := probeKernel(sp, tile, p)
			b.Run(fmt.Sprintf("%v/%v/%s", s, tile, p.name), func(b *testing.B) {
				reportTFLOPs(b, d, released(func() (*gpu.Tensor, error) { return k.RunOne(d) }),
					float64(p.reps)*2*float64(s.m)*float64(s.n)*float64(s.k))
			})
		}
	}
}

// TestMatmulLimitProbes builds and runs every probe into guarded outputs
// at a shape of several tiles and K steps: the smem probe must give the
// product of the synthetic operands (float64 on the host), the others
// finite outputs that are not all zero (their products were kept).
// With -short, the shipped tile's probes only.
func TestMatmulLimitProbes(t *testing.T) {
	d := testDevice(t)
	s := mnk{130, 136, 48}
	x := randomDevice(t, d, dtype.F32, s.m, s.k)
	w := randomDevice(t, d, dtype.F32, s.n, s.k)
	sp := &matmulSpec{op: "Linear", x: x, w: w}
	if err := sp.validate(); err != nil {
		t.Fatal(err)
	}
	tiles := limitTiles(d, s)
	if testing.Short() {
		tiles = tiles[:1] // node + Dawn builds each pipeline in seconds
	}
	for _, tile := range tiles {
		for _, p := range limitProbes {
			t.Run(fmt.Sprintf("%v/%s", tile, p.name), func(t *testing.T) {
				if !tile.Fits(d) {
					t.Skip("does not fit the device")
				}
				runGuarded(t, d, probeKernel(sp, tile, p), func(y []float32) {
					gputest.Live(t, y)
					if p.name == "unroll" || p.name == "nopf" {
						checkProduct(t, x, w, s, y)
					}
					if p.name != "smem" {
						return
					}
					for m := 0; m < s.m; m++ {
						for n := 0; n < s.n; n++ {
							want := 0.0
							for k := 0; k < s.k; k++ {
								want += synthValue(m, k) * synthValue(n, k)
							}
							if got := float64(y[m*s.n+n]); math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
								t.Fatalf("y[%d,%d] = %v, want %v", m, n, got, want)
							}
						}
					}
				})
			})
		}
	}
}

// runGuarded runs k into guarded outputs and hands its output to check.
func runGuarded(t *testing.T, d *gpu.Device, k *kernel.Kernel, check func(y []float32)) {
	t.Helper()
	gputest.Guard(t, d)
	y, err := k.RunOne(d)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Release()
	v, err := y.Float32()
	if err != nil {
		t.Fatal(err)
	}
	check(v)
}

var fmaLine = regexp.MustCompile(`^(\w+) = fma\(vec4<f32>\((a\d+)\.([xyzw])\), (b\d+), (\w+)\);$`)

// shiftFMA rewrites one MMA line c = fma(vec4<f32>(aI.L), bJ, c) to use
// A's lane L+r and B's lanes rotated by r (mod 4).
func shiftFMA(line string, r int) string {
	m := fmaLine.FindStringSubmatch(line)
	if m == nil {
		panic("fma probe: unexpected MMA line " + line)
	}
	const lanes = "xyzw"
	lane := lanes[(strings.IndexByte(lanes, m[3][0])+r)%4]
	rot := lanes[r%4:] + lanes[:r%4]
	return fmt.Sprintf("%s = fma(vec4<f32>(%s.%c), %s.%s, %s);", m[1], m[2], lane, m[4], rot, m[5])
}

// warmMeasure keeps the GPU busy with run for at least 300 ms of wall
// time (an idle H200 drops its SM clock within a second, and the
// compiles and read-backs between sub-benchmarks idle it), then measures
// it as the sweeps do: Measure(3, 3, run).
func warmMeasure(d *gpu.Device, run func() error) (time.Duration, error) {
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
		if _, _, err := d.Measure(1, 10, run); err != nil {
			return 0, err
		}
	}
	tm, _, err := d.Measure(3, 3, run)
	return tm, err
}

// busyMeasure times a call of a few microseconds at working clocks. In
// Measure's submissions of ten such calls the GPU idles between
// submissions most of the time, and an H200 then runs them at a fraction
// of its clock: the skinny rows of 2026-11-29 (first session) timed a
// 256 MiB copy right after warmMeasure at 1.7 TB/s, against 4.2 warm.
// So reps doubles until one submission holds at least 4 ms of GPU work,
// submissions of reps calls run until three in a row agree within 3%
// (at most 2 s), and the time is Measure(5, reps)'s.
func busyMeasure(d *gpu.Device, run func() error) (time.Duration, error) {
	reps := 10
	for {
		tm, _, err := d.Measure(1, reps, run)
		if err != nil {
			return 0, err
		}
		if time.Duration(reps)*tm >= 4*time.Millisecond || reps >= 4096 {
			break
		}
		reps *= 2
	}
	var last []float64
	for start := time.Now(); time.Since(start) < 2*time.Second; {
		tm, _, err := d.Measure(1, reps, run)
		if err != nil {
			return 0, err
		}
		if last = append(last, tm.Seconds()); settled(last) {
			break
		}
	}
	tm, _, err := d.Measure(5, reps, run)
	return tm, err
}

// released turns a call that returns a tensor into a Measure callback
// that releases it.
func released(run func() (*gpu.Tensor, error)) func() error {
	return func() error {
		y, err := run()
		if err == nil {
			y.Release()
		}
		return err
	}
}

// checkProduct compares y with x @ wᵀ computed in float64 on the host
// from the device tensors' values.
func checkProduct(t *testing.T, x, w *gpu.Tensor, s mnk, y []float32) {
	t.Helper()
	xv, err := x.Float32()
	if err != nil {
		t.Fatal(err)
	}
	wv, err := w.Float32()
	if err != nil {
		t.Fatal(err)
	}
	for m := 0; m < s.m; m++ {
		for n := 0; n < s.n; n++ {
			want, mag := 0.0, 0.0
			for k := 0; k < s.k; k++ {
				want += float64(xv[m*s.k+k]) * float64(wv[n*s.k+k])
				mag += math.Abs(float64(xv[m*s.k+k]) * float64(wv[n*s.k+k]))
			}
			if got := float64(y[m*s.n+n]); math.Abs(got-want) > 1e-6*mag+1e-6 {
				t.Fatalf("y[%d,%d] = %v, want %v", m, n, got, want)
			}
		}
	}
}

// occupancyTiles are Blocked tiles around 128x64x16/8x4 (the dense
// default, double-buffered until 2026-11-29's sixth session and
// single-buffered since: bench/results/2026-11-29-h200-s6-occupancy.txt)
// that differ in what an invocation holds (prefetch registers: BK;
// register block shape; buffers), for BenchmarkMatmulOccupancy.
var occupancyTiles = []launch.Tile{
	{Kind: launch.Blocked, BM: 128, BN: 64, BK: 16, TM: 8, TN: 4, Double: true, Group: launch.MatmulGroup},
	{Kind: launch.Blocked, BM: 128, BN: 64, BK: 8, TM: 8, TN: 4, Double: true, Group: launch.MatmulGroup},
	{Kind: launch.Blocked, BM: 128, BN: 64, BK: 16, TM: 8, TN: 4, Group: launch.MatmulGroup},
	{Kind: launch.Blocked, BM: 128, BN: 64, BK: 32, TM: 8, TN: 4, Group: launch.MatmulGroup},
	{Kind: launch.Blocked, BM: 128, BN: 64, BK: 16, TM: 4, TN: 8, Double: true, Group: launch.MatmulGroup},
	{Kind: launch.Blocked, BM: 64, BN: 128, BK: 16, TM: 8, TN: 4, Double: true, Group: launch.MatmulGroup},
	{Kind: launch.Blocked, BM: 64, BN: 64, BK: 16, TM: 8, TN: 4, Double: true, Group: launch.MatmulGroup},
	{Kind: launch.Blocked, BM: 128, BN: 32, BK: 16, TM: 8, TN: 4, Double: true, Group: launch.MatmulGroup},
}

// BenchmarkMatmulOccupancy times occupancyTiles at 4096³ f32 (256³ on a
// CPU driver) as BenchmarkMatmulLimits times its probes. With
// gpu.DumpEnv set, bench/pipestats.py then gives each tile's registers
// (bash bench/device.sh occupancy).
func BenchmarkMatmulOccupancy(b *testing.B) {
	d := testDevice(b)
	sp, s := limitSpec(b, d)
	for _, tile := range occupancyTiles {
		if !tile.Fits(d) {
			continue
		}
		k := sp.blockedKernel(tile)
		b.Run(fmt.Sprintf("%v/%v", s, tile), func(b *testing.B) {
			reportTFLOPs(b, d, released(func() (*gpu.Tensor, error) { return k.RunOne(d) }), 2*float64(s.m)*float64(s.n)*float64(s.k))
		})
	}
}

// limitSpec is the f32 product the matmul limit benchmarks time, 4096³
// (256³ on a CPU driver), its operands released when b ends.
func limitSpec(b *testing.B, d *gpu.Device) (*matmulSpec, mnk) {
	s := mnk{4096, 4096, 4096}
	if d.Info.Class == gpu.ClassCPU {
		s = mnk{256, 256, 256}
	}
	x := randomDevice(b, d, dtype.F32, s.m, s.k)
	w := randomDevice(b, d, dtype.F32, s.n, s.k)
	b.Cleanup(x.Release)
	b.Cleanup(w.Release)
	sp := &matmulSpec{op: "Linear", x: x, w: w}
	if err := sp.validate(); err != nil {
		b.Fatal(err)
	}
	return sp, s
}

// reportTFLOPs times run after warmMeasure's warm-up and reports its GPU
// time and flop / time in TFLOP/s.
func reportTFLOPs(b *testing.B, d *gpu.Device, run func() error, flop float64) {
	tm, err := warmMeasure(d, run)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(tm.Nanoseconds()), "gpu-ns")
	b.ReportMetric(flop/tm.Seconds()/1e12, "TFLOP/s")
}
