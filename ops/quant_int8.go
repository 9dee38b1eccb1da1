package ops

import (
	"math"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
)

// Int8BlockOptions configure QuantizeInt8PerBlock.
type Int8BlockOptions struct {
	Block      int     // tokens per block: TeleFuser uses 128 for Q and 64 for K
	Scale      float32 // factor applied before quantising: 0 means 1 (Q takes sm_scale*log2(e), K 1)
	SmoothMean bool    // subtract the mean over the sequence first, as TeleFuser smooths K
	HeadFirst  bool    // x is [B,H,L,D] (HND) instead of [B,L,H,D] (NHD, WebFuser's layout)
}

// Log2E is log2(e) as TeleFuser's per_block_int8 folds it into the
// query's scale (1.44269504), so that the attention can use exp2.
const Log2E = 1.44269504

// QuantizeInt8PerBlock is the per-block int8 quantiser of TeleFuser's
// Sage-style attention (kernel/triton/quant_per_block.py). x is [B,L,H,D]
// (or [B,H,L,D] with HeadFirst), any float dtype. With SmoothMean, x first
// loses its mean over the sequence per (b, h, d), the mean and the
// difference each rounded to x's dtype (TeleFuser computes k.mean and
// k - km in k's dtype). Values are multiplied by Scale in f32; every
// block of Block tokens of one (b, h) gets scale = max|v| / 127 (f32) and
// q = trunc(v/scale + 0.5*sign(v)) with sign(0) = +1, i.e. rounded half
// away from zero, or 0 where the block's scale is 0.
//
// q has x's shape and holds int8 codes as raw two's-complement bytes in
// a u8 tensor (WebFuser has no i8 dtype; Int8Values decodes them); scale
// is f32 [B,H,ceil(L/Block)].
func QuantizeInt8PerBlock(x *gpu.Tensor, o Int8BlockOptions) (q, scale *gpu.Tensor, err error) {
	const op = "QuantizeInt8PerBlock"
	if err := checkFloat(op, "x", x); err != nil {
		return nil, nil, err
	}
	if len(x.Shape) != 4 {
		return nil, nil, errorf(op, "x", "shape %v, want [B,L,H,D] (or [B,H,L,D] head first)", x.Shape)
	}
	if x.Shape[3] == 0 {
		return nil, nil, errorf(op, "x", "shape %v has no head dimension", x.Shape)
	}
	if o.Block < 1 {
		return nil, nil, errorf(op, "", "block size %d must be positive", o.Block)
	}
	sm := o.Scale
	if sm == 0 {
		sm = 1
	}
	if math.IsNaN(float64(sm)) || math.IsInf(float64(sm), 0) {
		return nil, nil, errorf(op, "", "scale %g is not finite", sm)
	}
	if err := checkBinding(op, "x", x); err != nil {
		return nil, nil, err
	}
	B, L, H, D := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	sb, sl, sh := L*H*D, H*D, D
	if o.HeadFirst {
		H, L = x.Shape[1], x.Shape[2]
		sb, sl, sh = H*L*D, D, L*D
	}
	nblk := (L + o.Block - 1) / o.Block
	dev := x.Device()
	if x.Numel() == 0 {
		q, err = dev.NewOutput(dtype.U8, x.Shape...)
		if err != nil {
			return nil, nil, err
		}
		if scale, err = dev.NewOutput(dtype.F32, B, H, nblk); err != nil {
			q.Release()
			return nil, nil, err
		}
		return q, scale, nil
	}
	value := "return ld_x(i) * p.scale;"
	var km *gpu.Tensor
	if o.SmoothMean {
		value = "return rnd1_x(ld_x(i) - ld_km(kidx)) * p.scale;"
		// The mean of every (b, h, d) column over the sequence, compensated
		// (Kahan) so that long sequences keep it to f32 accuracy.
		if km, err = sequenceMean(dev, x, B, H, L, D, sb, sh, sl); err != nil {
			return nil, nil, err
		}
		defer km.Release()
	}
	groups := B * H * nblk
	fused := D%4 == 0
	bk := &kernel.Kernel{Name: "quant_int8_block", Files: []string{"fp8", "wg_absmax", "quant_int8", "quant_int8_block"}, Grid: dev.Groups(groups)}
	bk.Uint("BLK", o.Block).In("x", x)
	if km != nil {
		bk.In("km", km)
	}
	bk.Out("s", dtype.F32, B, H, nblk)
	codes := ""
	if fused {
		bk.Out("q", dtype.U8, x.Shape...)
		codes = `for (var w = lid; w < count / 4u; w = w + 256u) {
    let r = (4u * w) / p.d;
    let c = 4u * w - r * p.d;
    let i = base + (l0 + r) * p.sl + c;
    var word = 0u;
    for (var j = 0u; j < 4u; j = j + 1u) {
      word = word | (quant_i8(value(i + j, bh * p.d + c + j), sc) << (8u * j));
    }
    q_buf[i >> 2u] = word;
  }`
	}
	bk.U32("groups", groups).U32("nblk", nblk).U32("h", H).U32("l", L).U32("d", D).
		U32("sb", sb).U32("sh", sh).U32("sl", sl).F32("scale", sm)
	bk.Snippet("VALUE", value).Snippet("WRITE_CODES", codes)
	outs, err := bk.Run(dev)
	if err != nil {
		return nil, nil, err
	}
	if fused {
		return outs[1], outs[0], nil
	}
	scale = outs[0]
	// D not a multiple of 4: rows share words, so one invocation per word
	// of q writes its four codes, whatever rows they fall in.
	layout := "let h = t % p.h;\n    let t2 = t / p.h;\n    let l = t2 % p.l;\n    let b = t2 / p.l;"
	if o.HeadFirst {
		layout = "let l = t % p.l;\n    let t2 = t / p.l;\n    let h = t2 % p.h;\n    let b = t2 / p.h;"
	}
	total := x.Numel()
	wk := elementwise(dev, "quant_int8_words", 1, (total+3)/4, "fp8", "quant_int8").Snippet("BODY", `var word = 0u;
  for (var j = 0u; j < 4u; j = j + 1u) {
    let e = 4u * i + j;
    if (e < p.total) {
      let c = e % p.d;
      let t = e / p.d;
    `+layout+`
      let bh = b * p.h + h;
      word = word | (quant_i8(value(e, bh * p.d + c), ld_s(bh * p.nblk + l / p.blk)) << (8u * j));
    }
  }
  let nv = p.total - 4u * i;
  if (nv < 4u) { word = word | (q_buf[i] & (0xffffffffu << (8u * nv))); } // keep bytes past the tensor
  q_buf[i] = word;`).Snippet("VALUE", value)
	wk.In("x", x)
	if km != nil {
		wk.In("km", km)
	}
	wk.In("s", scale).Out("q", dtype.U8, x.Shape...)
	wk.U32("total", total).U32("d", D).U32("h", H).U32("l", L).U32("nblk", nblk).U32("blk", o.Block).F32("scale", sm)
	if q, err = wk.RunOne(dev); err != nil {
		scale.Release()
		return nil, nil, err
	}
	return q, scale, nil
}

