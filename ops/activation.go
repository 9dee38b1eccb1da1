package ops

import (
	"fmt"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/kernel"
)

// Activation names an elementwise function of the activation kernel.
type Activation int

// The spec's activation functions; ActNone is the identity.
const (
	ActNone       Activation = iota
	ActGELU                  // exact GELU, x * Φ(x) with erf
	ActGELUTanh              // GELU, tanh approximation
	ActSiLU                  // x * sigmoid(x)
	ActFP32SiLU              // SiLU computed in f32 and cast back (TeleFuser's FP32SiLU)
	ActApproxGELU            // x * sigmoid(1.702 x)
	ActReLU                  // max(x, 0)
	ActMish                  // x * tanh(softplus(x))
)

var actNames = [...]string{"none", "gelu", "gelu_tanh", "silu", "fp32_silu", "approx_gelu", "relu", "mish"}

// String returns the spec's name of the function, e.g. "gelu_tanh".
func (a Activation) String() string {
	if a >= 0 && int(a) < len(actNames) {
		return actNames[a]
	}
	return fmt.Sprintf("activation(%d)", int(a))
}

// wgslFn returns the WGSL function that computes a (see wgsl/act.wgsl).
func (a Activation) wgslFn() string { return "act_" + a.String() }

// ParseActivation reads a spec activation name ("gelu", "gelu_tanh",
// "silu", "fp32_silu", "approx_gelu", "relu", "mish", "none").
func ParseActivation(name string) (Activation, error) {
	for i, n := range actNames {
		if n == name {
			return Activation(i), nil
		}
	}
	return 0, errorf("Activation", "", "unknown activation %q (want one of %s)", name, strings.Join(actNames[:], ", "))
}

// ActivationLayer is an activation module: it applies Fn elementwise.
type ActivationLayer struct{ Fn Activation }

// Forward applies the activation to x.
func (l *ActivationLayer) Forward(x *gpu.Tensor) (*gpu.Tensor, error) { return Activate(x, l.Fn) }

// GetActivation returns TeleFuser's activation module for a name:
// "silu" or "swish", "gelu", "relu", "mish" (case-insensitive).
func GetActivation(name string) (*ActivationLayer, error) {
	switch strings.ToLower(name) {
	case "silu", "swish":
		return &ActivationLayer{ActSiLU}, nil
	case "gelu":
		return &ActivationLayer{ActGELU}, nil
	case "relu":
		return &ActivationLayer{ActReLU}, nil
	case "mish":
		return &ActivationLayer{ActMish}, nil
	}
	return nil, errorf("GetActivation", "", "activation function %q not found (want silu, swish, gelu, relu or mish)", name)
}

// FP32SiLU returns TeleFuser's FP32SiLU module: SiLU in f32, cast back to x's dtype.
func FP32SiLU() *ActivationLayer { return &ActivationLayer{ActFP32SiLU} }

func checkAct(op string, a Activation) error {
	if a < 0 || int(a) >= len(actNames) {
		return errorf(op, "", "unknown activation %v", a)
	}
	return nil
}

// Activate applies fn elementwise to x in f32; the output has x's dtype.
func Activate(x *gpu.Tensor, fn Activation) (*gpu.Tensor, error) {
	return biasAct("Activation", x, nil, fn)
}

// biasAct computes act(rnd(x + bias)) with bias [N] broadcast over the
// rows of x [..., N]; nil bias skips the add. It is the composed path's
// second kernel after a bias-free or bias-fused linear.
func biasAct(op string, x, bias *gpu.Tensor, fn Activation) (*gpu.Tensor, error) {
	if err := checkFloat(op, "x", x); err != nil {
		return nil, err
	}
	if err := checkAct(op, fn); err != nil {
		return nil, err
	}
	rows, n, err := lastDimOf(op, "x", x)
	if err != nil {
		return nil, err
	}
	if err := checkVector(op, "bias", bias, n); err != nil {
		return nil, err
	}
	return biasActKernel(x, bias, fn, unitsVariant{}, rows, n).RunOne(x.Device())
}

// biasActKernel declares the activation of x (with bias, a row kernel
// over rows of n; without, a flat kernel).
func biasActKernel(x, bias *gpu.Tensor, fn Activation, v unitsVariant, rows, n int) *kernel.Kernel {
	s := &unitsSpec{name: "activation", x: x, yShape: x.Shape, n: x.Numel(), v: v}
	s.apply = func(f fastOut, checked bool) string { return "v = " + f.act(fn, "v") + ";" }
	if bias != nil {
		s.row, s.rows, s.cols, s.xcols = true, rows, n, n
		s.loadW = "ws[k] = ldu_b(j);"
		s.bind = func(k *kernel.Kernel) { k.In("b", bias) }
		s.apply = func(f fastOut, checked bool) string {
			return fmt.Sprintf("v = %s;\n        v = %s;", f.rnd(checked, "y", x.DType, "v + wu[h]"), f.act(fn, "v"))
		}
	}
	return s.kernel()
}

// GatedActivation computes y = act(x[..., :N]) * x[..., N:] for x
// [..., 2N] (TeleFuser order: the first half is activated). fn is one of
// ActGELU, ActGELUTanh, ActSiLU; the output has x's dtype.
func GatedActivation(x *gpu.Tensor, fn Activation) (*gpu.Tensor, error) {
	const op = "GatedActivation"
	if err := checkFloat(op, "x", x); err != nil {
		return nil, err
	}
	if fn != ActGELU && fn != ActGELUTanh && fn != ActSiLU {
		return nil, errorf(op, "", "activation %v is not gated (want gelu, gelu_tanh or silu)", fn)
	}
	rows, n2, err := lastDimOf(op, "x", x)
	if err != nil {
		return nil, err
	}
	if n2%2 != 0 {
		return nil, errorf(op, "x", "last dimension %d is odd; a gated unit splits it in two halves", n2)
	}
	return gatedKernel(x, fn, unitsVariant{}, rows, n2/2).RunOne(x.Device())
}

// gatedKernel declares the gated unit over rows of x [rows, 2n]: one
// workgroup per row, the gate's unit at column j and the value's at n+j.
func gatedKernel(x *gpu.Tensor, fn Activation, v unitsVariant, rows, n int) *kernel.Kernel {
	shape := append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), n)
	s := &unitsSpec{name: "gated_activation", x: x, yShape: shape, row: true, rows: rows, cols: n, xcols: 2 * n, v: v}
	s.loadW = "ws[k] = ldu_x(xb + p.cu + j);"
	// TeleFuser rounds the activation to the storage dtype before the product.
	s.apply = func(f fastOut, checked bool) string {
		return fmt.Sprintf("v = %s * wu[h];", f.rnd(checked, "y", x.DType, f.act(fn, "v")))
	}
	return s.kernel()
}
