package golden

import (
	"fmt"
	"math"
	"sort"
)

// attrKind is the JSON kind of an attribute.
type attrKind uint8

const (
	kindInt    attrKind = iota // an integer in [min, max]
	kindFloat                  // a finite number in [min, max]
	kindBool                   // true or false
	kindString                 // a string (the runner checks its value)
	kindInts3                  // a list of three integers, each in [min, max]
)

// attrBound is the kind and range of one attribute.
type attrBound struct {
	kind     attrKind
	min, max float64
}

func intIn(lo, hi float64) attrBound   { return attrBound{kindInt, lo, hi} }
func floatIn(lo, hi float64) attrBound { return attrBound{kindFloat, lo, hi} }

var (
	aBool   = attrBound{kind: kindBool}
	aString = attrBound{kind: kindString}
	aEps    = floatIn(0, 1)
	aScale  = floatIn(-1e30, 1e30)
	aDim    = intIn(1, 1<<16)  // a block size, head count or window side
	aCount  = intIn(0, 1<<24)  // a token or frame count
	aTheta  = floatIn(1, 1e12) // a rotary base
)

// attrBounds lists, per operator, every attribute its runners read with
// its kind and bounds. An attribute that sizes an allocation has a
// bound here and its products are checked by checkSizes; an attribute
// not listed drives nothing and is ignored. An op with no entry (a
// runner registered elsewhere) gets the generic checks of Case.Int and
// Case.Float only.
var attrBounds = map[string]map[string]attrBound{
	"rms_norm":                  {"eps": aEps},
	"layer_norm":                {"eps": aEps},
	"norm_infer":                {"eps": aEps, "is_rms_norm": aBool},
	"fused_scale_shift":         {"scale_constant": aScale},
	"activation":                {"fn": aString},
	"gated_activation":          {"fn": aString},
	"linear":                    {},
	"feed_forward":              {"activation_fn": aString},
	"ada_layer_norm_continuous": {"eps": aEps, "norm_type": aString},
	"rotary":                    {"interleaved": aBool},
	"quantize_fp8":              {"granularity": aString, "format": aString},
	"linear_fp8":                {"activation_quant": aString},
	"quantize_int8":             {},
	"linear_w8a8":               {"activation": aString},
	"attention":                 {"causal": aBool, "scale": aScale, "input_layout": aString, "output_layout": aString},
	"block_sparse_attention": {"causal": aBool, "scale": aScale, "input_layout": aString, "output_layout": aString,
		"block_q": aDim, "block_k": aDim},
	"radial_mask": {"seq_len": aCount, "video_tokens": aCount, "num_frames": aCount, "block_size": aDim,
		"decay_factor": floatIn(-1e6, 1e6), "model_type": aString},
	"local_sparse_attention": {"frames": aCount, "height": aCount, "width": aCount, "topk": aCount,
		"local_range": aCount, "window": {kindInts3, 1, 1 << 16}},
	"dit_block": {"num_heads": aDim, "mlp_ratio": floatIn(0, 1024), "activation_fn": aString, "eps": aEps},
	"wan_block": {"num_heads": aDim, "eps": aEps, "grid": {kindInts3, 1, 1 << 16}, "rope_theta": aTheta},
	"video_dit": {"frames": aDim, "height": aDim, "width": aDim, "channels": aDim, "patch": {kindInts3, 1, 1 << 16},
		"dim": aDim, "ffn_dim": aDim, "num_heads": aDim, "layers": aDim, "freq_dim": aDim, "shapes": aDim,
		"colors": aDim, "directions": aDim, "eps": aEps, "rope_theta": aTheta},
}

