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
	pending []*wgpu.Buffer // released during a batch, pooled after it
	doomed  []*wgpu.Buffer // released during a batch, destroyed after it
	bytes   uint64         // bytes held in free lists
	count   int            // buffers held in free lists
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
	p.count--
	return b
}

func (p *pool) put(b *wgpu.Buffer, deferred bool) {
	if deferred {
		p.pending = append(p.pending, b)
		return
	}
	class := b.GetSize()
	if p.bytes+class > poolMaxBytes || class != sizeClass(class) {
		destroyBuffer(b) // over the cap, or an exact-size buffer no class will ask for
		return
	}
	p.free[class] = append(p.free[class], b)
	p.bytes += class
	p.count++
}

// discard destroys a buffer that does not go back to the pool, after the
// batch being recorded when deferred.
func (p *pool) discard(b *wgpu.Buffer, deferred bool) {
	if deferred {
		p.doomed = append(p.doomed, b)
		return
	}
	destroyBuffer(b)
}

// settle moves buffers released during a batch to the free lists and
// destroys those discarded during it.
func (p *pool) settle() {
	for _, b := range p.pending {
		p.put(b, false)
	}
	for _, b := range p.doomed {
		destroyBuffer(b)
	}
	p.pending, p.doomed = p.pending[:0], p.doomed[:0]
}

// drain destroys every pooled buffer.
func (p *pool) drain() {
	for _, l := range p.free {
		for _, b := range l {
			destroyBuffer(b)
		}
	}
	p.init()
	p.bytes, p.count = 0, 0
}

// close destroys every buffer the pool holds or waits to settle.
func (p *pool) close() {
	p.drain()
	for _, b := range p.pending {
		destroyBuffer(b)
	}
	for _, b := range p.doomed {
		destroyBuffer(b)
	}
	p.pending, p.doomed = nil, nil
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
		return nil, kindf(ErrLimit, "allocate", "%d bytes exceeds the device's maxBufferSize of %d", n, d.Limits.MaxBufferSize)
	}
	b, err := d.dev.TryCreateBuffer(&wgpu.BufferDescriptor{
		Label: "tensor",
		Usage: wgpu.BufferUsageStorage | wgpu.BufferUsageCopySrc | wgpu.BufferUsageCopyDst,
		Size:  class,
	})
	err = wrap("allocate", err)
	d.noteLost(err)
	return b, err
}

// TrimPool destroys every buffer the pool holds, returning its memory.
func (d *Device) TrimPool() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.pool.drain()
}
