// Package dit is WebFuser's DiT block: the spec's reference transformer
// block (shared/spec/ops.md, dit_block) built from the operators of ops
// and ops/attention only. Adaptive modulation comes from a conditioning
// vector (six chunks: shift, scale and gate for attention and for the
// MLP), RMSNorm and modulate run as one fused kernel where the dispatch
// table says so, the projections carry their gate and residual in the
// matmul epilogue, and attention is the dense flash kernel over H heads.
// Block.SetOptions runs the linears as W8A8 (int8 weights quantised
// once, int8 tensor cores where the device has them) and picks the
// attention implementation by its attention.AttnImplType.
//
// Importing the package registers the golden runners of dit_block.
package dit

import (
	"fmt"
	"math"
	"sort"

	"github.com/webfuser/webfuser/ops"
)

// Defaults of the block's attributes.
const (
	DefaultMLPRatio     = 4.0
	DefaultActivationFn = "gelu-approximate" // DiT's GELU(tanh) MLP
	DefaultEps          = ops.RMSNormEps
)

// Bounds of the block's attributes, so that no size derived from them
// overflows an int: the largest weight, [6D, D] or [2I, D], stays below
// 2^53 elements.
const (
	MaxDim      = 1 << 20 // largest hidden size D
	MaxInnerDim = 1 << 24 // largest feed-forward inner width int(D*MLPRatio)
)

// Config holds the block's attributes: the hidden size Dim (D), the
// head count NumHeads (D a multiple of it), MLPRatio (the feed-forward
// inner width is int(D*MLPRatio); zero means DefaultMLPRatio),
// ActivationFn (a FeedForward kind: gelu, gelu-approximate, geglu,
// geglu-approximate, swiglu, linear-silu; empty means
// DefaultActivationFn) and Eps, the RMSNorm epsilon, used as given.
type Config struct {
	Dim, NumHeads int
	MLPRatio      float64
	ActivationFn  string
	Eps           float32
}

// NewConfig returns the configuration of a block of width dim with heads
// heads and the default ratio, activation and epsilon.
func NewConfig(dim, heads int) Config {
	return Config{Dim: dim, NumHeads: heads, MLPRatio: DefaultMLPRatio, ActivationFn: DefaultActivationFn, Eps: DefaultEps}
}

// resolve fills the defaults and checks the attributes.
func (c Config) resolve() (Config, ops.FeedForwardConfig, int, error) {
	if c.MLPRatio == 0 {
		c.MLPRatio = DefaultMLPRatio
	}
	if c.ActivationFn == "" {
		c.ActivationFn = DefaultActivationFn
	}
	if c.Dim <= 0 || c.Dim > MaxDim {
		return c, ops.FeedForwardConfig{}, 0, errorf("", "dim %d must be in [1, %d]", c.Dim, MaxDim)
	}
	if c.NumHeads <= 0 || c.Dim%c.NumHeads != 0 {
		return c, ops.FeedForwardConfig{}, 0, errorf("", "dim %d is not a multiple of num_heads %d", c.Dim, c.NumHeads)
	}
	if !(c.MLPRatio > 0) || math.IsInf(c.MLPRatio, 0) {
		return c, ops.FeedForwardConfig{}, 0, errorf("", "mlp_ratio %g must be a positive number", c.MLPRatio)
	}
	if inner := float64(c.Dim) * c.MLPRatio; inner < 1 || inner > MaxInnerDim {
		return c, ops.FeedForwardConfig{}, 0, errorf("", "mlp_ratio %g gives dim %d an inner width of %.0f: too large or too small (want 1 to %d)", c.MLPRatio, c.Dim, math.Floor(inner), MaxInnerDim)
	}
	if !(c.Eps >= 0) || math.IsInf(float64(c.Eps), 0) {
		return c, ops.FeedForwardConfig{}, 0, errorf("", "eps %g must be a finite non-negative number", c.Eps)
	}
	ff, inRows, err := ops.FeedForwardConfig{Dim: c.Dim, Mult: c.MLPRatio, ActivationFn: c.ActivationFn}.Resolve()
	if err != nil {
		return c, ff, 0, errorf("", "%v", err)
	}
	return c, ff, inRows, nil
}

