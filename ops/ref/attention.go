package ref

import (
	"fmt"
	"math"
	"math/bits"
	"sort"

	"github.com/webfuser/webfuser/internal/dtype"
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
	B, Sq, Sk, H, Hk, D, err := attnShapes(q, k, v)
	if err != nil {
		return nil, err
	}
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(D))
	}
	o := New(q.DType, B, Sq, H, D)
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
					ko := ((b*Sk+j)*Hk + hk) * D
					d := 0.0
					for x := 0; x < D; x++ {
						d += q.Data[qo+x] * k.Data[ko+x]
					}
					s[j] = d * scale
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
					p := math.Exp(s[j] - mx)
					sum += p
					vo := ((b*Sk+j)*Hk + hk) * D
					for x := 0; x < D; x++ {
						acc[x] += p * v.Data[vo+x]
					}
				}
				for x := 0; x < D; x++ {
					o.Data[qo+x] = dtype.Round(q.DType, acc[x]/sum)
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

// MaskPlane returns the index of the [nqb, nkb] plane of a block mask of
// rank 2 (shared), 3 ([H,...]) or 4 ([B,H,...]) that serves (b, h).
func MaskPlane(shape []int, b, h int) int {
	switch len(shape) {
	case 3:
		return h
	case 4:
		return b*shape[1] + h
	}
	return 0
}

// CheckBlockMask returns an error unless mask is a block mask for B
// batches, H heads and nqb x nkb blocks.
func CheckBlockMask(shape []int, B, H, nqb, nkb int) error {
	r := len(shape)
	if r < 2 || r > 4 || shape[r-2] != nqb || shape[r-1] != nkb ||
		(r == 3 && shape[0] != H) || (r == 4 && (shape[0] != B || shape[1] != H)) {
		return fmt.Errorf("block mask shape %v, want [%d %d], [H=%d %d %d] or [B=%d H=%d %d %d]", shape, nqb, nkb, H, nqb, nkb, B, H, nqb, nkb)
	}
	return nil
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
	if err := CheckBlockMask(mask.Shape, B, H, nqb, nkb); err != nil {
		return nil, fmt.Errorf("ref: %v", err)
	}
	off := Sk - Sq
	return attend(q, k, v, scale, func(b, h, i, j int) bool {
		pl := MaskPlane(mask.Shape, b, h)
		if mask.Data[(pl*nqb+i/bq)*nkb+j/bk] == 0 {
			return false
		}
		return !causal || j <= i+off
	})
}

// SwapAxes12 returns a copy of a rank-4 tensor with axes 1 and 2 swapped
// (BSND <-> BNSD).
func SwapAxes12(t *Tensor) *Tensor {
	A, X, Y, D := t.Shape[0], t.Shape[1], t.Shape[2], t.Shape[3]
	o := New(t.DType, A, Y, X, D)
	for a := 0; a < A; a++ {
		for x := 0; x < X; x++ {
			for y := 0; y < Y; y++ {
				copy(o.Data[((a*Y+y)*X+x)*D:][:D], t.Data[((a*X+x)*Y+y)*D:][:D])
			}
		}
	}
	return o
}

// RadialMask builds TeleFuser's radial block mask (gen_log_mask_shrinked)
// as the spec describes it: [seqLen/bs, seqLen/bs] of 0/1 (u8). Where the
// shrunk mask of the last frame would reach past the final mask
// (TeleFuser fails there), only its overlap is ORed in.
func RadialMask(seqLen, videoTokens, numFrames, bs int, decay float64, modelType string) (*Tensor, error) {
	if modelType != "wan" && modelType != "hunyuan" {
		return nil, fmt.Errorf("ref: radial mask model_type %q, want wan or hunyuan", modelType)
	}
	if bs <= 0 || seqLen < bs || numFrames <= 0 || videoTokens < numFrames || videoTokens > seqLen {
		return nil, fmt.Errorf("ref: radial mask needs block_size > 0, seq_len >= block_size, 0 < num_frames <= video_tokens <= seq_len (got %d %d %d %d)",
			bs, seqLen, numFrames, videoTokens)
	}
	n := seqLen / bs
	out := New(dtype.U8, n, n)
	vb := videoTokens / bs
	for r := 0; r < n; r++ {
		for c := 0; c < n; c++ {
			if r >= vb || c >= vb {
				out.Data[r*n+c] = 1
			}
		}
	}
	tpf := videoTokens / numFrames
	bitsT := bits.Len(uint(tpf))
	nb := (tpf-1)/bs + 1 // blocks per side of a shrunk pair mask
	for i := 0; i < numFrames; i++ {
		for j := 0; j < numFrames; j++ {
			ro, co := (i*tpf)%bs, (j*tpf)%bs
			// The pair's local mask: token (r, c) is on when allOn, or when
			// pass and |c - r| <= win.
			allOn := j == 0 && modelType == "wan"
			pass, win := true, float64(tpf)
			if !allOn {
				d := i - j
				if d < 0 {
					d = -d
				}
				decayLen := math.Exp2(float64(bitsT)) / math.Exp2(float64(bits.Len(uint(d))))
				if d > 1 {
					win = math.Max(decayLen*decay, float64(bs))
				}
				if decayLen < 128 && d%int(128/decayLen) != 0 {
					pass = false
				}
			}
			W := int(math.Floor(win))
			// The padded pair mask is cut to nb x nb blocks (TeleFuser's
			// shrink keeps the first nb blocks of each axis).
			for br := 0; br < nb; br++ {
				rlo, rhi := max(0, br*bs-ro), min(tpf-1, br*bs+bs-1-ro)
				for bc := 0; bc < nb; bc++ {
					nonzero, high := 0, 0
					for x := 0; x < bs; x++ {
						c := bc*bs + x - co
						if c < 0 || c >= tpf || rlo > rhi {
							continue
						}
						cnt := 0
						switch {
						case allOn:
							cnt = rhi - rlo + 1
						case pass:
							cnt = max(0, min(rhi, c+W)-max(rlo, c-W)+1)
						}
						if cnt > 0 {
							nonzero++
						}
						if 3*cnt > bs {
							high++
						}
					}
					live := 5*high > 3*nonzero || br == 0 || br == nb-1
					R, C := (i*tpf)/bs+br, (j*tpf)/bs+bc
					if live && R < n && C < n {
						out.Data[R*n+C] = 1
					}
				}
			}
		}
	}
	return out, nil
}

// LocalWindowPerm returns the window partition of TeleFuser's local
// sparse attention for f x h x w tokens and window win: perm[p] is the
// token at position p of the windowed order (windows in (frame, row,
// column) order, tokens inside a window likewise).
func LocalWindowPerm(f, h, w int, win [3]int) []int {
	wf, wh, ww := win[0], win[1], win[2]
	nh, nw := h/wh, w/ww
	bs := wf * wh * ww
	perm := make([]int, f*h*w)
	for t := 0; t < f; t++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				blk := ((t/wf)*nh+y/wh)*nw + x/ww
				in := ((t%wf)*wh+y%wh)*ww + x%ww
				perm[blk*bs+in] = (t*h+y)*w + x
			}
		}
	}
	return perm
}

