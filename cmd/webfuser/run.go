package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand"
	"time"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/golden"
	"github.com/webfuser/webfuser/models/dit"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

// runBlock builds a DiT block with random weights, runs it on the GPU,
// checks it against the CPU reference and prints the error and the time.
// It reports false when the output is outside the spec's tolerance.
func runBlock(args []string) (bool, error) {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	dim := fs.Int("dim", 256, "hidden size D")
	heads := fs.Int("heads", 4, "attention heads (D/heads a multiple of 4, at most 256)")
	seq := fs.Int("seq", 64, "sequence length S")
	batch := fs.Int("batch", 2, "batch size B")
	dtName := fs.String("dtype", "f32", "storage dtype: f32, f16 or bf16")
	ratio := fs.Float64("mlp-ratio", dit.DefaultMLPRatio, "feed-forward inner width over D")
	act := fs.String("activation", dit.DefaultActivationFn, "feed-forward kind: gelu, gelu-approximate, geglu, geglu-approximate, swiglu, linear-silu")
	seed := fs.Int64("seed", 1, "seed of the random weights and inputs")
	trials := fs.Int("trials", 5, "timed submissions (the median is printed)")
	reps := fs.Int("reps", 3, "blocks per timed submission")
	check := fs.String("check", "auto", "compare with the float64 CPU reference: full (every row), sample (--check-rows rows, exact, "+
		"for the cost of their batch's K and V projections), none; auto is full up to 2e9 reference multiply-adds, else sample")
	checkRows := fs.Int("check-rows", 8, "rows --check sample compares: the first, the last and evenly spaced ones")
	fs.Parse(args)
	if fs.NArg() != 0 {
		return false, fmt.Errorf("run: unexpected arguments %v", fs.Args())
	}
	dt, err := dtype.Parse(*dtName)
	if err != nil || (dt != dtype.F32 && dt != dtype.F16 && dt != dtype.BF16) {
		return false, fmt.Errorf("run: --dtype must be f32, f16 or bf16, not %q", *dtName)
	}
	if *batch <= 0 || *seq <= 0 || *trials <= 0 || *reps <= 0 {
		return false, fmt.Errorf("run: --batch, --seq, --trials and --reps must be positive")
	}
	if *checkRows <= 0 {
		return false, fmt.Errorf("run: --check-rows must be positive, not %d", *checkRows)
	}
	cfg := dit.Config{Dim: *dim, NumHeads: *heads, MLPRatio: *ratio, ActivationFn: *act, Eps: dit.DefaultEps}
	if err := checkRunSizes(cfg, *batch, *seq, *check); err != nil {
		return false, err
	}
	mode := *check
	switch mode {
	case "full", "sample", "none":
	case "auto":
		mode = "sample"
		if refMACs(cfg, *batch, *seq) <= autoFullMACs {
			mode = "full"
		}
	default:
		return false, fmt.Errorf("run: --check must be full, sample, none or auto, not %q", *check)
	}
	rng := rand.New(rand.NewSource(*seed))
	wr, err := dit.RandomWeights(cfg, dt, rng)
	if err != nil {
		return false, err
	}
	xr, cr := dit.RandomInputs(cfg, dt, *batch, *seq, rng)

	d, err := openDevice()
	if err != nil {
		return false, err
	}
	fmt.Printf("device: %s\n", d)
	w, err := dit.UploadWeights(d, wr)
	if err != nil {
		return false, err
	}
	defer dit.ReleaseWeights(w)
	x, err := ops.Upload(d, xr)
	if err != nil {
		return false, err
	}
	defer x.Release()
	cond, err := ops.Upload(d, cr)
	if err != nil {
		return false, err
	}
	defer cond.Release()
	b, err := dit.New(cfg, w)
	if err != nil {
		return false, err
	}
	inner, _ := cfg.InnerDim()
	fmt.Printf("block: x %v[%d,%d,%d], heads %d, mlp %s inner %d, %.2f MB of weights\n",
		dt, *batch, *seq, *dim, *heads, b.Config.ActivationFn, inner, float64(weightBytes(b))/1e6)

	y, err := b.Forward(x, cond)
	if err != nil {
		return false, err
	}
	got, err := ops.Download(y)
	y.Release()
	if err != nil {
		return false, err
	}
	start := time.Now()
	var maxAbs, maxRel float64
	ok, what := true, ""
	switch mode {
	case "full":
		want, err := golden.DiTReference(cfg, xr, cr, wr)
		if err != nil {
			return false, err
		}
		maxAbs, maxRel, ok = compareTol(got, want)
		what = "every row"
	case "sample":
		rows := sampleRows(*batch**seq, *checkRows)
		want, err := referenceRows(cfg, xr, cr, wr, rows)
		if err != nil {
			return false, err
		}
		maxAbs, maxRel, ok = compareTol(pickRows(got, rows), want)
		what = fmt.Sprintf("%d sampled rows (flat b*S+s: %v)", len(rows), rows)
	}
	cpuTime := time.Since(start)

	t, timed, err := d.Measure(*trials, *reps, func() error {
		y, err := b.Forward(x, cond)
		y.Release()
		return err
	})
	if err != nil {
		return false, err
	}
	clock := "GPU timestamps"
	if !timed {
		clock = "wall clock, no timestamp queries"
	}
	status := "PASS"
	if !ok {
		status = "FAIL"
	}
	if mode == "none" {
		fmt.Printf("check: none (--check none): the output was not compared\n")
	} else {
		fmt.Printf("check (%s): %s, max abs error %.3g, max rel error %.3g vs the float64 reference: %s\n", mode, what, maxAbs, maxRel, status)
	}
	fmt.Printf("gpu: %v per block (%s, median of %d x %d)\n", t, clock, *trials, *reps)
	if mode != "none" {
		fmt.Printf("cpu reference: %v\n", cpuTime)
	}
	return ok, nil
}

// autoFullMACs is the reference cost up to which --check auto checks
// every row: a few seconds of float64 on one core.
const autoFullMACs = 2e9

// pickRows returns the given flat rows of t [..., D] as [len(rows), D].
func pickRows(t *ref.Tensor, rows []int) *ref.Tensor {
	d := t.Shape[len(t.Shape)-1]
	y := ref.New(t.DType, len(rows), d)
	for i, r := range rows {
		copy(y.Data[i*d:(i+1)*d], t.Data[r*d:(r+1)*d])
	}
	return y
}

// compareTol compares got with want under the spec's dit_block
// tolerance for want's dtype (2e-3 for f32, 1e-2 for f16, 3e-2 for bf16).
func compareTol(got, want *ref.Tensor) (maxAbs, maxRel float64, ok bool) {
	tol := dtype.DefaultTolerance(want.DType, true)
	if got.Numel() != want.Numel() {
		return math.Inf(1), math.Inf(1), false
	}
	ok = true
	for i := range want.Data {
		d := math.Abs(got.Data[i] - want.Data[i])
		maxAbs = math.Max(maxAbs, d)
		if want.Data[i] != 0 {
			maxRel = math.Max(maxRel, d/math.Abs(want.Data[i]))
		}
		if !tol.Within(got.Data[i], want.Data[i]) {
			ok = false
		}
	}
	return maxAbs, maxRel, ok
}

// weightBytes returns the device bytes of a block's weights.
func weightBytes(b *dit.Block) uint64 {
	var n uint64
	for _, t := range b.Parameters() {
		n += t.ByteSize()
	}
	return n
}
