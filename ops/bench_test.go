package ops

import (
	"fmt"
	"math/rand"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// randomDevice uploads N(0,1) values: zeros compress in GPU memory and
// time unrealistically fast.
func randomDevice(t testing.TB, d *gpu.Device, dt dtype.DType, shape ...int) *gpu.Tensor {
	rng := rand.New(rand.NewSource(int64(len(shape))))
	v := make([]float32, gpu.Numel(shape))
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	x, err := d.Upload(dt, shape, v)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// benchShape is the memory-bound benchmark shape: a video DiT's
// activations on a GPU, a small one on a CPU driver.
func benchShape(d *gpu.Device) []int {
	if d.Info.Class == gpu.ClassCPU {
		return []int{1, 64, 1024}
	}
	return []int{8, 4096, 3072}
}

// bestCopy is the fastest copy measureBW has timed in this process (GB/s).
var bestCopy float64

// measureBW times run (b.N calls per trial, GPU timestamps where the
// device has them) and reports GB/s of the bytes it moves and the ratio
// to a copy of x timed just before, so that idle clocks show as a slow copy;
// a trial whose copy is below 0.9 of the best copy seen ran at lowered
// clocks and runs again, at most three more times (the CLI harness's rule).
func measureBW(b *testing.B, d *gpu.Device, x *gpu.Tensor, bytes float64, run func() (*gpu.Tensor, error)) {
	var tm time.Duration
	var copyBW float64
	for try := 0; ; try++ {
		cp, _, err := d.Measure(5, max(1, b.N), released(func() (*gpu.Tensor, error) { return Copy(x) }))
		if err != nil {
			b.Fatal(err)
		}
		if tm, _, err = d.Measure(5, max(1, b.N), released(run)); err != nil {
			b.Fatal(err)
		}
		copyBW = 2 * float64(x.ByteSize()) / cp.Seconds() / 1e9
		bestCopy = max(bestCopy, copyBW)
		if copyBW >= 0.9*bestCopy || try == 3 {
			break
		}
	}
	reportBW(b, tm, bytes, copyBW, "GB/s")
}

// reportBW reports a time, the GB/s of bytes moved in it (as unit), the
// copy's GB/s beside it and their ratio.
func reportBW(b *testing.B, tm time.Duration, bytes, copyBW float64, unit string) {
	bw := bytes / tm.Seconds() / 1e9
	b.ReportMetric(float64(tm.Nanoseconds()), "gpu-ns")
	b.ReportMetric(bw, unit)
	b.ReportMetric(copyBW, "copy-GB/s")
	b.ReportMetric(bw/copyBW, "x-copy")
}

// BenchmarkMemoryBound times the norm and modulate kernels, the
// activations, gated units, rotary embeddings and FP8 quantisation, and
// the launch variants of each, next to a copy of the same bytes (the
// figures behind internal/launch). On a GPU:
// go test -c -o bin/ops.test ./ops && ./bin/ops.test -test.run '^$' -test.bench BenchmarkMemoryBound -test.benchtime 10x
func BenchmarkMemoryBound(b *testing.B) {
	d := testDevice(b)
	// The fast paths' float-pipe roundings rely on the compiler keeping
	// them: check them bit for bit on this device before timing anything.
	for _, check := range []func(*gpu.Device) error{checkFloatPipeRounding, checkFP8FiniteEncoder} {
		if err := check(d); err != nil {
			b.Fatal(err)
		}
	}
	// The fma rounding is only a candidate: where this device's compiler
	// breaks it, its rows are left out rather than the run stopped.
	fmaOK := true
	if err := checkFMARounding(d); err != nil {
		b.Logf("fma rounding not exact on this device, its rows are left out: %v", err)
		fmaOK = false
	}
	shape := benchShape(d)
	B, C := shape[0], shape[2]
	for _, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
		x := randomDevice(b, d, dt, shape...)
		w := randomDevice(b, d, dt, C)
		sc := randomDevice(b, d, dt, B, C)
		sh := randomDevice(b, d, dt, B, C)
		nb := float64(x.Numel() * dt.Size())
		cases := []benchCase{
			{"rms_norm", 2 * nb, func() (*gpu.Tensor, error) { return RMSNormForward(x, w, nil, 1e-6) }},
			{"layer_norm", 2 * nb, func() (*gpu.Tensor, error) { return LayerNormForward(x, w, w, 1e-6) }},
			{"rms_norm+modulate", 2 * nb, func() (*gpu.Tensor, error) {
				return NormModulate(KindRMSNorm, x, w, nil, 1e-6, ModulateArgs{Scale: sc, Shift: sh, Constant: 1})
			}},
			{"modulate[B,C]", 2 * nb, func() (*gpu.Tensor, error) { return Modulate(x, sh, sc) }},
		}
		cases = append(cases, streamCases(b, d, dt, x, w, sc, sh, fmaOK)...)
		for _, c := range cases {
			b.Run(fmt.Sprintf("%v/%s", dt, c.name), func(b *testing.B) { measureBW(b, d, x, c.bytes, c.run) })
		}
	}
}

// matmulRun returns a Measure callback that runs s with tile and
// releases the output.
func matmulRun(s *matmulSpec, tile launch.Tile) func() error {
	return released(func() (*gpu.Tensor, error) { return s.run(tile) })
}

// sweepShapes are the products BenchmarkMatmulSweep times: 4096³ and the
// DiT block's linears at D=3072 (M=4096 tokens; QKV, attention output,
// MLP up and down), or small stand-ins on a CPU driver.
func sweepShapes(d *gpu.Device) []mnk {
	if d.Info.Class == gpu.ClassCPU {
		return []mnk{{128, 128, 128}, {128, 288, 96}, {128, 96, 384}}
	}
	return []mnk{{4096, 4096, 4096}, {4096, 9216, 3072}, {4096, 3072, 3072}, {4096, 12288, 3072}, {4096, 3072, 12288}}
}

// BenchmarkMatmulSweep times every candidate tile of internal/launch that
// fits the device (the small Simple fallbacks excepted) and the tile the
// launch policy picks ("auto"), with GPU timestamps, at each sweep shape in
// f32 and bf16 storage (also the picked tile without raster groups, and in
// bf16 the Narrow form of the tiles with 16-byte units), reporting TFLOP/s: the figures behind the default tile
// in internal/launch. About two minutes on an H200:
//
//	go test -c -o .vk/ops.test ./ops && ./.vk/ops.test -test.run '^$' -test.bench 'BenchmarkMatmulSweep' -test.benchtime 1x
//
// One shape and dtype (what bench/device.sh sweepjs runs through node +
// Dawn, to pick a tile for browsers): -test.bench 'BenchmarkMatmulSweep/^4096x4096x4096$/^f32$'.
func BenchmarkMatmulSweep(b *testing.B) {
	d := testDevice(b)
	var tiles []launch.Tile
	for _, t := range launch.MatmulCandidates() {
		if t.Fits(d) && (t.Kind != launch.Simple || t.BM >= 64) {
			tiles = append(tiles, t)
		}
	}
	for _, s := range sweepShapes(d) {
		for _, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
			// The operands are made when the first sub-benchmark of the
			// shape and dtype runs, so that a -test.bench filter (one
			// shape and dtype through node + Dawn) skips the others' uploads.
			var sp *matmulSpec
			operands := func(b *testing.B) *matmulSpec {
				if sp == nil {
					x := randomDevice(b, d, dt, s.m, s.k)
					w := randomDevice(b, d, dt, s.n, s.k)
					sp = &matmulSpec{op: "Linear", x: x, w: w}
					if err := sp.validate(); err != nil {
						b.Fatal(err)
					}
				}
				return sp
			}
			auto := launch.MatmulTile(d, s.m, s.n, s.k, dt.Size())
			flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
			run := append([]launch.Tile{auto}, tiles...)
			if t := auto; t.Kind == launch.Blocked {
				t.Group = 1 // the grid's own order, against raster groups
				run = append(run, t)
			}
			if dt.Size() == 2 {
				// 16-byte units against 8-byte packs of 16-bit storage.
				for _, t := range tiles {
					if t.Kind == launch.Blocked && t.TN == 8 {
						t.Narrow = true
						run = append(run, t)
					}
				}
			}
			for i, tile := range run {
				name := tile.String()
				if i == 0 {
					name = "auto=" + name
				}
				b.Run(fmt.Sprintf("%v/%v/%s", s, dt, name), func(b *testing.B) {
					tm, _, err := d.Measure(3, 3, matmulRun(operands(b), tile))
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(tm.Nanoseconds()), "gpu-ns")
					b.ReportMetric(flops/tm.Seconds()/1e12, "TFLOP/s")
				})
			}
			if sp != nil {
				sp.x.Release()
				sp.w.Release()
			}
		}
	}
}

