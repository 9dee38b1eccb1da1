package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"time"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/models/dit"
	"github.com/webfuser/webfuser/ops"
)

// blockSize is one DiT block configuration to time.
type blockSize struct {
	Name                    string
	Dim, Heads, Seq, Batch  int
	MLPRatio                float64
	inner, inRows, headSize int // filled by resolve
}

// blockPresets are the sizes --size names. dit is the block issue 14
// measured (D=3072, 24 heads, 4096 tokens, MLP 4xD); wan is Wan 2.x 14B's
// width, heads and FFN width (13824, a ratio of 2.7) at 8192 tokens;
// small runs in seconds on a CPU driver.
var blockPresets = []blockSize{
	{Name: "small", Dim: 256, Heads: 4, Seq: 256, Batch: 1, MLPRatio: 4},
	{Name: "dit", Dim: 3072, Heads: 24, Seq: 4096, Batch: 1, MLPRatio: 4},
	{Name: "wan", Dim: 5120, Heads: 40, Seq: 8192, Batch: 1, MLPRatio: 2.7},
}

// String names the size as the JSON rows and the PyTorch twin do.
func (s blockSize) String() string {
	return fmt.Sprintf("D=%d H=%d S=%d B=%d I=%d", s.Dim, s.Heads, s.Seq, s.Batch, s.inner)
}

// config returns the block's dit.Config with the given activation.
func (s blockSize) config(act string) dit.Config {
	return dit.Config{Dim: s.Dim, NumHeads: s.Heads, MLPRatio: s.MLPRatio, ActivationFn: act, Eps: dit.DefaultEps}
}

// resolve checks the size and fills its derived widths. The element
// counts of the largest tensors are checked against maxShapeElems, so no
// arithmetic below can overflow.
func (s blockSize) resolve(act string) (blockSize, error) {
	if s.Dim <= 0 || s.Heads <= 0 || s.Seq <= 0 || s.Batch <= 0 {
		return s, fmt.Errorf("bench block: %s: dim, heads, seq and batch must be positive", s.Name)
	}
	shapes, err := s.config(act).WeightShapes()
	if err != nil {
		return s, fmt.Errorf("bench block: %s: %v", s.Name, err)
	}
	s.inRows, s.inner, s.headSize = shapes["ffn.proj_in.weight"][0], shapes["ffn.proj_out.weight"][1], s.Dim/s.Heads
	for _, t := range []struct {
		what string
		dims []int
	}{
		{"qkv", []int{s.Batch, s.Seq, 3, s.Dim}},
		{"the ffn's inner activation", []int{s.Batch, s.Seq, s.inRows}},
		{"ffn.proj_in.weight", []int{s.inRows, s.Dim}},
		{"adaln.weight", []int{6, s.Dim, s.Dim}},
	} {
		if !boundedProduct(t.dims...) {
			return s, fmt.Errorf("bench block: %s (D=%d H=%d S=%d B=%d): %s %v is too large (over %d elements)",
				s.Name, s.Dim, s.Heads, s.Seq, s.Batch, t.what, t.dims, int64(maxShapeElems))
		}
	}
	return s, nil
}

// boundedProduct reports whether positive dims multiply to at most
// maxShapeElems, without overflowing on the way.
func boundedProduct(dims ...int) bool {
	n := 1
	for _, v := range dims {
		if v <= 0 || v > maxShapeElems/n {
			return false
		}
		n *= v
	}
	return true
}

// flops returns the FLOPs of the block's linears and of its attention.
func (s blockSize) flops() (matmul, attention float64) {
	B, S, D := float64(s.Batch), float64(s.Seq), float64(s.Dim)
	M := B * S
	matmul = 2*B*D*6*D + 2*M*(D*3*D+D*D+D*float64(s.inRows)+float64(s.inner)*D)
	attention = 4 * B * S * S * D // q kᵀ and p v, every head
	return matmul, attention
}

// blockOptions are `webfuser bench block`'s flags.
type blockOptions struct {
	sizes               []blockSize
	dtypes              []dtype.DType
	activation          string
	trials, reps, profs int
	warmup              time.Duration
	copyMB              int
	seed                int64
	jsonPath, svgPath   string
	peak                float64
	torch               []*benchReport
}

