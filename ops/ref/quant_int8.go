package ref

import (
	"fmt"
	"math"

	"github.com/webfuser/webfuser/internal/dtype"
)

// Int8PerBlockQuotients is QuantizeInt8PerBlock before rounding: it
// returns v/scale for every element (in x's layout) and the f32 scales
// [B,H,ceil(L/block)], so that tests can tell a rounding tie from an
// error. The product by smScale, the scale max/127 and the quotient are
// each an f32 operation, as in TeleFuser's Triton kernel, whose f32
// rounding decides the codes at ties.
func Int8PerBlockQuotients(x *Tensor, block int, smScale float64, smooth, headFirst bool) (quot, scale *Tensor, err error) {
	if len(x.Shape) != 4 || block < 1 {
		return nil, nil, fmt.Errorf("ref.QuantizeInt8PerBlock: x %v must be [B,L,H,D] (or [B,H,L,D]) and block %d positive", x.Shape, block)
	}
	B, L, H, D := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	sb, sl, sh := L*H*D, H*D, D
	if headFirst {
		H, L = x.Shape[1], x.Shape[2]
		sb, sl, sh = H*L*D, D, L*D
	}
	nblk := (L + block - 1) / block
	v := make([]float64, len(x.Data))
	copy(v, x.Data)
	if smooth {
		// TeleFuser: km = k.mean(seq) and k - km, each in k's dtype.
		for b := 0; b < B; b++ {
			for h := 0; h < H; h++ {
				for d := 0; d < D; d++ {
					base := b*sb + h*sh + d
					m := 0.0
					for l := 0; l < L; l++ {
						m += x.Data[base+l*sl]
					}
					km := dtype.Round(x.DType, m/float64(L))
					for l := 0; l < L; l++ {
						v[base+l*sl] = dtype.Round(x.DType, x.Data[base+l*sl]-km)
					}
				}
			}
		}
	}
	for i := range v {
		v[i] = float64(float32(v[i]) * float32(smScale)) // f32 product, as the kernels compute it
	}
	quot, scale = New(dtype.F32, x.Shape...), New(dtype.F32, B, H, nblk)
	quot.Data = v
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			for k := 0; k < nblk; k++ {
				m := 0.0
				for l := k * block; l < min(L, (k+1)*block); l++ {
					for d := 0; d < D; d++ {
						m = math.Max(m, math.Abs(v[b*sb+h*sh+l*sl+d]))
					}
				}
				s := float64(float32(m) / 127)
				scale.Data[(b*H+h)*nblk+k] = s
				for l := k * block; l < min(L, (k+1)*block); l++ {
					for d := 0; d < D; d++ {
						i := b*sb + h*sh + l*sl + d
						if s == 0 {
							v[i] = 0
						} else {
							v[i] = float64(float32(v[i]) / float32(s)) // f32 division, as TeleFuser's kernel
						}
					}
				}
			}
		}
	}
	return quot, scale, nil
}

// QuantizeInt8PerBlock is the per-block int8 quantiser of TeleFuser's
// Sage-style attention (quant_per_block.py) for x [B,L,H,D] (NHD) or, with
// headFirst, [B,H,L,D] (HND). With smooth, x first loses its mean over
// the sequence per (b, h, d), the mean and the difference each rounded to
// x's dtype (TeleFuser's K smoothing). Values are multiplied by smScale
// in f32; each block of `block` tokens of one (b, h) gets scale =
// max|v| / 127 (f32) and q = trunc(v/scale + 0.5*sign(v)), sign(0) = +1
// (round half away from zero), 0 where the scale is 0. It returns q as
// i32 values in [-127, 127] with x's shape, and scale [B,H,ceil(L/block)].
func QuantizeInt8PerBlock(x *Tensor, block int, smScale float64, smooth, headFirst bool) (q, scale *Tensor, err error) {
	quot, scale, err := Int8PerBlockQuotients(x, block, smScale, smooth, headFirst)
	if err != nil {
		return nil, nil, err
	}
	q = New(dtype.I32, x.Shape...)
	for i, t := range quot.Data {
		q.Data[i] = RoundInt8(t)
	}
	return q, scale, nil
}

// RoundInt8 rounds a quotient as the quantiser does: t + 0.5*sign(t) in
// f32 (sign(0) = +1), truncated toward zero and clamped to [-127, 127].
func RoundInt8(t float64) float64 {
	h := float32(0.5)
	if t < 0 {
		h = -0.5
	}
	r := math.Trunc(float64(float32(t) + h))
	return math.Max(-127, math.Min(127, r))
}
