package ops

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/launch"
)

// matrixPlans are the tensor-core launches the tests and the benchmark
// try beside launch.ChooseW8A8's: for each i8 configuration the device
// lists, one subgroup per workgroup with RM x RN tiles, and SMY x SNX
// subgroups sharing staged operands (RM, RN, SMY, SNX, KS), where n and
// k tile into them.
func matrixPlans(d *gpu.Device, n, k int) []launch.W8A8 {
	var out []launch.W8A8
	wg := int(d.Features.SubgroupMaxSize)
	for _, s := range d.Features.SubgroupMatrixI8 {
		for _, r := range [][2]int{{1, 1}, {2, 2}, {2, 4}, {4, 2}, {4, 4}} {
			out = append(out, launch.W8A8{Matrix: true, Shape: s, RM: r[0], RN: r[1], WG: wg})
		}
		for _, r := range [][2]int{{1, 1}, {2, 4}} {
			out = append(out, launch.W8A8{Matrix: true, Shape: s, RM: r[0], RN: r[1], WG: wg, WT: true})
		}
		for _, r := range [][5]int{{2, 2, 2, 2, 1}, {2, 4, 2, 2, 1}, {2, 4, 2, 2, 2}, {4, 2, 2, 2, 1}, {2, 2, 4, 2, 2}} {
			f := d.Features
			if f.Subgroups && f.SubgroupMinSize == f.SubgroupMaxSize && wg*r[2]*r[3] <= int(d.Limits.MaxInvocations) {
				out = append(out, launch.W8A8{Matrix: true, Shape: s, RM: r[0], RN: r[1], WG: wg, Staged: true, SMY: r[2], SNX: r[3], KS: r[4]})
			}
		}
	}
	fit := out[:0]
	for _, p := range out {
		if p.Fits(n, k) {
			fit = append(fit, p)
		}
	}
	return fit
}

// planName names a tensor-core launch: configuration, tiles per
// subgroup and, when staged, subgroups per workgroup and slice depth.
func planName(p launch.W8A8) string {
	name := fmt.Sprintf("M%dN%dK%d-%dx%d", p.Shape.M, p.Shape.N, p.Shape.K, p.RM, p.RN)
	if p.Staged {
		name += fmt.Sprintf("-staged%dx%d-ks%d", p.SMY, p.SNX, p.KS)
	}
	if p.WT {
		name += "-wT"
	}
	return name
}

// TestLinearW8A8MatrixPlans checks every tensor-core launch against
// ops/ref at a size with many tile blocks and a ragged M. It needs a
// device listing i8 subgroup-matrix configurations (Dawn on NVIDIA,
// through web/testrunner); elsewhere it checks that none is chosen.
func TestLinearW8A8MatrixPlans(t *testing.T) {
	d := testDevice(t)
	m, n, k := 200, 256, 512
	plans := matrixPlans(d, n, k)
	if len(d.Features.SubgroupMatrixI8) == 0 {
		if p := launch.ChooseW8A8(d, m, n, k); p.Matrix {
			t.Fatalf("no i8 configs, yet the tensor-core launch %+v", p)
		}
		t.Skip("the device lists no i8 subgroup-matrix configurations: the plain kernel runs (TestLinearW8A8MatchesReference)")
	}
	gputest.Guard(t, d)
	rng := rand.New(rand.NewSource(200))
	x, wq, ws, b, rx, rq, rs, rb := w8a8Case(t, d, rng, dtype.BF16, []int{m, k}, n, true)
	want, prod := w8a8Want(t, rx, rq, rs, rb)
	for _, p := range plans {
		t.Run(planName(p), func(t *testing.T) {
			y, err := runW8A8Plan(&w8a8Spec{op: "LinearW8A8", x: x, wq: wq, ws: ws, b: b}, p)
			if err != nil {
				t.Fatalf("%+v: %v", p, err)
			}
			expectW8A8(t, y, want, want, prod, w8a8Tol{dt: dtype.BF16})
			y.Release()
		})
	}
}