// LocalSparseMask selects the key blocks of TeleFuser's local sparse
// attention (generate_draft_block_mask): q and k [B,S,H(k),D] with
// S = f*h*w are partitioned into windows win; per head the mean-pooled
// query and key blocks are scored (q·k / sqrt(D)), scores outside the
// 2-D local block window (local x local blocks around the query block's
// spatial position, any frame group) are removed, each row is
// softmaxed, and per (head, frame group) the blocks whose probability is
// greater than the (topk+1)-th largest are kept. It returns the mask
// [B,H,nb,nb] (u8) in windowed block order.
func LocalSparseMask(q, k *Tensor, f, h, w, topk, local int, win [3]int) (*Tensor, error) {
	if len(q.Shape) != 4 || len(k.Shape) != 4 || k.Shape[0] != q.Shape[0] || k.Shape[3] != q.Shape[3] || k.Shape[2] == 0 {
		return nil, fmt.Errorf("ref: local sparse attention needs q [B,S,H,D] and k [B,S,Hk,D], got %v and %v", q.Shape, k.Shape)
	}
	B, S, H, Hk, D := q.Shape[0], q.Shape[1], q.Shape[2], k.Shape[2], q.Shape[3]
	if f*h*w != S || k.Shape[1] != S || win[0] <= 0 || win[1] <= 0 || win[2] <= 0 ||
		f%win[0] != 0 || h%win[1] != 0 || w%win[2] != 0 || H%Hk != 0 {
		return nil, fmt.Errorf("ref: local sparse attention needs S = f*h*w divisible by the window")
	}
	perm := LocalWindowPerm(f, h, w, win)
	bs := win[0] * win[1] * win[2]
	nb := S / bs
	nh, nw := h/win[1], w/win[2]
	sp := nh * nw // spatial blocks per frame group
	pool := func(t *Tensor, heads, b, hd int) []float64 {
		out := make([]float64, nb*D)
		for blk := 0; blk < nb; blk++ {
			for x := 0; x < bs; x++ {
				tok := perm[blk*bs+x]
				o := ((b*S+tok)*heads + hd) * D
				for d := 0; d < D; d++ {
					out[blk*D+d] += t.Data[o+d]
				}
			}
			for d := 0; d < D; d++ {
				out[blk*D+d] /= float64(bs)
			}
		}
		return out
	}
	rh, rw := local/2, local/2
	near := func(a, c int) bool {
		ya, xa, yc, xc := a/nw, a%nw, c/nw, c%nw
		return yc >= ya-rh && yc <= ya-rh+local-1 && xc >= xa-rw && xc <= xa-rw+local-1
	}
	mask := New(dtype.U8, B, H, nb, nb)
	attn := make([]float64, nb*nb)
	for b := 0; b < B; b++ {
		for hd := 0; hd < H; hd++ {
			pq := pool(q, H, b, hd)
			pk := pool(k, Hk, b, hd/(H/Hk))
			for l := 0; l < nb; l++ {
				mx := math.Inf(-1)
				row := attn[l*nb : (l+1)*nb]
				for m := 0; m < nb; m++ {
					if !near(l%sp, m%sp) {
						row[m] = math.Inf(-1)
						continue
					}
					s := 0.0
					for d := 0; d < D; d++ {
						s += pq[l*D+d] * pk[m*D+d]
					}
					row[m] = s / math.Sqrt(float64(D))
					mx = math.Max(mx, row[m])
				}
				sum := 0.0
				for m := range row {
					row[m] = math.Exp(row[m] - mx)
					sum += row[m]
				}
				for m := range row {
					row[m] /= sum
				}
			}
			for it := 0; it < nb/sp; it++ {
				flat := attn[it*sp*nb : (it+1)*sp*nb]
				kk := topk
				if kk > len(flat)-1 {
					kk = len(flat) - 1
				}
				if kk < 0 {
					kk = 0
				}
				sorted := append([]float64(nil), flat...)
				sort.Sort(sort.Reverse(sort.Float64Slice(sorted)))
				th := sorted[kk]
				base := ((b*H+hd)*nb + it*sp) * nb
				for x, v := range flat {
					if v > th {
						mask.Data[base+x] = 1
					}
				}
			}
		}
	}
	return mask, nil
}

// LocalSparseAttention is TeleFuser's local_sparse_attention without a KV
// cache on BSND q, k, v with S = f*h*w: LocalSparseMask, then block-sparse
// attention over the windowed token order with blocks of one window,
// returned in the original token order, with the mask.
func LocalSparseAttention(q, k, v *Tensor, f, h, w, topk, local int, win [3]int) (o, mask *Tensor, err error) {
	if _, _, _, _, _, _, err := attnShapes(q, k, v); err != nil {
		return nil, nil, err
	}
	mask, err = LocalSparseMask(q, k, f, h, w, topk, local, win)
	if err != nil {
		return nil, nil, err
	}
	perm := LocalWindowPerm(f, h, w, win)
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