// benchBlock parses `webfuser bench block`'s flags and runs it.
func benchBlock(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("bench block", flag.ContinueOnError)
	size := fs.String("size", "dit,wan", "comma-separated presets: small (D=256 H=4 S=256), dit (D=3072 H=24 S=4096), wan (D=5120 H=40 S=8192, FFN 13824)")
	dim := fs.Int("dim", 0, "hidden size D (overrides the presets; alone, it starts from small)")
	heads := fs.Int("heads", 0, "attention heads (overrides the presets)")
	seq := fs.Int("seq", 0, "sequence length S (overrides the presets)")
	batch := fs.Int("batch", 0, "batch size B (overrides the presets' 1)")
	ratio := fs.Float64("mlp-ratio", 0, "feed-forward width over D (overrides the presets' 4, or 2.7 for wan)")
	act := fs.String("activation", dit.DefaultActivationFn, "feed-forward kind: gelu, gelu-approximate, geglu, geglu-approximate, swiglu, linear-silu")
	dtypes := fs.String("dtypes", "f32,bf16", "storage dtypes (f32, f16, bf16)")
	trials := fs.Int("trials", 5, "timed trials per block (median reported)")
	reps := fs.Int("reps", 2, "blocks per timed submission")
	profs := fs.Int("profile-runs", 3, "profiled blocks (per-dispatch median) for the breakdown")
	warmup := fs.Duration("warmup", warmCap, "most time a warm-up may spend waiting for a stable copy")
	copyMB := fs.Int("copy-mb", 256, "size of the copy timed beside each trial, MB (capped by the device's largest binding)")
	seed := fs.Int64("seed", 1, "seed of the random weights and inputs")
	jsonPath := fs.String("json", "", "also write the results as JSON to this file")
	svgPath := fs.String("svg", "", "also draw a roofline (blocks, their matmuls and attention) as SVG into this file")
	peak := fs.Float64("peak", 67e12, "FP32 peak FLOP/s drawn on the roofline (67e12: an H200)")
	torch := fs.String("torch", "", "comma-separated JSON files written by bench/dit_block_torch.py --json, shown beside the blocks")
	if err := fs.Parse(args); err != nil {
		if errHelp(err) {
			return nil
		}
		return fmt.Errorf("bench block: %v", err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("bench block: unexpected arguments %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o := blockOptions{activation: *act, trials: *trials, reps: *reps, profs: *profs, warmup: *warmup,
		copyMB: *copyMB, seed: *seed, jsonPath: *jsonPath, svgPath: *svgPath, peak: *peak}
	custom := set["dim"] || set["heads"] || set["seq"] || set["batch"] || set["mlp-ratio"]
	names := *size
	if custom && !set["size"] {
		names = "small"
	}
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		var s blockSize
		for _, p := range blockPresets {
			if p.Name == n {
				s = p
			}
		}
		if s.Name == "" {
			return fmt.Errorf("bench block: --size: no preset %q (have small, dit, wan)", n)
		}
		if custom {
			s.Name = "custom"
		}
		for _, ov := range []struct {
			flag string
			dst  *int
			v    int
		}{{"dim", &s.Dim, *dim}, {"heads", &s.Heads, *heads}, {"seq", &s.Seq, *seq}, {"batch", &s.Batch, *batch}} {
			if set[ov.flag] {
				if ov.v <= 0 {
					return fmt.Errorf("bench block: --%s must be positive, not %d", ov.flag, ov.v)
				}
				*ov.dst = ov.v
			}
		}
		if set["mlp-ratio"] {
			s.MLPRatio = *ratio
		}
		r, err := s.resolve(*act)
		if err != nil {
			return err
		}
		o.sizes = append(o.sizes, r)
	}
	if *trials < 1 || *reps < 1 || *profs < 1 {
		return fmt.Errorf("bench block: --trials, --reps and --profile-runs must be at least 1 (have %d, %d, %d)", *trials, *reps, *profs)
	}
	if *copyMB < 1 || *copyMB > 1<<20 {
		return fmt.Errorf("bench block: --copy-mb must be between 1 and 1048576, not %d", *copyMB)
	}
	if *warmup < 0 {
		return fmt.Errorf("bench block: --warmup must not be negative")
	}
	if !(*peak > 0) {
		return fmt.Errorf("bench block: --peak must be a positive FLOP/s figure")
	}
	var err error
	if o.dtypes, err = parseDTypes(*dtypes); err != nil {
		return fmt.Errorf("bench block: %v", err)
	}
	if o.torch, err = readReports(*torch); err != nil {
		return err
	}
	return runBlockBench(w, o, args)
}

// openBlockDevice opens the device bench block runs on (a test swaps it).
var openBlockDevice = openDevice

// runBlockBench times every size and dtype on the default device.
func runBlockBench(w io.Writer, o blockOptions, args []string) error {
	d, err := openBlockDevice()
	if err != nil {
		return err
	}
	report := newReport("webfuser bench block", d.String(), append([]string{"bench", "block"}, args...))
	clock := "GPU timestamps"
	if !d.Features.Timestamps {
		clock = "wall clock (no timestamp queries: no per-dispatch breakdown)"
	}
	fmt.Fprintf(w, "device: %s, %s, %s\n", d, clock, report.Date)
	fmt.Fprintf(w, "DiT block (models/dit, random weights, activation %s): median of %d trials x %d blocks, a copy timed before each trial;\n", o.activation, o.trials, o.reps)
	fmt.Fprintf(w, "a trial whose copy is below %.1fx the best copy seen is run again (at most %d times).\n\n", retryFloor, maxRetries)

	// The copy beside every trial: one f32 tensor, big enough to reach
	// the device's bandwidth, kept for the whole run.
	elems := min(uint64(o.copyMB)<<20, d.Limits.MaxBindingSize) / 16 * 4
	ct, err := d.Upload(dtype.F32, []int{int(elems)}, randomValues(int(elems)))
	if err != nil {
		return fmt.Errorf("bench block: copy tensor: %v", err)
	}
	defer ct.Release()
	m := &measurer{d: d}
	h := newHarness(m.timing(releasing(func() (*gpu.Tensor, error) { return ops.Copy(ct) }), 1), int64(8*elems), o.warmup).forDevice(d)

	var svgRows []benchResult
	for _, s := range o.sizes {
		for _, dt := range o.dtypes {
			row, warm, err := benchBlockOne(w, d, h, m, s, dt, o)
			if err != nil {
				return err
			}
			report.Warmup = append(report.Warmup, warm)
			report.Rows = append(report.Rows, row)
			svgRows = append(svgRows, row)
			for _, b := range row.Breakdown {
				if b.FLOPs > 0 {
					svgRows = append(svgRows, benchResult{Source: "webfuser", Name: b.Kernel + " in block", Size: row.Size, DType: row.DType,
						Seconds: b.Seconds, Bytes: b.Bytes, FLOPs: b.FLOPs})
				}
			}
			d.TrimPool()
		}
	}
	torchRows := allRows(o.torch)
	printBlockSummary(w, report.Rows, torchRows)
	if o.jsonPath != "" {
		if err := report.writeJSON(o.jsonPath); err != nil {
			return err
		}
	}
	if o.svgPath != "" {
		chart := roofline{Title: "DiT block, " + report.Device, CopyBW: h.best, Peak: o.peak,
			Points: rooflinePoints(append(svgRows, torchRows...))}
		if err := chart.writeFile(o.svgPath); err != nil {
			return err
		}
	}
	return nil
}

// benchBlockOne builds one block, warms up, times it next to the copy
// and profiles it.
func benchBlockOne(w io.Writer, d *gpu.Device, h *harness, m *measurer, s blockSize, dt dtype.DType, o blockOptions) (benchResult, warmReport, error) {
	fail := func(err error) (benchResult, warmReport, error) {
		return benchResult{}, warmReport{}, fmt.Errorf("bench block: %s %v: %v", s, dt, err)
	}
	rows := s.Batch * s.Seq
	for _, t := range []struct {
		what string
		n    int
	}{{"qkv [B*S,3D]", rows * 3 * s.Dim}, {"ffn inner [B*S,R]", rows * s.inRows}, {"ffn.proj_in.weight", s.inRows * s.Dim}} {
		if err := fitsBinding(d, t.what, t.n, dt); err != nil {
			return fail(err)
		}
	}
	cfg := s.config(o.activation)
	start := time.Now()
	rng := rand.New(rand.NewSource(o.seed))
	wr, err := dit.RandomWeights(cfg, dt, rng)
	if err != nil {
		return fail(err)
	}
	xr, cr := dit.RandomInputs(cfg, dt, s.Batch, s.Seq, rng)
	wt, err := dit.UploadWeights(d, wr)
	if err != nil {
		return fail(err)
	}
	defer dit.ReleaseWeights(wt)
	x, err := ops.Upload(d, xr)
	if err != nil {
		return fail(err)
	}
	defer x.Release()
	cond, err := ops.Upload(d, cr)
	if err != nil {
		return fail(err)
	}
	defer cond.Release()
	b, err := dit.New(cfg, wt)
	if err != nil {
		return fail(err)
	}
	forward := func() error {
		y, err := b.Forward(x, cond)
		if err != nil {
			return err
		}
		y.Release()
		return nil
	}
	if err := forward(); err != nil { // compiles the pipelines
		return fail(err)
	}
	if err := d.Sync(); err != nil {
		return fail(err)
	}
	setup := time.Since(start)

	warm, err := h.warmUp()
	if err != nil {
		return fail(err)
	}
	var ser series
	for t := 0; t < o.trials; t++ {
		r, err := h.trial(m.timing(forward, o.reps))
		if err != nil {
			return fail(err)
		}
		ser.add(r, m.lastWall, 0)
	}
	mm, at := s.flops()
	var wbytes float64
	for _, t := range b.Parameters() {
		wbytes += float64(t.ByteSize())
	}
	row := ser.result("dit_block", dt, "", nil, wbytes+2*float64(x.ByteSize())+float64(cond.ByteSize()), mm+at, false)
	row.Size = s.String()

	fmt.Fprintf(w, "### %s (%s), %v\n\n", s, s.Name, dt)
	fmt.Fprintf(w, "%v; weights and inputs made and uploaded, pipelines compiled, in %v\n", warm, setup.Round(time.Millisecond))
	fmt.Fprintf(w, "block: %s per block, %s (matmul %.3g + attention %.3g FLOP), copy beside it %.0f GB/s, repeated trials: %d",
		fmtDur(row.Seconds), fmtRate(row.FLOPs, row.Seconds), mm, at, row.CopyGBs, row.Repeats)
	if row.LowTrials > 0 {
		fmt.Fprintf(w, ", %d with the copy still low", row.LowTrials)
	}
	fmt.Fprintln(w)

	if !d.Features.Timestamps {
		fmt.Fprintf(w, "per-operator breakdown unavailable: the device has no timestamp queries (the time above is wall clock)\n\n")
		row.Note = "no timestamp queries: wall clock, no breakdown"
		return row, warm, nil
	}
	var runs [][]gpu.DispatchTime
	for i := 0; i < o.profs; i++ {
		var prof []gpu.DispatchTime
		_, err := h.trial(func() (time.Duration, error) {
			var err error
			prof, err = d.Profile(forward)
			var sum time.Duration
			for _, p := range prof {
				sum += p.Duration
			}
			return sum, err
		})
		if err != nil {
			return fail(err)
		}
		runs = append(runs, prof)
	}
	bd, total, notes := breakdown(medianProfile(runs), map[string]float64{classMatmul: mm, classAttention: at})
	row.Breakdown = bd
	fmt.Fprintf(w, "breakdown (median of %d profiled blocks, each dispatch in its own timestamped pass): %.3f ms in %d dispatches, %.2fx the batched block time\n\n",
		len(runs), total*1e3, len(runs[0]), total/row.Seconds)
	printBreakdown(w, bd)
	for _, n := range notes {
		fmt.Fprintln(w, "note:", n)
	}
	fmt.Fprintln(w)
	return row, warm, nil
}

// printBlockSummary writes one table of the blocks, and the PyTorch rows
// of the same sizes with the ratio of their time to ours.
func printBlockSummary(w io.Writer, rows, torch []benchResult) {
	fmt.Fprintln(w, "## Summary")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| size | dtype | time per block | FLOP/s | copy GB/s beside it | repeated trials |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %.2f ms | %s | %.0f | %d |\n", r.Size, r.DType, r.Seconds*1e3, fmtRate(r.FLOPs, r.Seconds), r.CopyGBs, r.Repeats)
	}
	fmt.Fprintln(w)
	var lines []string
	for _, t := range torch {
		for _, r := range rows {
			if t.Size == r.Size && t.DType == r.DType && t.Seconds > 0 && r.Seconds > 0 {
				lines = append(lines, fmt.Sprintf("| %s | %s %s | %.2f ms | %.2f ms | %.2fx |", t.Size, t.Name, t.Mode, t.Seconds*1e3, r.Seconds*1e3, t.Seconds/r.Seconds))
			}
		}
	}
	if len(lines) > 0 {
		fmt.Fprintln(w, "PyTorch (from --torch), beside WebFuser with the same storage dtype; ratio = PyTorch time / WebFuser time (above 1: WebFuser is faster):")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| size | PyTorch | PyTorch time | WebFuser time | ratio |")
		fmt.Fprintln(w, "|---|---|---|---|---|")
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		fmt.Fprintln(w)
	}
}
