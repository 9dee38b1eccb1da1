// Package ops is WebFuser's operator API: TeleFuser's operators (RMSNorm,
// LayerNorm, Modulate, FusedScaleShift, ...) on gpu.Tensors, each
// dispatched to a fused WGSL kernel or a composition of smaller ones by
// the table in dispatch.go. Inputs are validated before any GPU work:
// a bad shape or dtype returns an *Error naming the operator, the tensor
// and the rule, never a panic. Tune times the matmul tiles of each class
// of product on a device, and a Tuning applied to the device makes the
// launch policy take the fastest of each (tune.go).
package ops