// BenchmarkSkinnyLinear times products of few rows (M = 1, 4, 8 and 16, K = N
// = 4096 and 8192) with f32, bf16 and FP8 (E4M3 and E5M2, per-row scales,
// x in bf16) weights, x in the weight's dtype otherwise: the tile the
// launch policy picks ("auto"), every GEMV tile, and the auto tile's
// limit probes (gemvProbe; serial rows only). It reports the
// weight's bytes per second and, beside it, a 256 MiB copy timed right
// after it (copyGate: rows run at working clocks, and a row whose copy
// after it is low runs again).
//
// Each call of a "rot" row reads the next of as many copies of the
// weight as hold 512 MiB, so that no call finds its weight in the L2
// cache (50 MiB on an H200) the call before left, as a model's
// consecutive layers do not; "same" rows (the auto tile only) read one
// weight every call, as a loop over one layer does. Both give each call
// an output of its own, so the GPU may run consecutive calls at the same
// time, and a product that fills little of it (past one row: 128 to 256
// workgroups of 64) reads part of its weight from L2 while another call
// streams it: on the H200 such rows measured up to 8 TB/s of weight
// reads, above the HBM's 4.8 (2026-11-29, eighth session). "serial"
// rows rotate the weights as "rot" does but write one output, which
// orders every call after the one before, as a model's consecutive
// layers are ordered, and as PyTorch's calls on one stream run; the
// auto tile runs all three, every other tile and probe serial only.
// bench/skinny_torch.py times F.linear under the same rules and names
// (its rot rows stand beside serial ones). WEBFUSER_SKINNY_SHAPES
// (KxN,KxN..., e.g. 4096x16384) replaces the square shapes; rows of
// other shapes are named K=..,N=.. and have no PyTorch twin.
//
//	./.vk/ops.test -test.run '^$' -test.bench 'BenchmarkSkinnyLinear' -test.benchtime 1x
func BenchmarkSkinnyLinear(b *testing.B) {
	d := testDevice(b)
	shapes := [][2]int{{4096, 4096}, {8192, 8192}}
	if d.Info.Class == gpu.ClassCPU {
		shapes = [][2]int{{512, 512}}
	}
	if env := os.Getenv("WEBFUSER_SKINNY_SHAPES"); env != "" {
		shapes = nil
		for _, f := range strings.Split(env, ",") {
			var k, n int
			if _, err := fmt.Sscanf(f, "%dx%d", &k, &n); err != nil {
				b.Fatalf("WEBFUSER_SKINNY_SHAPES: %q is not KxN", f)
			}
			shapes = append(shapes, [2]int{k, n})
		}
	}
	applyTuningEnv(b, d)
	gate := newCopyGate(b, d)
	for _, kn := range shapes {
		kk, nn := kn[0], kn[1]
		shape := fmt.Sprintf("K=N=%d", kk)
		if kk != nn {
			shape = fmt.Sprintf("K=%d,N=%d", kk, nn)
		}
		for _, wdt := range []dtype.DType{dtype.F32, dtype.BF16, dtype.FP8E4M3, dtype.FP8E5M2} {
			w := randomDevice(b, d, wdt, nn, kk)
			ws := []*gpu.Tensor{w}
			wbytes := kk * nn * wdt.Size()
			for float64(len(ws)*wbytes) < 2*gate.bytes { // 512 MiB on a GPU
				c, err := Copy(w)
				if err != nil {
					b.Fatal(err)
				}
				ws = append(ws, c)
			}
			var scale *gpu.Tensor
			xdt := wdt
			if isFP8(wdt) {
				scale = randomDevice(b, d, dtype.F32, nn, 1)
				xdt = dtype.BF16
			}
			for _, m := range []int{1, 4, 8, 16} {
				x := randomDevice(b, d, xdt, m, kk)
				specs := make([]*matmulSpec, len(ws))
				for i, wi := range ws {
					specs[i] = &matmulSpec{op: "Linear", x: x, w: wi, wScale: scale}
					if err := specs[i].validate(); err != nil {
						b.Fatal(err)
					}
				}
				auto := specs[0].tile()
				type row struct {
					tile  launch.Tile
					name  string
					modes []string
					probe string
				}
				modes := []string{"rot", "serial", "same"}
				if env := os.Getenv("WEBFUSER_SKINNY_MODES"); env != "" {
					modes = strings.Split(env, ",")
				}
				rows := []row{{auto, "auto=" + auto.String(), modes, ""}}
				if def := launch.DefaultMatmulTile(d, m, nn, kk, wdt.Size()); def != auto { // a tuned tile
					rows = append(rows, row{def, "default=" + def.String(), []string{"serial"}, ""})
				}
				for _, t := range gemvTiles(b) {
					if t.String() != auto.String() { // the auto row times it
						rows = append(rows, row{t, t.String(), []string{"serial"}, ""})
					}
				}
				if auto.Kind == launch.GEMV {
					probes := []string{"nox", "noreduce"}
					if isFP8(wdt) {
						probes = append(probes, "nodecode", "loadonly")
					}
					if wdt == dtype.FP8E4M3 {
						probes = append(probes, "nonan") // E5M2 tracks no NaN codes
					}
					for _, p := range probes {
						rows = append(rows, row{auto, auto.String() + "/probe=" + p, []string{"serial"}, p})
					}
				}
				for _, r := range rows {
					tile := r.tile
					if !tile.Fits(d) {
						continue
					}
					// One declaration per weight copy; serial rows make their
					// own, turned to write one output.
					declare := func() []*kernel.Kernel {
						ks := make([]*kernel.Kernel, len(specs))
						for i, s := range specs {
							ks[i] = gemvProbe(s.kernel(tile), r.probe)
						}
						return ks
					}
					var kernels []*kernel.Kernel // the rot and same rows'
					for _, mode := range r.modes {
						b.Run(fmt.Sprintf("M=%d/%s/w=%v/%s/%s", m, shape, wdt, r.name, mode), func(b *testing.B) {
							if kernels == nil && mode != "serial" {
								kernels = declare()
							}
							ks := kernels
							if mode == "serial" {
								ks = declare()
								y, err := ks[0].RunOne(d)
								if err != nil {
									b.Fatal(err)
								}
								defer y.Release()
								for _, k := range ks {
									k.Reuse([]*gpu.Tensor{y})
								}
							}
							if mode == "same" {
								ks = ks[:1]
							}
							run := inTurn(d, ks)
							tm, copyBW, err := gate.measure(run)
							if err != nil {
								b.Fatal(err)
							}
							reportBW(b, tm, float64(wbytes), copyBW, "weight-GB/s")
						})
					}
				}
				x.Release()
			}
			for _, wi := range ws {
				wi.Release()
			}
			if scale != nil {
				scale.Release()
			}
		}
	}
}

