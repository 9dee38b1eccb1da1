package ref

import (
	"fmt"
	"math"

	"github.com/webfuser/webfuser/internal/dtype"
)

// WanConfig holds what the Wan-style block's weights do not imply: the
// head count and the epsilon of its norms.
type WanConfig struct {
	NumHeads int
	Eps      float64
}

// WanBlock computes the Wan-style block (models/wan) on x [B,L,D] with
// the shared timestep projection e0 [B,6D], context tokens ctx [B,T,D]
// and rotary tables cos, sin [L, D/H/2]. Weights are named by module
// path inside the block (modulation, self_attn.q.weight, norm3.bias,
// ffn.0.weight, ...):
//
//	e = modulation + e0 as [B,6,D]; shift1, scale1, gate1, shift2, scale2, gate2 = e
//	h = layer_norm(x) * (1 + scale1) + shift1
//	q = rope(rms_norm(q(h), norm_q)); k = rope(rms_norm(k(h), norm_k)); v = v(h)
//	x = x + gate1 * o(attention(q, k, v))
//	c = layer_norm(x, norm3)
//	x = x + o(attention(rms_norm(q(c)), rms_norm(k(ctx)), v(ctx)))   (cross_attn.*)
//	x = x + gate2 * ffn.2(gelu_tanh(ffn.0(layer_norm(x) * (1 + scale2) + shift2)))
func WanBlock(x, e0, ctx, cos, sin *Tensor, w map[string]*Tensor, cfg WanConfig) (*Tensor, error) {
	if x == nil || len(x.Shape) != 3 {
		return nil, fmt.Errorf("ref.WanBlock: x must be [B,L,D]")
	}
	B, D := x.Shape[0], x.Shape[2]
	H := cfg.NumHeads
	if H <= 0 || D%H != 0 {
		return nil, fmt.Errorf("ref.WanBlock: dim %d is not a multiple of num_heads %d", D, H)
	}
	if e0 == nil || e0.Numel() != B*6*D {
		return nil, fmt.Errorf("ref.WanBlock: e0 must be [%d,%d]", B, 6*D)
	}
	if ctx == nil || len(ctx.Shape) != 3 || ctx.Shape[0] != B || ctx.Shape[2] != D {
		return nil, fmt.Errorf("ref.WanBlock: context must be [%d,T,%d]", B, D)
	}
	for _, n := range wanNames {
		if w[n] == nil {
			return nil, fmt.Errorf("ref.WanBlock: weight %s is missing", n)
		}
	}
	mod := w["modulation"]
	if mod.Numel() != 6*D {
		return nil, fmt.Errorf("ref.WanBlock: modulation %v, want [1,6,%d]", mod.Shape, D)
	}
	// e = modulation + e0, rounded as the add stores it.
	e := New(e0.DType, B, 6*D)
	for b := 0; b < B; b++ {
		for i := 0; i < 6*D; i++ {
			e.Data[b*6*D+i] = dtype.Round(e0.DType, e0.Data[b*6*D+i]+mod.Data[i])
		}
	}
	chunk := func(i int) *Tensor { return columns(e, i*D, D) }
	shift1, scale1, gate1, shift2, scale2, gate2 := chunk(0), chunk(1), chunk(2), chunk(3), chunk(4), chunk(5)

	n1, err := LayerNorm(x, nil, nil, cfg.Eps)
	if err != nil {
		return nil, err
	}
	h, err := Modulate(n1, shift1, scale1)
	if err != nil {
		return nil, err
	}
	a, err := wanAttention(h, h, "self_attn.", w, H, cfg.Eps, cos, sin)
	if err != nil {
		return nil, err
	}
	x1, err := GateResidual(a, gate1, x)
	if err != nil {
		return nil, err
	}
	c, err := LayerNorm(x1, w["norm3.weight"], w["norm3.bias"], cfg.Eps)
	if err != nil {
		return nil, err
	}
	ca, err := wanAttention(c, ctx, "cross_attn.", w, H, cfg.Eps, nil, nil)
	if err != nil {
		return nil, err
	}
	x2 := New(x1.DType, x1.Shape...)
	for i := range x2.Data {
		x2.Data[i] = dtype.Round(x1.DType, x1.Data[i]+ca.Data[i])
	}
	n2, err := LayerNorm(x2, nil, nil, cfg.Eps)
	if err != nil {
		return nil, err
	}
	h2, err := Modulate(n2, shift2, scale2)
	if err != nil {
		return nil, err
	}
	f, err := LinearAct(h2, w["ffn.0.weight"], w["ffn.0.bias"], "gelu_tanh")
	if err != nil {
		return nil, fmt.Errorf("ref.WanBlock: ffn.0: %v", err)
	}
	f2, err := Linear(f, w["ffn.2.weight"], w["ffn.2.bias"])
	if err != nil {
		return nil, fmt.Errorf("ref.WanBlock: ffn.2: %v", err)
	}
	return GateResidual(f2, gate2, x2)
}

