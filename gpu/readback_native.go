//go:build !js

package gpu

import (
	"sync/atomic"
	"time"

	"github.com/oliverbestmann/webgpu/wgpu"
)

// transfer runs copyOut on a helper goroutine and waits for it for at
// most the device's read timeout. The helper may block in the driver
// (a busy lavapipe queue blocks the submit itself; a blocking poll
// returns only when the queue is idle), so a device that never finishes
// its work ends the call with ErrDeviceLost instead of hanging it; the
// helper is left in the driver, and Close does not free the device
// under it. d.mu is held: the helper has the device to itself.
func (d *Device) transfer(op string, src *wgpu.Buffer, offset, size uint64) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	res := make(chan result, 1)
	d.polls.Add(1)
	go func() {
		defer d.polls.Done()
		b, err := d.copyOut(op, src, offset, size, func(staging *wgpu.Buffer) error { return d.mapWait(op, staging, size) })
		res <- result{b, err}
	}()
	timer := time.NewTimer(d.readTimeout)
	defer timer.Stop()
	select {
	case r := <-res:
		if r.err != nil && d.lostMsg.Load() != nil {
			d.lost = kindf(ErrDeviceLost, op, "%s", *d.lostMsg.Load())
			return nil, d.lost
		}
		return r.b, r.err
	case <-timer.C:
		d.lost = kindf(ErrDeviceLost, op, "no result after %v: the device is treated as lost", d.readTimeout)
		return nil, d.lost
	}
}

// mapWait maps a staging buffer for reading and polls the device until
// the mapping is done or the driver reports the device lost.
func (d *Device) mapWait(op string, b *wgpu.Buffer, size uint64) error {
	var mapped atomic.Bool
	var status wgpu.MapAsyncStatus
	if err := b.TryMapAsync(wgpu.MapModeRead, 0, size, func(s wgpu.MapAsyncStatus) {
		status = s
		mapped.Store(true)
	}); err != nil {
		return wrap("map", err)
	}
	for i := 0; !mapped.Load(); i++ {
		d.dev.Poll(true, nil)
		if m := d.lostMsg.Load(); m != nil && !mapped.Load() {
			return kindf(ErrDeviceLost, op, "%s", *m)
		}
		if i > 2 && !mapped.Load() {
			time.Sleep(time.Millisecond) // an idle queue and no callback yet
		}
	}
	if status != wgpu.MapAsyncStatusSuccess {
		return kindf(ErrDeviceLost, op, "buffer mapping failed (%v): the device may be lost", status)
	}
	return nil
}

// pollsDone waits up to wait for the helpers of timed-out downloads to
// come back from the driver, and reports whether they did.
func (d *Device) pollsDone(wait time.Duration) bool {
	done := make(chan struct{})
	go func() { d.polls.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(wait):
		return false
	}
}
