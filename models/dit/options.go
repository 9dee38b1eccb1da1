package dit

import (
	"fmt"

	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/attention"
)

// Options are a block's run-time choices: how its linears multiply
// (ops.LinearModeExact, the zero value, runs the float weights;
// ops.LinearModeW8A8 runs int8 copies quantised once by SetOptions;
// ops.LinearModeAuto picks W8A8 where the device has int8 tensor cores)
// and which attention implementation runs (zero means TORCH_SDPA;
// attention.Attention serves it, falling back with a warning where the
// implementation has no kernel).
type Options struct {
	Linear    ops.LinearMode
	Attention attention.AttnImplType
}

// linears are the projections Forward runs: the float layers, or their
// W8A8 copies.
type linears struct {
	adaLN, qkv   ops.Projector
	proj, ffnOut ops.GateResidualProjector
	ffnAct       ops.ProjectedActivation
	owned        []*ops.LinearInt8 // the W8A8 copies, released by Release
}

// SetOptions sets the block's options. Switching to W8A8 quantises the
// five linears' weights once (ops.QuantizeLinearInt8; their input widths
// must be multiples of 4); switching back releases the int8 copies. The
// float weights stay borrowed and untouched either way. Options.Linear
// reports the resolved mode afterwards (auto becomes exact or w8a8).
func (b *Block) SetOptions(o Options) error {
	if b == nil || b.AdaLN == nil || b.FFN == nil || b.ffnOut == nil {
		return errorf("", "the block was not made by New")
	}
	if o.Attention == 0 {
		o.Attention = attention.TORCH_SDPA
	}
	if _, err := attention.ParseAttnImpl(o.Attention.String()); err != nil {
		return errorf("attention", "%v", err)
	}
	mode := o.Linear.Resolve(b.AdaLN.Weight.Device())
	if mode != ops.LinearModeExact && mode != ops.LinearModeW8A8 {
		return errorf("linear", "unknown linear mode %v", o.Linear)
	}
	o.Linear = mode
	if mode == ops.LinearModeW8A8 && len(b.lin.owned) == 0 {
		lin, err := b.quantized()
		if err != nil {
			return err
		}
		b.lin = lin
	}
	if mode == ops.LinearModeExact {
		b.Release()
	}
	b.opts = o
	return nil
}

// Options returns the block's options (the zero Options until SetOptions).
func (b *Block) Options() Options { return b.opts }

// quantized returns W8A8 copies of the block's linears.
func (b *Block) quantized() (linears, error) {
	var lin linears
	q := func(name string, l *ops.Linear) (*ops.LinearInt8, error) {
		c, err := ops.QuantizeLinearInt8(l)
		if err != nil {
			for _, o := range lin.owned {
				releaseInt8(o)
			}
			return nil, fmt.Errorf("dit: %s as W8A8: %w", name, err)
		}
		lin.owned = append(lin.owned, c)
		return c, nil
	}
	var err error
	if lin.adaLN, err = q("adaln", b.AdaLN); err != nil {
		return linears{}, err
	}
	if lin.qkv, err = q("qkv", b.QKV); err != nil {
		return linears{}, err
	}
	if lin.proj, err = q("proj", b.Proj); err != nil {
		return linears{}, err
	}
	in, ok := (*b.FFN.Act.Projections()[0]).(*ops.Linear)
	if !ok {
		return linears{}, errorf("ffn.proj_in", "is not a float linear")
	}
	in8, err := q("ffn.proj_in", in)
	if err != nil {
		return linears{}, err
	}
	out8, err := q("ffn.proj_out", b.ffnOut)
	if err != nil {
		return linears{}, err
	}
	lin.ffnOut = out8
	ff, err := ops.NewFeedForward(b.FFN.Config, in8, out8)
	if err != nil {
		for _, o := range lin.owned {
			releaseInt8(o)
		}
		return linears{}, fmt.Errorf("dit: ffn as W8A8: %w", err)
	}
	lin.ffnAct = ff.Act
	return lin, nil
}

// floatLinears returns the projections of the float weights.
func (b *Block) floatLinears() linears {
	return linears{adaLN: b.AdaLN, qkv: b.QKV, proj: b.Proj, ffnOut: b.ffnOut, ffnAct: b.FFN.Act}
}

// Release frees the tensors the block made itself (the W8A8 copies of
// its weights) and returns it to the float linears; the borrowed weights
// are the caller's.
func (b *Block) Release() {
	if b == nil {
		return
	}
	for _, o := range b.lin.owned {
		releaseInt8(o)
	}
	b.lin = linears{}
	b.opts.Linear = ops.LinearModeExact
}

// releaseInt8 frees a W8A8 copy's codes and scales (the bias is borrowed).
func releaseInt8(l *ops.LinearInt8) {
	l.Weight.Release()
	l.WeightScale.Release()
}
