package ops

import (
	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/wgsl"
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
	d := x.Device()
	y, err := d.NewTensor(x.DType, x.Shape...)
	if err != nil {
		return nil, err
	}
	if err := copyInto(d, x, y); err != nil {
		y.Release()
		return nil, err
	}
	return y, nil
}

// copyInto copies x into y, which has x's size.
func copyInto(d *gpu.Device, x, y *gpu.Tensor) error {
	p, err := d.Pipeline(gpu.Kernel{Key: "copy", Source: wgsl.Source("copy"), Bindings: []gpu.Access{gpu.Read, gpu.ReadWrite, gpu.Uniform}})
	if err != nil {
		return err
	}
	n := x.Numel() * x.DType.Size() / 16
	return d.Dispatch(p, d.Groups((n+255)/256), gpu.NewParams().U32(uint32(n)).Bytes(), x, y)
}
