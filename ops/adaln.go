package ops

import (
	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/launch"
)

// Narrow copies columns [start, start+length) of the last dimension of x
// into a new contiguous tensor of x's dtype.
func Narrow(x *gpu.Tensor, start, length int) (*gpu.Tensor, error) {
	const op = "Narrow"
	if err := checkFloat(op, "x", x); err != nil {
		return nil, err
	}
	rows, n, err := lastDimOf(op, "x", x)
	if err != nil {
		return nil, err
	}
	if start < 0 || length < 0 || start+length > n {
		return nil, errorf(op, "x", "columns [%d,%d) are outside the last dimension of %v", start, start+length, x.Shape)
	}
	shape := append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), length)
	vec := launch.PackWidth(n, start, length)
	packs := rows * length / vec
	k := elementwise(x.Device(), "narrow", vec, packs).Snippet("BODY", `let r = i / p.w;
  stv_y(i, ldv_x(r * p.stride + p.start + (i - r * p.w)));`)
	k.In("x", x).Out("y", x.DType, shape...).U32("w", length/vec).U32("stride", n/vec).U32("start", start/vec)
	return k.RunOne(x.Device())
}

// AdaLayerNormContinuous is TeleFuser's continuous adaptive norm:
// emb = Linear(silu(cond)); scale, shift = emb[:, :D], emb[:, D:] (scale
// first); y = norm(x) * (1 + scale)[:,None] + shift[:,None].
type AdaLayerNormContinuous struct {
	Dim      int
	Linear   Projector // [2*Dim, cond dim]
	Norm     NormKind
	Eps      float32
	NormW    *gpu.Tensor // optional [Dim]
	NormBias *gpu.Tensor // optional [Dim]
}

// NewAdaLayerNormContinuous builds the layer from its linear (weight
// [2*dim, E], optional bias) and optional norm weight and bias, with eps
// 1e-5 as TeleFuser's default.
func NewAdaLayerNormContinuous(dim int, linear *Linear, kind NormKind, normWeight, normBias *gpu.Tensor) (*AdaLayerNormContinuous, error) {
	const op = "AdaLayerNormContinuous"
	if linear == nil {
		return nil, errorf(op, "linear.weight", "is required")
	}
	if linear.Out != 2*dim {
		return nil, errorf(op, "linear.weight", "shape %v, want [%d, E] (2*dim rows)", linear.Weight.Shape, 2*dim)
	}
	if err := checkVector(op, "norm.weight", normWeight, dim); err != nil {
		return nil, err
	}
	if err := checkVector(op, "norm.bias", normBias, dim); err != nil {
		return nil, err
	}
	return &AdaLayerNormContinuous{Dim: dim, Linear: linear, Norm: kind, Eps: 1e-5, NormW: normWeight, NormBias: normBias}, nil
}

// Forward applies the layer to x [B,S,D] with conditioning cond [B,E].
func (a *AdaLayerNormContinuous) Forward(x, cond *gpu.Tensor) (*gpu.Tensor, error) {
	const op = "AdaLayerNormContinuous"
	if err := checkFloat(op, "x", x); err != nil {
		return nil, err
	}
	if err := checkFloat(op, "cond", cond); err != nil {
		return nil, err
	}
	if len(x.Shape) != 3 || x.Shape[2] != a.Dim {
		return nil, errorf(op, "x", "shape %v, want [B,S,%d]", x.Shape, a.Dim)
	}
	if len(cond.Shape) != 2 || cond.Shape[0] != x.Shape[0] {
		return nil, errorf(op, "cond", "shape %v, want [%d,E]", cond.Shape, x.Shape[0])
	}
	act, err := Activate(cond, ActSiLU)
	if err != nil {
		return nil, err
	}
	defer act.Release()
	emb, err := a.Linear.Forward(act)
	if err != nil {
		return nil, err
	}
	defer emb.Release()
	scale, err := Narrow(emb, 0, a.Dim)
	if err != nil {
		return nil, err
	}
	defer scale.Release()
	shift, err := Narrow(emb, a.Dim, a.Dim)
	if err != nil {
		return nil, err
	}
	defer shift.Release()
	return NormThenModulate(a.Norm, x, a.NormW, a.NormBias, a.Eps, ModulateArgs{Scale: scale, Shift: shift, Constant: 1})
}

// Projections returns the layer's replaceable projection.
func (a *AdaLayerNormContinuous) Projections() []*Projector { return []*Projector{&a.Linear} }

// Children returns no sub-modules.
func (a *AdaLayerNormContinuous) Children() []Module { return nil }

// Parameters returns the norm's own tensors (the projection's are its own).
func (a *AdaLayerNormContinuous) Parameters() []*gpu.Tensor { return nonNil(a.NormW, a.NormBias) }

// AdaLayerNormContinuousForward is the functional form of the layer (the
// golden op ada_layer_norm_continuous): linW [2D,E], linB [2D] or nil,
// normW and normB [D] or nil.
func AdaLayerNormContinuousForward(x, cond, linW, linB, normW, normB *gpu.Tensor, kind NormKind, eps float32) (*gpu.Tensor, error) {
	if x == nil || len(x.Shape) != 3 {
		return nil, errorf("AdaLayerNormContinuous", "x", "want [B,S,D]")
	}
	lin, err := NewLinear(linW, linB)
	if err != nil {
		return nil, err
	}
	a, err := NewAdaLayerNormContinuous(x.Shape[2], lin, kind, normW, normB)
	if err != nil {
		return nil, err
	}
	a.Eps = eps
	return a.Forward(x, cond)
}
