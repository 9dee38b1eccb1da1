// Package wan is a Wan-style transformer block (after Wan 2.1's
// WanAttentionBlock) built from the operators of ops and ops/attention
// only: self-attention with q/k RMSNorm over the whole width and the 3-D
// rotary embedding, cross-attention to conditioning tokens, a GELU(tanh)
// feed-forward network, and a per-block modulation added to the shared
// timestep projection. Parameters are named by PyTorch module path
// inside the block (see Config.Shapes), so a state dict saved from the
// PyTorch twin (models/train/train.py) binds as it is.
package wan

import (
	"fmt"

	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/attention"
)

// DefaultEps is the epsilon of every norm of the block, as Wan uses it.
const DefaultEps = 1e-6

// Config holds the block's attributes: the width Dim (D), the
// feed-forward width FFNDim, the head count NumHeads (D a multiple of it,
// the head dimension D/NumHeads a multiple of 4 up to 256) and the
// epsilon of its norms.
type Config struct {
	Dim, FFNDim, NumHeads int
	Eps                   float32
}

// Check returns an *Error for an attribute the block cannot take.
func (c Config) Check() error {
	switch {
	case c.Dim <= 0 || c.FFNDim <= 0:
		return errorf("", "dim %d and ffn_dim %d must be positive", c.Dim, c.FFNDim)
	case c.NumHeads <= 0 || c.Dim%c.NumHeads != 0:
		return errorf("", "dim %d is not a multiple of num_heads %d", c.Dim, c.NumHeads)
	case (c.Dim/c.NumHeads)%4 != 0 || c.Dim/c.NumHeads > 256:
		return errorf("", "head dimension %d must be a multiple of 4 up to 256", c.Dim/c.NumHeads)
	case !(c.Eps >= 0):
		return errorf("", "eps %g must be non-negative", c.Eps)
	}
	return nil
}

// Names returns the block's parameter names, relative to the block, in
// the PyTorch module's order.
func Names() []string { return append([]string(nil), names...) }

var names = []string{"modulation",
	"self_attn.q.weight", "self_attn.q.bias", "self_attn.k.weight", "self_attn.k.bias",
	"self_attn.v.weight", "self_attn.v.bias", "self_attn.o.weight", "self_attn.o.bias",
	"self_attn.norm_q.weight", "self_attn.norm_k.weight", "norm3.weight", "norm3.bias",
	"cross_attn.q.weight", "cross_attn.q.bias", "cross_attn.k.weight", "cross_attn.k.bias",
	"cross_attn.v.weight", "cross_attn.v.bias", "cross_attn.o.weight", "cross_attn.o.bias",
	"cross_attn.norm_q.weight", "cross_attn.norm_k.weight",
	"ffn.0.weight", "ffn.0.bias", "ffn.2.weight", "ffn.2.bias"}

// linears lists the block's linear layers (each with a bias).
var linears = []string{"self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o",
	"cross_attn.q", "cross_attn.k", "cross_attn.v", "cross_attn.o", "ffn.0", "ffn.2"}

// Shapes returns every parameter's shape by its name in the block:
// modulation [1,6,D]; the q, k, v, o linears of self_attn and cross_attn
// [D,D] with biases [D]; their norm_q and norm_k RMSNorm weights [D];
// norm3 (the affine LayerNorm before cross-attention) weight and bias
// [D]; ffn.0 [F,D] and ffn.2 [D,F] with biases.
func (c Config) Shapes() map[string][]int {
	D, F := c.Dim, c.FFNDim
	s := map[string][]int{"modulation": {1, 6, D}, "norm3.weight": {D}, "norm3.bias": {D},
		"ffn.0.weight": {F, D}, "ffn.0.bias": {F}, "ffn.2.weight": {D, F}, "ffn.2.bias": {D}}
	for _, a := range []string{"self_attn.", "cross_attn."} {
		for _, p := range []string{"q", "k", "v", "o"} {
			s[a+p+".weight"], s[a+p+".bias"] = []int{D, D}, []int{D}
		}
		s[a+"norm_q.weight"], s[a+"norm_k.weight"] = []int{D}, []int{D}
	}
	return s
}

