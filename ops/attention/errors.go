package attention

import (
	"fmt"

	"github.com/webfuser/webfuser/ops"
)

// Error reports input an attention operator cannot accept: the operator,
// the offending tensor (or option) and the rule it broke. It is ops.Error.
type Error = ops.Error

func errorf(op, tensor, format string, args ...any) error {
	return &Error{Op: op, Tensor: tensor, Rule: fmt.Sprintf(format, args...), Err: ops.ErrInvalid}
}
