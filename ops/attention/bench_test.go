package attention

import (
	"fmt"
	"math/rand"
	"os"
	"testing"
	"time"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/launch"
)

// benchInputs uploads random q, k, v of [1,S,H,D].
func benchInputs(b *testing.B, d *gpu.Device, dt dtype.DType, S, H, D int) (q, k, v *gpu.Tensor) {
	rng := rand.New(rand.NewSource(1))
	q = upload(b, d, randTensor(rng, dt, []int{1, S, H, D}, 1))
	k = upload(b, d, randTensor(rng, dt, []int{1, S, H, D}, 1))
	v = upload(b, d, randTensor(rng, dt, []int{1, S, H, D}, 1))
	return
}

// BenchmarkBlockSparse times block-sparse attention at 10%, 50% and 100%
// block density (S=1024, H=2, D=64, blocks of 128; small enough for
// lavapipe): the time should fall roughly with the density, since dead
// blocks are skipped.
func BenchmarkBlockSparse(b *testing.B) {
	d := testDevice(b)
	const S, H, D, bs = 1024, 2, 64, 128
	q, k, v := benchInputs(b, d, dtype.F32, S, H, D)
	n := S / bs
	for _, density := range []float64{0.1, 0.5, 1} {
		b.Run(fmt.Sprintf("density%.0f%%", density*100), func(b *testing.B) {
			rng := rand.New(rand.NewSource(2))
			data := make([]uint8, H*n*n)
			live := int(density*float64(len(data)) + 0.5)
			for _, i := range rng.Perm(len(data))[:live] {
				data[i] = 1
			}
			m, err := NewBlockMask([]int{H, n, n}, bs, bs, data)
			if err != nil {
				b.Fatal(err)
			}
			var outs []*gpu.Tensor
			dur, gpuTimed, err := d.Measure(3, 2, func() error {
				o, err := BlockSparse(q, k, v, m, Options{})
				outs = append(outs, o)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			for _, o := range outs {
				o.Release()
			}
			flops := 4 * float64(S) * float64(S) * float64(H) * float64(D) * m.Density()
			b.ReportMetric(float64(dur.Microseconds())/1000, "ms/op")
			b.ReportMetric(flops/dur.Seconds()/1e9, "GFLOP/s")
			b.Logf("density %.2f: %v per call (gpu timestamps %v)", m.Density(), dur, gpuTimed)
		})
	}
}

// BenchmarkAttention times dense attention at S=4096, D=128, H=24 in f32
// and f16 with the planner's kernel and with the row kernel (subgroup
// variant where the device has subgroups, else portable), and prints
// TFLOP/s. It is for the NVIDIA machine: it runs only when
// WEBFUSER_BENCH_ATTENTION=1.
func BenchmarkAttention(b *testing.B) {
	if os.Getenv("WEBFUSER_BENCH_ATTENTION") != "1" {
		b.Skip("set WEBFUSER_BENCH_ATTENTION=1 (meant for a real GPU: S=4096 D=128 H=24)")
	}
	d := testDevice(b)
	const S, H, D = 4096, 24, 128
	for _, dt := range []dtype.DType{dtype.F32, dtype.F16} {
		for _, kern := range []string{"planner", "rows"} {
			b.Run(fmt.Sprintf("%v/%s", dt, kern), func(b *testing.B) {
				q, k, v := benchInputs(b, d, dt, S, H, D)
				defer q.Release()
				defer k.Release()
				defer v.Release()
				var outs []*gpu.Tensor
				dur, gpuTimed, err := d.Measure(5, 3, func() error {
					l := &call{op: "Attention", q: q, k: k, v: v, rows: kern == "rows"}
					o, err := l.run()
					outs = append(outs, o)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				for _, o := range outs {
					o.Release()
				}
				tflops := 4 * float64(S) * float64(S) * H * D / dur.Seconds() / 1e12
				b.ReportMetric(tflops, "TFLOP/s")
				fmt.Printf("attention S=%d H=%d D=%d %v %s on %v: %v, %.2f TFLOP/s (gpu timestamps %v)\n",
					S, H, D, dt, kern, d, dur, tflops, gpuTimed)
			})
		}
	}
}

// sweepCase is one problem of BenchmarkAttentionSweep.
type sweepCase struct {
	name      string
	s, h, hk  int
	causal    bool
	dt        dtype.DType
	allTiles  bool // every candidate, else the planner's choice only
	variants  bool // the first three candidates and launch.AttentionVariants
	rowKernel bool // also the row kernel, as the baseline
}

// BenchmarkAttentionSweep times every tiled candidate (launch.AttentionTiles)
// at S=4096, H=24, D=128 in f32 and bf16, dense, causal and with grouped
// heads (Hk=8), the row kernel beside them, and the planner's choice at
// S=16384, reporting TFLOP/s from GPU timestamps (causal counts only the
// visible query-key pairs). The full sweep is for a real GPU and runs
// with WEBFUSER_BENCH_ATTENTION=1 (about 1 to 2 minutes on an H200); on
// a CPU driver a tiny case runs instead, so that the sweep is exercised.
//
// WEBFUSER_BENCH_ATTENTION=variants times the first three rows of
// launch.AttentionTiles (the shipped choice and two 8x4 blocks) against
// launch.AttentionVariants instead, at S=4096, H=24, D=128, dense,
// causal and grouped, in f32 and bf16 (about 1 minute on an H200). In
// f32, Late changes nothing, so a variant that differs from another only
// by Late runs once, without it.
func BenchmarkAttentionSweep(b *testing.B) {
	d := testDevice(b)
	const D = 128
	var cases []sweepCase
	tiny := d.Info.Class == gpu.ClassCPU
	switch {
	case tiny:
		cases = []sweepCase{{name: "tiny", s: 128, h: 2, hk: 1, causal: true, dt: dtype.BF16, allTiles: true, rowKernel: true},
			{name: "tiny", s: 128, h: 2, hk: 1, dt: dtype.F32, variants: true}}
	case os.Getenv("WEBFUSER_BENCH_ATTENTION") == "variants":
		for _, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
			cases = append(cases,
				sweepCase{name: "dense", s: 4096, h: 24, hk: 24, dt: dt, variants: true},
				sweepCase{name: "causal", s: 4096, h: 24, hk: 24, causal: true, dt: dt, variants: true},
				sweepCase{name: "gqa", s: 4096, h: 24, hk: 8, dt: dt, variants: true},
			)
		}
	case os.Getenv("WEBFUSER_BENCH_ATTENTION") != "1":
		b.Skip("set WEBFUSER_BENCH_ATTENTION=1 (meant for a real GPU: S=4096 and 16384, D=128, H=24)")
	default:
		for _, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
			cases = append(cases,
				sweepCase{name: "dense", s: 4096, h: 24, hk: 24, dt: dt, allTiles: true, rowKernel: true},
				sweepCase{name: "causal", s: 4096, h: 24, hk: 24, causal: true, dt: dt, allTiles: true},
				sweepCase{name: "gqa", s: 4096, h: 24, hk: 8, dt: dt, allTiles: true},
				sweepCase{name: "dense", s: 16384, h: 24, hk: 24, dt: dt},
				sweepCase{name: "causal", s: 16384, h: 24, hk: 24, causal: true, dt: dt},
			)
		}
	}
	// Random tensors are made once per dtype and shape (S=16384 takes
	// seconds on the host) and kept while the next case uses them.
	type key struct {
		dt    dtype.DType
		s, h  int
		which int
	}
	held := map[key]*gpu.Tensor{}
	input := func(dt dtype.DType, s, h, which int) *gpu.Tensor {
		k := key{dt, s, h, which}
		if t, ok := held[k]; ok {
			return t
		}
		rng := rand.New(rand.NewSource(int64(which + 1)))
		t := upload(b, d, randTensor(rng, dt, []int{1, s, h, D}, 1))
		held[k] = t
		return t
	}
	for ci, c := range cases {
		q, k, v := input(c.dt, c.s, c.h, 0), input(c.dt, c.s, c.hk, 1), input(c.dt, c.s, c.hk, 2)
		if ci == 0 && !tiny {
			// Clocks up before the first figure: two seconds of the
			// planner's kernel.
			for start := time.Now(); time.Since(start) < 2*time.Second; {
				o, err := (&call{op: "Attention", q: q, k: k, v: v}).run()
				if err != nil {
					b.Fatal(err)
				}
				if err := d.Sync(); err != nil {
					b.Fatal(err)
				}
				o.Release()
			}
		}
		type run struct {
			name string
			set  func(l *call)
		}
		runs := []run{{"planner", func(*call) {}}}
		if c.allTiles {
			runs = nil
			for _, cfg := range launch.AttentionTiles {
				cfg := cfg
				if cfg.Fits(d.Limits, D) {
					runs = append(runs, run{cfg.String(), func(l *call) { l.tile = &cfg }})
				}
			}
		}
		if c.variants {
			runs = nil
			seen := map[string]bool{}
			for _, cfg := range append(append([]launch.AttentionTile{}, launch.AttentionTiles[:3]...), launch.AttentionVariants...) {
				cfg := cfg
				if c.dt.Size() == 4 {
					cfg.Late = false
				}
				if cfg.Fits(d.Limits, D) && !seen[cfg.String()] {
					seen[cfg.String()] = true
					runs = append(runs, run{cfg.String(), func(l *call) { l.tile = &cfg }})
				}
			}
		}
		if c.rowKernel {
			runs = append(runs, run{"rows", func(l *call) { l.rows = true }})
		}
		pairs := float64(c.s) * float64(c.s)
		if c.causal {
			pairs = float64(c.s) * float64(c.s+1) / 2
		}
		flops := 4 * pairs * float64(c.h) * D
		for _, r := range runs {
			name := fmt.Sprintf("%v/%s/S%d/H%d_Hk%d/%s", c.dt, c.name, c.s, c.h, c.hk, r.name)
			b.Run(name, func(b *testing.B) {
				reportAttention(b, d, "sweep "+name, flops, func() (*gpu.Tensor, error) {
					l := &call{op: "Attention", q: q, k: k, v: v, causal: c.causal}
					r.set(l)
					return l.run()
				})
			})
		}
		for hk, t := range held {
			if ci+1 == len(cases) || cases[ci+1].dt != hk.dt || cases[ci+1].s != hk.s {
				t.Release()
				delete(held, hk)
			}
		}
	}
}

// reportAttention times run (three warm-up calls, three timed ones),
// releases its outputs and reports TFLOP/s of flops and ms per call, with
// a line naming what and whether GPU timestamps timed it.
func reportAttention(b *testing.B, d *gpu.Device, what string, flops float64, run func() (*gpu.Tensor, error)) {
	var outs []*gpu.Tensor
	dur, gpuTimed, err := d.Measure(3, 3, func() error {
		o, err := run()
		outs = append(outs, o)
		return err
	})
	release(outs)
	if err != nil {
		b.Fatal(err)
	}
	tflops := flops / dur.Seconds() / 1e12
	b.ReportMetric(tflops, "TFLOP/s")
	b.ReportMetric(float64(dur.Microseconds())/1000, "ms/op")
	fmt.Printf("%s on %v: %v, %.2f TFLOP/s (gpu timestamps %v)\n", what, d, dur, tflops, gpuTimed)
}
