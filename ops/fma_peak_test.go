package ops

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// An FMA peak probe is a WGSL kernel of register FMAs alone, no memory
// but one store per invocation: the rate at which WGSL -> compiler ->
// driver issues f32 FMAs when nothing else competes. The matmul limit
// probes (matmul_limits_test.go) keep the tile's loop, barriers and
// operand rotation; these keep nothing, so the two together say whether
// the 38-44 TFLOP/s ceiling those found is the FMA issue rate itself or
// the code around the FMAs (the code around them: bench/matmul.md, last
// section). Benchmark-only.
//
//	chainsC   C scalar accumulators, each a_i = fma(a_i, m, c) with m and
//	          c per-invocation registers (not constants the driver could
//	          fold into the instruction)
//	outerTMxTN  a TM x TN register block as the matmul holds it (vec4
//	          accumulators), acc_ij = fma(vec4(a_i), b_j, acc_ij) with a
//	          and b per-invocation registers; step s of an iteration
//	          takes a's lane shifted by s and b's lanes rotated by s, so
//	          that no two products of an iteration are the same
type fmaProbe struct {
	name   string
	chains int // scalar accumulators (chains) or TM (outer)
	tn     int // outer: TN; 0 for chains
}

// fmaSteps is the FMA lines per accumulator in one loop iteration.
const fmaSteps = 4

var fmaProbes = []fmaProbe{
	{"chains8", 8, 0}, {"chains16", 16, 0}, {"chains32", 32, 0}, {"chains64", 64, 0},
	{"outer4x4", 4, 4}, {"outer8x4", 8, 4}, {"outer8x8", 8, 8},
}

// accumulators returns the scalar accumulators per invocation.
func (p fmaProbe) accumulators() int {
	if p.tn == 0 {
		return p.chains
	}
	return p.chains * p.tn
}

// probeBindings declares what every FMA probe binds: y, one output per
// invocation, and the uniform struct P (rawProbeRun fills it).
const probeBindings = `struct P { iters: u32, m: f32, c: f32, pad: u32 }
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<uniform> p: P;
`

// probeInputs returns the first lines of a probe's main for workgroups
// of wg invocations: the invocation's index i and its inputs f, m, c.
func probeInputs(wg int) string {
	return fmt.Sprintf(`  let i = gid.x + gid.y * nw.x * %du;
  let f = f32(i & 255u) * 1e-6;
  let m = p.m + f * 1e-3;
  let c = p.c + f;
`, wg)
}

// registerBlock declares a TM x TN register block into b as the matmul
// holds it: operands paR (TM/4 vec4) and pbJ (TN/4 vec4) with decl (let
// or var), accumulators cR_J (vec4, TN/4 a row) set to f. It returns the
// terms that sum the accumulators.
func registerBlock(b *strings.Builder, tm, tn int, decl string) []string {
	for r := 0; r < tm/4; r++ {
		fmt.Fprintf(b, "  %s pa%d = vec4<f32>(m, c, f, 0.5) * f32(%d + 1);\n", decl, r, r)
	}
	for j := 0; j < tn/4; j++ {
		fmt.Fprintf(b, "  %s pb%d = vec4<f32>(c, m, 0.25, f) * f32(%d + 1);\n", decl, j, j)
	}
	var sum []string
	for r := 0; r < tm; r++ {
		for j := 0; j < tn/4; j++ {
			fmt.Fprintf(b, "  var c%d_%d = vec4<f32>(f);\n", r, j)
			sum = append(sum, fmt.Sprintf("dot(c%d_%d, vec4<f32>(1.0))", r, j))
		}
	}
	return sum
}

// blockFMA is the FMA of accumulator cR_J at step s: a's lane r+s (mod 4)
// of paR/4, times pbJ with its lanes rotated by s.
func blockFMA(r, j, s int) string {
	const lanes = "xyzw"
	pb := fmt.Sprintf("pb%d", j)
	if s%4 != 0 {
		pb += "." + lanes[s%4:] + lanes[:s%4]
	}
	return fmt.Sprintf("c%[1]d_%[2]d = fma(vec4<f32>(pa%[3]d.%[4]c), %[5]s, c%[1]d_%[2]d);", r, j, r/4, lanes[(r+s)%4], pb)
}