// BenchmarkW8A8 times the int8 GEMM at 4096³ (the tensor-core GEMM alone
// for every RM x RN plan, and the whole LinearW8A8 with each variant),
// then LinearW8A8 at the DiT block's linears (sweepShapes) with each
// variant beside the bf16 Linear the launch policy picks, in TOP/s (two
// operations per multiply-add). At those shapes the picked plan's GEMM
// alone and the activation quantiser alone (quantize/..., read its
// gpu-ns) are timed too, so the whole op splits into its steps. On the H200 through node + Dawn
// (bench/device.sh w8a8):
//
//	GOOS=js GOARCH=wasm go test -c -o bin/ops_js.test ./ops
//	web/testrunner/go_js_wasm_exec bin/ops_js.test -test.run '^$' -test.bench BenchmarkW8A8 -test.benchtime 1x
func BenchmarkW8A8(b *testing.B) {
	d := testDevice(b)
	cube := mnk{4096, 4096, 4096}
	if d.Info.Class == gpu.ClassCPU {
		cube = mnk{128, 128, 128}
	}
	report := func(b *testing.B, s mnk, run func() error) {
		tm, _, err := d.Measure(3, 3, run)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(tm.Nanoseconds()), "gpu-ns")
		b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)/tm.Seconds()/1e12, "TOP/s")
	}
	b.Logf("subgroup-matrix i8 configs %v, max subgroup size %d", d.Features.SubgroupMatrixI8, d.Features.SubgroupMaxSize)
	for i, s := range append([]mnk{cube}, sweepShapes(d)[1:]...) {
		x := randomDevice(b, d, dtype.BF16, s.m, s.k)
		w := randomDevice(b, d, dtype.BF16, s.n, s.k)
		wq, ws, err := QuantizeInt8(w)
		if err != nil {
			b.Fatal(err)
		}
		plansHere := matrixPlans(d, s.n, s.k)
		if i > 0 {
			// Past 4096³ only the plan the policy picks, and the
			// activation quantiser alone, so that the whole op's rows
			// below split into quantise + GEMM + epilogue.
			plansHere = nil
			if p := launch.ChooseW8A8(d, s.m, s.n, s.k); p.Matrix {
				plansHere = []launch.W8A8{p}
				b.Run(fmt.Sprintf("quantize/%v", s), func(b *testing.B) {
					report(b, mnk{s.m, 1, s.k}, func() error {
						xq, sx, err := quantizeInt8Rows("bench", x, s.m, p.PadRows(s.m))
						if err == nil {
							xq.Release()
							sx.Release()
						}
						return err
					})
				})
			}
		}
		for _, p := range plansHere {
			xq, sx, err := quantizeInt8Rows("bench", x, s.m, p.PadRows(s.m))
			if err != nil {
				b.Fatal(err)
			}
			wm := wq
			if p.WT {
				if wm, err = transposeCodes(wq); err != nil {
					b.Fatal(err)
				}
			}
			b.Run(fmt.Sprintf("gemm/%v/%s", s, planName(p)), func(b *testing.B) {
				report(b, s, released(func() (*gpu.Tensor, error) { return gemmInt8Matrix(xq, wm, p.PadRows(s.m), s.n, s.k, p) }))
			})
			if p.WT {
				wm.Release()
			}
			xq.Release()
			sx.Release()
		}
		plans := map[string]launch.W8A8{"plain": {}}
		if p := launch.ChooseW8A8(d, s.m, s.n, s.k); p.Matrix {
			plans["matrix"] = p
		}
		for _, name := range []string{"matrix", "plain"} {
			p, ok := plans[name]
			if !ok || (name == "plain" && i > 0 && d.Info.Class != gpu.ClassCPU) {
				continue // the plain kernel is slow: timed at 4096³ only
			}
			b.Run(fmt.Sprintf("linear/%v/%s", s, name), func(b *testing.B) {
				report(b, s, released(func() (*gpu.Tensor, error) { return runW8A8Plan(&w8a8Spec{op: "LinearW8A8", x: x, wq: wq, ws: ws}, p) }))
			})
		}
		sp := &matmulSpec{op: "Linear", x: x, w: w}
		if err := sp.validate(); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("linear/%v/bf16", s), func(b *testing.B) {
			report(b, s, matmulRun(sp, sp.tile()))
		})
		for _, t := range []*gpu.Tensor{x, w, wq, ws} {
			t.Release()
		}
	}
}
