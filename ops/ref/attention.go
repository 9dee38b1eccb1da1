package ref

import (
	"fmt"
	"math"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/masks"
	"github.com/webfuser/webfuser/internal/shapes"
)

// attnShapes checks q [B,Sq,H,D], k and v [B,Sk,Hk,D] (BSND) and returns the sizes.
func attnShapes(q, k, v *Tensor) (B, Sq, Sk, H, Hk, D int, err error) {
	if len(q.Shape) != 4 || len(k.Shape) != 4 || len(v.Shape) != 4 {
		return 0, 0, 0, 0, 0, 0, fmt.Errorf("ref: attention needs rank-4 q, k, v, got %v %v %v", q.Shape, k.Shape, v.Shape)
	}
	B, Sq, H, D = q.Shape[0], q.Shape[1], q.Shape[2], q.Shape[3]
	Sk, Hk = k.Shape[1], k.Shape[2]
	if k.Shape[0] != B || v.Shape[0] != B || v.Shape[1] != Sk || v.Shape[2] != Hk || k.Shape[3] != D || v.Shape[3] != D {
		return 0, 0, 0, 0, 0, 0, fmt.Errorf("ref: attention shapes q %v k %v v %v do not match", q.Shape, k.Shape, v.Shape)
	}
	if Hk == 0 || H%Hk != 0 {
		return 0, 0, 0, 0, 0, 0, fmt.Errorf("ref: %d heads is not a multiple of %d kv heads", H, Hk)
	}
	return
}

// attend computes softmax(q kᵀ scale) v per head in float64, with key j
// visible to query i of (b, h) when see(b, h, i, j). A query that sees no
// key outputs zeros. The output has q's dtype.
func attend(q, k, v *Tensor, scale float64, see func(b, h, i, j int) bool) (*Tensor, error) {
	if len(q.Shape) == 4 && scale == 0 {
		scale = 1 / math.Sqrt(float64(q.Shape[3]))
	}
	D := 0
	if len(q.Shape) == 4 {
		D = q.Shape[3]
	}
	logit := func(b, h, i, j, qo, ko int) float64 { return dotRows(q, k, qo, ko, D) * scale }
	return attendWith(q, k, v, q.DType, see, logit, math.Exp)
}

// dotRows returns the float64 dot product of n values of x from offset xo
// and of y from yo.
func dotRows(x, y *Tensor, xo, yo, n int) float64 {
	d := 0.0
	for i := 0; i < n; i++ {
		d += x.Data[xo+i] * y.Data[yo+i]
	}
	return d
}