// source returns the probe's WGSL for workgroups of wg invocations.
func (p fmaProbe) source(wg int) string {
	var b strings.Builder
	fmt.Fprintf(&b, probeBindings+`@compute @workgroup_size(%d)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
`, wg)
	b.WriteString(probeInputs(wg))
	var body [fmaSteps][]string
	var sum []string
	if p.tn == 0 {
		for a := 0; a < p.chains; a++ {
			fmt.Fprintf(&b, "  var a%d = f + %d.0 * 0.01;\n", a, a)
			for s := range body {
				body[s] = append(body[s], fmt.Sprintf("a%[1]d = fma(a%[1]d, m, c);", a))
			}
			sum = append(sum, fmt.Sprintf("a%d", a))
		}
	} else {
		sum = registerBlock(&b, p.chains, p.tn, "let")
		for r := 0; r < p.chains; r++ {
			for j := 0; j < p.tn/4; j++ {
				for s := range body {
					body[s] = append(body[s], blockFMA(r, j, s))
				}
			}
		}
	}
	b.WriteString("  for (var k = 0u; k < p.iters; k = k + 1u) {\n")
	for s := range body {
		for _, l := range body[s] {
			b.WriteString("    " + l + "\n")
		}
	}
	b.WriteString("  }\n  y[i] = " + strings.Join(sum, " + ") + ";\n}\n")
	return b.String()
}

// fmaPeakRun compiles probe p and returns a Measure callback of one
// dispatch of groups workgroups of wg invocations, iters loop iterations
// each, writing y.
func fmaPeakRun(d *gpu.Device, p fmaProbe, wg, groups, iters int, m, c float32, y *gpu.Tensor) (func() error, error) {
	return rawProbeRun(d, fmt.Sprintf("fmapeak/%s/%d", p.name, wg), p.source(wg), groups, iters, m, c, y)
}

// rawProbeRun compiles a probe's source (bindings y, then the uniform
// struct P {iters, m, c}) and returns a Measure callback of one dispatch
// of groups workgroups.
func rawProbeRun(d *gpu.Device, key, src string, groups, iters int, m, c float32, y *gpu.Tensor) (func() error, error) {
	pipe, err := d.Pipeline(gpu.Kernel{Key: key, Source: src, Bindings: []gpu.Access{gpu.ReadWrite, gpu.Uniform}})
	if err != nil {
		return nil, err
	}
	params := gpu.NewParams().U32(uint32(iters)).F32(m).F32(c).U32(0).Bytes()
	g := d.Groups(groups)
	if g[1] > 1 { // the sources flatten with x alone: keep it whole
		return nil, fmt.Errorf("%s: %d workgroups need a second grid dimension", key, groups)
	}
	return func() error { return d.Dispatch(pipe, g, params, y) }, nil
}

// probeWaves is the output tensor of the FMA probe benchmarks: one value
// per invocation of eight waves of 2048 invocations on each of 132
// multiprocessors (an H200; other GPUs get more or fewer waves), 4096
// on a CPU driver; and the loop iterations for a GPU or a CPU.
func probeWaves(b *testing.B, d *gpu.Device, gpuIters, cpuIters int) (*gpu.Tensor, int, int) {
	invocations, iters := 8*132*2048, gpuIters
	if d.Info.Class == gpu.ClassCPU {
		invocations, iters = 4096, cpuIters
	}
	y, err := d.NewTensor(dtype.F32, invocations)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(y.Release)
	return y, invocations, iters
}

// BenchmarkFMAPeak times each fmaProbe on workgroups of 128 and 256
// invocations, eight waves of 2048 invocations on each of 132
// multiprocessors (an H200; other GPUs simply get more or fewer waves),
// and reports TFLOP/s (2 per FMA).
//
//	./bin/ops.test -test.run '^$' -test.bench 'BenchmarkFMAPeak' -test.benchtime 1x
func BenchmarkFMAPeak(b *testing.B) {
	d := testDevice(b)
	y, invocations, iters := probeWaves(b, d, 256, 16)
	for _, p := range fmaProbes {
		for _, wg := range []int{128, 256} {
			b.Run(fmt.Sprintf("%s/wg%d", p.name, wg), func(b *testing.B) {
				run, err := fmaPeakRun(d, p, wg, invocations/wg, iters, 0.999, 1e-3, y)
				if err != nil {
					b.Fatal(err)
				}
				reportTFLOPs(b, d, run, 2*float64(invocations)*float64(iters)*fmaSteps*float64(p.accumulators()))
			})
		}
	}
}

