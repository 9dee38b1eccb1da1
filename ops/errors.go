package ops

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/gpu/dtype"
)

// Error reports input an operator cannot accept.
type Error struct {
	Op     string // operator, e.g. "RMSNorm"
	Tensor string // offending tensor, e.g. "weight"
	Rule   string // the rule it broke
}

func (e *Error) Error() string {
	if e.Tensor == "" {
		return fmt.Sprintf("ops.%s: %s", e.Op, e.Rule)
	}
	return fmt.Sprintf("ops.%s: %s: %s", e.Op, e.Tensor, e.Rule)
}

func errorf(op, tensor, format string, args ...any) error {
	return &Error{Op: op, Tensor: tensor, Rule: fmt.Sprintf(format, args...)}
}

// floatStorage lists the storage dtypes the float kernels read and write.
var floatStorage = []dtype.DType{dtype.F32, dtype.F16, dtype.BF16}

// checkFloat returns an error unless t is present and stored as f32, f16 or bf16.
func checkFloat(op, name string, t *gpu.Tensor) error {
	if t == nil {
		return errorf(op, name, "is required")
	}
	for _, d := range floatStorage {
		if t.DType == d {
			return nil
		}
	}
	return errorf(op, name, "dtype %v is not supported (want f32, f16 or bf16)", t.DType)
}

// checkVector returns an error unless t is nil or a float vector of length d.
func checkVector(op, name string, t *gpu.Tensor, d int) error {
	if t == nil {
		return nil
	}
	if err := checkFloat(op, name, t); err != nil {
		return err
	}
	if len(t.Shape) != 1 || t.Shape[0] != d {
		return errorf(op, name, "shape %v, want [%d]", t.Shape, d)
	}
	return nil
}

// checkSameDevice returns an error if tensors live on different devices.
func checkSameDevice(op string, ts map[string]*gpu.Tensor, d *gpu.Device) error {
	for name, t := range ts {
		if t != nil && t.Device() != d {
			return errorf(op, name, "is on another device")
		}
	}
	return nil
}

// checkBinding refuses a tensor larger than one storage binding allows.
func checkBinding(op, name string, t *gpu.Tensor) error {
	if t != nil && t.ByteSize() > t.Device().Limits.MaxBindingSize {
		return errorf(op, name, "%v is %d bytes, over the device's maxStorageBufferBindingSize of %d; split the work",
			t, t.ByteSize(), t.Device().Limits.MaxBindingSize)
	}
	return nil
}
