package ref

import "fmt"

// FeedForward computes proj_out(act(proj_in(x))) for TeleFuser's
// activation_fn kinds (gated geglu and swiglu activate the first half of
// proj_in's 2I outputs); every stored intermediate is rounded to x's dtype.
func FeedForward(x, inW, inB, outW, outB *Tensor, activationFn string) (*Tensor, error) {
	return FeedForwardWith(Linear, x, inW, inB, outW, outB, activationFn)
}

// LinearFunc is a linear layer y = x @ wᵀ + b of the reference (Linear,
// or W8A8Linear for int8 layers).
type LinearFunc func(x, w, b *Tensor) (*Tensor, error)

// exactLinear is Linear as a LinearFunc.
var exactLinear LinearFunc = Linear

// FeedForwardWith is FeedForward with its two projections computed by lin.
func FeedForwardWith(lin LinearFunc, x, inW, inB, outW, outB *Tensor, activationFn string) (*Tensor, error) {
	h, err := lin(x, inW, inB)
	if err != nil {
		return nil, err
	}
	switch activationFn {
	case "gelu":
		h, err = Activation(h, "gelu")
	case "gelu-approximate":
		h, err = Activation(h, "gelu_tanh")
	case "geglu":
		h, err = GatedActivation(h, "gelu")
	case "geglu-approximate":
		h, err = Activation(h, "approx_gelu")
	case "swiglu":
		h, err = GatedActivation(h, "silu")
	case "linear-silu":
		h, err = Activation(h, "silu")
	default:
		return nil, fmt.Errorf("ref.FeedForward: unknown activation_fn %q", activationFn)
	}
	if err != nil {
		return nil, err
	}
	return lin(h, outW, outB)
}

// AdaLayerNormContinuous computes emb = linear(silu(cond)) (rounded to
// cond's dtype at each step), scale = emb[:, :D], shift = emb[:, D:], and
// y = norm(x) * (1 + scale) + shift per batch, norm "layer_norm" or "rms_norm".
func AdaLayerNormContinuous(x, cond, linW, linB, normW, normB *Tensor, normType string, eps float64) (*Tensor, error) {
	if len(x.Shape) != 3 {
		return nil, fmt.Errorf("ref.AdaLayerNormContinuous: x %v, want [B,S,D]", x.Shape)
	}
	B, D := x.Shape[0], x.Shape[2]
	a, err := Activation(cond, "silu")
	if err != nil {
		return nil, err
	}
	emb, err := Linear(a, linW, linB)
	if err != nil {
		return nil, err
	}
	if emb.Numel() != B*2*D {
		return nil, fmt.Errorf("ref.AdaLayerNormContinuous: emb %v, want [%d,%d]", emb.Shape, B, 2*D)
	}
	scale, shift := New(emb.DType, B, D), New(emb.DType, B, D)
	for b := 0; b < B; b++ {
		copy(scale.Data[b*D:(b+1)*D], emb.Data[b*2*D:b*2*D+D])
		copy(shift.Data[b*D:(b+1)*D], emb.Data[b*2*D+D:(b+1)*2*D])
	}
	var n *Tensor
	switch normType {
	case "layer_norm":
		n, err = LayerNorm(x, normW, normB, eps)
	case "rms_norm":
		n, err = RMSNorm(x, normW, normB, eps)
	default:
		return nil, fmt.Errorf("ref.AdaLayerNormContinuous: unknown norm_type %q", normType)
	}
	if err != nil {
		return nil, err
	}
	return FusedScaleShift(n, scale, shift, 1)
}
