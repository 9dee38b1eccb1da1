package attention

import (
	"fmt"
	"log"
	"strings"
	"sync"
)

// AttnImplType names an attention implementation with TeleFuser's names
// (telefuser.core.config.AttnImplType). Each maps to the WGSL kernel
// that serves it; see Kernel.
type AttnImplType int

// TeleFuser's attention implementations, in its order.
const (
	TORCH_SDPA AttnImplType = iota + 1
	TORCH_CUDNN
	SAGE_ATTN_2_8_8
	SAGE_ATTN_2_8_16
	SAGE_ATTN_2_8_8_SM90
	SPARGE_ATTN
	FLASH_ATTN_2
	FLASH_ATTN_3
	FLASH_ATTN_4
	RADIAL_ATTN       // radial block-sparse attention for video
	LOCAL_SPARSE_ATTN // local window sparse attention
)

var implNames = map[AttnImplType]string{
	TORCH_SDPA: "TORCH_SDPA", TORCH_CUDNN: "TORCH_CUDNN",
	SAGE_ATTN_2_8_8: "SAGE_ATTN_2_8_8", SAGE_ATTN_2_8_16: "SAGE_ATTN_2_8_16", SAGE_ATTN_2_8_8_SM90: "SAGE_ATTN_2_8_8_SM90",
	SPARGE_ATTN: "SPARGE_ATTN", FLASH_ATTN_2: "FLASH_ATTN_2", FLASH_ATTN_3: "FLASH_ATTN_3", FLASH_ATTN_4: "FLASH_ATTN_4",
	RADIAL_ATTN: "RADIAL_ATTN", LOCAL_SPARSE_ATTN: "LOCAL_SPARSE_ATTN",
}

// String returns TeleFuser's name of the implementation.
func (t AttnImplType) String() string {
	if s, ok := implNames[t]; ok {
		return s
	}
	return fmt.Sprintf("AttnImplType(%d)", int(t))
}

// ParseAttnImpl reads an implementation name as TeleFuser spells it
// (case-insensitive, "AttnImplType." prefix allowed). An unknown name is
// an error listing the known ones.
func ParseAttnImpl(name string) (AttnImplType, error) {
	s := strings.ToUpper(strings.TrimSpace(strings.TrimPrefix(name, "AttnImplType.")))
	for t, n := range implNames {
		if n == s {
			return t, nil
		}
	}
	known := make([]string, 0, len(implNames))
	for t := TORCH_SDPA; t <= LOCAL_SPARSE_ATTN; t++ {
		known = append(known, implNames[t])
	}
	return 0, errorf("Attention", "attn_impl", "unknown attention backend %q (known: %s)", name, strings.Join(known, ", "))
}

// Kernel names the WGSL implementation that serves an AttnImplType.
type Kernel string

// The WGSL implementations.
const (
	KernelFlash  Kernel = "flash"        // dense flash-style kernels (attention_tiled.wgsl, attention.wgsl)
	KernelRadial Kernel = "radial"       // block-sparse kernel with a radial mask
	KernelLocal  Kernel = "local_sparse" // block-sparse kernel with a local top-k mask
	KernelSage   Kernel = "sage"         // int8 QKᵀ, f32 softmax and PV (attention_sage.wgsl, see Sage)
)

// kernels maps every implementation with a WGSL counterpart. Exact dense
// backends all run the flash kernel; the three SageAttention variants
// run the Sage kernel (f32 PV for all three, see Sage); SpargeAttention
// has none and falls back (with a warning).
var kernels = map[AttnImplType]Kernel{
	TORCH_SDPA: KernelFlash, TORCH_CUDNN: KernelFlash,
	SAGE_ATTN_2_8_8: KernelSage, SAGE_ATTN_2_8_16: KernelSage, SAGE_ATTN_2_8_8_SM90: KernelSage,
	FLASH_ATTN_2: KernelFlash, FLASH_ATTN_3: KernelFlash, FLASH_ATTN_4: KernelFlash,
	RADIAL_ATTN: KernelRadial, LOCAL_SPARSE_ATTN: KernelLocal,
}

// KernelFor returns the WGSL implementation serving t and whether t has
// one of its own (false: it falls back to the dense flash kernel).
func KernelFor(t AttnImplType) (Kernel, bool) {
	k, ok := kernels[t]
	if !ok {
		return KernelFlash, false
	}
	return k, true
}

// Layout is the order of a q, k, v or output tensor's axes.
type Layout int

// TeleFuser's input_layout / output_layout values.
const (
	BSND Layout = iota // [batch, sequence, heads, head dim]
	BNSD               // [batch, heads, sequence, head dim]
)

// String names the layout, "BSND" or "BNSD".
func (l Layout) String() string {
	if l == BNSD {
		return "BNSD"
	}
	return "BSND"
}

// ParseLayout reads "BSND" or "BNSD".
func ParseLayout(s string) (Layout, error) {
	switch strings.ToUpper(s) {
	case "BSND", "":
		return BSND, nil
	case "BNSD":
		return BNSD, nil
	}
	return 0, errorf("Attention", "layout", "unknown layout %q (want BSND or BNSD)", s)
}

