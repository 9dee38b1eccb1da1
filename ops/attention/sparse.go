package attention

import (
	"fmt"
	"sync"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/host"
	"github.com/webfuser/webfuser/internal/masks"
)

var radialCache sync.Map // radialKey -> *BlockMask

type radialKey struct {
	seq, video, frames, bs int
	decay                  float64
	model                  string
}

// RadialMask returns TeleFuser's radial block mask (gen_log_mask_shrinked,
// quirks kept: frame 0 is a sink for "wan"; the first and last block rows
// of every shrunk frame-pair mask are on) for a sequence of seqLen tokens
// whose first videoTokens are numFrames video frames: [seqLen/bs,
// seqLen/bs]. It is built on the CPU once per parameter set and cached.
func RadialMask(seqLen, videoTokens, numFrames, blockSize int, decayFactor float64, modelType string) (*BlockMask, error) {
	key := radialKey{seqLen, videoTokens, numFrames, blockSize, decayFactor, modelType}
	if m, ok := radialCache.Load(key); ok {
		return m.(*BlockMask), nil
	}
	t, err := masks.Radial(seqLen, videoTokens, numFrames, blockSize, decayFactor, modelType)
	if err != nil {
		return nil, errorf("RadialMask", "", "%v", err)
	}
	m, err := MaskFromRef(t, blockSize, blockSize)
	if err != nil {
		return nil, err
	}
	got, _ := radialCache.LoadOrStore(key, m)
	return got.(*BlockMask), nil
}

// radialAttentionMask extends the radial mask to ceil(S/bs) blocks: a
// partial last block (tokens past the last whole block) is treated like
// text tokens, on in its row and column.
func radialAttentionMask(S, video, frames, bs int, decay float64, model string) (*BlockMask, error) {
	m, err := RadialMask(S, video, frames, bs, decay, model)
	if err != nil || S%bs == 0 {
		return m, err
	}
	key := radialKey{-S, video, frames, bs, decay, model}
	if e, ok := radialCache.Load(key); ok {
		return e.(*BlockMask), nil
	}
	n, N := m.Shape[0], m.Shape[0]+1
	d := make([]uint8, N*N)
	for i := 0; i < N; i++ {
		for j := 0; j < N; j++ {
			if i == n || j == n {
				d[i*N+j] = 1
			} else {
				d[i*N+j] = m.Data[i*n+j]
			}
		}
	}
	e, err := NewBlockMask([]int{N, N}, bs, bs, d)
	if err != nil {
		return nil, err
	}
	got, _ := radialCache.LoadOrStore(key, e)
	return got.(*BlockMask), nil
}

// Radial computes radial attention: self-attention (Sq = Sk = S) with the
// block-sparse kernel and RadialMask(S, videoTokens, numFrames,
// blockSize, decayFactor, modelType); when S is not a multiple of the
// block size the partial last block row and column are on.
func Radial(q, k, v *gpu.Tensor, videoTokens, numFrames, blockSize int, decayFactor float64, modelType string, opt Options) (*gpu.Tensor, error) {
	const op = "RadialAttention"
	for _, x := range []struct {
		n string
		t *gpu.Tensor
	}{{"q", q}, {"k", k}, {"v", v}} {
		if err := checkFloat(op, x.n, x.t); err != nil {
			return nil, err
		}
	}
	_, sq, _, _ := dims(q, opt.InputLayout)
	_, sk, _, _ := dims(k, opt.InputLayout)
	if sq != sk {
		return nil, errorf(op, "k", "radial attention is self-attention: Sq %d != Sk %d", sq, sk)
	}
	if blockSize != 64 && blockSize != 128 {
		return nil, errorf(op, "block_size", "%d: want 64 or 128", blockSize)
	}
	m, err := radialAttentionMask(sq, videoTokens, numFrames, blockSize, decayFactor, modelType)
	if err != nil {
		return nil, err
	}
	l := &call{op: op, q: q, k: k, v: v, in: opt.InputLayout, out: opt.OutputLayout,
		causal: opt.Causal, scale: opt.Scale, mask: m}
	return l.run()
}

func radialAttention(q, k, v *gpu.Tensor, st *SparseAttentionState, opt Options) (*gpu.Tensor, error) {
	c := st.Config
	bs := c.BlockSize
	if bs == 0 {
		bs = 128
	}
	return Radial(q, k, v, st.VideoTokens, st.NumFrames, bs, c.DecayFactor, st.ModelType, opt)
}

