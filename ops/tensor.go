package ops

import (
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
