package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops"
)

// maxShapeElems bounds the element count a --shape may ask for, before
// any device is consulted: far above what any device binds, far below
// where int arithmetic overflows.
const maxShapeElems = 1 << 40

// parseShape reads a comma-separated list of positive dimensions whose
// product stays at or below maxShapeElems.
func parseShape(s string) ([]int, error) {
	var out []int
	n := 1
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("bad shape %q: want positive integers separated by commas", s)
		}
		if v > maxShapeElems/n {
			return nil, fmt.Errorf("shape %q has more than %d elements", s, int64(maxShapeElems))
		}
		n *= v
		out = append(out, v)
	}
	return out, nil
}

// parseDTypes reads a comma-separated list of float storage dtypes.
func parseDTypes(s string) ([]dtype.DType, error) {
	var out []dtype.DType
	for _, n := range strings.Split(s, ",") {
		dt, err := dtype.Parse(strings.TrimSpace(n))
		if err != nil || (dt != dtype.F32 && dt != dtype.F16 && dt != dtype.BF16) {
			return nil, fmt.Errorf("--dtypes: %q is not f32, f16 or bf16", n)
		}
		out = append(out, dt)
	}
	return out, nil
}

// fitsBinding checks that a tensor of n elements of dt fits one binding
// of d, so that no host memory is spent on one the device must refuse.
func fitsBinding(d *gpu.Device, what string, n int, dt dtype.DType) error {
	if b := uint64(n) * uint64(dt.Size()); b > d.Limits.MaxBindingSize {
		return fmt.Errorf("%s in %v is %d bytes, over the device's largest binding (%d bytes)", what, dt, b, d.Limits.MaxBindingSize)
	}
	return nil
}

// bench runs `webfuser bench` or, with "block" or "graph" first,
// `webfuser bench block` or `webfuser bench graph`.
func bench(args []string) error { return benchTo(os.Stdout, args) }

// benchOptions are the memory-bound bench's flags.
type benchOptions struct {
	shape         []int
	dtypes        []dtype.DType
	cases         []benchCase
	trials, reps  int
	matmul        int
	checked       bool
	warmup        time.Duration
	jsonPath      string
	svgPath, peak string
	torch         []*benchReport
}