// LocalParams are the geometry and selection of local sparse attention.
type LocalParams struct {
	Frames, Height, Width int    // token grid; S = Frames*Height*Width
	TopK                  int    // blocks kept per (head, frame group); TeleFuser's topk
	LocalRange            int    // spatial block window (local_range / local_window_size)
	Window                [3]int // 3-D window, default (2,8,8): one window is one block
}

// LocalSparse is TeleFuser's local_sparse_attention without a KV cache:
// tokens are grouped into 3-D windows (one window per block), mean-pooled
// query and key blocks are scored per head inside a 2-D local block
// window, the top-k blocks per head and frame group are kept
// (masks.LocalSparse, on the host from the downloaded q and k), and
// block-sparse attention runs over the windowed order, writing the
// output in the original order. It returns the output and the mask
// [B,H,nb,nb] (windowed block order). Self-attention only.
func LocalSparse(q, k, v *gpu.Tensor, p LocalParams, opt Options) (*gpu.Tensor, *BlockMask, error) {
	const op = "LocalSparseAttention"
	if p.Window == [3]int{} {
		p.Window = [3]int{2, 8, 8}
	}
	if p.LocalRange == 0 {
		p.LocalRange = 6
	}
	l := &call{op: op, q: q, k: k, v: v, in: opt.InputLayout, out: opt.OutputLayout, scale: opt.Scale}
	if opt.Causal {
		return nil, nil, errorf(op, "causal", "local sparse attention is not causal")
	}
	if err := l.validate(); err != nil {
		return nil, nil, err
	}
	w := p.Window
	if w[0] <= 0 || w[1] <= 0 || w[2] <= 0 || p.Frames <= 0 || p.Height <= 0 || p.Width <= 0 ||
		p.Frames%w[0] != 0 || p.Height%w[1] != 0 || p.Width%w[2] != 0 {
		return nil, nil, errorf(op, "window", "grid %dx%dx%d must divide into windows %v", p.Frames, p.Height, p.Width, w)
	}
	if l.sq != l.sk || l.sq != p.Frames*p.Height*p.Width {
		return nil, nil, errorf(op, "q", "sequence %d (keys %d): want Frames*Height*Width = %d", l.sq, l.sk, p.Frames*p.Height*p.Width)
	}
	if p.TopK < 0 || p.LocalRange < 0 {
		return nil, nil, errorf(op, "topk", "topk %d and local range %d must be non-negative", p.TopK, p.LocalRange)
	}
	rq, err := hostBSND(q, opt.InputLayout)
	if err != nil {
		return nil, nil, err
	}
	rk, err := hostBSND(k, opt.InputLayout)
	if err != nil {
		return nil, nil, err
	}
	mt, err := masks.LocalSparse(rq, rk, p.Frames, p.Height, p.Width, p.TopK, p.LocalRange, w)
	if err != nil {
		return nil, nil, errorf(op, "q", "%v", err)
	}
	bs := w[0] * w[1] * w[2]
	mask, err := MaskFromRef(mt, bs, bs)
	if err != nil {
		return nil, nil, err
	}
	l.mask = mask
	l.perm = masks.LocalWindowPerm(p.Frames, p.Height, p.Width, w)
	o, err := l.run()
	return o, mask, err
}

func localSparse(q, k, v *gpu.Tensor, st *SparseAttentionState, opt Options) (*gpu.Tensor, *BlockMask, error) {
	c := st.Config
	p := LocalParams{Frames: st.Frames, Height: st.Height, Width: st.Width, TopK: c.TopK, LocalRange: c.LocalWindowSize, Window: c.Window}
	return LocalSparse(q, k, v, p, opt)
}

// hostBSND downloads a rank-4 tensor as a BSND reference tensor.
func hostBSND(t *gpu.Tensor, l Layout) (*host.Tensor, error) {
	v, err := t.Float32()
	if err != nil {
		return nil, err
	}
	r, err := host.FromFloat32(t.DType, t.Shape, v)
	if err != nil {
		return nil, fmt.Errorf("attention: %v", err)
	}
	if l == BNSD {
		r = host.SwapAxes12(r)
	}
	return r, nil
}
