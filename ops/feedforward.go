package ops

import (
	"github.com/webfuser/webfuser/gpu"
)

// ProjectedActivation is the first half of a FeedForward: a layer that
// owns its projection (GELU, GEGLU, SwiGLU, ApproximateGELU, LinearActivation).
type ProjectedActivation interface {
	Module
	// Forward projects x and applies the activation.
	Forward(x *gpu.Tensor) (*gpu.Tensor, error)
	// Gated reports whether the projection has twice the output width.
	Gated() bool
}

// projLayer holds the projection common to the activation layers.
type projLayer struct{ Proj Projector }

// Projections returns the layer's projection, for ReplaceLinearLayers.
func (l *projLayer) Projections() []*Projector { return []*Projector{&l.Proj} }

// Children returns no sub-modules.
func (l *projLayer) Children() []Module { return nil }

// Parameters returns nothing: the tensors belong to the projection.
func (l *projLayer) Parameters() []*gpu.Tensor { return nil }

// GELU is proj followed by GELU: exact, or the tanh form when Approximate is "tanh".
type GELU struct {
	projLayer
	Approximate string // "none" or "tanh"
}

// Forward computes gelu(proj(x)).
func (l *GELU) Forward(x *gpu.Tensor) (*gpu.Tensor, error) {
	act := ActGELU
	if l.Approximate == "tanh" {
		act = ActGELUTanh
	}
	return l.Proj.ForwardAct(x, act)
}

// Gated reports false.
func (l *GELU) Gated() bool { return false }

// GEGLU is proj (2*out features) followed by gelu(first half) * second half.
type GEGLU struct{ projLayer }

// Forward computes the gated GELU of proj(x).
func (l *GEGLU) Forward(x *gpu.Tensor) (*gpu.Tensor, error) { return gatedForward(l.Proj, x, ActGELU) }

// Gated reports true.
func (l *GEGLU) Gated() bool { return true }

// SwiGLU is proj (2*out features) followed by silu(first half) * second half.
type SwiGLU struct{ projLayer }

// Forward computes the gated SiLU of proj(x).
func (l *SwiGLU) Forward(x *gpu.Tensor) (*gpu.Tensor, error) { return gatedForward(l.Proj, x, ActSiLU) }

// Gated reports true.
func (l *SwiGLU) Gated() bool { return true }

// ApproximateGELU is proj followed by x * sigmoid(1.702 x).
type ApproximateGELU struct{ projLayer }

// Forward computes approx_gelu(proj(x)).
func (l *ApproximateGELU) Forward(x *gpu.Tensor) (*gpu.Tensor, error) {
	return l.Proj.ForwardAct(x, ActApproxGELU)
}

// Gated reports false.
func (l *ApproximateGELU) Gated() bool { return false }

// LinearActivation is proj followed by an activation (TeleFuser's default silu).
type LinearActivation struct {
	projLayer
	Act Activation
}

// Forward computes act(proj(x)).
func (l *LinearActivation) Forward(x *gpu.Tensor) (*gpu.Tensor, error) {
	return l.Proj.ForwardAct(x, l.Act)
}

// Gated reports false.
func (l *LinearActivation) Gated() bool { return false }

func gatedForward(p Projector, x *gpu.Tensor, act Activation) (*gpu.Tensor, error) {
	h, err := p.Forward(x)
	if err != nil {
		return nil, err
	}
	defer h.Release()
	return GatedActivation(h, act)
}

// FeedForwardConfig mirrors TeleFuser's FeedForward arguments. Zero
// values take TeleFuser's defaults: DimOut = Dim, Mult = 4, InnerDim =
// int(Dim*Mult), ActivationFn "geglu", bias on (NoBias off). Dropout and
// FinalDropout are accepted for fidelity and are the identity: this
// library runs inference only.
type FeedForwardConfig struct {
	Dim, DimOut  int
	Mult         float64
	Dropout      float64
	ActivationFn string // gelu, gelu-approximate, geglu, geglu-approximate, swiglu, linear-silu
	FinalDropout bool
	InnerDim     int
	NoBias       bool
}

// Resolve fills the defaults and returns the projection shapes: proj_in
// has inRows = InnerDim (2*InnerDim for the gated geglu and swiglu)
// outputs, proj_out is [DimOut, InnerDim].
func (c FeedForwardConfig) Resolve() (FeedForwardConfig, int, error) {
	if c.Mult == 0 {
		c.Mult = 4
	}
	if c.ActivationFn == "" {
		c.ActivationFn = "geglu"
	}
	if c.InnerDim == 0 {
		c.InnerDim = int(float64(c.Dim) * c.Mult)
	}
	if c.DimOut == 0 {
		c.DimOut = c.Dim
	}
	if c.Dim <= 0 || c.InnerDim <= 0 || c.DimOut <= 0 {
		return c, 0, errorf("FeedForward", "", "dimensions dim %d, inner %d, out %d must be positive", c.Dim, c.InnerDim, c.DimOut)
	}
	switch c.ActivationFn {
	case "geglu", "swiglu":
		return c, 2 * c.InnerDim, nil
	case "gelu", "gelu-approximate", "geglu-approximate", "linear-silu":
		return c, c.InnerDim, nil
	}
	return c, 0, errorf("FeedForward", "", "unknown activation_fn %q (want gelu, gelu-approximate, geglu, geglu-approximate, swiglu or linear-silu)", c.ActivationFn)
}