// attendWith is attention in float64 with the logit of query i and key j
// of (b, h) given by logit (qo and ko: the offsets of their rows in q and
// k) and the softmax's exponential exp (math.Exp, or math.Exp2 for
// base-2 logits): o = sum_j exp(s_j - max) v_j / sum_j exp(s_j - max)
// over the keys see allows (all when nil); zeros for a query that sees
// none. The output has dtype dt.
func attendWith(q, k, v *Tensor, dt dtype.DType, see func(b, h, i, j int) bool,
	logit func(b, h, i, j, qo, ko int) float64, exp func(float64) float64) (*Tensor, error) {
	B, Sq, Sk, H, Hk, D, err := attnShapes(q, k, v)
	if err != nil {
		return nil, err
	}
	o := New(dt, B, Sq, H, D)
	s := make([]float64, Sk)
	acc := make([]float64, D)
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			hk := h / (H / Hk)
			for i := 0; i < Sq; i++ {
				qo := ((b*Sq+i)*H + h) * D
				mx := math.Inf(-1)
				for j := 0; j < Sk; j++ {
					if see != nil && !see(b, h, i, j) {
						s[j] = math.Inf(-1)
						continue
					}
					s[j] = logit(b, h, i, j, qo, ((b*Sk+j)*Hk+hk)*D)
					mx = math.Max(mx, s[j])
				}
				if math.IsInf(mx, -1) {
					continue // no visible key: zeros
				}
				for x := range acc {
					acc[x] = 0
				}
				sum := 0.0
				for j := 0; j < Sk; j++ {
					if math.IsInf(s[j], -1) {
						continue
					}
					p := exp(s[j] - mx)
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

// Attention is the spec's attention on BSND tensors: softmax(q kᵀ scale) v
// per head, head h using kv head h/(H/Hk); causal hides key j from query
// i when j > i + (Sk - Sq); scale 0 means 1/sqrt(D). A query with no
// visible key outputs zeros.
func Attention(q, k, v *Tensor, causal bool, scale float64) (*Tensor, error) {
	var see func(b, h, i, j int) bool
	if causal {
		off := 0
		if len(q.Shape) == 4 && len(k.Shape) == 4 {
			off = k.Shape[1] - q.Shape[1]
		}
		see = func(b, h, i, j int) bool { return j <= i+off }
	}
	return attend(q, k, v, scale, see)
}

// BlockSparseAttention is attention where query block i (of bq rows) sees
// key block j (of bk keys) only where mask is nonzero. The mask is
// [ceil(Sq/bq), ceil(Sk/bk)], shared by all heads, or [H, ...] or
// [B, H, ...]. causal and scale as in Attention.
func BlockSparseAttention(q, k, v, mask *Tensor, bq, bk int, causal bool, scale float64) (*Tensor, error) {
	B, Sq, Sk, H, _, _, err := attnShapes(q, k, v)
	if err != nil {
		return nil, err
	}
	if bq <= 0 || bk <= 0 {
		return nil, fmt.Errorf("ref: block sizes %d, %d must be positive", bq, bk)
	}
	nqb, nkb := (Sq+bq-1)/bq, (Sk+bk-1)/bk
	if err := shapes.CheckBlockMask(mask.Shape, B, H, nqb, nkb); err != nil {
		return nil, fmt.Errorf("ref: %v", err)
	}
	off := Sk - Sq
	return attend(q, k, v, scale, func(b, h, i, j int) bool {
		pl := shapes.MaskPlane(mask.Shape, b, h)
		if mask.Data[(pl*nqb+i/bq)*nkb+j/bk] == 0 {
			return false
		}
		return !causal || j <= i+off
	})
}

// LocalSparseAttention is TeleFuser's local_sparse_attention without a KV
// cache on BSND q, k, v with S = f*h*w: masks.LocalSparse, then block-sparse
// attention over the windowed token order with blocks of one window,
// returned in the original token order, with the mask.
func LocalSparseAttention(q, k, v *Tensor, f, h, w, topk, local int, win [3]int) (o, mask *Tensor, err error) {
	if _, _, _, _, _, _, err := attnShapes(q, k, v); err != nil {
		return nil, nil, err
	}
	mask, err = masks.LocalSparse(q, k, f, h, w, topk, local, win)
	if err != nil {
		return nil, nil, err
	}
	perm := masks.LocalWindowPerm(f, h, w, win)
	bs := win[0] * win[1] * win[2]
	pq, pk, pv := permuteTokens(q, perm), permuteTokens(k, perm), permuteTokens(v, perm)
	po, err := BlockSparseAttention(pq, pk, pv, mask, bs, bs, false, 0)
	if err != nil {
		return nil, nil, err
	}
	o = New(po.DType, po.Shape...)
	row := po.Shape[2] * po.Shape[3]
	S := po.Shape[1]
	for b := 0; b < po.Shape[0]; b++ {
		for p, tok := range perm {
			copy(o.Data[(b*S+tok)*row:][:row], po.Data[(b*S+p)*row:][:row])
		}
	}
	return o, mask, nil
}

// permuteTokens returns t [B,S,...] with token p taken from perm[p].
func permuteTokens(t *Tensor, perm []int) *Tensor {
	o := New(t.DType, t.Shape...)
	S := t.Shape[1]
	row := t.Numel() / (t.Shape[0] * S)
	for b := 0; b < t.Shape[0]; b++ {
		for p, tok := range perm {
			copy(o.Data[(b*S+p)*row:][:row], t.Data[(b*S+tok)*row:][:row])
		}
	}
	return o
}