// checkAttrs checks every attribute the case's op lists for its kind and
// bounds, in name order, so the first error is always the same.
func (c *Case) checkAttrs() error {
	bounds := attrBounds[c.Op]
	names := make([]string, 0, len(c.Attrs))
	for n := range c.Attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := c.Attrs[n]
		b, ok := bounds[n]
		if !ok || v == nil {
			// Unlisted: still refuse a number no runner could use.
			if f, isNum := v.(float64); isNum && (math.IsNaN(f) || math.IsInf(f, 0)) {
				return fmt.Errorf("golden: attr %s: %v is not a finite number", n, f)
			}
			continue
		}
		if err := b.check(c, n); err != nil {
			return fmt.Errorf("golden: %v", err)
		}
	}
	return nil
}

func (b attrBound) check(c *Case, name string) error {
	in := func(f float64) error {
		if !(f >= b.min && f <= b.max) {
			return fmt.Errorf("attr %s: %v is outside [%g, %g]", name, f, b.min, b.max)
		}
		return nil
	}
	switch b.kind {
	case kindInt:
		v, err := c.Int(name, 0)
		if err != nil {
			return err
		}
		return in(float64(v))
	case kindFloat:
		v, err := c.Float(name, 0)
		if err != nil {
			return err
		}
		return in(v)
	case kindBool:
		_, err := c.Bool(name, false)
		return err
	case kindString:
		_, err := c.String(name, "")
		return err
	case kindInts3:
		l, ok := c.Attrs[name].([]any)
		if !ok || len(l) != 3 {
			return fmt.Errorf("attr %s: %v is not a list of 3 integers", name, c.Attrs[name])
		}
		for _, x := range l {
			f, ok := x.(float64)
			if !ok || f != math.Trunc(f) {
				return fmt.Errorf("attr %s: %v is not a list of 3 integers", name, c.Attrs[name])
			}
			if err := in(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSizes refuses a case whose shapes and attributes would make a
// runner allocate more than MaxElements at once, or compute a product of
// more than MaxWork multiply-adds, before any tensor is decoded. Shapes
// a runner would reject anyway (a missing input, a wrong rank) are left
// to its error.
func checkSizes(c *Case, in map[string][]int) error {
	var s sizer
	rows := func(name string) (rows, last int, ok bool) {
		sh, ok := in[name]
		if !ok || len(sh) == 0 {
			return 0, 0, false
		}
		last = sh[len(sh)-1]
		n := numelOf(sh)
		if last <= 0 || n < 0 {
			return 0, 0, false
		}
		return n / last, last, true
	}
	wrows := func(name string) int {
		if sh := in[name]; len(sh) >= 1 {
			return sh[0]
		}
		return 0
	}
	// A linear layer: rows(x) × N outputs from K inputs.
	linear := func(what, x string, n int) {
		if r, k, ok := rows(x); ok {
			s.alloc(what, r, n)
			s.work(what, r, n, k)
		}
	}
	// Attention over q, k in BSND or BNSD: batches, heads, query and key lengths.
	attn := func() (b, h, sq, sk int, ok bool) {
		q, k := in["q"], in["k"]
		if len(q) != 4 || len(k) != 4 {
			return 0, 0, 0, 0, false
		}
		b, sq, h, sk = q[0], q[1], q[2], k[1]
		if l, _ := c.String("input_layout", "BSND"); l == "BNSD" {
			h, sq, sk = q[1], q[2], k[2]
		}
		s.work("attention", b, h, sq, sk, q[3])
		return b, h, sq, sk, true
	}
	switch c.Op {
	case "linear", "linear_fp8":
		linear("y", "x", wrows("weight"))
	case "linear_w8a8":
		linear("y", "x", wrows("wq"))
	case "feed_forward":
		linear("proj_in", "x", wrows("proj_in.weight"))
		linear("proj_out", "x", wrows("proj_out.weight"))
	case "ada_layer_norm_continuous":
		linear("linear", "cond", wrows("linear.weight"))
	case "dit_block":
		for _, w := range []string{"adaln.weight", "qkv.weight", "proj.weight", "ffn.proj_in.weight", "ffn.proj_out.weight"} {
			linear(w, "x", wrows(w))
		}
		if x := in["x"]; len(x) == 3 {
			s.work("attention", x[0], x[1], x[1], x[2])
		}
	case "wan_block":
		for _, w := range []string{"self_attn.q.weight", "self_attn.k.weight", "self_attn.v.weight", "self_attn.o.weight",
			"cross_attn.q.weight", "cross_attn.o.weight", "ffn.0.weight", "ffn.2.weight"} {
			linear(w, "x", wrows(w))
		}
		for _, w := range []string{"cross_attn.k.weight", "cross_attn.v.weight"} {
			linear(w, "context", wrows(w))
		}
		if x, ctx := in["x"], in["context"]; len(x) == 3 && len(ctx) == 3 {
			s.work("self-attention", x[0], x[1], x[1], x[2])
			s.work("cross-attention", x[0], x[1], ctx[1], x[2])
		}
	case "video_dit":
		p := c.Read()
		layers, ffn := p.Int("layers", 0), p.Int("ffn_dim", 0)
		linear("patch_embedding", "x", wrows("patch_embedding.weight"))
		if r, _, ok := rows("x"); ok {
			dim := wrows("patch_embedding.weight")
			s.alloc("ffn", r, ffn)
			s.work("ffn", layers, r, ffn, dim)
			if x := in["x"]; len(x) == 3 {
				s.work("attention", layers, x[0], x[1], x[1], dim)
			}
		}
	case "attention":
		attn()
	case "block_sparse_attention":
		if b, h, sq, sk, ok := attn(); ok {
			bq, _ := c.Int("block_q", 128)
			bk, _ := c.Int("block_k", 128)
			s.alloc("block_mask", b, h, ceilDiv(sq, bq), ceilDiv(sk, bk))
		}
	case "local_sparse_attention":
		p := c.Read()
		f, h, w := p.Int("frames", 0), p.Int("height", 0), p.Int("width", 0)
		win := [3]int{2, 8, 8}
		if l, ok := c.Attrs["window"].([]any); ok && len(l) == 3 {
			for i := range win {
				if v, ok := l[i].(float64); ok && v >= 1 {
					win[i] = int(v)
				}
			}
		}
		s.alloc("tokens", f, h, w)
		nb := ceilDiv(f, win[0]) * ceilDiv(h, win[1]) * ceilDiv(w, win[2])
		if q := in["q"]; len(q) == 4 {
			s.alloc("block_mask", q[0], q[2], nb, nb)
			s.work("attention", q[0], q[1], q[2], q[1], q[3])
		}
	case "radial_mask":
		p := c.Read()
		seq, bs := p.Int("seq_len", 0), p.Int("block_size", 128)
		n := seq / max(bs, 1)
		s.alloc("block_mask", n, n)
	}
	if s.err != nil {
		return fmt.Errorf("golden: %s %s", c.Op, s.err)
	}
	return nil
}

func ceilDiv(a, b int) int {
	if b <= 0 || a <= 0 {
		return 0
	}
	return (a-1)/b + 1
}

// sizer multiplies sizes without overflowing and keeps the first one
// over its limit.
type sizer struct{ err error }

// product returns the product of non-negative factors, saturating at 2^62.
func product(f ...int) int {
	p := 1
	for _, v := range f {
		if v <= 0 {
			return 0
		}
		if p > (1<<62)/v {
			return 1 << 62
		}
		p *= v
	}
	return p
}

func (s *sizer) alloc(what string, f ...int) {
	if s.err == nil && product(f...) > limits.elements {
		s.err = fmt.Errorf("would allocate %s of %v = %d elements, over the limit of %d", what, f, product(f...), limits.elements)
	}
}

func (s *sizer) work(what string, f ...int) {
	if s.err == nil && product(f...) > limits.work {
		s.err = fmt.Errorf("would compute %s of %v = %d multiply-adds, over the limit of %d", what, f, product(f...), limits.work)
	}
}
