package dit

import (
	"fmt"

	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/attention"
)

// Block is one DiT block with its weights on the device. The block
// borrows the weight tensors: releasing them is the caller's business.
type Block struct {
	Config Config
	DType  ops.DType // the dtype of every weight, and of x and cond

	Norm1, Norm2 *ops.Tensor // RMSNorm weights [D]
	AdaLN        *ops.Linear // [6D, D]: shift1, scale1, gate1, shift2, scale2, gate2
	QKV          *ops.Linear // [3D, D]
	Proj         *ops.Linear // [D, D]
	FFN          *ops.FeedForward
	ffnOut       *ops.Linear // FFN.ProjOut, whose epilogue takes the gate and residual

	opts Options // SetOptions
	lin  linears // the W8A8 copies while opts.Linear is W8A8
}

// New builds a block from its weights, named as in the spec (see
// Config.WeightShapes; the ".bias" tensors may be left out). A missing,
// unknown, ill-shaped or mixed-dtype weight is an *Error naming it.
func New(cfg Config, weights map[string]*ops.Tensor) (*Block, error) {
	cfg, ffCfg, _, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	info := make(map[string]weightInfo, len(weights))
	for n, t := range weights {
		if t == nil {
			continue // an absent optional weight
		}
		info[n] = weightInfo{t.Shape, t.DType}
	}
	dt, err := cfg.checkWeights(info)
	if err != nil {
		return nil, err
	}
	lin := func(name string) (*ops.Linear, error) {
		l, err := ops.NewLinear(weights[name+".weight"], weights[name+".bias"])
		if err != nil {
			return nil, fmt.Errorf("dit: %s: %w", name, err)
		}
		return l, nil
	}
	b := &Block{Config: cfg, DType: dt, Norm1: weights["norm1.weight"], Norm2: weights["norm2.weight"]}
	if b.AdaLN, err = lin("adaln"); err != nil {
		return nil, err
	}
	if b.QKV, err = lin("qkv"); err != nil {
		return nil, err
	}
	if b.Proj, err = lin("proj"); err != nil {
		return nil, err
	}
	in, err := lin("ffn.proj_in")
	if err != nil {
		return nil, err
	}
	if b.ffnOut, err = lin("ffn.proj_out"); err != nil {
		return nil, err
	}
	ffCfg.NoBias = weights["ffn.proj_in.bias"] == nil
	if b.FFN, err = ops.NewFeedForward(ffCfg, in, b.ffnOut); err != nil {
		return nil, fmt.Errorf("dit: ffn: %w", err)
	}
	return b, nil
}

