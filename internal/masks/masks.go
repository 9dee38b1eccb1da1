// Package masks builds the block masks and token orders of TeleFuser's
// sparse attention (the radial mask, the local sparse window order and
// its block selection) on the host. The attention operators and their
// float64 reference both use them.
package masks

import (
	"fmt"
	"math"
	"math/bits"
	"sort"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/host"
)

// Radial builds TeleFuser's radial block mask (gen_log_mask_shrinked)
// as the spec describes it: [seqLen/bs, seqLen/bs] of 0/1 (u8). Where the
// shrunk mask of the last frame would reach past the final mask
// (TeleFuser fails there), only its overlap is ORed in.
func Radial(seqLen, videoTokens, numFrames, bs int, decay float64, modelType string) (*host.Tensor, error) {
	if modelType != "wan" && modelType != "hunyuan" {
		return nil, fmt.Errorf("masks: radial mask model_type %q, want wan or hunyuan", modelType)
	}
	if bs <= 0 || seqLen < bs || numFrames <= 0 || videoTokens < numFrames || videoTokens > seqLen {
		return nil, fmt.Errorf("masks: radial mask needs block_size > 0, seq_len >= block_size, 0 < num_frames <= video_tokens <= seq_len (got %d %d %d %d)",
			bs, seqLen, numFrames, videoTokens)
	}
	n := seqLen / bs
	out := host.New(dtype.U8, n, n)
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

// LocalSparse selects the key blocks of TeleFuser's local sparse
// attention (generate_draft_block_mask): q and k [B,S,H(k),D] with
// S = f*h*w are partitioned into windows win; per head the mean-pooled
// query and key blocks are scored (q·k / sqrt(D)), scores outside the
// 2-D local block window (local x local blocks around the query block's
// spatial position, any frame group) are removed, each row is
// softmaxed, and per (head, frame group) the blocks whose probability is
// greater than the (topk+1)-th largest are kept. It returns the mask
// [B,H,nb,nb] (u8) in windowed block order.
func LocalSparse(q, k *host.Tensor, f, h, w, topk, local int, win [3]int) (*host.Tensor, error) {
	if len(q.Shape) != 4 || len(k.Shape) != 4 || k.Shape[0] != q.Shape[0] || k.Shape[3] != q.Shape[3] || k.Shape[2] == 0 {
		return nil, fmt.Errorf("masks: local sparse attention needs q [B,S,H,D] and k [B,S,Hk,D], got %v and %v", q.Shape, k.Shape)
	}
	B, S, H, Hk, D := q.Shape[0], q.Shape[1], q.Shape[2], k.Shape[2], q.Shape[3]
	if f*h*w != S || k.Shape[1] != S || win[0] <= 0 || win[1] <= 0 || win[2] <= 0 ||
		f%win[0] != 0 || h%win[1] != 0 || w%win[2] != 0 || H%Hk != 0 {
		return nil, fmt.Errorf("masks: local sparse attention needs S = f*h*w divisible by the window")
	}
	perm := LocalWindowPerm(f, h, w, win)
	bs := win[0] * win[1] * win[2]
	nb := S / bs
	nh, nw := h/win[1], w/win[2]
	sp := nh * nw // spatial blocks per frame group
	pool := func(t *host.Tensor, heads, b, hd int) []float64 {
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
	mask := host.New(dtype.U8, B, H, nb, nb)
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
