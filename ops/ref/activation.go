package ref

import (
	"fmt"
	"math"

	"github.com/webfuser/webfuser/internal/dtype"
)

// ActivationFn returns the float64 function of a spec activation name
// ("gelu", "gelu_tanh", "silu", "fp32_silu", "approx_gelu", "relu",
// "mish", "none").
func ActivationFn(name string) (func(float64) float64, error) {
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	switch name {
	case "none":
		return func(x float64) float64 { return x }, nil
	case "gelu":
		return func(x float64) float64 { return 0.5 * x * math.Erfc(-x/math.Sqrt2) }, nil
	case "gelu_tanh":
		return func(x float64) float64 {
			return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		}, nil
	case "silu", "fp32_silu":
		return func(x float64) float64 { return x * sig(x) }, nil
	case "approx_gelu":
		return func(x float64) float64 { return x * sig(1.702*x) }, nil
	case "relu":
		return func(x float64) float64 {
			if x < 0 {
				return 0
			}
			return x
		}, nil
	case "mish":
		return func(x float64) float64 {
			sp := x
			if x <= 20 {
				sp = math.Log1p(math.Exp(x))
			}
			return x * math.Tanh(sp)
		}, nil
	}
	return nil, fmt.Errorf("ref: unknown activation %q", name)
}

// Activation applies a named activation elementwise; the output has x's dtype.
func Activation(x *Tensor, name string) (*Tensor, error) {
	f, err := ActivationFn(name)
	if err != nil {
		return nil, err
	}
	y := New(x.DType, x.Shape...)
	for i, v := range x.Data {
		y.Data[i] = dtype.Round(x.DType, f(v))
	}
	return y, nil
}

// GatedActivation computes act(x[..., :N]) * x[..., N:] for x [..., 2N];
// the activation is rounded to x's dtype before the product, as PyTorch
// stores it.
func GatedActivation(x *Tensor, name string) (*Tensor, error) {
	if name != "gelu" && name != "gelu_tanh" && name != "silu" {
		return nil, fmt.Errorf("ref: activation %q is not gated", name)
	}
	f, _ := ActivationFn(name)
	rows, n2 := lastDim(x)
	if n2%2 != 0 {
		return nil, fmt.Errorf("ref: gated activation needs an even last dimension, got %v", x.Shape)
	}
	n := n2 / 2
	shape := append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), n)
	y := New(x.DType, shape...)
	for r := 0; r < rows; r++ {
		for c := 0; c < n; c++ {
			g := dtype.Round(x.DType, f(x.Data[r*n2+c]))
			y.Data[r*n+c] = dtype.Round(x.DType, g*x.Data[r*n2+n+c])
		}
	}
	return y, nil
}