// Declare adds the block's parameters under prefix (e.g. "blocks.0.")
// to a state spec; the linears may be stored in FP8 with their scales.
func (c Config) Declare(spec *ops.StateSpec, prefix string) {
	sh := c.Shapes()
	lin := map[string]bool{}
	for _, l := range linears {
		lin[l+".weight"], lin[l+".bias"] = true, true
	}
	for _, n := range names {
		switch {
		case lin[n] && len(sh[n]) == 2:
			spec.Linear(prefix+n[:len(n)-len(".weight")], sh[n][0], sh[n][1], true)
		case lin[n]: // declared with its weight
		default:
			spec.Param(prefix+n, sh[n]...)
		}
	}
}

// Attention is one attention layer of the block: projections Q, K, V, O
// and the RMSNorm weights of q and k.
type Attention struct {
	Q, K, V, O   ops.Projector
	NormQ, NormK *ops.Tensor
}

// Block is a Wan-style block with its parameters on the device. It
// borrows them from the state it was built from; Release frees only the
// two constants it made.
type Block struct {
	Config              Config
	DType               ops.DType
	Modulation          *ops.Tensor // [1,6,D]
	SelfAttn, CrossAttn Attention
	Norm3W, Norm3B      *ops.Tensor
	FFNIn, FFNOut       ops.Projector // ffn.0 (then GELU tanh), ffn.2
	// AttnImpl is the implementation both attention layers run through
	// attention.Attention (zero means TORCH_SDPA).
	AttnImpl attention.AttnImplType

	zero *ops.Tensor // scalar 0: the scale of the additions done as FusedScaleShift
	ones *ops.Tensor // [D] of 1: the cross-attention residual's gate
}

// FromState builds a block from a loaded state whose parameters sit
// under prefix (declared with Config.Declare).
func FromState(cfg Config, st *ops.State, prefix string) (*Block, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	b := &Block{Config: cfg, DType: st.DType, Modulation: st.Tensor(prefix + "modulation"),
		Norm3W: st.Tensor(prefix + "norm3.weight"), Norm3B: st.Tensor(prefix + "norm3.bias")}
	if b.Modulation == nil {
		return nil, errorf(prefix+"modulation", "was not loaded")
	}
	lin := func(n string) (ops.Projector, error) {
		p, err := st.Linear(prefix + n)
		if err != nil {
			return nil, fmt.Errorf("wan: %s%s: %w", prefix, n, err)
		}
		return p, nil
	}
	var err error
	for _, a := range []struct {
		name string
		at   *Attention
	}{{"self_attn.", &b.SelfAttn}, {"cross_attn.", &b.CrossAttn}} {
		for _, p := range []struct {
			n   string
			dst *ops.Projector
		}{{"q", &a.at.Q}, {"k", &a.at.K}, {"v", &a.at.V}, {"o", &a.at.O}} {
			if *p.dst, err = lin(a.name + p.n); err != nil {
				return nil, err
			}
		}
		a.at.NormQ, a.at.NormK = st.Tensor(prefix+a.name+"norm_q.weight"), st.Tensor(prefix+a.name+"norm_k.weight")
	}
	if b.FFNIn, err = lin("ffn.0"); err != nil {
		return nil, err
	}
	if b.FFNOut, err = lin("ffn.2"); err != nil {
		return nil, err
	}
	d := b.Modulation.Device()
	if b.zero, err = ops.Upload(d, ops.NewHostTensor(b.DType)); err != nil {
		return nil, err
	}
	ones := ops.NewHostTensor(b.DType, cfg.Dim)
	for i := range ones.Data {
		ones.Data[i] = 1
	}
	if b.ones, err = ops.Upload(d, ones); err != nil {
		b.zero.Release()
		return nil, err
	}
	return b, nil
}

// Release frees the constants the block made (not its parameters).
func (b *Block) Release() {
	b.zero.Release()
	b.ones.Release()
}

