package kernel

import (
	"errors"
	"fmt"

	"github.com/webfuser/webfuser/gpu"
)

// Sentinels that errors.Is finds in a kernel's errors.
var (
	// ErrDeclaration marks a kernel whose declaration and WGSL disagree: a
	// programming error in WebFuser, never the caller's.
	ErrDeclaration = errors.New("kernel declaration does not match its WGSL")
	// ErrFeature marks a kernel that needs a device feature the device lacks.
	ErrFeature = errors.New("device feature missing")
	// ErrLimit marks a launch over a device limit (gpu.ErrLimit).
	ErrLimit = gpu.ErrLimit
)

// Error is a failed launch: the kernel, the binding or uniform at fault
// (may be empty), the rule it broke, and the sentinel or cause beneath.
type Error struct {
	Kernel, Name, Rule string
	Err                error
}

// Error returns the message with the kernel and binding it names.
func (e *Error) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("kernel %s: %s", e.Kernel, e.Rule)
	}
	return fmt.Sprintf("kernel %s: %s: %s", e.Kernel, e.Name, e.Rule)
}

// Unwrap returns the sentinel or cause.
func (e *Error) Unwrap() error { return e.Err }

func errorf(kernel, name string, kind error, format string, args ...any) error {
	return &Error{Kernel: kernel, Name: name, Rule: fmt.Sprintf(format, args...), Err: kind}
}