func benchTo(w io.Writer, args []string) error {
	if len(args) > 0 && args[0] == "block" {
		return benchBlock(w, args[1:])
	}
	if len(args) > 0 && args[0] == "graph" {
		return benchGraph(w, args[1:])
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	shapeFlag := fs.String("shape", "8,4096,3072", "x shape B,L,C")
	dtypes := fs.String("dtypes", "f32,bf16", "storage dtypes (f32, f16, bf16)")
	checked := fs.Bool("checked", false, "also time every kernel with naga's runtime checks on (a second device)")
	trials := fs.Int("trials", 7, "timed trials (median reported)")
	reps := fs.Int("reps", 10, "calls per trial")
	only := fs.String("only", "", "comma-separated kernel names to run (default all): "+strings.Join(benchCaseNames(), ", "))
	matmul := fs.Int("matmul", 4096, "also time a linear layer of this size (M=N=K), 0 to skip")
	warmup := fs.Duration("warmup", warmCap, "most time the warm-up may spend waiting for a stable copy")
	jsonPath := fs.String("json", "", "also write the results as JSON to this file")
	svgPath := fs.String("svg", "", "also draw a roofline of the results as SVG into this file")
	peak := fs.Float64("peak", 67e12, "FP32 peak FLOP/s drawn on the roofline (67e12: an H200)")
	torch := fs.String("torch", "", "comma-separated JSON files written by bench/torch_baseline.py --json, shown beside the kernels")
	if err := fs.Parse(args); err != nil {
		if errHelp(err) {
			return nil
		}
		return fmt.Errorf("bench: %v", err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("bench: unexpected arguments %v", fs.Args())
	}
	o := benchOptions{trials: *trials, reps: *reps, matmul: *matmul, checked: *checked, warmup: *warmup,
		jsonPath: *jsonPath, svgPath: *svgPath}
	var err error
	if o.shape, err = parseShape(*shapeFlag); err != nil {
		return fmt.Errorf("bench: --shape: %v", err)
	}
	if len(o.shape) != 3 {
		return fmt.Errorf("bench: --shape must be B,L,C, not %q", *shapeFlag)
	}
	if *trials < 1 || *reps < 1 {
		return fmt.Errorf("bench: --trials and --reps must be at least 1 (have %d and %d)", *trials, *reps)
	}
	if *matmul < 0 || *matmul > 1<<16 {
		return fmt.Errorf("bench: --matmul must be between 0 and 65536, not %d", *matmul)
	}
	if *warmup < 0 {
		return fmt.Errorf("bench: --warmup must not be negative")
	}
	if !(*peak > 0) {
		return fmt.Errorf("bench: --peak must be a positive FLOP/s figure")
	}
	if o.dtypes, err = parseDTypes(*dtypes); err != nil {
		return fmt.Errorf("bench: %v", err)
	}
	if o.cases, err = selectCases(*only); err != nil {
		return err
	}
	if o.torch, err = readReports(*torch); err != nil {
		return err
	}
	return runBench(w, o, *peak, args)
}

// runBench times the selected kernels on each device and dtype and
// writes the table, and the JSON and SVG when asked.
func runBench(w io.Writer, o benchOptions, peak float64, args []string) error {
	devs := []struct {
		label string
		opt   gpu.Options
	}{{"trusted", gpu.Options{}}}
	if o.checked {
		devs = append(devs, struct {
			label string
			opt   gpu.Options
		}{"checked", gpu.Options{Checked: true}})
	}
	var report *benchReport
	torchRows := allRows(o.torch)
	for di, dv := range devs {
		d, err := gpu.Open(dv.opt)
		if err != nil {
			return err
		}
		applyTuning(d, os.Stderr)
		if di == 0 {
			report = newReport("webfuser bench", d.String(), append([]string{"bench"}, args...))
			fmt.Fprintf(w, "device: %s, GPU timestamps: %v, %s\n", d, d.Features.Timestamps, report.Date)
			fmt.Fprintf(w, "shape %v, median of %d trials x %d calls. Each trial times a copy of the same tensor right before the kernel;\n", o.shape, o.trials, o.reps)
			fmt.Fprintf(w, "vs copy is the median of the per-trial ratios, copy GB/s the median copy of those trials. A trial whose copy\n")
			fmt.Fprintf(w, "is below %.1fx the best copy seen is run again (at most %d times).\n\n", retryFloor, maxRetries)
		}
		for _, dt := range o.dtypes {
			rows, warm, notes, err := benchDType(d, dv.label, dt, o)
			if err != nil {
				return err
			}
			report.Warmup = append(report.Warmup, warm)
			fmt.Fprintf(w, "%v, %s modules: %v\n\n", dt, dv.label, warm)
			printBenchRows(w, rows, torchRows)
			for _, n := range notes {
				fmt.Fprintln(w, n)
			}
			fmt.Fprintln(w)
			report.Rows = append(report.Rows, rows...)
			d.TrimPool()
		}
	}
	if o.jsonPath != "" {
		if err := report.writeJSON(o.jsonPath); err != nil {
			return err
		}
	}
	if o.svgPath != "" {
		copyBW := 0.0
		for _, r := range report.Rows {
			if r.Name == "copy" && r.Mode == "trusted" {
				copyBW = max(copyBW, r.Bytes/r.Seconds)
			}
		}
		rows := append(append([]benchResult(nil), report.Rows...), torchRows...)
		chart := roofline{Title: fmt.Sprintf("WebFuser kernels, %v, %s", o.shape, report.Device), CopyBW: copyBW, Peak: peak, Points: rooflinePoints(rows)}
		if err := chart.writeFile(o.svgPath); err != nil {
			return err
		}
	}
	return nil
}

// printBenchRows writes one dtype's rows, with the PyTorch rows of the
// same kernel, dtype and shape beside them.
func printBenchRows(w io.Writer, rows, torch []benchResult) {
	fmt.Fprintln(w, "| kernel | dtype | modules | GPU time | wall time | GB/s (GPU) | copy GB/s | vs copy | repeats | PyTorch, same shape |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		rate := fmtGBs(r.Bytes / r.Seconds)
		ratio := fmt.Sprintf("%.2fx", r.VsCopy)
		if r.Name != "copy" && r.FLOPs > 0 && r.VsCopy == 0 {
			rate, ratio = fmtRate(r.FLOPs, r.Seconds), ""
		}
		repeats := fmt.Sprint(r.Repeats)
		if r.LowTrials > 0 {
			repeats += fmt.Sprintf(" (%d still low)", r.LowTrials)
		}
		var pt []string
		for _, t := range torch {
			if (t.Kernel == r.Name || t.Name == r.Name) && t.DType == r.DType && fmt.Sprint(t.Shape) == fmt.Sprint(r.Shape) && t.Seconds > 0 {
				if r.VsCopy == 0 && t.FLOPs > 0 {
					pt = append(pt, fmt.Sprintf("%s %s", t.Name, fmtRate(t.FLOPs, t.Seconds)))
				} else {
					pt = append(pt, fmt.Sprintf("%s %s GB/s", t.Name, fmtGBs(t.Bytes/t.Seconds)))
				}
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Name, r.DType, r.Mode,
			fmtDur(r.Seconds), fmtDur(r.WallSeconds), rate, fmtGBs(r.CopyGBs*1e9), ratio, repeats, strings.Join(pt, "; "))
	}
}

// measurer times calls on d: each timing is one MeasureBoth submission
// of reps calls, its GPU time (the wall time without timestamps), with
// the wall time kept for the row.
type measurer struct {
	d        *gpu.Device
	lastWall time.Duration
}

// timing returns a harness timing function for run, reps calls a trial.
func (m *measurer) timing(run func() error, reps int) timingFunc {
	return func() (time.Duration, error) {
		tm, err := m.d.MeasureBoth(1, reps, run)
		if err != nil {
			return 0, err
		}
		m.lastWall = tm.Wall
		if tm.GPU == 0 {
			return tm.Wall, nil
		}
		return tm.GPU, nil
	}
}

// series collects one row's trials.
type series struct {
	times, walls []time.Duration
	copies       []float64 // bytes/s
	ratios       []float64
	repeats, low int
}

func (s *series) add(r trialResult, wall time.Duration, ratio float64) {
	s.times = append(s.times, r.Kernel)
	s.walls = append(s.walls, wall)
	s.copies = append(s.copies, r.CopyBW)
	s.ratios = append(s.ratios, ratio)
	s.repeats += r.Repeats
	if r.Low {
		s.low++
	}
}

// result turns the trials into a row (the medians of each figure).
func (s *series) result(name string, dt dtype.DType, mode string, shape []int, bytes, flops float64, withRatio bool) benchResult {
	r := benchResult{Source: "webfuser", Name: name, DType: dt.String(), Mode: mode, Shape: shape,
		Seconds: medianDuration(s.times).Seconds(), WallSeconds: medianDuration(s.walls).Seconds(),
		Bytes: bytes, FLOPs: flops, CopyGBs: medianFloat(s.copies) / 1e9, Repeats: s.repeats, LowTrials: s.low}
	if withRatio {
		r.VsCopy = medianFloat(s.ratios)
	}
	return r
}

// benchDType times every selected case for one dtype. Each trial times
// the copy and then the kernel back to back, so that a change in the
// GPU's clocks or load during the run moves both figures of a ratio
// together, and the harness repeats trials whose copy was low.
func benchDType(d *gpu.Device, mode string, dt dtype.DType, o benchOptions) ([]benchResult, warmReport, []string, error) {
	e := &caseEnv{d: d, dt: dt, shape: o.shape}
	defer e.release()
	if err := fitsBinding(d, fmt.Sprintf("bench: --shape %v", o.shape), e.numel(), dt); err != nil {
		return nil, warmReport{}, nil, err
	}
	type prepared struct {
		name string
		call benchCall
	}
	var cases []prepared
	var notes []string
	for i, bc := range o.cases {
		call, err := bc.setup(e)
		if err != nil {
			if i == 0 {
				return nil, warmReport{}, nil, fmt.Errorf("bench: %s %v: %v", bc.name, dt, err)
			}
			notes = append(notes, fmt.Sprintf("skipped %s %v: %v", bc.name, dt, err))
			continue
		}
		cases = append(cases, prepared{bc.name, call})
	}
	mc, m := &measurer{d: d}, &measurer{d: d} // the copy's, and the kernels'
	h := newHarness(mc.timing(cases[0].call.run, o.reps), int64(cases[0].call.bytes), o.warmup).forDevice(d)
	warm, err := h.warmUp()
	if err != nil {
		return nil, warm, nil, fmt.Errorf("bench: copy %v: %v", dt, err)
	}
	runs := make([]series, len(cases))
	for t := 0; t < o.trials; t++ {
		for i := 1; i < len(cases); i++ {
			r, err := h.trial(m.timing(cases[i].call.run, o.reps))
			if err != nil {
				return nil, warm, nil, fmt.Errorf("bench: %s %v: %v", cases[i].name, dt, err)
			}
			runs[i].add(r, m.lastWall, cases[i].call.bytes/r.Kernel.Seconds()/r.CopyBW)
			runs[0].add(trialResult{Kernel: r.Copy, CopyBW: r.CopyBW}, mc.lastWall, 1)
		}
		if len(cases) == 1 { // the copy alone
			r, err := h.trial(m.timing(cases[0].call.run, o.reps))
			if err != nil {
				return nil, warm, nil, fmt.Errorf("bench: copy %v: %v", dt, err)
			}
			runs[0].add(r, m.lastWall, 1)
		}
	}
	rows := make([]benchResult, len(cases))
	for i, c := range cases {
		rows[i] = runs[i].result(c.name, dt, mode, o.shape, c.call.bytes, c.call.flops, true)
	}
	if o.matmul > 0 {
		row, err := benchMatmul(e, h, m, o, mode)
		if err != nil {
			return nil, warm, nil, err
		}
		rows = append(rows, row)
	}
	return rows, warm, notes, nil
}

// benchMatmul times y = x @ wᵀ + b with M = N = K = o.matmul, a copy
// next to each trial.
func benchMatmul(e *caseEnv, h *harness, m *measurer, o benchOptions, mode string) (benchResult, error) {
	n := o.matmul
	name := fmt.Sprintf("linear %dx%dx%d", n, n, n)
	if err := fitsBinding(e.d, "bench: --matmul "+strconv.Itoa(n), n*n, e.dt); err != nil {
		return benchResult{}, err
	}
	x, err := e.random(n, n)
	if err != nil {
		return benchResult{}, err
	}
	wt, err := e.random(n, n)
	if err != nil {
		return benchResult{}, err
	}
	b, err := e.random(n)
	if err != nil {
		return benchResult{}, err
	}
	run := releasing(func() (*gpu.Tensor, error) { return ops.LinearForward(x, wt, b) })
	var s series
	for t := 0; t < o.trials; t++ {
		r, err := h.trial(m.timing(run, max(1, o.reps/5)))
		if err != nil {
			return benchResult{}, fmt.Errorf("bench: %s %v: %v", name, e.dt, err)
		}
		s.add(r, m.lastWall, 0)
	}
	size := float64(e.dt.Size())
	return s.result(name, e.dt, mode, []int{n, n, n}, (3*float64(n)*float64(n)+float64(n))*size, 2*float64(n)*float64(n)*float64(n), false), nil
}

func medianDuration(ts []time.Duration) time.Duration {
	if len(ts) == 0 {
		return 0
	}
	ts = append([]time.Duration(nil), ts...)
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts[len(ts)/2]
}

func medianFloat(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = append([]float64(nil), v...)
	sort.Float64s(v)
	return v[len(v)/2]
}

// errHelp reports whether err is the flag package's answer to -h.
func errHelp(err error) bool { return errors.Is(err, flag.ErrHelp) }
