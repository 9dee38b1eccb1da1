package main

import (
	"fmt"
	"sort"
	"time"

	"github.com/webfuser/webfuser/gpu"
)

// The harness keeps the GPU's clocks in view. A GPU left idle for a
// moment drops its clocks (the H200 within a second), so a fresh process
// can measure a copy at 40% of its bandwidth. The harness first times the
// copy until its bandwidth is stable, then times a copy next to every
// kernel trial and repeats a trial whose copy fell well below the best
// copy seen. It does no GPU work itself: it calls the timing functions it
// is given, so its rules can be tested with made-up timings.

// Defaults of the harness.
const (
	warmTolerance = 0.03             // the warm-up's copies agree within 3%
	warmWindow    = 3                // over this many consecutive copy trials
	warmCap       = 30 * time.Second // the longest a warm-up may run
	warmMin       = 2 * time.Second  // the shortest: an idle GPU's copies agree too, at a low clock
	retryFloor    = 0.9              // repeat a trial whose copy is below 0.9x the best copy
	maxRetries    = 3                // repeats of one trial at most
)

// timingFunc times one trial and returns the time per call.
type timingFunc func() (time.Duration, error)

// harness warms the device up on a copy and runs trials next to a copy.
type harness struct {
	copy      timingFunc // one trial of the copy
	copyBytes int64      // bytes the copy moves per call (read + write)

	tol     float64       // warm-up: max/min - 1 over the window
	window  int           // warm-up: consecutive copy trials that must agree
	cap     time.Duration // warm-up: most time spent
	minimum time.Duration // warm-up: least time spent
	floor   float64       // a trial repeats when its copy is below floor x best
	retries int           // most repeats of one trial
	now     func() time.Time

	recent  []float64 // the last window copy bandwidths, bytes/s
	best    float64   // best copy bandwidth seen, bytes/s: the highest median of window consecutive copies
	repeats int       // trials repeated so far
	low     int       // trials whose copy stayed low after every repeat
}

// newHarness returns a harness with the default rules around a copy
// that moves copyBytes per call.
func newHarness(copyFn timingFunc, copyBytes int64, cap time.Duration) *harness {
	return &harness{copy: copyFn, copyBytes: copyBytes, tol: warmTolerance, window: warmWindow,
		cap: cap, minimum: min(warmMin, cap), floor: retryFloor, retries: maxRetries, now: time.Now}
}

// forDevice relaxes the rules on a CPU driver: it has no idle clocks to
// outlast, and its copies vary from trial to trial with the host's load,
// so repeating trials there only multiplies the run time.
func (h *harness) forDevice(d *gpu.Device) *harness {
	if d.Info.Class == gpu.ClassCPU {
		h.minimum, h.retries = 0, 0
	}
	return h
}

// warmReport says how the warm-up went.
type warmReport struct {
	Trials  int           `json:"trials"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Stable  bool          `json:"stable"`   // the last window of copies agreed within tol
	CopyGBs float64       `json:"copy_gbs"` // the last copy's bandwidth
	Spread  float64       `json:"spread"`   // max/min - 1 over the last window
}

func (w warmReport) String() string {
	state := fmt.Sprintf("stable: the last %d within %.1f%%", warmWindow, 100*w.Spread)
	if !w.Stable {
		state = fmt.Sprintf("NOT stable when the time cap was reached (last %d spread %.1f%%)", warmWindow, 100*w.Spread)
	}
	return fmt.Sprintf("warm-up: %d copy trials in %v, copy %.0f GB/s, %s", w.Trials, w.Elapsed.Round(time.Millisecond), w.CopyGBs, state)
}

// bandwidth converts one copy time to bytes/s; a time that is not
// positive is an error, since no ratio can be made of it.
func (h *harness) bandwidth(t time.Duration) (float64, error) {
	if t <= 0 {
		return 0, fmt.Errorf("bench: the copy was timed at %v; no bandwidth can be computed", t)
	}
	bw := float64(h.copyBytes) / t.Seconds()
	h.recent = append(h.recent, bw)
	if len(h.recent) > h.window {
		h.recent = h.recent[1:]
	}
	h.best = max(h.best, lowerMedian(h.recent))
	return bw, nil
}

// lowerMedian returns the median of v, the lower middle value for an
// even count, so that one spike among a few copies never counts as the
// best: a best copy is one that its neighbours agree with.
func lowerMedian(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[(len(s)-1)/2]
}

// warmUp times the copy until window consecutive trials agree within
// tol after at least the minimum time (an H200 at idle clocks gave three
// copies within 0.1% of each other at 1.66 TB/s, 0.39x of its warm
// copy), or until cap has passed (at least window trials run either way).
func (h *harness) warmUp() (warmReport, error) {
	start := h.now()
	var bws []float64
	for {
		t, err := h.copy()
		if err != nil {
			return warmReport{}, err
		}
		bw, err := h.bandwidth(t)
		if err != nil {
			return warmReport{}, err
		}
		bws = append(bws, bw)
		if len(bws) < h.window {
			continue
		}
		last := bws[len(bws)-h.window:]
		r := warmReport{Trials: len(bws), Elapsed: h.now().Sub(start), CopyGBs: bw / 1e9, Spread: spread(last)}
		if r.Spread <= h.tol && r.Elapsed >= h.minimum {
			r.Stable = true
			return r, nil
		}
		if r.Elapsed >= h.cap {
			return r, nil
		}
	}
}

// spread returns max/min - 1 of positive values.
func spread(v []float64) float64 {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return hi/lo - 1
}

// trialResult is one trial: the kernel's time and the copy timed next
// to it.
type trialResult struct {
	Kernel  time.Duration
	Copy    time.Duration
	CopyBW  float64 // bytes/s
	Repeats int     // times the trial was run again because its copy was low
	Low     bool    // the copy was still below floor x best after the last repeat
}

// trial times the copy, then the kernel. While the copy is below floor
// times the best copy seen (the clocks were down), it runs both again,
// at most retries times. The best copy is the highest median of window
// consecutive copies, so a single spike does not raise the bar.
func (h *harness) trial(kernel timingFunc) (trialResult, error) {
	for r := 0; ; r++ {
		c, err := h.copy()
		if err != nil {
			return trialResult{}, err
		}
		bw, err := h.bandwidth(c)
		if err != nil {
			return trialResult{}, err
		}
		k, err := kernel()
		if err != nil {
			return trialResult{}, err
		}
		low := bw < h.floor*h.best
		if !low || r >= h.retries {
			if low {
				h.low++
			}
			return trialResult{Kernel: k, Copy: c, CopyBW: bw, Repeats: r, Low: low}, nil
		}
		h.repeats++
	}
}