// Forward runs the block on x [B,L,D] with the shared timestep
// projection e0 [B,6D], context tokens ctx [B,T,D] and the rotary tables
// cos, sin [L, D/H/2] of the token grid (ops.RotaryTables3D), all in the
// block's dtype, and returns the new x [B,L,D]:
//
//	e = modulation + e0; shift1, scale1, gate1, shift2, scale2, gate2 = e
//	h = layer_norm(x) * (1 + scale1) + shift1
//	x = x + gate1 * self_attn.o(attention(rope(rms_norm(q(h))), rope(rms_norm(k(h))), v(h)))
//	x = x + cross_attn.o(attention(rms_norm(q(norm3(x))), rms_norm(k(ctx)), v(ctx)))
//	x = x + gate2 * ffn.2(gelu_tanh(ffn.0(layer_norm(x) * (1 + scale2) + shift2)))
func (b *Block) Forward(x, e0, ctx, cos, sin *ops.Tensor) (*ops.Tensor, error) {
	D := b.Config.Dim
	if x == nil || len(x.Shape) != 3 || x.Shape[2] != D {
		return nil, errorf("x", "shape %v, want [B,L,%d]", shapeOf(x), D)
	}
	B, L := x.Shape[0], x.Shape[1]
	if e0 == nil || len(e0.Shape) != 2 || e0.Shape[0] != B || e0.Shape[1] != 6*D {
		return nil, errorf("e0", "shape %v, want [%d,%d]", shapeOf(e0), B, 6*D)
	}
	if ctx == nil || len(ctx.Shape) != 3 || ctx.Shape[0] != B || ctx.Shape[2] != D || ctx.Shape[1] < 1 {
		return nil, errorf("context", "shape %v, want [%d,T,%d]", shapeOf(ctx), B, D)
	}
	for _, nt := range []struct {
		n string
		t *ops.Tensor
	}{{"x", x}, {"e0", e0}, {"context", ctx}} {
		if nt.t.DType != b.DType {
			return nil, errorf(nt.n, "dtype %v, want the weights' %v", nt.t.DType, b.DType)
		}
	}
	var temps ops.Temps
	defer temps.Release()
	keep := temps.Keep
	step := func(name string, err error) error { return fmt.Errorf("wan: %s: %w", name, err) }

	// e = modulation + e0 as one FusedScaleShift: e0*(1+0) + modulation.
	mod, err := b.Modulation.Reshape(6 * D)
	if err != nil {
		return nil, step("modulation", err)
	}
	e03, err := e0.Reshape(B, 1, 6*D)
	if err != nil {
		return nil, step("e0", err)
	}
	e3, err := keep(ops.FusedScaleShift(e03, b.zero, mod, 1))
	if err != nil {
		return nil, step("modulation+e0", err)
	}
	e, err := e3.Reshape(B, 6*D)
	if err != nil {
		return nil, step("modulation+e0", err)
	}
	var m [6]*ops.Tensor // shift1, scale1, gate1, shift2, scale2, gate2, each [B,D]
	for i := range m {
		if m[i], err = keep(ops.Narrow(e, i*D, D)); err != nil {
			return nil, step("modulation chunk", err)
		}
	}

	// Self-attention.
	h, err := keep(ops.NormThenModulate(ops.KindLayerNorm, x, nil, nil, b.Config.Eps,
		ops.ModulateArgs{Shift: m[0], Scale: m[1], Constant: 1}))
	if err != nil {
		return nil, step("norm1+modulate", err)
	}
	o, err := keep(b.attend(&b.SelfAttn, "self_attn", h, h, cos, sin, B, L, L, keep))
	if err != nil {
		return nil, err
	}
	x1, err := keep(gateResidual(b.SelfAttn.O, o, m[2], x))
	if err != nil {
		return nil, step("self_attn.o+gate+residual", err)
	}

	// Cross-attention, its residual ungated.
	c, err := keep(ops.LayerNormForward(x1, b.Norm3W, b.Norm3B, b.Config.Eps))
	if err != nil {
		return nil, step("norm3", err)
	}
	co, err := keep(b.attend(&b.CrossAttn, "cross_attn", c, ctx, nil, nil, B, L, ctx.Shape[1], keep))
	if err != nil {
		return nil, err
	}
	x2, err := keep(gateResidual(b.CrossAttn.O, co, b.ones, x1))
	if err != nil {
		return nil, step("cross_attn.o+residual", err)
	}

	// Feed-forward.
	h2, err := keep(ops.NormThenModulate(ops.KindLayerNorm, x2, nil, nil, b.Config.Eps,
		ops.ModulateArgs{Shift: m[3], Scale: m[4], Constant: 1}))
	if err != nil {
		return nil, step("norm2+modulate", err)
	}
	f, err := keep(b.FFNIn.ForwardAct(h2, ops.ActGELUTanh))
	if err != nil {
		return nil, step("ffn.0+gelu_tanh", err)
	}
	y, err := gateResidual(b.FFNOut, f, m[5], x2)
	if err != nil {
		return nil, step("ffn.2+gate+residual", err)
	}
	return y, nil
}

