package attention

import "fmt"

// Error reports input an attention operator cannot accept: the operator,
// the offending tensor (or option) and the rule it broke. It has the
// fields and message format of ops.Error.
type Error struct {
	Op     string // operator, e.g. "Attention"
	Tensor string // offending tensor or option, e.g. "k" or "block_mask"
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
