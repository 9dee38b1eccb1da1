package dit

import "fmt"

// Error reports a configuration, weight or input the block cannot
// accept: the tensor (empty for an attribute) and the rule it broke.
type Error struct {
	Tensor string // e.g. "qkv.weight", "x"; empty for an attribute
	Rule   string
}

// Error returns "dit: TENSOR: RULE".
func (e *Error) Error() string {
	if e.Tensor == "" {
		return "dit: " + e.Rule
	}
	return fmt.Sprintf("dit: %s: %s", e.Tensor, e.Rule)
}

func errorf(tensor, format string, args ...any) error {
	return &Error{Tensor: tensor, Rule: fmt.Sprintf(format, args...)}
}