// Forward runs the block on x [B,S,D] with conditioning cond [B,D], both
// of the block's dtype, and returns the new x [B,S,D]:
//
//	m = linear(silu(cond), adaln); shift1, scale1, gate1, shift2, scale2, gate2 = split(m, 6)
//	h = modulate(rms_norm(x, norm1, eps), shift1, scale1)
//	q, k, v = split(linear(h, qkv) reshaped [B,S,3,H,D/H])
//	x = x + gate1[:,None] * linear(attention(q, k, v) flattened, proj)
//	x = x + gate2[:,None] * feed_forward(modulate(rms_norm(x, norm2, eps), shift2, scale2))
//
// Every step is an ops operator; norm+modulate, the FFN's activation and
// the two gated residual updates take the path the dispatch table picks.
// The linears and the attention implementation are the block's Options.
func (b *Block) Forward(x, cond *ops.Tensor) (*ops.Tensor, error) {
	if b == nil || b.AdaLN == nil || b.QKV == nil || b.Proj == nil || b.FFN == nil || b.ffnOut == nil {
		return nil, errorf("", "the block was not made by New")
	}
	D, H := b.Config.Dim, b.Config.NumHeads
	if x == nil || len(x.Shape) != 3 || x.Shape[2] != D || x.Shape[0] <= 0 || x.Shape[1] <= 0 {
		return nil, errorf("x", "shape %v, want [B,S,%d] with B and S positive", shapeOf(x), D)
	}
	B, S := x.Shape[0], x.Shape[1]
	if cond == nil || len(cond.Shape) != 2 || cond.Shape[0] != B || cond.Shape[1] != D {
		return nil, errorf("cond", "shape %v, want [%d,%d]", shapeOf(cond), B, D)
	}
	for n, t := range map[string]*ops.Tensor{"x": x, "cond": cond} {
		if t.DType != b.DType {
			return nil, errorf(n, "dtype %v, want the weights' %v", t.DType, b.DType)
		}
	}
	lin := b.lin
	if len(lin.owned) == 0 {
		lin = b.floatLinears()
	}
	impl := b.opts.Attention
	if impl == 0 {
		impl = attention.TORCH_SDPA
	}
	var temps ops.Temps
	defer temps.Release()
	keep := temps.Keep
	step := func(name string, err error) error { return fmt.Errorf("dit: %s: %w", name, err) }

	// Modulation: six [B,D] chunks of linear(silu(cond)).
	a, err := keep(ops.Activate(cond, ops.ActSiLU))
	if err != nil {
		return nil, step("silu(cond)", err)
	}
	m, err := keep(lin.adaLN.Forward(a))
	if err != nil {
		return nil, step("adaln", err)
	}
	var mod [6]*ops.Tensor // shift1, scale1, gate1, shift2, scale2, gate2
	for i := range mod {
		if mod[i], err = keep(ops.Narrow(m, i*D, D)); err != nil {
			return nil, step("adaln chunk", err)
		}
	}

	// Attention branch.
	h, err := keep(ops.NormThenModulate(ops.KindRMSNorm, x, b.Norm1, nil, b.Config.Eps,
		ops.ModulateArgs{Shift: mod[0], Scale: mod[1], Constant: 1}))
	if err != nil {
		return nil, step("norm1+modulate", err)
	}
	qkv, err := keep(lin.qkv.Forward(h))
	if err != nil {
		return nil, step("qkv", err)
	}
	var heads [3]*ops.Tensor // q, k, v as [B,S,H,D/H]
	for i := range heads {
		t, err := keep(ops.Narrow(qkv, i*D, D))
		if err != nil {
			return nil, step("qkv split", err)
		}
		if heads[i], err = t.Reshape(B, S, H, D/H); err != nil {
			return nil, step("qkv split", err)
		}
	}
	o, err := keep(attention.Attention(heads[0], heads[1], heads[2], attention.DenseAttention(impl)))
	if err != nil {
		return nil, step("attention", err)
	}
	of, err := o.Reshape(B, S, D)
	if err != nil {
		return nil, step("attention", err)
	}
	x1, err := keep(lin.proj.ForwardGateResidual(of, mod[2], x))
	if err != nil {
		return nil, step("proj+gate+residual", err)
	}

	// MLP branch.
	h2, err := keep(ops.NormThenModulate(ops.KindRMSNorm, x1, b.Norm2, nil, b.Config.Eps,
		ops.ModulateArgs{Shift: mod[3], Scale: mod[4], Constant: 1}))
	if err != nil {
		return nil, step("norm2+modulate", err)
	}
	f, err := keep(lin.ffnAct.Forward(h2))
	if err != nil {
		return nil, step("ffn.proj_in+activation", err)
	}
	y, err := lin.ffnOut.ForwardGateResidual(f, mod[5], x1)
	if err != nil {
		return nil, step("ffn.proj_out+gate+residual", err)
	}
	return y, nil
}

// Parameters returns the weight tensors the block holds (biases that
// were left out are skipped).
func (b *Block) Parameters() []*ops.Tensor {
	if b == nil {
		return nil
	}
	var out []*ops.Tensor
	for _, t := range []*ops.Tensor{b.Norm1, b.Norm2} {
		if t != nil {
			out = append(out, t)
		}
	}
	for _, l := range []*ops.Linear{b.AdaLN, b.QKV, b.Proj} {
		if l != nil {
			out = append(out, l.Parameters()...)
		}
	}
	if b.FFN != nil && b.FFN.Act != nil {
		for _, p := range b.FFN.Act.Projections() {
			if p != nil && *p != nil {
				out = append(out, (*p).Parameters()...)
			}
		}
	}
	if b.ffnOut != nil {
		out = append(out, b.ffnOut.Parameters()...)
	}
	return out
}

func shapeOf(t *ops.Tensor) []int {
	if t == nil {
		return nil
	}
	return t.Shape
}
