package gpu

import "fmt"

// Error is a failure reported by the device layer: the operation that
// failed and what the device or the rule said.
type Error struct {
	Op  string // what was being done, e.g. "create pipeline rms_norm/f32"
	Msg string
}

func (e *Error) Error() string { return "gpu: " + e.Op + ": " + e.Msg }

func errorf(op, format string, args ...any) error {
	return &Error{Op: op, Msg: fmt.Sprintf(format, args...)}
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Msg: err.Error()}
}