// TestFMAPeakProbes runs every probe for a few iterations and checks
// each invocation's output against the same recurrences in float64 on
// the host, so that a probe whose FMAs the compiler dropped or changed
// fails.
func TestFMAPeakProbes(t *testing.T) {
	d := testDevice(t)
	const wg, groups, iters = 64, 4, 3
	const m, c = 0.999, 1e-3
	y, err := d.NewTensor(dtype.F32, wg*groups)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Release()
	for _, p := range fmaProbes {
		t.Run(p.name, func(t *testing.T) {
			run, err := fmaPeakRun(d, p, wg, groups, iters, m, c, y)
			if err != nil {
				t.Fatal(err)
			}
			if err := run(); err != nil {
				t.Fatal(err)
			}
			got, err := y.Float32()
			if err != nil {
				t.Fatal(err)
			}
			for i, g := range got {
				want := fmaProbeWant(p, i, iters, m, c)
				if math.Abs(float64(g)-want) > 1e-5*math.Max(1, math.Abs(want)) {
					t.Fatalf("invocation %d: got %v, want %v", i, g, want)
				}
			}
		})
	}
}

// fmaProbeWant is invocation i's output of probe p in float64, from the
// f32 inputs the kernel forms.
func fmaProbeWant(p fmaProbe, i, iters int, m32, c32 float32) float64 {
	f := float64(float32(i&255) * 1e-6)
	m := float64(m32 + float32(f)*1e-3)
	c := float64(c32 + float32(f))
	sum := 0.0
	if p.tn == 0 {
		n := iters * fmaSteps
		for a := 0; a < p.chains; a++ {
			v := f + float64(a)*0.01
			for k := 0; k < n; k++ {
				v = v*m + c
			}
			sum += v
		}
		return sum
	}
	pa, pb := [4]float64{m, c, f, 0.5}, [4]float64{c, m, 0.25, f}
	for r := 0; r < p.chains; r++ {
		for j := 0; j < p.tn/4; j++ {
			for l := 0; l < 4; l++ {
				v := f
				for s := 0; s < fmaSteps; s++ {
					v += float64(iters) * pa[(r+s)%4] * float64(r/4+1) * pb[(l+s)%4] * float64(j+1)
				}
				sum += v
			}
		}
	}
	return sum
}

// A tile probe is outer TM x TN inside the Blocked matmul's loop
// structure, built up one part at a time, so that its rows show what
// each part of that structure costs against the bare outer probe:
//
//	loop  iters x BK steps in two nested loops, the operands rotated
//	      after every step (as the fma limit probe does)
//	bar   loop with a workgroupBarrier after each BK steps
//	lds   bar with the operands read from workgroup memory at the
//	      Blocked kernel's offsets (TM/4 + TN/4 vec4 per step, tiles
//	      filled once before the loop)
type tileProbe struct {
	part   string
	tm, tn int
}

// tileProbeBK is the K steps per barrier of the tile probes (the shipped
// tile's BK).
const tileProbeBK = 16

var tileProbes = []tileProbe{
	{"loop", 8, 4}, {"bar", 8, 4}, {"lds", 8, 4},
	{"loop", 8, 8}, {"bar", 8, 8}, {"lds", 8, 8},
}

func (p tileProbe) name() string { return fmt.Sprintf("tile-%s%dx%d", p.part, p.tm, p.tn) }