// SparseAttentionConfig mirrors TeleFuser's SparseAttentionConfig, plus
// the local sparse parameters TeleFuser passes as arguments.
type SparseAttentionConfig struct {
	SparseImpl       string  // "radial", "local" or "" (dense)
	DenseTimesteps   int     // dense while timestep < DenseTimesteps (default 40)
	DenseLayers      int     // dense while layer < DenseLayers (default 0)
	DecayFactor      float64 // radial window decay (default 1)
	LocalWindowSize  int     // local block window (default 6)
	BlockSize        int     // radial block size, 64 or 128 (default 128)
	UseSageAttention bool    // accepted for compatibility; the sparse kernels ignore it (dense Sage runs under the SAGE_ATTN names)
	TopK             int     // local sparse: blocks kept per frame group and head (default 10)
	Window           [3]int  // local sparse 3-D window (default (2,8,8))
}

// ShouldUseDense reports whether dense attention runs at a timestep and layer.
func (c *SparseAttentionConfig) ShouldUseDense(timestep, layer int) bool {
	return c == nil || timestep < c.DenseTimesteps || layer < c.DenseLayers || c.SparseImpl == ""
}

// AttentionConfig mirrors TeleFuser's AttentionConfig and the keyword
// arguments of its attention(): implementation, sparse settings, scale
// (0: 1/sqrt(D)), causal masking and tensor layouts. State carries the
// runtime state sparse implementations need; without it they run dense.
type AttentionConfig struct {
	Impl         AttnImplType
	Sparse       *SparseAttentionConfig
	Scale        float32
	Causal       bool
	InputLayout  Layout
	OutputLayout Layout
	State        *SparseAttentionState
}

// DenseAttention returns the configuration of a dense implementation
// (TeleFuser's AttentionConfig.dense_attention).
func DenseAttention(impl AttnImplType) AttentionConfig {
	return AttentionConfig{Impl: impl}
}

// RadialAttention returns the configuration of radial attention
// (AttentionConfig.radial_attention) with TeleFuser's defaults for what
// is not given: block size 128.
func RadialAttention(denseTimesteps, denseLayers int, decayFactor float64, useSage bool) AttentionConfig {
	return AttentionConfig{Impl: RADIAL_ATTN, Sparse: &SparseAttentionConfig{
		SparseImpl: "radial", DenseTimesteps: denseTimesteps, DenseLayers: denseLayers,
		DecayFactor: decayFactor, UseSageAttention: useSage, LocalWindowSize: 6, BlockSize: 128,
		TopK: 10, Window: [3]int{2, 8, 8},
	}}
}

// LocalSparseAttention returns the configuration of local sparse
// attention (AttentionConfig.local_sparse_attention) with the top-k and
// window of TeleFuser's local_sparse_attention.
func LocalSparseAttention(denseTimesteps, denseLayers, localWindowSize, topK int) AttentionConfig {
	return AttentionConfig{Impl: LOCAL_SPARSE_ATTN, Sparse: &SparseAttentionConfig{
		SparseImpl: "local", DenseTimesteps: denseTimesteps, DenseLayers: denseLayers,
		DecayFactor: 1, LocalWindowSize: localWindowSize, BlockSize: 128, TopK: topK, Window: [3]int{2, 8, 8},
	}}
}

// SparseAttentionState is the runtime state of sparse attention
// (TeleFuser's SparseAttentionState plus the MaskMap geometry): the
// current timestep and layer, and the video geometry the masks need.
type SparseAttentionState struct {
	Config      *SparseAttentionConfig
	ModelType   string // "wan" or "hunyuan" (radial)
	VideoTokens int    // radial: video tokens at the start of the sequence
	NumFrames   int    // radial: frames of those tokens
	// Frames, Height, Width are the latent token grid of local sparse
	// attention (S = Frames*Height*Width).
	Frames, Height, Width int
	Timestep, Layer       int
}

// NewSparseAttentionState returns a state for config at timestep 0, layer 0.
func NewSparseAttentionState(config *SparseAttentionConfig, modelType string) *SparseAttentionState {
	return &SparseAttentionState{Config: config, ModelType: modelType}
}

// Update sets the timestep and layer; a negative value leaves one unchanged.
func (s *SparseAttentionState) Update(timestep, layer int) {
	if timestep >= 0 {
		s.Timestep = timestep
	}
	if layer >= 0 {
		s.Layer = layer
	}
}

// ShouldUseDense reports whether dense attention runs now.
func (s *SparseAttentionState) ShouldUseDense() bool {
	return s.Config.ShouldUseDense(s.Timestep, s.Layer)
}

// SparsityType returns "dense" or the configured sparse implementation.
func (s *SparseAttentionState) SparsityType() string {
	if s.ShouldUseDense() {
		return "dense"
	}
	return s.Config.SparseImpl
}

// Warn receives the one-per-process fallback warnings; replace it to
// route them elsewhere.
var Warn = func(msg string) { log.Print("webfuser: " + msg) }

var warned sync.Map

func warnOnce(msg string) {
	if _, seen := warned.LoadOrStore(msg, true); !seen {
		Warn(msg)
	}
}