// wanNames lists the block's weights.
var wanNames = []string{"modulation",
	"self_attn.q.weight", "self_attn.q.bias", "self_attn.k.weight", "self_attn.k.bias",
	"self_attn.v.weight", "self_attn.v.bias", "self_attn.o.weight", "self_attn.o.bias",
	"self_attn.norm_q.weight", "self_attn.norm_k.weight", "norm3.weight", "norm3.bias",
	"cross_attn.q.weight", "cross_attn.q.bias", "cross_attn.k.weight", "cross_attn.k.bias",
	"cross_attn.v.weight", "cross_attn.v.bias", "cross_attn.o.weight", "cross_attn.o.bias",
	"cross_attn.norm_q.weight", "cross_attn.norm_k.weight",
	"ffn.0.weight", "ffn.0.bias", "ffn.2.weight", "ffn.2.bias"}

// wanAttention is the block's attention: queries from x, keys and values
// from kv, q and k RMS-normalised over the whole width, rotated when cos
// is given, then the output projection o.
func wanAttention(x, kv *Tensor, p string, w map[string]*Tensor, H int, eps float64, cos, sin *Tensor) (*Tensor, error) {
	B, L, D := x.Shape[0], x.Shape[1], x.Shape[2]
	T := kv.Shape[1]
	proj := func(in *Tensor, n string) (*Tensor, error) {
		y, err := Linear(in, w[p+n+".weight"], w[p+n+".bias"])
		if err != nil {
			return nil, fmt.Errorf("ref.WanBlock: %s%s: %v", p, n, err)
		}
		return y, nil
	}
	q, err := proj(x, "q")
	if err != nil {
		return nil, err
	}
	k, err := proj(kv, "k")
	if err != nil {
		return nil, err
	}
	v, err := proj(kv, "v")
	if err != nil {
		return nil, err
	}
	if q, err = RMSNorm(q, w[p+"norm_q.weight"], nil, eps); err != nil {
		return nil, err
	}
	if k, err = RMSNorm(k, w[p+"norm_k.weight"], nil, eps); err != nil {
		return nil, err
	}
	q.Shape = []int{B, L, H, D / H}
	k.Shape = []int{B, T, H, D / H}
	v.Shape = []int{B, T, H, D / H}
	if cos != nil {
		if q, err = Rotary(q, cos, sin, true); err != nil {
			return nil, err
		}
		if k, err = Rotary(k, cos, sin, true); err != nil {
			return nil, err
		}
	}
	o, err := Attention(q, k, v, false, 0)
	if err != nil {
		return nil, err
	}
	o.Shape = []int{B, L, D}
	return proj(o, "o")
}

