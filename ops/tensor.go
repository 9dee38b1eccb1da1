package ops

import (
	"math/rand"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/host"
)

// This file re-exports the few device types and helpers that layers above
// ops (models/) need, so that they import ops only and never gpu/.

// Tensor is the device tensor every operator takes and returns (gpu.Tensor).
type Tensor = gpu.Tensor

// Device is an open WebGPU device (gpu.Device).
type Device = gpu.Device

// DeviceOptions choose the adapter OpenDevice opens (gpu.Options).
type DeviceOptions = gpu.Options

// DType is a storage dtype (dtype.DType).
type DType = dtype.DType

// The float storage dtypes the operators read and write.
const (
	F32  DType = dtype.F32
	F16  DType = dtype.F16
	BF16 DType = dtype.BF16
)

// HostTensor is a tensor on the host: shape, dtype and float64 values
// each representable in that dtype (host.Tensor). Upload and Download
// move it to and from a device.
type HostTensor = host.Tensor

// NewHostTensor returns a zero host tensor.
func NewHostTensor(dt DType, shape ...int) *HostTensor { return host.New(dt, shape...) }

// RandomHost returns a host tensor of shape drawn from N(mean, std²) by
// rng, each value rounded to dt (random weights and inputs for tests,
// demos and timing).
func RandomHost(rng *rand.Rand, dt DType, shape []int, std, mean float64) *HostTensor {
	return host.Randn(rng, dt, shape, std, mean)
}

// RandomParams draws one host tensor per entry of shapes with
// RandomHost, in the order of the sorted names (a seed gives the same
// parameters every run), each from N(mean, std²) as init gives them for
// its name and shape.
func RandomParams(shapes map[string][]int, dt DType, rng *rand.Rand, init func(name string, shape []int) (std, mean float64)) map[string]*HostTensor {
	return host.RandomParams(shapes, dt, rng, init)
}

// OpenDevice opens a WebGPU device as gpu.Open does.
func OpenDevice(opt DeviceOptions) (*Device, error) { return gpu.Open(opt) }

// Upload copies a host tensor to d with its dtype and shape; a nil
// tensor uploads as nil.
func Upload(d *Device, r *HostTensor) (*Tensor, error) {
	if r == nil {
		return nil, nil
	}
	if d == nil {
		return nil, errorf("Upload", "", "no device")
	}
	return d.Upload(r.DType, r.Shape, r.Float32())
}

// Download reads a device tensor back as a host tensor of its dtype
// and shape.
func Download(t *Tensor) (*HostTensor, error) {
	if t == nil {
		return nil, errorf("Download", "", "no tensor")
	}
	v, err := t.Float32()
	if err != nil {
		return nil, err
	}
	return host.FromFloat32(t.DType, t.Shape, v)
}
