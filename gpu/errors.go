package gpu

import (
	"errors"
	"fmt"
)

// Sentinels that errors.Is finds in the device layer's errors.
var (
	// ErrLimit marks a request over a device limit: a binding, buffer or
	// grid larger than the device allows.
	ErrLimit = errors.New("over a device limit")
	// ErrDeviceLost marks an operation on a device the driver reported lost.
	ErrDeviceLost = errors.New("device lost")
	// ErrReleased marks use of a tensor whose buffer was released.
	ErrReleased = errors.New("tensor released")
)

// Error is a failure reported by the device layer: the operation that
// failed, what the device or the rule said, and the sentinel or the
// driver's error beneath, which Unwrap returns.
type Error struct {
	Op  string // what was being done, e.g. "pipeline rms_norm/f32"
	Msg string
	Err error
}

func (e *Error) Error() string { return "gpu: " + e.Op + ": " + e.Msg }

// Unwrap returns the sentinel or the driver's error beneath.
func (e *Error) Unwrap() error { return e.Err }

func errorf(op, format string, args ...any) error {
	return &Error{Op: op, Msg: fmt.Sprintf(format, args...)}
}

// kindf is errorf with a sentinel beneath.
func kindf(kind error, op, format string, args ...any) error {
	return &Error{Op: op, Msg: fmt.Sprintf(format, args...), Err: kind}
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Msg: err.Error(), Err: err}
}
