package ops

import (
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/launch"
)

// LinearInt8 is a linear layer with int8 weight codes [Out, In] (from
// QuantizeInt8) and their f32 per-output-channel scales [Out], run by
// LinearW8A8: activations quantised per token, exact i32 products on
// int8 tensor cores where the device has them, the bias, activation and
// gate+residual in the dequantising epilogue; the output has x's dtype.
type LinearInt8 struct {
	In, Out     int
	Weight      *gpu.Tensor // u8 [Out, In] two's-complement codes
	WeightScale *gpu.Tensor // f32 [Out]
	Bias        *gpu.Tensor
}

// NewLinearInt8 wraps weight codes, their scales and an optional bias
// as a layer, checking their shapes and dtypes.
func NewLinearInt8(weight, weightScale, bias *gpu.Tensor) (*LinearInt8, error) {
	const op = "LinearInt8"
	if weight == nil || weight.DType != dtype.U8 || len(weight.Shape) != 2 {
		return nil, errorf(op, "wq", "%v: want the u8 [out, in] codes of QuantizeInt8", weight)
	}
	out, in := weight.Shape[0], weight.Shape[1]
	if in == 0 || in%4 != 0 {
		return nil, errorf(op, "wq", "shape %v: in must be a positive multiple of 4", weight.Shape)
	}
	if weightScale == nil || weightScale.DType != dtype.F32 || len(weightScale.Shape) != 1 || weightScale.Shape[0] != out {
		return nil, errorf(op, "wscale", "%v: want f32 [%d]", weightScale, out)
	}
	if err := checkVector(op, "bias", bias, out); err != nil {
		return nil, err
	}
	var ts operands
	ts.add("wq", weight)
	ts.add("wscale", weightScale)
	ts.add("bias", bias)
	if err := ts.check(op, weight.Device()); err != nil {
		return nil, err
	}
	return &LinearInt8{In: in, Out: out, Weight: weight, WeightScale: weightScale, Bias: bias}, nil
}

// Forward computes LinearW8A8(x, Weight, WeightScale, Bias).
func (l *LinearInt8) Forward(x *gpu.Tensor) (*gpu.Tensor, error) {
	return LinearW8A8(x, l.Weight, l.WeightScale, l.Bias)
}

// ForwardAct computes act(Forward(x)) with the activation in the epilogue.
func (l *LinearInt8) ForwardAct(x *gpu.Tensor, act Activation) (*gpu.Tensor, error) {
	return LinearW8A8Act(x, l.Weight, l.WeightScale, l.Bias, act)
}

// ForwardGateResidual computes residual + gate * Forward(x) in the epilogue.
func (l *LinearInt8) ForwardGateResidual(x, gate, residual *gpu.Tensor) (*gpu.Tensor, error) {
	return LinearW8A8GateResidual(x, l.Weight, l.WeightScale, l.Bias, gate, residual)
}

// Dims returns the input and output features.
func (l *LinearInt8) Dims() (in, out int) { return l.In, l.Out }

// Parameters returns the tensors the layer owns.
func (l *LinearInt8) Parameters() []*gpu.Tensor { return nonNil(l.Weight, l.WeightScale, l.Bias) }

// QuantizeLinearInt8 returns a W8A8 copy of l: the weight quantised per
// output channel by QuantizeInt8, the bias shared.
func QuantizeLinearInt8(l *Linear) (*LinearInt8, error) {
	if l == nil {
		return nil, errorf("QuantizeLinearInt8", "weight", "is required")
	}
	q, s, err := QuantizeInt8(l.Weight)
	if err != nil {
		return nil, err
	}
	f, err := NewLinearInt8(q, s, l.Bias)
	if err != nil {
		q.Release()
		s.Release()
		return nil, err
	}
	return f, nil
}

// ReplaceLinearLayersInt8 walks a module tree and swaps every Linear
// projection that keep accepts (nil keeps all) for its W8A8 copy
// (QuantizeLinearInt8), releasing the full-width weight as
// ReplaceLinearLayers does; it returns the number of layers replaced.
func ReplaceLinearLayersInt8(m Module, keep func(*Linear) bool) (int, error) {
	return replaceLinears(m, keep, func(l *Linear) (Projector, error) { return QuantizeLinearInt8(l) })
}

// GateResidualProjector is a projection whose epilogue can apply
// TeleFuser's gated residual update (a Linear or a LinearInt8).
type GateResidualProjector interface {
	Projector
	// ForwardGateResidual computes residual + gate * Forward(x).
	ForwardGateResidual(x, gate, residual *gpu.Tensor) (*gpu.Tensor, error)
}

// ForwardGateResidual computes residual + gate * Forward(x) on the path
// the dispatch table picks (LinearGateResidual; exact precision).
func (l *Linear) ForwardGateResidual(x, gate, residual *gpu.Tensor) (*gpu.Tensor, error) {
	return LinearGateResidual(x, l.Weight, l.Bias, gate, residual)
}

// HasInt8TensorCores reports whether LinearW8A8 runs on d's int8 tensor
// cores (subgroup-matrix i8 configurations, as Dawn offers on NVIDIA)
// rather than the plain dot4I8Packed kernel, by launch.ChooseW8A8's rule.
func HasInt8TensorCores(d *gpu.Device) bool { return d != nil && launch.HasInt8Matrix(d) }

// LinearMode says how a model runs its linear layers.
type LinearMode int

// The linear modes: float weights as given, int8 W8A8 layers
// (LinearInt8), or W8A8 exactly where the device has int8 tensor cores.
const (
	LinearModeExact LinearMode = iota
	LinearModeW8A8
	LinearModeAuto
)

var linearModeNames = []string{"exact", "w8a8", "auto"}

// String returns the mode's name: "exact", "w8a8" or "auto".
func (m LinearMode) String() string {
	if m < 0 || int(m) >= len(linearModeNames) {
		return "LinearMode(?)"
	}
	return linearModeNames[m]
}

// ParseLinearMode reads "exact", "w8a8" or "auto" (case-insensitive).
func ParseLinearMode(s string) (LinearMode, error) {
	for i, n := range linearModeNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return LinearMode(i), nil
		}
	}
	return 0, errorf("LinearMode", "", "unknown linear mode %q (want exact, w8a8 or auto)", s)
}

// Resolve returns the concrete mode on d: LinearModeAuto becomes
// LinearModeW8A8 where HasInt8TensorCores(d), else LinearModeExact.
func (m LinearMode) Resolve(d *gpu.Device) LinearMode {
	if m != LinearModeAuto {
		return m
	}
	if HasInt8TensorCores(d) {
		return LinearModeW8A8
	}
	return LinearModeExact
}