// copyGate keeps the skinny rows at working clocks. On the H200 a row
// that follows seconds of host work (uploading the next weights) ran at
// a fraction of the clock, and so did the copy timed after it (1.7 TB/s
// against 4.2; 2026-11-29, fifth session): the copy is the clock's gauge.
// Before each row the copy runs until it reaches 0.9 of the best copy
// seen (at most 1 s), and a row whose copy after it is below that runs
// once more. Both are timed by busyMeasure. (With K = N = 4096 FP8
// weights the copy stayed at 1.6 TB/s through 5 s of copies per row on
// the H200, and nvidia-smi showed the SM clock at 345-600 MHz through
// those rows and at 1980 with the 8192 ones right after: busyMeasure's
// submissions leave the GPU idle while the host records the next one,
// and with the host's per-call cost then (BenchmarkEagerHost) that was
// most of the time. The rows report the copy they ran beside.)
type copyGate struct {
	d     *gpu.Device
	run   func() error
	bytes float64 // moved per copy, read and written
	best  float64 // GB/s
}

// newCopyGate returns a warmed gate whose copy moves 256 MiB (4 MiB on a
// CPU driver); the copy's tensor is released when b ends.
func newCopyGate(b *testing.B, d *gpu.Device) *copyGate {
	n := 256 << 20
	if d.Info.Class == gpu.ClassCPU {
		n = 4 << 20
	}
	cp := randomDevice(b, d, dtype.F32, n/8) // read and written: n bytes moved
	b.Cleanup(cp.Release)
	g := &copyGate{d: d, bytes: float64(n), run: released(func() (*gpu.Tensor, error) { return Copy(cp) })}
	if err := g.warm(); err != nil {
		b.Fatal(err)
	}
	return g
}

