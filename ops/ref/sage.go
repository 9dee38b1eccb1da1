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
	var see func(b, h, i, j int) bool
	if causal {
		see = func(b, h, i, j int) bool { return j <= i+Sk-Sq }
	}
	logit := func(b, h, i, j, qo, ko int) float64 {
		dot := dotRows(qc, kc, qo, ko, D) // exact: integers below 2^53
		qsc := float32(qs.Data[(b*H+h)*nqb+i/128])
		hk := h / (H / Hk)
		return float64(float32(float32(dot)*qsc) * float32(ks.Data[(b*Hk+hk)*nkb+j/64]))
	}
	return attendWith(qc, kc, v, dt, see, logit, math.Exp2)
}