// VideoDiTConfig holds the small video DiT's attributes (models/videodit):
// the token grid (Frames/PatchT x Height/PatchH x Width/PatchW), the
// block sizes, the sinusoid width FreqDim, the class factors (class =
// (shape*Colors + colour)*Directions + direction; the null class is
// Shapes*Colors*Directions) and the norms' epsilon.
type VideoDiTConfig struct {
	Frames, Height, Width      int
	PatchT, PatchH, PatchW     int
	Layers, NumHeads           int
	FreqDim                    int
	Shapes, Colors, Directions int
	Eps, RopeTheta             float64
}

// VideoDiT computes the video DiT's velocity for tokens x [B,L,P] at
// flow times t[b] in [0,1] for classes class[b] (the null class for the
// unconditional branch), with weights by module path:
//
//	e = time_embedding(sinusoid(1000 t)) + class_embedding(onehot(class))
//	e0 = time_projection.1(silu(e))
//	ctx = context_embedding.2(gelu_tanh(context_embedding.0(onehot(shape, colour, direction))))
//	x = patch_embedding(x); x = blocks.i(x, e0, ctx) for each i
//	shift, scale = head.modulation + e
//	y = head.head(layer_norm(x) * (1 + scale) + shift)
func VideoDiT(x *Tensor, t []float64, class []int, w map[string]*Tensor, cfg VideoDiTConfig) (*Tensor, error) {
	if x == nil || len(x.Shape) != 3 {
		return nil, fmt.Errorf("ref.VideoDiT: x must be [B,L,P]")
	}
	B := x.Shape[0]
	if len(t) != B || len(class) != B {
		return nil, fmt.Errorf("ref.VideoDiT: %d times and %d classes for a batch of %d", len(t), len(class), B)
	}
	pe := w["patch_embedding.weight"]
	if pe == nil || len(pe.Shape) != 2 {
		return nil, fmt.Errorf("ref.VideoDiT: patch_embedding.weight is missing")
	}
	D, dt := pe.Shape[0], pe.DType
	nc := cfg.Shapes * cfg.Colors * cfg.Directions
	ctxVocab := cfg.Shapes + cfg.Colors + cfg.Directions + 1
	sin := New(dt, B, cfg.FreqDim)
	oneHot := New(dt, B, nc+1)
	ctxHot := New(dt, B, 3, ctxVocab)
	half := cfg.FreqDim / 2
	for b := 0; b < B; b++ {
		if class[b] < 0 || class[b] > nc {
			return nil, fmt.Errorf("ref.VideoDiT: class %d outside [0, %d]", class[b], nc)
		}
		pos := 1000 * t[b]
		for i := 0; i < half; i++ {
			a := pos * math.Pow(10000, -float64(i)/float64(half))
			sin.Data[b*cfg.FreqDim+i] = dtype.Round(dt, math.Cos(a))
			sin.Data[b*cfg.FreqDim+half+i] = dtype.Round(dt, math.Sin(a))
		}
		oneHot.Data[b*(nc+1)+class[b]] = 1
		idx := [3]int{ctxVocab - 1, ctxVocab - 1, ctxVocab - 1}
		if c := class[b]; c < nc {
			dir := c % cfg.Directions
			col := (c / cfg.Directions) % cfg.Colors
			shape := c / (cfg.Directions * cfg.Colors)
			idx = [3]int{shape, cfg.Shapes + col, cfg.Shapes + cfg.Colors + dir}
		}
		for j, k := range idx {
			ctxHot.Data[(b*3+j)*ctxVocab+k] = 1
		}
	}
	lin := func(in *Tensor, n string, bias bool) (*Tensor, error) {
		var bt *Tensor
		if bias {
			bt = w[n+".bias"]
		}
		if w[n+".weight"] == nil || (bias && bt == nil) {
			return nil, fmt.Errorf("ref.VideoDiT: %s is missing", n)
		}
		y, err := Linear(in, w[n+".weight"], bt)
		if err != nil {
			return nil, fmt.Errorf("ref.VideoDiT: %s: %v", n, err)
		}
		return y, nil
	}
	te, err := lin(sin, "time_embedding.0", true)
	if err != nil {
		return nil, err
	}
	if te, err = Activation(te, "silu"); err != nil {
		return nil, err
	}
	if te, err = lin(te, "time_embedding.2", true); err != nil {
		return nil, err
	}
	ce, err := lin(oneHot, "class_embedding", false)
	if err != nil {
		return nil, err
	}
	e := New(dt, B, D)
	for i := range e.Data {
		e.Data[i] = dtype.Round(dt, te.Data[i]+ce.Data[i])
	}
	se, err := Activation(e, "silu")
	if err != nil {
		return nil, err
	}
	e0, err := lin(se, "time_projection.1", true)
	if err != nil {
		return nil, err
	}
	ctx, err := lin(ctxHot, "context_embedding.0", true)
	if err != nil {
		return nil, err
	}
	if ctx, err = Activation(ctx, "gelu_tanh"); err != nil {
		return nil, err
	}
	if ctx, err = lin(ctx, "context_embedding.2", true); err != nil {
		return nil, err
	}
	h, err := lin(x, "patch_embedding", true)
	if err != nil {
		return nil, err
	}
	cos, sn := ropeTables(cfg, D/cfg.NumHeads)
	for i := 0; i < cfg.Layers; i++ {
		p := fmt.Sprintf("blocks.%d.", i)
		bw := map[string]*Tensor{}
		for _, n := range wanNames {
			bw[n] = w[p+n]
		}
		if h, err = WanBlock(h, e0, ctx, cos, sn, bw, WanConfig{NumHeads: cfg.NumHeads, Eps: cfg.Eps}); err != nil {
			return nil, fmt.Errorf("ref.VideoDiT: blocks.%d: %v", i, err)
		}
	}
	hm := w["head.modulation"]
	if hm == nil || hm.Numel() != 2*D {
		return nil, fmt.Errorf("ref.VideoDiT: head.modulation must be [1,2,%d]", D)
	}
	shift, scale := New(dt, B, D), New(dt, B, D)
	for b := 0; b < B; b++ {
		for i := 0; i < D; i++ {
			shift.Data[b*D+i] = dtype.Round(dt, hm.Data[i]+e.Data[b*D+i])
			scale.Data[b*D+i] = dtype.Round(dt, hm.Data[D+i]+e.Data[b*D+i])
		}
	}
	n, err := LayerNorm(h, nil, nil, cfg.Eps)
	if err != nil {
		return nil, err
	}
	if n, err = Modulate(n, shift, scale); err != nil {
		return nil, err
	}
	return lin(n, "head.head", true)
}