// bw times one copy and returns its GB/s.
func (g *copyGate) bw() (float64, error) {
	c, err := busyMeasure(g.d, g.run)
	if err != nil {
		return 0, err
	}
	bw := g.bytes / c.Seconds() / 1e9
	g.best = max(g.best, bw)
	return bw, nil
}

// warm runs the copy for at least 2 s and until three copies in a row
// agree within 3% (at most 10 s), so that best is a working-clock copy.
func (g *copyGate) warm() error { return warmUntil(2*time.Second, g.bw) }

// measure times run between copies at working clocks and returns its
// time and the copy's GB/s right after it.
func (g *copyGate) measure(run func() error) (time.Duration, float64, error) {
	for try := 0; ; try++ {
		for start := time.Now(); time.Since(start) < time.Second; {
			bw, err := g.bw()
			if err != nil {
				return 0, 0, err
			}
			if bw >= 0.9*g.best {
				break
			}
		}
		tm, err := busyMeasure(g.d, run)
		if err != nil {
			return 0, 0, err
		}
		bw, err := g.bw()
		if err != nil || bw >= 0.9*g.best || try == 1 {
			return tm, bw, err
		}
	}
}

// gemvProbe returns the GEMV k with part of its work taken out
// (benchmark-only; "" returns k), so that the probes' times show what
// each part costs. FP8 weights: nonan drops the NaN-code tracking,
// nodecode also replaces each word's decoding by the word's bits
// splatted as one f32 (the loads and products as shipped), loadonly
// keeps only the weight loads (each word folded into one accumulator:
// no decoding, no x, no products). Any weight: nox makes x's elements
// from their index instead of loading them (the products as shipped),
// noreduce stores each group's first lane's sums as the results (no
// reduction through workgroup memory).
func gemvProbe(k *kernel.Kernel, probe string) *kernel.Kernel {
	if probe == "" {
		return k
	}
	switch probe {
	case "nox":
		setSnippet(k, "XSUB", "var r: XS;\n  for (var i = 0u; i < SU / 4u; i = i + 1u) { r[i] = vec4<f32>(f32((e >> 3u) & 7u), f32(m), 0.5, f32(i)); }\n  return r;")
		return k
	case "noreduce":
		nc, mr := constInt(k, "NC"), constInt(k, "MR")
		var red strings.Builder
		red.WriteString("if (kl == 0u) {")
		for m := 0; m < mr; m++ {
			for c := 0; c < nc; c++ {
				fmt.Fprintf(&red, " tot[cg * NV + %du] = a%d_%d;", m*nc+c, m, c)
			}
		}
		red.WriteString(" }\n  workgroupBarrier();")
		setSnippet(k, "REDUCE", red.String())
		return k
	}
	step := snippet(k, "UNIT_STEP")
	if !strings.Contains(step, "_fast(") {
		panic("gemvProbe: no FP8 decoding in UNIT_STEP:\n" + step)
	}
	var keep []string
	for _, l := range strings.Split(step, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case probe == "loadonly" && strings.HasPrefix(l, "let q"):
			c := strings.TrimPrefix(strings.Fields(l)[1], "q")
			keep = append(keep, l, fmt.Sprintf("a0_%[1]s = a0_%[1]s + f32(q%[1]s.x ^ q%[1]s.y ^ q%[1]s.z ^ q%[1]s.w);", c))
		case probe != "loadonly" && !strings.HasPrefix(l, "nan"):
			keep = append(keep, l)
		}
	}
	src := strings.Join(keep, "\n")
	if probe == "nodecode" {
		src = fp8Call.ReplaceAllString(src, "vec4<f32>(bitcast<f32>($1))")
	}
	setSnippet(k, "UNIT_STEP", src)
	return k
}