// PerBlockInt8 is TeleFuser's per_block_int8 for attention in WebFuser's
// layout (q [B,Sq,H,D], k [B,Sk,Hk,D]): q in blocks of 128 tokens scaled
// by smScale*log2(e) (smScale 0 means 1/sqrt(D); the product is taken in
// float64, as in Python, and rounded to f32), k smoothed by its mean in
// blocks of 64. It returns the codes and scales of both.
func PerBlockInt8(q, k *gpu.Tensor, smScale float64) (qi, qs, ki, ks *gpu.Tensor, err error) {
	if q == nil || len(q.Shape) != 4 {
		return nil, nil, nil, nil, errorf("PerBlockInt8", "q", "want [B,S,H,D]")
	}
	if smScale == 0 {
		smScale = 1 / math.Sqrt(float64(q.Shape[3]))
	}
	if qi, qs, err = QuantizeInt8PerBlock(q, Int8BlockOptions{Block: 128, Scale: float32(smScale * Log2E)}); err != nil {
		return nil, nil, nil, nil, err
	}
	if ki, ks, err = QuantizeInt8PerBlock(k, Int8BlockOptions{Block: 64, Scale: 1, SmoothMean: true}); err != nil {
		qi.Release()
		qs.Release()
		return nil, nil, nil, nil, err
	}
	return qi, qs, ki, ks, nil
}

// Int8Values downloads int8 codes stored as raw bytes in a u8 tensor (as
// QuantizeInt8PerBlock writes them) and returns their signed values.
func Int8Values(q *gpu.Tensor) ([]int8, error) {
	if q == nil || q.DType != dtype.U8 {
		return nil, errorf("Int8Values", "q", "want a u8 tensor of int8 codes")
	}
	b, err := q.Bytes()
	if err != nil {
		return nil, err
	}
	v := make([]int8, len(b))
	for i, c := range b {
		v[i] = int8(c)
	}
	return v, nil
}