// ropeTables returns the Wan 3-D rotary tables of the token grid, built
// here from the formula (not shared with the operator) so the reference
// stays independent: head dimension hd, c = hd/2 pairs split into
// c-2(c/3), c/3, c/3 driven by the frame, row and column, pair j of a
// part of p pairs turning at theta^(-j/p); stored as f32.
func ropeTables(cfg VideoDiTConfig, hd int) (cos, sin *Tensor) {
	f, hh, ww := cfg.Frames/cfg.PatchT, cfg.Height/cfg.PatchH, cfg.Width/cfg.PatchW
	c := hd / 2
	parts := [3]int{c - 2*(c/3), c / 3, c / 3}
	cos, sin = New(dtype.F32, f*hh*ww, c), New(dtype.F32, f*hh*ww, c)
	for i := 0; i < f*hh*ww; i++ {
		pos := [3]int{i / (hh * ww), (i / ww) % hh, i % ww}
		col := 0
		for k, p := range parts {
			for j := 0; j < p; j++ {
				a := float64(pos[k]) * math.Pow(cfg.RopeTheta, -float64(j)/float64(p))
				cos.Data[i*c+col] = dtype.Round(dtype.F32, math.Cos(a))
				sin.Data[i*c+col] = dtype.Round(dtype.F32, math.Sin(a))
				col++
			}
		}
	}
	return cos, sin
}