// constInt returns the value of k's integer WGSL constant name.
func constInt(k *kernel.Kernel, name string) int {
	for _, c := range k.Consts {
		if c.Name == name {
			v, err := strconv.Atoi(strings.TrimSuffix(c.Value, "u"))
			if err != nil {
				panic(err)
			}
			return v
		}
	}
	panic("no constant " + name)
}

// fp8Call matches a fast FP8 word decoder's call in the GEMV's UNIT_STEP.
var fp8Call = regexp.MustCompile(`e[45]m[23]x4_fast\(([^()]*)\)`)

// benchCase is one kernel call BenchmarkMemoryBound times.
type benchCase = struct {
	name  string
	bytes float64
	run   func() (*gpu.Tensor, error)
}

// streamCases are the activations, gated units, rotary embeddings, FP8
// quantisation and the fused norm+modulate, each with its launch
// variants, at the benchmark shape x [B,L,C]: launch's choice first
// (the name without a variant), then one row per variant (RoPE: /flat,
// the kernel of one pack per invocation, and /rows, the row kernel, in
// every layout; launch.RotaryRows picks between them). The variants are
// the candidates for internal/launch's bf16 choices: round= (how
// intermediate bf16 values round), store=fma (the outputs rounded on the
// float pipe, launch.BF16StoreRounding), erf=erfc (launch.GELUErfc),
// rpw=2 (launch.NormRowsPerWorkgroup); the rows whose variants the
// earlier H200 runs ruled out are gone (bench/results/2026-11-28-h200-s2-membound.md).
// fmaOK leaves out the rows of the fma rounding where the device breaks it.
func streamCases(b *testing.B, d *gpu.Device, dt dtype.DType, x, w, sc, sh *gpu.Tensor, fmaOK bool) []benchCase {
	shape := x.Shape
	B, L, C := shape[0], shape[1], shape[2]
	nb := float64(x.Numel() * dt.Size())
	rows := B * L
	var cases []benchCase
	add := func(name string, bytes float64, run func() (*gpu.Tensor, error)) {
		cases = append(cases, benchCase{name, bytes, run})
	}
	fma := launch.RoundFMA
	usesFMA := func(round, store launch.Rounding) bool { return round == fma || store == fma }
	// In f32 the roundings are the identity: those variants are the default kernel.
	skipRounding := func(setRnd, setStore bool, round, store launch.Rounding) bool {
		return (dt == dtype.F32 && (setRnd || setStore)) || (!fmaOK && usesFMA(round, store))
	}
	for _, v := range []normVariant{
		{setRnd: true, round: launch.RoundFloat},
		{setRnd: true, round: fma},
		{setStore: true, store: fma},
		{setRnd: true, round: fma, setStore: true, store: fma},
		{rpw: 2},
		{rpw: 2, setRnd: true, round: fma, setStore: true, store: fma},
	} {
		v := v
		if skipRounding(v.setRnd, v.setStore, v.round, v.store) {
			continue
		}
		add("rms_norm+modulate/"+v.name(), 2*nb, func() (*gpu.Tensor, error) {
			s := &normSpec{op: "bench", kind: KindRMSNorm, x: x, w: w, eps: 1e-6, mod: &ModulateArgs{Scale: sc, Shift: sh, Constant: 1}, variant: v}
			if err := s.validate(); err != nil {
				return nil, err
			}
			return s.run()
		})
	}
	add("rms_norm/rpw=2", 2*nb, func() (*gpu.Tensor, error) {
		s := &normSpec{op: "bench", kind: KindRMSNorm, x: x, w: w, eps: 1e-6, variant: normVariant{rpw: 2}}
		if err := s.validate(); err != nil {
			return nil, err
		}
		return s.run()
	})
	storeFMA := unitsVariant{setStore: true, store: fma}
	for _, fn := range []Activation{ActGELU, ActGELUTanh, ActSiLU} {
		fn := fn
		add(fn.String(), 2*nb, func() (*gpu.Tensor, error) { return Activate(x, fn) })
		vs := []unitsVariant{{nu: 1}, {nu: 2}, storeFMA}
		if fn == ActGELU {
			vs = append(vs, unitsVariant{erf: "erfc"}, unitsVariant{erf: "erfc", setStore: true, store: fma}, unitsVariant{nu: 2, erf: "erfc", setStore: true, store: fma})
		}
		for _, v := range vs {
			v := v
			if v.erf == "" && skipRounding(v.setRnd, v.setStore, v.round, v.store) {
				continue
			}
			add(fn.String()+"/"+v.name(), 2*nb, func() (*gpu.Tensor, error) {
				return biasActKernel(x, nil, fn, v, 0, 0).RunOne(d)
			})
		}
	}
	for _, fn := range []Activation{ActGELU, ActGELUTanh, ActSiLU} {
		fn := fn
		name := map[Activation]string{ActGELU: "geglu", ActGELUTanh: "geglu_tanh", ActSiLU: "swiglu"}[fn]
		add(name, 1.5*nb, func() (*gpu.Tensor, error) { return GatedActivation(x, fn) })
		vs := []unitsVariant{{nu: 1}, {setRnd: true, round: fma}, storeFMA, {setRnd: true, round: fma, setStore: true, store: fma}}
		if fn == ActGELU {
			vs = append(vs, unitsVariant{erf: "erfc"}, unitsVariant{setRnd: true, round: fma, setStore: true, store: fma, erf: "erfc"},
				unitsVariant{nu: 1, setRnd: true, round: fma, setStore: true, store: fma, erf: "erfc"})
		}
		for _, v := range vs {
			v := v
			if v.erf == "" && skipRounding(v.setRnd, v.setStore, v.round, v.store) {
				continue
			}
			add(name+"/"+v.name(), 1.5*nb, func() (*gpu.Tensor, error) {
				return gatedKernel(x, fn, v, rows, C/2).RunOne(d)
			})
		}
	}
	hd := 128
	for C%hd != 0 {
		hd /= 2
	}
	xr, err := x.Reshape(B, L, C/hd, hd)
	if err != nil {
		b.Fatal(err)
	}
	cos := randomDevice(b, d, dt, L, hd/2)
	sin := randomDevice(b, d, dt, L, hd/2)
	tables := float64(2 * L * hd / 2 * dt.Size())
	for _, il := range []bool{true, false} {
		il := il
		name := "rotary"
		if !il {
			name = "rotary_half"
		}
		add(name, 2*nb+tables, func() (*gpu.Tensor, error) { return ApplyRotaryEmb(xr, cos, sin, il) })
		add(name+"/flat", 2*nb+tables, func() (*gpu.Tensor, error) {
			return rotaryFlatKernel(xr, cos, sin, il, hd/2).RunOne(d)
		})
		add(name+"/rows", 2*nb+tables, func() (*gpu.Tensor, error) {
			return rotaryRowsKernel(xr, cos, sin, il, hd/2, rotaryVariant{}).RunOne(d)
		})
		add(name+"/rows/notable", 2*nb, func() (*gpu.Tensor, error) { // a probe: the tables' loads left out
			return rotaryRowsKernel(xr, cos, sin, il, hd/2, rotaryVariant{noTable: true}).RunOne(d)
		})
		for _, v := range []rotaryVariant{{want: 2}, {want: 4}, {want: 8}, {want: 16}, {setStore: true, store: fma}, {want: 2, setStore: true, store: fma}} {
			v := v
			if skipRounding(false, v.setStore, 0, v.store) {
				continue
			}
			vname := fmt.Sprintf("want=%d", v.want)
			switch {
			case v.setStore && v.want != 0:
				vname += "/store=" + v.store.String()
			case v.setStore:
				vname = "rows/store=" + v.store.String()
			}
			add(name+"/"+vname, 2*nb+tables, func() (*gpu.Tensor, error) {
				return rotaryRowsKernel(xr, cos, sin, il, hd/2, v).RunOne(d)
			})
		}
	}
	f3, h3, w3 := 1, 1, L
	for f3*f3*f3*4 <= L && L%(f3*2) == 0 {
		f3 *= 2
	}
	for h3 = 1; h3*h3*2 <= L/f3 && (L/f3)%(h3*2) == 0; h3 *= 2 {
	}
	w3 = L / f3 / h3
	cos3, sin3, err := RotaryTables3D(d, dt, f3, h3, w3, hd, 10000)
	if err != nil {
		b.Fatal(err)
	}
	add("rotary_3d", 2*nb+tables, func() (*gpu.Tensor, error) { return ApplyRotaryEmb(xr, cos3, sin3, true) })
	add("rotary_3d/flat", 2*nb+tables, func() (*gpu.Tensor, error) { return rotaryFlatKernel(xr, cos3, sin3, true, hd/2).RunOne(d) })
	add("rotary_3d/rows", 2*nb+tables, func() (*gpu.Tensor, error) {
		return rotaryRowsKernel(xr, cos3, sin3, true, hd/2, rotaryVariant{}).RunOne(d)
	})
	if !skipRounding(false, true, 0, fma) {
		add("rotary_3d/rows/store=fma", 2*nb+tables, func() (*gpu.Tensor, error) {
			return rotaryRowsKernel(xr, cos3, sin3, true, hd/2, rotaryVariant{setStore: true, store: fma}).RunOne(d)
		})
	}
	x2, err := x.Reshape(rows, C)
	if err != nil {
		b.Fatal(err)
	}
	qbytes := nb + float64(x.Numel()) + 4*float64(rows)
	add("quantize_fp8", qbytes, func() (*gpu.Tensor, error) {
		q, s, err := QuantizeFP8(x2, PerToken, dtype.FP8E4M3)
		if err == nil {
			s.Release()
		}
		return q, err
	})
	add("quantize_fp8/want=2", qbytes, quantCodes(x2, PerToken, quantVariant{want: 2}))
	add("quantize_fp8/approx_div", qbytes, quantCodes(x2, PerToken, quantVariant{approx: true}))
	if dt.Size() == 2 { // one 8-byte store per unit of eight codes (launch.QuantizePairStores)
		add("quantize_fp8/store=pairs", qbytes, quantCodes(x2, PerToken, quantVariant{pairs: true}))
		add("quantize_fp8/want=2/store=pairs", qbytes, quantCodes(x2, PerToken, quantVariant{want: 2, pairs: true}))
		add("quantize_fp8/approx_div/store=pairs", qbytes, quantCodes(x2, PerToken, quantVariant{approx: true, pairs: true}))
	}
	// The form before (every invocation divides, one row per workgroup),
	// other row counts and workgroup sizes, and probes (no reduction and
	// no scale; no encoding; neither), for what bounds the kernel.
	for _, v := range []quantVariant{{scale: "every"}, {rows: 1}, {rows: 2}, {rows: 4}, {rows: 16}, {rows: 8, wg: 512},
		{scale: "none"}, {noEnc: true}, {scale: "none", noEnc: true}} {
		add("quantize_fp8/"+v.label(), qbytes, quantCodes(x2, PerToken, v))
	}
	add("quantize_fp8/per_tensor", qbytes, quantCodes(x2, PerTensor, quantVariant{}))
	return cases
}

