package ops

import (
	"fmt"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/launch"
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
	_, n, err := lastDimOf(op, "x", x)
	if err != nil {
		return nil, err
	}
	if err := checkVector(op, "bias", bias, n); err != nil {
		return nil, err
	}
	vec := launch.PackWidth(n)
	packs := x.Numel() / vec
	in := "ldv_x(i)"
	k := elementwise(x.Device(), "activation", vec, packs, "act").In("x", x)
	if bias != nil {
		k.In("b", bias).U32("cols", n/vec)
		in = "rnd_y(ldv_x(i) + ldv_b(i % p.cols))"
	}
	k.Out("y", x.DType, x.Shape...)
	k.Snippet("BODY", fmt.Sprintf("let v = %s;\n  stv_y(i, %s);", in, lanes(vec, fn.wgslFn()+"(%s)", "v")))
	return k.RunOne(x.Device())
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
	n := n2 / 2
	shape := append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), n)
	vec := launch.PackWidth(n)
	packs := rows * n / vec
	// TeleFuser rounds the activation to the storage dtype before the product.
	body := fmt.Sprintf(`let r = i / p.cols;
  let c = i - r * p.cols;
  let g = ldv_x(2u * r * p.cols + c);
  let u = ldv_x(2u * r * p.cols + p.cols + c);
  stv_y(i, rnd_y(%s) * u);`, lanes(vec, fn.wgslFn()+"(%s)", "g"))
	k := elementwise(x.Device(), "gated_activation", vec, packs, "act").Snippet("BODY", body)
	return k.In("x", x).Out("y", x.DType, shape...).U32("cols", n/vec).RunOne(x.Device())
}
