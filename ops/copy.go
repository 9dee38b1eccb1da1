package ops

import (
	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// Copy returns a new tensor with x's contents, moved sixteen bytes per
// invocation. It is the bandwidth bound the benchmarks compare against.
// x's storage must be a whole number of 16-byte units.
func Copy(x *gpu.Tensor) (*gpu.Tensor, error) {
	if x == nil {
		return nil, errorf("Copy", "x", "is required")
	}
	n := x.Numel() * x.DType.Size()
	if n%16 != 0 {
		return nil, errorf("Copy", "x", "%v is %d bytes, not a multiple of 16", x, n)
	}
	if err := checkBinding("Copy", "x", x); err != nil {
		return nil, err
	}
	return copyKernel(x).RunOne(x.Device())
}

// copyKernel declares the copy of x into a new tensor of its dtype and shape.
func copyKernel(x *gpu.Tensor) *kernel.Kernel {
	n := x.Numel() * x.DType.Size() / 16
	k := &kernel.Kernel{Name: "copy", Files: []string{"copy"}, Grid: launch.Flat(x.Device(), n)}
	return k.In("x", x).Words().Out("y", x.DType, x.Shape...).Words().U32("n", n)
}
