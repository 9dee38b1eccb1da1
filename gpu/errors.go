package gpu

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels that errors.Is finds in the device layer's errors.
var (
	// ErrLimit marks a request over a device limit: a binding, buffer or
	// grid larger than the device allows.
	ErrLimit = errors.New("over a device limit")
	// ErrDeviceLost marks an operation on a device the driver reported lost.
	ErrDeviceLost = errors.New("device lost")
	// ErrReleased marks use of a tensor whose buffer was released (or a
	// view of one, or a tensor that was never allocated).
	ErrReleased = errors.New("tensor released")
	// ErrClosed marks a call on a device after its Close.
	ErrClosed = errors.New("device closed")
)

// Error is a failure reported by the device layer: the operation that
// failed, what the device or the rule said, and the sentinel or the
// driver's error beneath, which Unwrap returns.
type Error struct {
	Op  string // what was being done, e.g. "pipeline rms_norm/f32"
	Msg string
	Err error
}

// Error formats the failure as "gpu: op: message".
func (e *Error) Error() string { return "gpu: " + e.Op + ": " + e.Msg }

// Unwrap returns the sentinel or the driver's error beneath.
func (e *Error) Unwrap() error { return e.Err }

func errorf(op, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if saysLost(msg) { // a driver's message passed through as text
		return &Error{Op: op, Msg: msg, Err: ErrDeviceLost}
	}
	return &Error{Op: op, Msg: msg}
}

// kindf is errorf with a sentinel beneath.
func kindf(kind error, op, format string, args ...any) error {
	return &Error{Op: op, Msg: fmt.Sprintf(format, args...), Err: kind}
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if saysLost(err.Error()) {
		err = fmt.Errorf("%w: %w", ErrDeviceLost, err)
	}
	return &Error{Op: op, Msg: err.Error(), Err: err}
}

// saysLost reports whether a driver's message says the device is lost:
// wgpu-native reports a destroyed or lost device that way, as a
// validation error, before (or without) its device-lost callback.
func saysLost(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "device is lost") || strings.Contains(m, "device lost")
}

// noteLost records on d a loss of the device that err reports, so that
// every later call fails at once. d.mu is held.
func (d *Device) noteLost(err error) {
	if err != nil && d.lost == nil && errors.Is(err, ErrDeviceLost) {
		d.lost = err
	}
}