// HostElements returns how many elements a block of this configuration
// holds on the host, weights and the inputs x [batch,seq,D] and cond
// [batch,D] together, or an error if the configuration is invalid, batch
// or seq is not positive, or the count overflows. Callers that allocate
// by batch and seq (RandomInputs) check them with it first.
func (c Config) HostElements(batch, seq int) (int, error) {
	shapes, err := c.WeightShapes()
	if err != nil {
		return 0, err
	}
	if batch <= 0 || seq <= 0 {
		return 0, errorf("x", "batch %d and seq %d must be positive", batch, seq)
	}
	const limit = 1 << 62
	mul := func(f ...int) int {
		p := 1
		for _, v := range f {
			if p > limit/v {
				return limit
			}
			p *= v
		}
		return p
	}
	total := 0
	add := func(n int) { // saturating at limit
		if n >= limit-total {
			total = limit
		} else {
			total += n
		}
	}
	add(mul(batch, seq, c.Dim))
	add(mul(batch, c.Dim))
	for _, s := range shapes {
		add(mul(s...))
	}
	if total >= limit {
		return 0, errorf("x", "batch %d, seq %d and dim %d overflow the element count", batch, seq, c.Dim)
	}
	return total, nil
}

// InnerDim returns the feed-forward inner width, int(Dim*MLPRatio).
func (c Config) InnerDim() (int, error) {
	_, ff, _, err := c.resolve()
	return ff.InnerDim, err
}

// WeightShapes returns the shape of every weight the block takes, by the
// spec's name: norm1.weight and norm2.weight [D], adaln.weight [6D,D],
// qkv.weight [3D,D], proj.weight [D,D], ffn.proj_in.weight [R,D] (R the
// inner width, doubled for geglu and swiglu), ffn.proj_out.weight [D,I],
// and a ".bias" vector for each linear.
func (c Config) WeightShapes() (map[string][]int, error) {
	c, ff, inRows, err := c.resolve()
	if err != nil {
		return nil, err
	}
	D := c.Dim
	return map[string][]int{
		"norm1.weight": {D}, "norm2.weight": {D},
		"adaln.weight": {6 * D, D}, "adaln.bias": {6 * D},
		"qkv.weight": {3 * D, D}, "qkv.bias": {3 * D},
		"proj.weight": {D, D}, "proj.bias": {D},
		"ffn.proj_in.weight": {inRows, D}, "ffn.proj_in.bias": {inRows},
		"ffn.proj_out.weight": {D, ff.InnerDim}, "ffn.proj_out.bias": {D},
	}, nil
}

// weightOrder lists the weights in the spec's order.
var weightOrder = []string{"norm1.weight", "norm2.weight", "adaln.weight", "adaln.bias", "qkv.weight", "qkv.bias",
	"proj.weight", "proj.bias", "ffn.proj_in.weight", "ffn.proj_in.bias", "ffn.proj_out.weight", "ffn.proj_out.bias"}

// WeightNames returns the names WeightShapes knows, in the spec's order.
func WeightNames() []string { return append([]string(nil), weightOrder...) }

// optional reports whether a weight may be absent: the linears' biases.
func optional(name string) bool {
	return len(name) > 5 && name[len(name)-5:] == ".bias"
}

// weightInfo is what checkWeights needs of a tensor, on the device or not.
type weightInfo struct {
	shape []int
	dt    ops.DType
}

// checkWeights checks a set of named weights against the configuration:
// every required weight present, no unknown name, every shape as
// WeightShapes says and one float dtype for all. It returns that dtype.
func (c Config) checkWeights(w map[string]weightInfo) (ops.DType, error) {
	shapes, err := c.WeightShapes()
	if err != nil {
		return 0, err
	}
	names := make([]string, 0, len(w))
	for n := range w {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := shapes[n]; !ok {
			return 0, errorf(n, "is not a weight of the block (want %v)", WeightNames())
		}
	}
	var dt ops.DType
	first := ""
	for _, n := range WeightNames() {
		info, ok := w[n]
		if !ok {
			if optional(n) {
				continue
			}
			return 0, errorf(n, "is missing (shape %v)", shapes[n])
		}
		if fmt.Sprint(info.shape) != fmt.Sprint(shapes[n]) {
			return 0, errorf(n, "shape %v, want %v (dim %d, num_heads %d, mlp_ratio %g, activation_fn %s)",
				info.shape, shapes[n], c.Dim, c.NumHeads, c.MLPRatio, c.ActivationFn)
		}
		if info.dt != ops.F32 && info.dt != ops.F16 && info.dt != ops.BF16 {
			return 0, errorf(n, "dtype %v, want f32, f16 or bf16", info.dt)
		}
		if first == "" {
			dt, first = info.dt, n
		} else if info.dt != dt {
			return 0, errorf(n, "dtype %v differs from %s's %v; the block runs in one dtype", info.dt, first, dt)
		}
	}
	return dt, nil
}