// source returns the probe's WGSL: workgroups of 256 invocations laid
// out 8 x 4 per subgroup as the Blocked kernel's are, and tiles of
// BM = 16*TM rows by BN = 16*TN columns.
func (p tileProbe) source() string {
	bm, bn := 16*p.tm, 16*p.tn
	var b strings.Builder
	fmt.Fprintf(&b, probeBindings+`const BK: u32 = %du;
const ASV: u32 = %du;
const BSV: u32 = %du;
var<workgroup> As: array<vec4<f32>, BK * ASV>;
var<workgroup> Bs: array<vec4<f32>, BK * BSV>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
%s  let g = lid / 32u;
  let l = lid %% 32u;
  let tx = (g %% 2u) * 8u + l %% 8u;
  let ty = (g / 2u) * 4u + l / 8u;
  for (var e = lid; e < BK * ASV; e = e + 256u) { As[e] = vec4<f32>(m, c, f, 0.5) * f32(e %% 7u + 1u); }
  for (var e = lid; e < BK * BSV; e = e + 256u) { Bs[e] = vec4<f32>(c, m, 0.25, f) * f32(e %% 5u + 1u); }
  workgroupBarrier();
`, tileProbeBK, bm/4+1, bn/4+1, probeInputs(256))
	sum := registerBlock(&b, p.tm, p.tn, "var")
	b.WriteString("  for (var t = 0u; t < p.iters; t = t + 1u) {\n    for (var kk = 0u; kk < BK; kk = kk + 1u) {\n")
	if p.part == "lds" {
		for r := 0; r < p.tm/4; r++ {
			fmt.Fprintf(&b, "      pa%d = As[kk * ASV + ty * %du + %du];\n", r, p.tm/4, r)
		}
		for j := 0; j < p.tn/4; j++ {
			fmt.Fprintf(&b, "      pb%d = Bs[kk * BSV + tx * %du + %du];\n", j, p.tn/4, j)
		}
	}
	for r := 0; r < p.tm; r++ {
		for j := 0; j < p.tn/4; j++ {
			b.WriteString("      " + blockFMA(r, j, 0) + "\n")
		}
	}
	if p.part != "lds" {
		for r := 0; r < p.tm/4; r++ {
			fmt.Fprintf(&b, "      pa%[1]d = pa%[1]d.yzwx;\n", r)
		}
		for j := 0; j < p.tn/4; j++ {
			fmt.Fprintf(&b, "      pb%[1]d = pb%[1]d.wxyz;\n", j)
		}
	}
	b.WriteString("    }\n")
	if p.part != "loop" {
		b.WriteString("    workgroupBarrier();\n")
	}
	b.WriteString("  }\n  y[i] = " + strings.Join(sum, " + ") + ";\n}\n")
	return b.String()
}

// BenchmarkFMATile times each tileProbe as BenchmarkFMAPeak times its
// probes (TFLOP/s at 2 per FMA).
//
//	./bin/ops.test -test.run '^$' -test.bench 'BenchmarkFMATile' -test.benchtime 1x
func BenchmarkFMATile(b *testing.B) {
	d := testDevice(b)
	y, invocations, iters := probeWaves(b, d, 64, 2)
	for _, p := range tileProbes {
		b.Run(p.name(), func(b *testing.B) {
			run, err := tileProbeRun(d, p, invocations/256, iters, y)
			if err != nil {
				b.Fatal(err)
			}
			reportTFLOPs(b, d, run, 2*float64(invocations)*float64(iters)*tileProbeBK*float64(p.tm*p.tn))
		})
	}
}

// tileProbeRun compiles p and returns a Measure callback of one dispatch.
func tileProbeRun(d *gpu.Device, p tileProbe, groups, iters int, y *gpu.Tensor) (func() error, error) {
	return rawProbeRun(d, "fmapeak/"+p.name(), p.source(), groups, iters, 0.999, 1e-3, y)
}

// TestFMATileProbes runs each tile probe for one step of BK and checks
// that every output is finite and that the loop's products were kept:
// outputs differ between iteration counts 1 and 2.
func TestFMATileProbes(t *testing.T) {
	d := testDevice(t)
	y, err := d.NewTensor(dtype.F32, 512)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Release()
	for _, p := range tileProbes {
		t.Run(p.name(), func(t *testing.T) {
			var outs [2][]float32
			for it := range outs {
				run, err := tileProbeRun(d, p, 2, it+1, y)
				if err != nil {
					t.Fatal(err)
				}
				if err := run(); err != nil {
					t.Fatal(err)
				}
				if outs[it], err = y.Float32(); err != nil {
					t.Fatal(err)
				}
			}
			for i := range outs[0] {
				a, b := float64(outs[0][i]), float64(outs[1][i])
				if math.IsNaN(a) || math.IsInf(a, 0) || math.IsNaN(b) || math.IsInf(b, 0) || a == b {
					t.Fatalf("invocation %d: %v after one iteration, %v after two", i, a, b)
				}
			}
		})
	}
}
