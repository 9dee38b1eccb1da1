package kernel

import (
	"sync"
	"sync/atomic"

	"github.com/webfuser/webfuser/gpu"
)

var (
	capturing atomic.Int32 // number of Capture calls in progress
	captureMu sync.Mutex
	captured  = map[*gpu.Device]*[]Kernel{}
)

// Capture runs f and returns a copy of every kernel declaration that
// Run launched on d meanwhile, in order: what `webfuser wgsl` prints, and
// the seed of a recorded graph. Kernels still run as usual.
func Capture(d *gpu.Device, f func() error) ([]Kernel, error) {
	var ks []Kernel
	captureMu.Lock()
	captured[d] = &ks
	captureMu.Unlock()
	capturing.Add(1)
	defer func() {
		capturing.Add(-1)
		captureMu.Lock()
		delete(captured, d)
		captureMu.Unlock()
	}()
	err := f()
	captureMu.Lock()
	defer captureMu.Unlock()
	return ks, err
}

// record appends a copy of k to d's capture, if one is in progress,
// with every binding's tensor set to the one bound (args, outputs
// included): the copy's Key is k's, and a graph learns from it which
// launch made and which read each buffer.
func (k *Kernel) record(d *gpu.Device, args []*gpu.Tensor) {
	if capturing.Load() == 0 {
		return
	}
	captureMu.Lock()
	defer captureMu.Unlock()
	if ks := captured[d]; ks != nil {
		c := *k
		c.Files = append([]string(nil), k.Files...)
		c.Consts = append([]Const(nil), k.Consts...)
		c.Snippets = append([]Snippet(nil), k.Snippets...)
		c.Bindings = append([]Binding(nil), k.Bindings...)
		for i := range c.Bindings {
			c.Bindings[i].T = args[i]
		}
		c.Uniforms = append([]Uniform(nil), k.Uniforms...)
		*ks = append(*ks, c)
	}
}
