package gpu

import (
	"github.com/oliverbestmann/webgpu/wgpu"
)

// readTensor downloads a tensor's words, checking under the device's
// lock that it is still alive.
func (d *Device) readTensor(t *Tensor) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.use("download", t); err != nil {
		return nil, err
	}
	return d.readLocked("download "+t.String(), t.st.buf, t.offset, t.ByteSize())
}

// readBuffer submits pending work, copies size bytes at offset into a
// mappable staging buffer and returns them.
func (d *Device) readBuffer(src *wgpu.Buffer, offset, size uint64) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usableLocked("readback"); err != nil {
		return nil, err
	}
	return d.readLocked("readback", src, offset, size)
}

// readLocked is readBuffer with d.mu held and the device checked: it
// submits the recorded work, then copies the range out within the
// device's read timeout (transfer, per runtime).
func (d *Device) readLocked(op string, src *wgpu.Buffer, offset, size uint64) ([]byte, error) {
	if err := d.flushLocked(); err != nil {
		return nil, err
	}
	b, err := d.transfer(op, src, offset, size)
	d.noteLost(err)
	return b, err
}

// copyOut copies size bytes at offset of src into a new staging buffer,
// waits for its mapping with mapWait and returns the bytes. It touches
// only the device's handles, never its Go state, so that it may run on
// a helper goroutine.
func (d *Device) copyOut(op string, src *wgpu.Buffer, offset, size uint64, mapWait func(*wgpu.Buffer) error) ([]byte, error) {
	staging, err := d.dev.TryCreateBuffer(&wgpu.BufferDescriptor{
		Label: "readback", Size: size,
		Usage: wgpu.BufferUsageMapRead | wgpu.BufferUsageCopyDst,
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	defer destroyBuffer(staging)
	err = d.submitOne(op, func(enc *wgpu.CommandEncoder) error {
		return enc.TryCopyBufferToBuffer(src, offset, staging, 0, size)
	})
	if err != nil {
		return nil, err
	}
	if err := mapWait(staging); err != nil {
		return nil, err
	}
	out := make([]byte, size)
	copy(out, staging.GetMappedRange(0, uint(size)))
	if err := staging.TryUnmap(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// submitOne records one command buffer with record and submits it, in an
// error scope named op, releasing the encoder and the command buffer.
// The caller holds the device lock.
func (d *Device) submitOne(op string, record func(enc *wgpu.CommandEncoder) error) error {
	return d.scope(op, func() error {
		enc, err := d.dev.TryCreateCommandEncoder(nil)
		if err != nil {
			return err
		}
		defer enc.Release()
		if err := record(enc); err != nil {
			return err
		}
		cb, err := enc.TryFinish(nil)
		if err != nil {
			return err
		}
		d.queue.Submit(cb)
		cb.Release()
		return nil
	})
}
