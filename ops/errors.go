package ops

import (
	"errors"
	"fmt"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// Sentinels that errors.Is finds beneath an *Error (with gpu.ErrLimit
// for a tensor over a device limit).
var (
	// ErrInvalid marks an operand or attribute an operator cannot accept:
	// a shape, broadcast, missing tensor or out-of-range setting.
	ErrInvalid = errors.New("invalid operand")
	// ErrDType marks an operand stored in a dtype the operator does not take.
	ErrDType = errors.New("unsupported dtype")
)

// Error reports input an operator cannot accept.
type Error struct {
	Op     string // operator, e.g. "RMSNorm"
	Tensor string // offending tensor, e.g. "weight"
	Rule   string // the rule it broke
	Err    error  // the sentinel beneath: ErrInvalid, ErrDType or gpu.ErrLimit
}

// Unwrap returns the sentinel beneath.
func (e *Error) Unwrap() error { return e.Err }

// Error returns the message with the operator and tensor it names.
func (e *Error) Error() string {
	if e.Tensor == "" {
		return fmt.Sprintf("ops.%s: %s", e.Op, e.Rule)
	}
	return fmt.Sprintf("ops.%s: %s: %s", e.Op, e.Tensor, e.Rule)
}

func errorf(op, tensor, format string, args ...any) error {
	return &Error{Op: op, Tensor: tensor, Rule: fmt.Sprintf(format, args...), Err: ErrInvalid}
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
	return &Error{Op: op, Tensor: name, Rule: fmt.Sprintf("dtype %v is not supported (want f32, f16 or bf16)", t.DType), Err: ErrDType}
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

// operands lists an operator's tensors by name, in the order their
// errors are reported (a map would report them in random order).
type operands []struct {
	name string
	t    *gpu.Tensor
}

// add appends a named tensor; nil tensors are skipped by the checks.
func (o *operands) add(name string, t *gpu.Tensor) {
	*o = append(*o, struct {
		name string
		t    *gpu.Tensor
	}{name, t})
}

// check refuses a tensor over the binding limit or on a device other than d.
func (o operands) check(op string, d *gpu.Device) error {
	for _, x := range o {
		if x.t == nil {
			continue
		}
		if err := checkBinding(op, x.name, x.t); err != nil {
			return err
		}
		if x.t.Device() != d {
			return errorf(op, x.name, "is on another device")
		}
	}
	return nil
}

// checkBinding refuses a tensor larger than one storage binding allows.
func checkBinding(op, name string, t *gpu.Tensor) error {
	if t != nil && t.ByteSize() > t.Device().Limits.MaxBindingSize {
		return &Error{Op: op, Tensor: name, Err: gpu.ErrLimit, Rule: fmt.Sprintf("%v is %d bytes, over the device's maxStorageBufferBindingSize of %d; split the work",
			t, t.ByteSize(), t.Device().Limits.MaxBindingSize)}
	}
	return nil
}
