package main

import (
	"flag"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops"
)

// benchCase is one kernel to time: setup allocates its inputs and returns
// the call to time and the bytes it moves per call.
type benchCase struct {
	name  string
	setup func(d *gpu.Device, dt dtype.DType, shape []int) (run func() error, bytes int64, err error)
}

// benchCases lists the memory-bound kernels, each next to the copy.
var benchCases = []benchCase{
	{"copy", func(d *gpu.Device, dt dtype.DType, shape []int) (func() error, int64, error) {
		x, err := randomTensor(d, dt, shape...)
		return releasing(func() (*gpu.Tensor, error) { return ops.Copy(x) }), 2 * bytesOf(x), err
	}},
	{"rms_norm", func(d *gpu.Device, dt dtype.DType, shape []int) (func() error, int64, error) {
		x, err := randomTensor(d, dt, shape...)
		w, _ := randomTensor(d, dt, shape[len(shape)-1])
		return releasing(func() (*gpu.Tensor, error) { return ops.RMSNormForward(x, w, nil, ops.RMSNormEps) }), 2 * bytesOf(x), err
	}},
	{"layer_norm", func(d *gpu.Device, dt dtype.DType, shape []int) (func() error, int64, error) {
		x, err := randomTensor(d, dt, shape...)
		w, _ := randomTensor(d, dt, shape[len(shape)-1])
		b, _ := randomTensor(d, dt, shape[len(shape)-1])
		return releasing(func() (*gpu.Tensor, error) { return ops.LayerNormForward(x, w, b, ops.LayerNormEps) }), 2 * bytesOf(x), err
	}},
	{"modulate [B,C]", func(d *gpu.Device, dt dtype.DType, shape []int) (func() error, int64, error) {
		x, err := randomTensor(d, dt, shape...)
		sc, _ := randomTensor(d, dt, shape[0], shape[len(shape)-1])
		sh, _ := randomTensor(d, dt, shape[0], shape[len(shape)-1])
		return releasing(func() (*gpu.Tensor, error) { return ops.Modulate(x, sh, sc) }), 2 * bytesOf(x), err
	}},
	{"modulate [B,L,C]", func(d *gpu.Device, dt dtype.DType, shape []int) (func() error, int64, error) {
		x, err := randomTensor(d, dt, shape...)
		sc, _ := randomTensor(d, dt, shape...)
		sh, _ := randomTensor(d, dt, shape...)
		return releasing(func() (*gpu.Tensor, error) { return ops.Modulate(x, sh, sc) }), 4 * bytesOf(x), err
	}},
	{"rms_norm+modulate", func(d *gpu.Device, dt dtype.DType, shape []int) (func() error, int64, error) {
		x, err := randomTensor(d, dt, shape...)
		w, _ := randomTensor(d, dt, shape[len(shape)-1])
		sc, _ := randomTensor(d, dt, shape[0], shape[len(shape)-1])
		sh, _ := randomTensor(d, dt, shape[0], shape[len(shape)-1])
		return releasing(func() (*gpu.Tensor, error) {
			return ops.NormModulate(ops.KindRMSNorm, x, w, nil, 1e-6, ops.ModulateArgs{Scale: sc, Shift: sh, Constant: 1})
		}), 2 * bytesOf(x), err
	}},
}

func bytesOf(t *gpu.Tensor) int64 { return int64(t.Numel() * t.DType.Size()) }

// releasing turns an op call into a timed closure that frees its output.
func releasing(f func() (*gpu.Tensor, error)) func() error {
	return func() error {
		y, err := f()
		if err != nil {
			return err
		}
		y.Release()
		return nil
	}
}

func randomTensor(d *gpu.Device, dt dtype.DType, shape ...int) (*gpu.Tensor, error) {
	rng := rand.New(rand.NewSource(1))
	v := make([]float32, gpu.Numel(shape))
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return d.Upload(dt, shape, v)
}

