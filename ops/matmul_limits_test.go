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
type limitProbe struct {
	name string
	reps int // FMA work per k, in register blocks (fma-x4: 4)
}

var limitProbes = []limitProbe{{"shipped", 1}, {"smem", 1}, {"inner", 1}, {"fma", 1}, {"fma-x4", 4}}

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
	set := func(name, src string) {
		for i := range k.Snippets {
			if k.Snippets[i].Name == name {
				k.Snippets[i].WGSL = src
				return
			}
		}
		panic("no snippet " + name)
	}
	get := func(name string) string {
		for _, s := range k.Snippets {
			if s.Name == name {
				return s.WGSL
			}
		}
		panic("no snippet " + name)
	}
	switch p.name {
	case "smem":
		set("UNIT_A", synthUnit("gm"))
		set("UNIT_B", synthUnit("gn"))
	case "inner":
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
// kind) and the 64x64 8x8 tile of environment.md's register-blocked probe.
func limitTiles(d *gpu.Device, s mnk) []launch.Tile {
	auto := launch.MatmulTile(d, s.m, s.n, s.k)
	if auto.Kind != launch.Blocked {
		auto = f16Tiles[0]
	}
	small := launch.Tile{Kind: launch.Blocked, BM: 64, BN: 64, BK: 8, TM: 8, TN: 8, Double: true, Group: launch.MatmulGroup}
	return []launch.Tile{auto, small}
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
	s := mnk{4096, 4096, 4096}
	if d.Info.Class == gpu.ClassCPU {
		s = mnk{256, 256, 256}
	}
	x := randomDevice(b, d, dtype.F32, s.m, s.k)
	w := randomDevice(b, d, dtype.F32, s.n, s.k)
	defer x.Release()
	defer w.Release()
	sp := &matmulSpec{op: "Linear", x: x, w: w}
	if err := sp.validate(); err != nil {
		b.Fatal(err)
	}
	for _, tile := range limitTiles(d, s) {
		if !tile.Fits(d) {
			continue
		}
		for _, p := range limitProbes {
			k := probeKernel(sp, tile, p)
			b.Run(fmt.Sprintf("%v/%v/%s", s, tile, p.name), func(b *testing.B) {
				tm, err := warmMeasure(d, released(func() (*gpu.Tensor, error) { return k.RunOne(d) }))
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(tm.Nanoseconds()), "gpu-ns")
				b.ReportMetric(float64(p.reps)*2*float64(s.m)*float64(s.n)*float64(s.k)/tm.Seconds()/1e12, "TFLOP/s")
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

// settled reports whether the last three of vs agree within 3% (the
// warm-up rule of the CLI harness and bench/torch_timing.py).
func settled(vs []float64) bool {
	n := len(vs)
	return n >= 3 && slices.Max(vs[n-3:]) <= 1.03*slices.Min(vs[n-3:])
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
