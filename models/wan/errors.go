package wan

import "fmt"

// Error reports a configuration or input the block cannot accept: the
// tensor (empty for an attribute) and the rule it broke.
type Error struct {
	Tensor string
	Rule   string
}

// Error returns "wan: TENSOR: RULE".
func (e *Error) Error() string {
	if e.Tensor == "" {
		return "wan: " + e.Rule
	}
	return fmt.Sprintf("wan: %s: %s", e.Tensor, e.Rule)
}

func errorf(tensor, format string, args ...any) error {
	return &Error{Tensor: tensor, Rule: fmt.Sprintf(format, args...)}
}