// BenchmarkEagerHost times the host's side of eager calls, per call: b.N
// products of one row, K = N = 256 (their GPU time is small beside the
// host's), recorded and submitted in the device's batches, then one
// wait ("declare": the kernel's declaration and key alone, no GPU
// work). Where it exceeds a kernel's GPU time the GPU idles between
// dispatches and lowers its clock: on the H200 the FP8 skinny rows at
// K = N = 4096 (about 20 µs a call) ran at 345-600 MHz (2026-11-29,
// fifth session). Host-only: run it anywhere,
//
//	go test -run '^$' -bench BenchmarkEagerHost ./ops
func BenchmarkEagerHost(b *testing.B) {
	d := testDevice(b)
	const kn = 256
	for _, wdt := range []dtype.DType{dtype.BF16, dtype.FP8E4M3} {
		w := randomDevice(b, d, wdt, kn, kn)
		x := randomDevice(b, d, dtype.BF16, 1, kn)
		var s *gpu.Tensor // an FP8 weight's scale
		call := func() (*gpu.Tensor, error) { return LinearForward(x, w, nil) }
		if isFP8(wdt) {
			s = randomDevice(b, d, dtype.F32, kn, 1)
			b.Cleanup(s.Release)
			call = func() (*gpu.Tensor, error) { return LinearFP8Forward(x, w, s, nil, "none") }
		}
		// The host's work before the dispatch: declaring the kernel and its key.
		b.Run(fmt.Sprintf("declare/M=1/K=N=%d/w=%v", kn, wdt), func(b *testing.B) {
			sp := &matmulSpec{op: "Linear", x: x, w: w, wScale: s}
			if err := sp.validate(); err != nil {
				b.Fatal(err)
			}
			tile := sp.tile()
			for i := 0; i < b.N; i++ {
				_ = sp.kernel(tile).Key()
			}
		})
		b.Run(fmt.Sprintf("linear/M=1/K=N=%d/w=%v", kn, wdt), func(b *testing.B) {
			if err := released(call)(); err != nil {
				b.Fatal(err)
			}
			if err := d.Sync(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := released(call)(); err != nil {
					b.Fatal(err)
				}
			}
			if err := d.Sync(); err != nil {
				b.Fatal(err)
			}
		})
		w.Release()
		x.Release()
	}
}

// applyTuningEnv applies the tuning table $WEBFUSER_TUNING names, if any,
// to d until b ends, so that a benchmark's auto rows run the tuned tiles
// (and, where one differs, a default= row the policy's own).
func applyTuningEnv(b *testing.B, d *gpu.Device) {
	p := os.Getenv("WEBFUSER_TUNING")
	if p == "" {
		return
	}
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	tu, err := ReadTuning(f)
	if err == nil {
		err = tu.Apply(d)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ResetTuning(d) })
}
