package gpu

import (
	"encoding/binary"
	"sort"
	"time"

	"github.com/oliverbestmann/webgpu/wgpu"
)

// timer holds the query set of a Measure call, or the profiler of a
// Profile call (then set and buf are nil).
type timer struct {
	set     *wgpu.QuerySet
	resolve func(enc *wgpu.CommandEncoder) error
	buf     *wgpu.Buffer
	prof    *profiler
}

func (t *timer) writes() *wgpu.PassTimestampWrites {
	if t.prof != nil {
		return nil
	}
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

// DispatchTime is the GPU time of one dispatch recorded under Profile.
type DispatchTime struct {
	Key    string // the pipeline's cache key; the kernel name is the part before the first '/'
	Groups Grid   // the dispatch size in workgroups
	// Bytes is the size of the tensors the dispatch binds: a lower bound on
	// the memory it moves (each binding read or written once).
	Bytes    uint64
	Duration time.Duration // from the start to the end of the dispatch's own compute pass
}

// ErrNoTimestamps is returned by Profile on a device without timestamp
// queries (the browser build, or an adapter that lacks them).
var ErrNoTimestamps = &Error{Op: "profile", Msg: "the device has no timestamp queries"}

// profileSetQueries is the size of each query set a profile allocates:
// WebGPU's limit on a query set, two timestamps per dispatch.
const profileSetQueries = 4096

// profiler collects the dispatches of a Profile call.
type profiler struct {
	sets []*wgpu.QuerySet
	rows []DispatchTime
}

// Profile runs record once with every dispatch in a compute pass of its
// own whose start and end are timestamped, and returns each dispatch's
// key, size, bound bytes and GPU time, in order. Work pending before the
// call is submitted first, untimed. Separate passes add a little time
// between dispatches, so the sum of the durations approximates, and
// usually slightly exceeds, the time the same work takes when batched.
// Devices without timestamp queries return ErrNoTimestamps.
func (d *Device) Profile(record func() error) ([]DispatchTime, error) {
	if !d.Features.Timestamps {
		return nil, ErrNoTimestamps
	}
	p := &profiler{}
	d.mu.Lock()
	if d.timing != nil {
		d.mu.Unlock()
		return nil, errorf("profile", "a Measure or Profile call is already recording")
	}
	if err := d.flushLocked(); err != nil {
		d.mu.Unlock()
		return nil, err
	}
	d.timing = &timer{prof: p, resolve: func(*wgpu.CommandEncoder) error { return nil }}
	d.mu.Unlock()
	rerr := record()
	d.mu.Lock()
	d.timing = nil
	err := d.flushLocked()
	d.mu.Unlock()
	defer func() {
		for _, s := range p.sets {
			s.Release()
		}
	}()
	if rerr != nil {
		return nil, rerr
	}
	if err != nil {
		return nil, err
	}
	if err := p.read(d); err != nil {
		return nil, err
	}
	return p.rows, nil
}

// beforeDispatch gives the next dispatch of a profiled batch a compute
// pass of its own with timestamps at its start and end. It does nothing
// outside Profile. d.mu is held.
func (t *timer) beforeDispatch(d *Device, b *batch, key string, g Grid, args []*Tensor) error {
	if t == nil || t.prof == nil {
		return nil
	}
	p := t.prof
	i := len(p.rows) % (profileSetQueries / 2)
	if i == 0 {
		set, err := d.dev.TryCreateQuerySet(&wgpu.QuerySetDescriptor{Label: "profile", Type: wgpu.QueryTypeTimestamp, Count: profileSetQueries})
		if err != nil {
			return wrap("profile", err)
		}
		p.sets = append(p.sets, set)
	}
	if err := b.pass.TryEnd(); err != nil {
		return wrap("profile "+key, err)
	}
	b.pass = b.enc.BeginComputePass(&wgpu.ComputePassDescriptor{Label: key, TimestampWrites: &wgpu.PassTimestampWrites{
		QuerySet: p.sets[len(p.sets)-1], BeginningOfPassWriteIndex: uint32(2 * i), EndOfPassWriteIndex: uint32(2*i + 1),
	}})
	var bytes uint64
	for _, a := range args {
		if a != nil {
			bytes += a.ByteSize()
		}
	}
	p.rows = append(p.rows, DispatchTime{Key: key, Groups: g, Bytes: bytes})
	return nil
}

// read resolves the profile's query sets and fills in the durations.
func (p *profiler) read(d *Device) error {
	period := float64(d.queue.GetTimestampPeriod())
	if period == 0 {
		period = 1
	}
	per := profileSetQueries / 2
	for s, set := range p.sets {
		n := min(per, len(p.rows)-s*per)
		size := uint64(16 * n)
		buf, err := d.dev.TryCreateBuffer(&wgpu.BufferDescriptor{
			Label: "profile", Size: size,
			Usage: wgpu.BufferUsageQueryResolve | wgpu.BufferUsageCopySrc,
		})
		if err != nil {
			return wrap("profile", err)
		}
		d.mu.Lock()
		err = d.submitOne("profile", func(enc *wgpu.CommandEncoder) error {
			return enc.TryResolveQuerySet(set, 0, uint32(2*n), buf, 0)
		})
		d.mu.Unlock()
		var b []byte
		if err == nil {
			b, err = d.readBuffer(buf, 0, size)
		}
		buf.Destroy()
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			t0, t1 := binary.LittleEndian.Uint64(b[16*i:]), binary.LittleEndian.Uint64(b[16*i+8:])
			if t1 > t0 { // a reversed pair (a driver's clock quirk) counts as zero
				p.rows[s*per+i].Duration = time.Duration(float64(t1-t0) * period)
			}
		}
	}
	return nil
}
