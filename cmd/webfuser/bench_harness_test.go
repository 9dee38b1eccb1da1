package main

import (
	"errors"
	"testing"
	"time"
)

// fakeDevice plays a script of copy bandwidths (GB/s, for a copy of 1 GB)
// and kernel times, and a clock that advances one second per copy.
type fakeDevice struct {
	copies  []float64
	kernels []time.Duration
	nc, nk  int
	clock   time.Time
	step    time.Duration // clock advance per copy; 0 means one second
}

func (f *fakeDevice) copy() (time.Duration, error) {
	if f.nc >= len(f.copies) {
		return 0, errors.New("script ran out of copies")
	}
	gbs := f.copies[f.nc]
	f.nc++
	if f.step == 0 {
		f.step = time.Second
	}
	f.clock = f.clock.Add(f.step)
	if gbs == 0 {
		return 0, nil
	}
	return time.Duration(float64(time.Second) / gbs), nil
}

func (f *fakeDevice) kernel() (time.Duration, error) {
	if f.nk >= len(f.kernels) {
		return 0, errors.New("script ran out of kernel times")
	}
	f.nk++
	return f.kernels[f.nk-1], nil
}

func (f *fakeDevice) harness(cap time.Duration) *harness {
	h := newHarness(f.copy, 1e9, cap)
	h.now = func() time.Time { return f.clock }
	return h
}

func TestWarmUp(t *testing.T) {
	for _, c := range []struct {
		name       string
		copies     []float64
		cap        time.Duration
		wantTrials int
		wantStable bool
		wantErr    bool
	}{
		{"idle clocks ramp up", []float64{1.7, 2.5, 4.0, 4.2, 4.21, 4.19}, time.Minute, 6, true, false},
		{"warm from the start", []float64{4.2, 4.2, 4.2}, time.Minute, 3, true, false},
		{"under 3% apart is stable", []float64{4.0, 4.11, 4.06}, time.Minute, 3, true, false},
		{"4% apart is not", []float64{4.0, 4.16, 4.1, 4.1}, time.Minute, 4, true, false},
		{"never stable: the cap ends it", []float64{2, 4, 2, 4, 2, 4, 2}, 5 * time.Second, 5, false, false},
		{"a copy timed at zero", []float64{4, 0}, time.Minute, 0, false, true},
		{"the copy fails", []float64{4, 4}, time.Minute, 0, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeDevice{copies: c.copies}
			r, err := f.harness(c.cap).warmUp()
			if c.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %+v", r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Trials != c.wantTrials || r.Stable != c.wantStable {
				t.Errorf("got %d trials, stable %v; want %d, %v", r.Trials, r.Stable, c.wantTrials, c.wantStable)
			}
			if last := c.copies[r.Trials-1]; r.CopyGBs < last*0.999 || r.CopyGBs > last*1.001 {
				t.Errorf("reported copy %.3f GB/s, the last trial's was %.3f", r.CopyGBs, last)
			}
		})
	}
}

// TestWarmUpOutlastsIdleClocks: copies that agree at an idle clock do
// not end the warm-up before its minimum time.
func TestWarmUpOutlastsIdleClocks(t *testing.T) {
	idle := []float64{1.7, 1.7, 1.7, 1.7, 1.7, 1.7, 1.7, 1.7, 4.2, 4.2, 4.2, 4.2, 4.2}
	f := &fakeDevice{copies: idle, step: 200 * time.Millisecond}
	r, err := f.harness(time.Minute).warmUp()
	if err != nil {
		t.Fatal(err)
	}
	if !r.Stable || r.CopyGBs < 4.1 || r.Trials != 11 {
		t.Fatalf("warm-up ended after %d trials at %.2f GB/s (stable %v); want 11 trials at 4.2", r.Trials, r.CopyGBs, r.Stable)
	}
}