// FeedForward is TeleFuser's FeedForward: Act (a projection with its
// activation), dropout (identity) and ProjOut.
type FeedForward struct {
	Config  FeedForwardConfig
	Act     ProjectedActivation
	ProjOut Projector
}

// NewFeedForward builds the network from its two projections, checking
// their shapes against the configuration. In TeleFuser's kinds:
// "gelu" GELU, "gelu-approximate" GELU(tanh), "geglu" GEGLU,
// "geglu-approximate" ApproximateGELU (not gated, as TeleFuser builds it),
// "swiglu" SwiGLU, "linear-silu" LinearActivation(silu).
func NewFeedForward(cfg FeedForwardConfig, projIn, projOut Projector) (*FeedForward, error) {
	const op = "FeedForward"
	cfg, inRows, err := cfg.Resolve()
	if err != nil {
		return nil, err
	}
	if projIn == nil || projOut == nil {
		return nil, errorf(op, "proj_in.weight", "both projections are required")
	}
	if in, out := projIn.Dims(); in != cfg.Dim || out != inRows {
		return nil, errorf(op, "proj_in.weight", "shape [%d %d], want [%d %d] for %s", out, in, inRows, cfg.Dim, cfg.ActivationFn)
	}
	if in, out := projOut.Dims(); in != cfg.InnerDim || out != cfg.DimOut {
		return nil, errorf(op, "proj_out.weight", "shape [%d %d], want [%d %d]", out, in, cfg.DimOut, cfg.InnerDim)
	}
	pl := projLayer{projIn}
	var act ProjectedActivation
	switch cfg.ActivationFn {
	case "gelu":
		act = &GELU{pl, "none"}
	case "gelu-approximate":
		act = &GELU{pl, "tanh"}
	case "geglu":
		act = &GEGLU{pl}
	case "geglu-approximate":
		act = &ApproximateGELU{pl}
	case "swiglu":
		act = &SwiGLU{pl}
	case "linear-silu":
		act = &LinearActivation{pl, ActSiLU}
	}
	return &FeedForward{Config: cfg, Act: act, ProjOut: projOut}, nil
}

// Forward computes proj_out(act(proj_in(x))).
func (f *FeedForward) Forward(x *gpu.Tensor) (*gpu.Tensor, error) {
	h, err := f.Act.Forward(x)
	if err != nil {
		return nil, err
	}
	defer h.Release()
	return f.ProjOut.Forward(h)
}

// Projections returns the output projection (proj_in belongs to Act).
func (f *FeedForward) Projections() []*Projector { return []*Projector{&f.ProjOut} }

// Children returns the activation layer.
func (f *FeedForward) Children() []Module { return []Module{f.Act} }

// Parameters returns nothing: every tensor belongs to a projection.
func (f *FeedForward) Parameters() []*gpu.Tensor { return nil }

// FeedForwardForward is the functional form (the golden op
// feed_forward): the dimensions come from the weights.
func FeedForwardForward(x, inW, inB, outW, outB *gpu.Tensor, activationFn string) (*gpu.Tensor, error) {
	in, err := NewLinear(inW, inB)
	if err != nil {
		return nil, err
	}
	out, err := NewLinear(outW, outB)
	if err != nil {
		return nil, err
	}
	cfg := FeedForwardConfig{Dim: in.In, DimOut: out.Out, InnerDim: out.In, ActivationFn: activationFn, NoBias: inB == nil}
	ff, err := NewFeedForward(cfg, in, out)
	if err != nil {
		return nil, err
	}
	return ff.Forward(x)
}

// NewGELU returns proj followed by GELU; approximate is "none" or "tanh".
func NewGELU(proj Projector, approximate string) (*GELU, error) {
	if approximate != "none" && approximate != "tanh" {
		return nil, errorf("GELU", "", "approximate %q, want none or tanh", approximate)
	}
	return &GELU{projLayer{proj}, approximate}, nil
}

// NewGEGLU returns proj (2*out features) followed by the gated GELU.
func NewGEGLU(proj Projector) *GEGLU { return &GEGLU{projLayer{proj}} }

// NewSwiGLU returns proj (2*out features) followed by the gated SiLU.
func NewSwiGLU(proj Projector) *SwiGLU { return &SwiGLU{projLayer{proj}} }

// NewApproximateGELU returns proj followed by x * sigmoid(1.702 x).
func NewApproximateGELU(proj Projector) *ApproximateGELU { return &ApproximateGELU{projLayer{proj}} }

// NewLinearActivation returns proj followed by the activation named as
// GetActivation names it (TeleFuser's default is "silu").
func NewLinearActivation(proj Projector, activation string) (*LinearActivation, error) {
	a, err := GetActivation(activation)
	if err != nil {
		return nil, err
	}
	return &LinearActivation{projLayer{proj}, a.Fn}, nil
}
