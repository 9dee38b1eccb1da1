// Package attention is WebFuser's attention operator family: flash-style
// dense attention (online softmax, K/V tiles in workgroup memory, f32
// accumulation; BSND or BNSD in and out; grouped heads; cross and causal
// attention) by a register-blocked kernel with a table of tile
// configurations (launch.AttentionTiles) on GPUs, and by a row kernel (subgroup
// and portable variants, split-K) for decoding and CPU drivers,
// block-sparse attention over live key blocks only, TeleFuser's radial
// mask and local sparse attention, and the AttentionConfig dispatch that
// keeps TeleFuser's backend names.
//
// The API takes whole tensors and heads as they come, so a
// sequence-parallel wrapper can later split heads across devices and call
// Attention on each part.
package attention

import (
	"github.com/webfuser/webfuser/gpu"
)

// Options are the per-call settings every attention kernel takes.
type Options struct {
	Causal       bool    // hide key j from query i when j > i + (Sk - Sq)
	Scale        float32 // 0: 1/sqrt(D)
	InputLayout  Layout  // layout of q, k and v
	OutputLayout Layout  // layout of the output
}

// Dense computes softmax(q kᵀ scale) v per head with the flash kernel.
// q is [B,Sq,H,D] (BSND) or [B,H,Sq,D] (BNSD), k and v [B,Sk,Hk,D] in the
// same layout, H a multiple of Hk (head h uses kv head h/(H/Hk)), D a
// multiple of 4 up to 256, storage f32, f16 or bf16. The output has q's
// dtype and the output layout.
func Dense(q, k, v *gpu.Tensor, opt Options) (*gpu.Tensor, error) {
	l := &call{op: "Attention", q: q, k: k, v: v, in: opt.InputLayout, out: opt.OutputLayout,
		causal: opt.Causal, scale: opt.Scale}
	return l.run()
}

// BlockSparse computes attention where query block i sees key block j
// only where mask is nonzero (see BlockMask); masked blocks are skipped,
// so the work is proportional to the live blocks. A query row whose
// blocks are all masked outputs zeros. Shapes and options as in Dense.
func BlockSparse(q, k, v *gpu.Tensor, mask *BlockMask, opt Options) (*gpu.Tensor, error) {
	if mask == nil {
		return nil, errorf("BlockSparseAttention", "block_mask", "is required")
	}
	l := &call{op: "BlockSparseAttention", q: q, k: k, v: v, in: opt.InputLayout, out: opt.OutputLayout,
		causal: opt.Causal, scale: opt.Scale, mask: mask}
	return l.run()
}

// Attention runs q, k, v through the implementation cfg names, as
// TeleFuser's attention() does: exact dense backends run the flash
// kernel; the SageAttention names run Sage; RADIAL_ATTN and
// LOCAL_SPARSE_ATTN run their sparse kernels unless cfg.State says dense
// (timestep < dense_timesteps or layer < dense_layers); a backend without
// a WGSL kernel (SpargeAttention) or a sparse one without State falls
// back to the dense kernel with one warning per process.
func Attention(q, k, v *gpu.Tensor, cfg AttentionConfig) (*gpu.Tensor, error) {
	if _, ok := implNames[cfg.Impl]; !ok {
		return nil, errorf("Attention", "attn_impl", "unknown attention backend %v", cfg.Impl)
	}
	opt := Options{Causal: cfg.Causal, Scale: cfg.Scale, InputLayout: cfg.InputLayout, OutputLayout: cfg.OutputLayout}
	kern, own := KernelFor(cfg.Impl)
	if !own {
		warnOnce("attention " + cfg.Impl.String() + " has no WGSL implementation, falling back to the dense flash kernel")
	}
	if kern == KernelSage {
		return Sage(q, k, v, opt)
	}
	if kern != KernelFlash && cfg.State == nil {
		warnOnce("sparse attention " + cfg.Impl.String() + " requires a SparseAttentionState, falling back to the dense flash kernel")
		kern = KernelFlash
	}
	if kern != KernelFlash && cfg.State.ShouldUseDense() {
		kern = KernelFlash
	}
	switch kern {
	case KernelRadial:
		return radialAttention(q, k, v, cfg.State, opt)
	case KernelLocal:
		o, _, err := localSparse(q, k, v, cfg.State, opt)
		return o, err
	}
	return Dense(q, k, v, opt)
}
