package videodit

import "fmt"

// Error reports a configuration, weight or argument the model cannot
// accept: what (a tensor, "config" or an argument) and the rule it broke.
type Error struct {
	What string
	Rule string
}

// Error returns "videodit: WHAT: RULE".
func (e *Error) Error() string { return fmt.Sprintf("videodit: %s: %s", e.What, e.Rule) }

func errorf(what, format string, args ...any) error {
	return &Error{What: what, Rule: fmt.Sprintf(format, args...)}
}
