package ref

import (
	"fmt"
	"math"

	"github.com/webfuser/webfuser/internal/dtype"
)

// sageLog2E is ops.Log2E, the log2(e) TeleFuser folds into the query's
// quantisation scale (ref cannot import ops).
const sageLog2E = 1.44269504

// SageAttention is the float64 reference of attention.Sage on BSND
// tensors q [B,Sq,H,D], k and v [B,Sk,Hk,D]. q is quantised by
// QuantizeInt8PerBlock in blocks of 128 tokens with the factor
// f32(scale*log2(e)) (scale 0 means 1/sqrt(D), the product taken in
// float64), k in blocks of 64 with its mean over the sequence removed;
// the base-2 logit of query i and key j is the f32 expression
// (f32(dot) * qscale[i/128]) * kscale[j/64], dot the exact integer sum
// of the codes' products; the softmax over the visible keys (causal as
// in Attention) and its product with v are exact. The output has q's
// dtype; a row with no visible key is zeros.
func SageAttention(q, k, v *Tensor, causal bool, scale float64) (*Tensor, error) {
	_, _, _, _, _, D, err := attnShapes(q, k, v)
	if err != nil {
		return nil, err
	}
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(D))
	}
	qc, qs, err := QuantizeInt8PerBlock(q, 128, float64(float32(scale*sageLog2E)), false, false)
	if err != nil {
		return nil, err
	}
	kc, ks, err := QuantizeInt8PerBlock(k, 64, 1, true, false)
	if err != nil {
		return nil, err
	}
	return SageAttentionCodes(qc, qs, kc, ks, v, causal, q.DType)
}

// SageAttentionCodes is SageAttention after the quantisation: qc
// [B,Sq,H,D] and kc [B,Sk,Hk,D] hold the codes (as values), qs
// [B,H,ceil(Sq/128)] and ks [B,Hk,ceil(Sk/64)] their scales; the output
// has dtype dt. Tests feed it the GPU quantiser's codes to check the
// attention kernel exactly, apart from the quantiser's rounding ties.
func SageAttentionCodes(qc, qs, kc, ks, v *Tensor, causal bool, dt dtype.DType) (*Tensor, error) {
	B, Sq, Sk, H, Hk, D, err := attnShapes(qc, kc, v)
	if err != nil {
		return nil, err
	}
	nqb, nkb := (Sq+127)/128, (Sk+63)/64
	if len(qs.Data) != B*H*nqb || len(ks.Data) != B*Hk*nkb {
		return nil, fmt.Errorf("ref: Sage scales %v %v do not match codes %v %v", qs.Shape, ks.Shape, qc.Shape, kc.Shape)
	}
	o := New(dt, B, Sq, H, D)
	s := make([]float64, Sk)
	acc := make([]float64, D)
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			hk := h / (H / Hk)
			for i := 0; i < Sq; i++ {
				qo := ((b*Sq+i)*H + h) * D
				qsc := float32(qs.Data[(b*H+h)*nqb+i/128])
				mx := math.Inf(-1)
				for j := 0; j < Sk; j++ {
					s[j] = math.Inf(-1)
					if causal && j > i+Sk-Sq {
						continue
					}
					ko := ((b*Sk+j)*Hk + hk) * D
					dot := 0.0
					for x := 0; x < D; x++ {
						dot += qc.Data[qo+x] * kc.Data[ko+x]
					}
					s[j] = float64(float32(float32(dot)*qsc) * float32(ks.Data[(b*Hk+hk)*nkb+j/64]))
					mx = math.Max(mx, s[j])
				}
				if math.IsInf(mx, -1) {
					continue
				}
				for x := range acc {
					acc[x] = 0
				}
				sum := 0.0
				for j := 0; j < Sk; j++ {
					if math.IsInf(s[j], -1) {
						continue
					}
					p := math.Exp2(s[j] - mx)
					sum += p
					vo := ((b*Sk+j)*Hk + hk) * D
					for x := 0; x < D; x++ {
						acc[x] += p * v.Data[vo+x]
					}
				}
				for x := 0; x < D; x++ {
					o.Data[qo+x] = dtype.Round(dt, acc[x]/sum)
				}
			}
		}
	}
	return o, nil
}