func parseShape(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad shape %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func bench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	shapeFlag := fs.String("shape", "8,4096,3072", "x shape [B,L,C]")
	dtypes := fs.String("dtypes", "f32,bf16", "storage dtypes")
	checked := fs.Bool("checked", false, "also time every kernel with naga's runtime checks on (a second device)")
	trials := fs.Int("trials", 7, "timed trials (median reported)")
	reps := fs.Int("reps", 10, "calls per trial")
	only := fs.String("only", "", "comma-separated kernel names to run (default all)")
	matmul := fs.Int("matmul", 4096, "also time a linear layer of this size (M=N=K), 0 to skip")
	fs.Parse(args)
	shape, err := parseShape(*shapeFlag)
	if err != nil {
		return err
	}
	if len(shape) != 3 {
		return fmt.Errorf("bench: --shape must be B,L,C")
	}
	devs := []struct {
		label string
		opt   gpu.Options
	}{{"trusted", gpu.Options{}}}
	if *checked {
		devs = append(devs, struct {
			label string
			opt   gpu.Options
		}{"checked", gpu.Options{Checked: true}})
	}
	header := false
	for _, dv := range devs {
		d, err := gpu.Open(dv.opt)
		if err != nil {
			return err
		}
		if !header {
			fmt.Printf("device: %s, GPU timestamps: %v\nshape %v, median of %d trials x %d calls; vs copy is the median of per-trial ratios to the copy timed just before\n\n", d, d.Features.Timestamps, shape, *trials, *reps)
			fmt.Println("| kernel | dtype | modules | GPU time | wall time | GB/s (GPU) | vs copy |")
			fmt.Println("|---|---|---|---|---|---|---|")
			header = true
		}
		for _, dn := range strings.Split(*dtypes, ",") {
			dt, err := dtype.Parse(dn)
			if err != nil {
				return err
			}
			rows, err := benchDType(d, dt, shape, *only, *trials, *reps)
			if err != nil {
				return err
			}
			for _, r := range rows {
				fmt.Printf("| %s | %v | %s | %v | %v | %.0f | %.2fx |\n", r.name, dt, dv.label,
					r.gpu.Round(time.Microsecond/10), r.wall.Round(time.Microsecond/10), float64(r.bytes)/r.gpu.Seconds()/1e9, r.ratio)
			}
			d.TrimPool()
			if *matmul > 0 {
				if err := benchMatmul(d, dt, *matmul, dv.label, *trials, *reps); err != nil {
					return err
				}
				d.TrimPool()
			}
		}
	}
	return nil
}

// benchRow is one kernel's result: median GPU and wall time per call,
// bytes moved per call, and the median over trials of its bandwidth
// divided by the copy's bandwidth measured right before it.
type benchRow struct {
	name      string
	gpu, wall time.Duration
	bytes     int64
	ratio     float64
}

// benchDType times every selected case for one dtype. Each trial times the
// copy and then the kernel back to back, so a change in the GPU's clocks
// or load during the run moves both figures of a ratio together.
func benchDType(d *gpu.Device, dt dtype.DType, shape []int, only string, trials, reps int) ([]benchRow, error) {
	type prepared struct {
		name  string
		run   func() error
		bytes int64
	}
	var cases []prepared
	for _, bc := range benchCases {
		if only != "" && bc.name != "copy" && !strings.Contains(","+only+",", ","+bc.name+",") {
			continue
		}
		run, bytes, err := bc.setup(d, dt, shape)
		if err != nil {
			return nil, fmt.Errorf("%s %v: %v", bc.name, dt, err)
		}
		cases = append(cases, prepared{bc.name, run, bytes})
	}
	gpuT := make([][]time.Duration, len(cases))
	wallT := make([][]time.Duration, len(cases))
	ratios := make([][]float64, len(cases))
	measure := func(i int) (float64, error) {
		tm, err := d.MeasureBoth(1, reps, cases[i].run)
		if err != nil {
			return 0, fmt.Errorf("%s %v: %v", cases[i].name, dt, err)
		}
		if tm.GPU == 0 {
			tm.GPU = tm.Wall
		}
		gpuT[i] = append(gpuT[i], tm.GPU)
		wallT[i] = append(wallT[i], tm.Wall)
		return float64(cases[i].bytes) / tm.GPU.Seconds(), nil
	}
	for t := 0; t < trials; t++ {
		for i := 1; i < len(cases); i++ {
			copyBW, err := measure(0)
			if err != nil {
				return nil, err
			}
			bw, err := measure(i)
			if err != nil {
				return nil, err
			}
			ratios[0] = append(ratios[0], 1)
			ratios[i] = append(ratios[i], bw/copyBW)
		}
	}
	rows := make([]benchRow, len(cases))
	for i, c := range cases {
		sort.Float64s(ratios[i])
		rows[i] = benchRow{c.name, medianDuration(gpuT[i]), medianDuration(wallT[i]), c.bytes, ratios[i][len(ratios[i])/2]}
	}
	return rows, nil
}

func medianDuration(ts []time.Duration) time.Duration {
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts[len(ts)/2]
}

// benchMatmul times y = x @ wᵀ + b with M = N = K = n and prints TFLOP/s.
func benchMatmul(d *gpu.Device, dt dtype.DType, n int, label string, trials, reps int) error {
	x, err := randomTensor(d, dt, n, n)
	if err != nil {
		return err
	}
	w, _ := randomTensor(d, dt, n, n)
	b, _ := randomTensor(d, dt, n)
	tm, err := d.MeasureBoth(trials, max(1, reps/5), releasing(func() (*gpu.Tensor, error) { return ops.LinearForward(x, w, b) }))
	if err != nil {
		return fmt.Errorf("linear %v: %v", dt, err)
	}
	t := tm.GPU
	if t == 0 {
		t = tm.Wall
	}
	rate := 2 * float64(n) * float64(n) * float64(n) / t.Seconds()
	unit := "TFLOP/s"
	if rate < 1e12 {
		rate, unit = rate/1e9, "GFLOP/s"
	} else {
		rate /= 1e12
	}
	fmt.Printf("| linear %dx%dx%d | %v | %s | %v | %v | %.1f %s | |\n", n, n, n, dt, label,
		t.Round(time.Microsecond), tm.Wall.Round(time.Microsecond), rate, unit)
	return nil
}
