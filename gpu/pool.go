package gpu

import (
	"math/bits"

	"github.com/oliverbestmann/webgpu/wgpu"
)

// pool keeps released buffers by size class so that tensors of repeated
// shapes reuse allocations. Classes step by quarters of a power of two,
// which bounds the waste to 25%. Buffers released while a batch is still
// being recorded wait in pending until that batch is submitted, so a
// queue write to a reused buffer cannot overtake a dispatch that reads it.
type pool struct {
	free    map[uint64][]*wgpu.Buffer
	pending []*wgpu.Buffer
	bytes   uint64 // bytes held in free lists
}

// poolMaxBytes caps what the pool keeps; beyond it, buffers are destroyed.
// TrimPool returns the memory on demand.
const poolMaxBytes = 16 << 30

func (p *pool) init() { p.free = map[uint64][]*wgpu.Buffer{} }

// sizeClass rounds n up to its class: 256 bytes at least, then quarters
// of the enclosing power of two.
func sizeClass(n uint64) uint64 {
	if n <= 256 {
		return 256
	}
	top := uint64(1) << (63 - bits.LeadingZeros64(n-1)) // largest power of two < n
	step := top / 4
	return (n + step - 1) / step * step
}

func (p *pool) get(class uint64) *wgpu.Buffer {
	l := p.free[class]
	if len(l) == 0 {
		return nil
	}
	b := l[len(l)-1]
	p.free[class] = l[:len(l)-1]
	p.bytes -= class
	return b
}

func (p *pool) put(b *wgpu.Buffer, deferred bool) {
	if deferred {
		p.pending = append(p.pending, b)
		return
	}
	class := b.GetSize()
	if p.bytes+class > poolMaxBytes {
		b.Destroy()
		return
	}
	p.free[class] = append(p.free[class], b)
	p.bytes += class
}

// settle moves buffers released during a batch to the free lists.
func (p *pool) settle() {
	for _, b := range p.pending {
		p.put(b, false)
	}
	p.pending = p.pending[:0]
}

// drain destroys every pooled buffer.
func (p *pool) drain() {
	for _, l := range p.free {
		for _, b := range l {
			b.Destroy()
		}
	}
	p.init()
	p.bytes = 0
}

// storageBuffer returns a storage buffer of at least n bytes from the pool
// or a new allocation.
func (d *Device) storageBuffer(n uint64) (*wgpu.Buffer, error) {
	class := sizeClass(n)
	if b := d.pool.get(class); b != nil {
		return b, nil
	}
	if class > d.Limits.MaxBufferSize {
		class = (n + 3) &^ 3
	}
	if n > d.Limits.MaxBufferSize {
		return nil, errorf("allocate", "%d bytes exceeds the device's maxBufferSize of %d", n, d.Limits.MaxBufferSize)
	}
	b, err := d.dev.TryCreateBuffer(&wgpu.BufferDescriptor{
		Label: "tensor",
		Usage: wgpu.BufferUsageStorage | wgpu.BufferUsageCopySrc | wgpu.BufferUsageCopyDst,
		Size:  class,
	})
	return b, wrap("allocate", err)
}

// TrimPool destroys every buffer the pool holds, returning its memory.
func (d *Device) TrimPool() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pool.drain()
}