// attend computes attention(rms_norm(q(x)), rms_norm(k(kv)), v(kv)) with
// the rotary embedding on q and k when cos is given, and returns it
// flattened to [B,L,D] (before the output projection).
func (b *Block) attend(a *Attention, name string, x, kv, cos, sin *ops.Tensor, B, L, T int,
	keep func(*ops.Tensor, error) (*ops.Tensor, error)) (*ops.Tensor, error) {
	D, H := b.Config.Dim, b.Config.NumHeads
	step := func(what string, err error) error { return fmt.Errorf("wan: %s.%s: %w", name, what, err) }
	heads := func(p ops.Projector, norm *ops.Tensor, in *ops.Tensor, n int, what string, rope bool) (*ops.Tensor, error) {
		y, err := keep(p.Forward(in))
		if err != nil {
			return nil, step(what, err)
		}
		if norm != nil {
			if y, err = keep(ops.RMSNormForward(y, norm, nil, b.Config.Eps)); err != nil {
				return nil, step("norm_"+what, err)
			}
		}
		y4, err := y.Reshape(B, n, H, D/H)
		if err != nil {
			return nil, step(what, err)
		}
		if rope && cos != nil {
			if y4, err = keep(ops.ApplyRotaryEmb(y4, cos, sin, true)); err != nil {
				return nil, step("rope("+what+")", err)
			}
		}
		return y4, nil
	}
	q, err := heads(a.Q, a.NormQ, x, L, "q", true)
	if err != nil {
		return nil, err
	}
	k, err := heads(a.K, a.NormK, kv, T, "k", true)
	if err != nil {
		return nil, err
	}
	v, err := heads(a.V, nil, kv, T, "v", false)
	if err != nil {
		return nil, err
	}
	impl := b.AttnImpl
	if impl == 0 {
		impl = attention.TORCH_SDPA
	}
	o, err := attention.Attention(q, k, v, attention.DenseAttention(impl))
	if err != nil {
		return nil, step("attention", err)
	}
	o.Shape = []int{B, L, D} // the heads flattened, same elements
	return o, nil
}

// gateResidual computes residual + gate * p(x): in the product's
// epilogue for a float Linear or a LinearInt8 (ops.GateResidualProjector),
// otherwise the projection followed by FusedScaleShift (y * (0 + gate) +
// residual).
func gateResidual(p ops.Projector, x, gate, residual *ops.Tensor) (*ops.Tensor, error) {
	if l, ok := p.(ops.GateResidualProjector); ok {
		return l.ForwardGateResidual(x, gate, residual)
	}
	y, err := p.Forward(x)
	if err != nil {
		return nil, err
	}
	defer y.Release()
	return ops.FusedScaleShift(y, gate, residual, 0)
}

// Projections returns the block's ten linear layers, for ReplaceLinearLayers.
func (b *Block) Projections() []*ops.Projector {
	return []*ops.Projector{&b.SelfAttn.Q, &b.SelfAttn.K, &b.SelfAttn.V, &b.SelfAttn.O,
		&b.CrossAttn.Q, &b.CrossAttn.K, &b.CrossAttn.V, &b.CrossAttn.O, &b.FFNIn, &b.FFNOut}
}

// Children returns no sub-modules.
func (b *Block) Children() []ops.Module { return nil }

// Parameters returns the block's tensors outside its projections.
func (b *Block) Parameters() []*ops.Tensor {
	return []*ops.Tensor{b.Modulation, b.SelfAttn.NormQ, b.SelfAttn.NormK, b.Norm3W, b.Norm3B,
		b.CrossAttn.NormQ, b.CrossAttn.NormK}
}

func shapeOf(t *ops.Tensor) []int {
	if t == nil {
		return nil
	}
	return t.Shape
}