func TestTrialRepeatsLowCopies(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		name        string
		best        float64 // GB/s seen before the trial
		copies      []float64
		kernels     []time.Duration
		wantKernel  time.Duration
		wantRepeats int
		wantLow     bool
		wantBest    float64
	}{
		{"copy at the best", 4, []float64{4}, []time.Duration{ms}, ms, 0, false, 4},
		{"copy at 0.92x is kept", 4, []float64{3.7}, []time.Duration{ms}, ms, 0, false, 4},
		{"copy at 0.75x is repeated", 4, []float64{3, 4.1}, []time.Duration{2 * ms, ms}, ms, 1, false, 4},
		{"low every time: bounded, flagged", 4, []float64{3, 3, 3, 3, 4}, []time.Duration{ms, ms, ms, 3 * ms, ms}, 3 * ms, 3, true, 4},
		{"a new best is not low", 4, []float64{5}, []time.Duration{ms}, ms, 0, false, 5},
		{"the first copy sets the best", 0, []float64{2}, []time.Duration{ms}, ms, 0, false, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeDevice{copies: c.copies, kernels: c.kernels}
			h := f.harness(time.Minute)
			h.best = c.best * 1e9
			r, err := h.trial(f.kernel)
			if err != nil {
				t.Fatal(err)
			}
			if r.Kernel != c.wantKernel || r.Repeats != c.wantRepeats || r.Low != c.wantLow {
				t.Errorf("got kernel %v, %d repeats, low %v; want %v, %d, %v", r.Kernel, r.Repeats, r.Low, c.wantKernel, c.wantRepeats, c.wantLow)
			}
			if h.repeats != c.wantRepeats {
				t.Errorf("harness counted %d repeats, want %d", h.repeats, c.wantRepeats)
			}
			if (h.low == 1) != c.wantLow {
				t.Errorf("harness counted %d low trials, want low=%v", h.low, c.wantLow)
			}
			if h.best < c.wantBest*0.999e9 || h.best > c.wantBest*1.001e9 {
				t.Errorf("best copy %.3g B/s, want %g GB/s", h.best, c.wantBest)
			}
		})
	}
	// A failing kernel is an error, not a repeat.
	f := &fakeDevice{copies: []float64{4}}
	if _, err := f.harness(time.Minute).trial(f.kernel); err == nil {
		t.Error("a failing kernel gave no error")
	}
}

func TestTrialSequence(t *testing.T) {
	// Two trials in a row: the second is judged against the best copy
	// of the first.
	ms := time.Millisecond
	f := &fakeDevice{copies: []float64{4, 3, 3.9}, kernels: []time.Duration{ms, 5 * ms, 2 * ms}}
	h := f.harness(time.Minute)
	for i, want := range []time.Duration{ms, 2 * ms} {
		r, err := h.trial(f.kernel)
		if err != nil {
			t.Fatal(err)
		}
		if r.Kernel != want {
			t.Errorf("trial %d: kernel %v, want %v", i, r.Kernel, want)
		}
	}
	if h.repeats != 1 {
		t.Errorf("%d repeats, want 1", h.repeats)
	}
}

func TestOneSpikeDoesNotRaiseTheBar(t *testing.T) {
	// A warm device (4 GB/s), one copy timed at 12 GB/s (a glitch), then
	// 4 GB/s again: no trial is repeated, and the best stays 4.
	ms := time.Millisecond
	f := &fakeDevice{copies: []float64{4, 4, 4, 12, 4, 4}, kernels: []time.Duration{ms, ms, ms}}
	h := f.harness(time.Minute)
	if _, err := h.warmUp(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := h.trial(f.kernel); err != nil {
			t.Fatal(err)
		}
	}
	if h.repeats != 0 || h.best != 4e9 {
		t.Errorf("%d repeats, best %.3g B/s; want 0 and 4e9", h.repeats, h.best)
	}
}

func TestLowerMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{[]float64{5}, 5}, {[]float64{4, 10}, 4}, {[]float64{10, 4, 4}, 4}, {[]float64{1, 3, 2}, 2}} {
		if got := lowerMedian(c.in); got != c.want {
			t.Errorf("lowerMedian(%v) = %g, want %g", c.in, got, c.want)
		}
	}
}
