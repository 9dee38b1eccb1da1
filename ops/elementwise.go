package ops

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// elementwise declares a kernel over wgsl/elementwise.wgsl: one
// invocation per item for n items, each running the BODY snippet (WGSL
// that reads item i and writes its result), which callers add with their
// bindings and further uniforms. Its first uniform is the item count n.
func elementwise(d *gpu.Device, name string, vec, n int, files ...string) *kernel.Kernel {
	k := &kernel.Kernel{Name: name, Vec: vec, Files: append(files, "elementwise"), Grid: launch.Flat(d, n)}
	return k.U32("n", n)
}

// lanes returns WGSL for a pack whose lanes are f applied to each lane of
// the pack expression v ("%s" in f marks the lane).
func lanes(vec int, f, v string) string {
	if vec == 1 {
		return fmt.Sprintf(f, v)
	}
	return fmt.Sprintf("P(%s, %s, %s, %s)", fmt.Sprintf(f, v+".x"), fmt.Sprintf(f, v+".y"),
		fmt.Sprintf(f, v+".z"), fmt.Sprintf(f, v+".w"))
}

// lastDimOf returns the size of the last dimension and the rows before it.
func lastDimOf(op, name string, t *gpu.Tensor) (rows, d int, err error) {
	if len(t.Shape) == 0 {
		return 0, 0, errorf(op, name, "shape %v has no last dimension", t.Shape)
	}
	d = t.Shape[len(t.Shape)-1]
	if d == 0 {
		return 0, 0, nil
	}
	return t.Numel() / d, d, nil
}
