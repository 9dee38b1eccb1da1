package gpu

import (
	"github.com/oliverbestmann/webgpu/wgpu"
)

// readBuffer submits pending work, copies size bytes at offset into a
// mappable staging buffer and returns them.
func (d *Device) readBuffer(src *wgpu.Buffer, offset, size uint64) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.flushLocked(); err != nil {
		return nil, err
	}
	staging, err := d.dev.TryCreateBuffer(&wgpu.BufferDescriptor{
		Label: "readback", Size: size,
		Usage: wgpu.BufferUsageMapRead | wgpu.BufferUsageCopyDst,
	})
	if err != nil {
		return nil, wrap("readback", err)
	}
	defer staging.Destroy()
	err = d.submitOne("readback", func(enc *wgpu.CommandEncoder) error {
		return enc.TryCopyBufferToBuffer(src, offset, staging, 0, size)
	})
	if err != nil {
		return nil, err
	}
	if err := d.mapRead(staging, size); err != nil {
		return nil, err
	}
	out := make([]byte, size)
	copy(out, staging.GetMappedRange(0, uint(size)))
	if err := staging.TryUnmap(); err != nil {
		return nil, wrap("readback", err)
	}
	return out, nil
}

// mapRead maps a staging buffer for reading and waits for the mapping.
func (d *Device) mapRead(b *wgpu.Buffer, size uint64) error {
	done := false
	var status wgpu.MapAsyncStatus
	if err := b.TryMapAsync(wgpu.MapModeRead, 0, size, func(s wgpu.MapAsyncStatus) {
		status, done = s, true
	}); err != nil {
		return wrap("map", err)
	}
	for !done {
		d.dev.Poll(true, nil)
	}
	if status != wgpu.MapAsyncStatusSuccess {
		d.lost = kindf(ErrDeviceLost, "map", "buffer mapping failed (%v): the device may be lost", status)
		return d.lost
	}
	return nil
}

// submitOne records one command buffer with record and submits it, in an
// error scope named op. The caller holds the device lock.
func (d *Device) submitOne(op string, record func(enc *wgpu.CommandEncoder) error) error {
	return d.scope(op, func() error {
		enc, err := d.dev.TryCreateCommandEncoder(nil)
		if err != nil {
			return err
		}
		if err := record(enc); err != nil {
			return err
		}
		cb, err := enc.TryFinish(nil)
		if err != nil {
			return err
		}
		d.queue.Submit(cb)
		return nil
	})
}
