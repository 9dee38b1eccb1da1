package gpu

import (
	"encoding/binary"
	"sort"
	"time"

	"github.com/oliverbestmann/webgpu/wgpu"
)

// timer holds the query set of a Measure call.
type timer struct {
	set     *wgpu.QuerySet
	resolve func(enc *wgpu.CommandEncoder) error
	buf     *wgpu.Buffer
}

func (t *timer) writes() *wgpu.PassTimestampWrites {
	return &wgpu.PassTimestampWrites{QuerySet: t.set, BeginningOfPassWriteIndex: 0, EndOfPassWriteIndex: 1}
}

// Measure runs record (which dispatches kernels) reps times in one
// submission and returns the median time of trials such submissions
// divided by reps. It uses GPU timestamps where the device has them and
// the wall clock around submit-and-wait otherwise (which also counts
// submission and wake-up latency). One untimed batch of reps calls runs
// first: it compiles pipelines and fills the buffer pool, so no timed call
// pays for a fresh allocation (wgpu clears new buffers on first use).
func (d *Device) Measure(trials, reps int, record func() error) (time.Duration, bool, error) {
	t, err := d.MeasureBoth(trials, reps, record)
	if t.GPU == 0 {
		return t.Wall, false, err
	}
	return t.GPU, true, err
}

// Timing is what MeasureBoth reports per call: the median GPU time
// (zero without timestamp queries) and the median wall time from submit
// to completion, which adds submission and wake-up latency.
type Timing struct {
	GPU, Wall time.Duration
}

// MeasureBoth is Measure reporting both clocks, so that a timestamp
// figure can be checked against the wall clock.
func (d *Device) MeasureBoth(trials, reps int, record func() error) (Timing, error) {
	t, w, err := d.measure(trials, reps, record)
	return Timing{GPU: t, Wall: w}, err
}

func (d *Device) measure(trials, reps int, record func() error) (time.Duration, time.Duration, error) {
	if trials < 1 || reps < 1 {
		return 0, 0, errorf("measure", "trials and reps must be positive")
	}
	for r := 0; r < reps; r++ {
		if err := record(); err != nil {
			return 0, 0, err
		}
	}
	if err := d.Sync(); err != nil {
		return 0, 0, err
	}
	gpuTimed := d.Features.Timestamps
	var times, walls []time.Duration
	for i := 0; i < trials; i++ {
		// A batch of the same calls goes to the queue untimed right before
		// the timed one, so the timed batch finds the GPU busy and at its
		// working clocks rather than waking from idle.
		for r := 0; r < reps; r++ {
			if err := record(); err != nil {
				return 0, 0, err
			}
		}
		var t *timer
		if gpuTimed {
			var err error
			if t, err = d.newTimer(); err != nil {
				return 0, 0, err
			}
		}
		d.mu.Lock()
		if err := d.flushLocked(); err != nil {
			d.mu.Unlock()
			return 0, 0, err
		}
		d.timing = t
		d.mu.Unlock()
		var rerr error
		for r := 0; r < reps && rerr == nil; r++ {
			rerr = record()
		}
		d.mu.Lock()
		d.timing = nil
		start := time.Now()
		err := d.flushLocked()
		d.mu.Unlock()
		if rerr != nil {
			return 0, 0, rerr
		}
		if err != nil {
			return 0, 0, err
		}
		if err := d.Sync(); err != nil {
			return 0, 0, err
		}
		walls = append(walls, time.Since(start)/time.Duration(reps))
		var el time.Duration
		if t != nil {
			b, err := d.readBuffer(t.buf, 0, 16)
			if err != nil {
				return 0, 0, err
			}
			t0, t1 := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
			period := float64(d.queue.GetTimestampPeriod())
			if period == 0 {
				period = 1
			}
			el = time.Duration(float64(t1-t0) * period)
			t.buf.Destroy()
			t.set.Release()
		}
		times = append(times, el/time.Duration(reps))
	}
	return median(times), median(walls), nil
}

func median(ts []time.Duration) time.Duration {
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts[len(ts)/2]
}

func (d *Device) newTimer() (*timer, error) {
	set, err := d.dev.TryCreateQuerySet(&wgpu.QuerySetDescriptor{Label: "measure", Type: wgpu.QueryTypeTimestamp, Count: 2})
	if err != nil {
		return nil, wrap("measure", err)
	}
	buf, err := d.dev.TryCreateBuffer(&wgpu.BufferDescriptor{
		Label: "timestamps", Size: 16,
		Usage: wgpu.BufferUsageQueryResolve | wgpu.BufferUsageCopySrc,
	})
	if err != nil {
		return nil, wrap("measure", err)
	}
	t := &timer{set: set, buf: buf}
	t.resolve = func(enc *wgpu.CommandEncoder) error { return enc.TryResolveQuerySet(set, 0, 2, buf, 0) }
	return t, nil
}
