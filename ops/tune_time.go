package ops

import (
	"slices"
	"time"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// Timing one tile for Tune: its calls in order over the weight copies,
// the repeats a submission holds, and the clock gauge around each timing.

// tuneKernels declares the product of every weight copy with tile t,
// each writing one output (so that the calls run in order, as a model's
// layers do); release releases that output.
func tuneKernels(d *Device, set *tuneSet, t launch.Tile) (ks []*kernel.Kernel, release func(), err error) {
	for _, s := range set.specs {
		ks = append(ks, s.kernel(t))
	}
	y, err := ks[0].RunOne(d)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range ks {
		k.Reuse([]*gpu.Tensor{y})
	}
	return ks, y.Release, nil
}

// inTurn returns a call that runs the next of ks, in a ring, and
// releases the outputs it returns: what a timing records, one product
// a call.
func inTurn(d *Device, ks []*kernel.Kernel) func() error {
	next := 0
	return func() error {
		k := ks[next]
		next = (next + 1) % len(ks)
		outs, err := k.Run(d)
		for _, y := range outs {
			y.Release()
		}
		return err
	}
}

// tuneMeasure is Device.Measure for the candidates' timings (a test
// counts the submissions through it).
var tuneMeasure = (*Device).Measure

// tuneReps returns the calls a timed submission holds, enough for 4 ms
// of GPU work (at most 1024; one on a CPU driver, whose calls are long),
// and the time per call of its last trial submission. Small runs take
// one call and no trial (a quick look).
func tuneReps(d *Device, run func() error, small bool) (int, time.Duration, error) {
	if small {
		return 1, 0, nil
	}
	reps := 1
	for {
		tm, _, err := tuneMeasure(d, 1, reps, run)
		if err != nil || time.Duration(reps)*tm >= 4*time.Millisecond || reps >= 1024 || d.Info.Class == gpu.ClassCPU {
			return reps, tm, err
		}
		reps *= 2
	}
}

// tuneTime returns tile t's median time per call over the weight
// copies, between two timings of the gauge's copy (the first warms the
// GPU up again where it has cooled; a timing whose second copy is cold
// runs again, twice at most). A tile whose first trial submission takes
// longer than bound a call (bound > 0) cannot win: that time is returned
// as it is, which keeps slow candidates from dominating a slow GPU's run.
func tuneTime(d *Device, set *tuneSet, t launch.Tile, small bool, g *tuneGauge, bound time.Duration) (time.Duration, error) {
	ks, release, err := tuneKernels(d, set, t)
	if err != nil {
		return 0, err
	}
	defer release()
	run := inTurn(d, ks)
	reps, first, err := tuneReps(d, run, small)
	if err != nil || (bound > 0 && first > bound) {
		return first, err
	}
	trials := 5
	if small || d.Info.Class == gpu.ClassCPU {
		trials = 3
	}
	for try := 0; ; try++ {
		cold, err := g.cold()
		if err != nil {
			return 0, err
		}
		if cold {
			if err := g.warm(200 * time.Millisecond); err != nil {
				return 0, err
			}
		}
		tm, _, err := tuneMeasure(d, trials, reps, run)
		if err != nil {
			return 0, err
		}
		if cold, err = g.cold(); err != nil || !cold || try == 2 {
			return tm, err
		}
	}
}

// tuneGauge keeps the GPU at its working clocks while Tune times. A
// GPU left idle drops its clocks within a second, and a GEMV call of ten
// microseconds, recorded by the host one submission at a time, does not
// raise them: in the first multi-shape run on the H200 the default
// tiles, timed first after each upload of weights, were timed at up to
// 3x their warm time while the tiles after them ran warm
// (bench/results/2026-11-29-h200-s11-tune2.md). So a copy of 256 MiB,
// submitted in batches of 4 ms, warms the GPU before each shape and is
// timed before and after every candidate: a timing whose copy after it
// falls below 0.9x the best copy runs again (twice at most).
type tuneGauge struct {
	d     *Device
	x     *gpu.Tensor
	bytes float64 // moved per copy, read and written
	best  float64 // bytes/s
}

// newTuneGauge returns the gauge, or nil on CPU drivers and small runs,
// which have no idle clocks to outlast or need no stable figures.
func newTuneGauge(d *Device, small bool) (*tuneGauge, error) {
	if small || d.Info.Class == gpu.ClassCPU {
		return nil, nil
	}
	n := min(32<<20, int(min(d.Limits.MaxBindingSize, d.Limits.MaxBufferSize)/4)) &^ 3 // 128 MiB where it fits
	x, err := d.NewTensor(F32, n)
	if err != nil {
		return nil, err
	}
	return &tuneGauge{d: d, x: x, bytes: float64(8 * n)}, nil
}

func (g *tuneGauge) release() {
	if g != nil {
		g.x.Release()
	}
}

// bw runs 64 copies (about 4 ms on the H200) in one timed submission and
// returns their bandwidth, keeping the best seen.
func (g *tuneGauge) bw() (float64, error) {
	tm, _, err := g.d.Measure(1, 64, func() error {
		y, err := Copy(g.x)
		if y != nil {
			y.Release()
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	bw := g.bytes / tm.Seconds()
	g.best = max(g.best, bw)
	return bw, nil
}

// warm runs the copy for at least least and until it settles (10 s at most).
func (g *tuneGauge) warm(least time.Duration) error {
	if g == nil {
		return nil
	}
	return warmUntil(least, g.bw)
}

// warmUntil takes samples for at least least and until the last three
// agree within 3% (settled), or for 10 s.
func warmUntil(least time.Duration, sample func() (float64, error)) error {
	var last []float64
	for start := time.Now(); time.Since(start) < 10*time.Second; {
		v, err := sample()
		if err != nil {
			return err
		}
		if last = append(last, v); time.Since(start) >= least && settled(last) {
			return nil
		}
	}
	return nil
}

// settled reports whether the last three of vs agree within 3% (the
// warm-up rule of the CLI harness and bench/torch_timing.py).
func settled(vs []float64) bool {
	n := len(vs)
	return n >= 3 && slices.Max(vs[n-3:]) <= 1.03*slices.Min(vs[n-3:])
}

// cold times the copy and reports whether it fell below 0.9x the best.
func (g *tuneGauge) cold() (bool, error) {
	if g == nil {
		return false, nil
	}
	bw, err := g.bw()
	return bw < 0.9*g.best, err
}
