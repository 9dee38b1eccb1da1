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
// submission overhead). record is called once untimed first, to warm caches.
func (d *Device) Measure(trials, reps int, record func() error) (time.Duration, bool, error) {
	if trials < 1 || reps < 1 {
		return 0, false, errorf("measure", "trials and reps must be positive")
	}
	if err := record(); err != nil {
		return 0, false, err
	}
	if err := d.Sync(); err != nil {
		return 0, false, err
	}
	gpuTimed := d.Features.Timestamps
	var times []time.Duration
	for i := 0; i < trials; i++ {
		var t *timer
		if gpuTimed {
			var err error
			if t, err = d.newTimer(); err != nil {
				return 0, false, err
			}
		}
		d.mu.Lock()
		if err := d.flushLocked(); err != nil {
			d.mu.Unlock()
			return 0, false, err
		}
		d.timing = t
		d.mu.Unlock()
		start := time.Now()
		var rerr error
		for r := 0; r < reps && rerr == nil; r++ {
			rerr = record()
		}
		d.mu.Lock()
		d.timing = nil
		err := d.flushLocked()
		d.mu.Unlock()
		if rerr != nil {
			return 0, false, rerr
		}
		if err != nil {
			return 0, false, err
		}
		if err := d.Sync(); err != nil {
			return 0, false, err
		}
		el := time.Since(start)
		if t != nil {
			b, err := d.readBuffer(t.buf, 0, 16)
			if err != nil {
				return 0, false, err
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
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times[len(times)/2], gpuTimed, nil
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
