package golden

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/models/videodit"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

// tinyVideo is the configuration of the video_dit cases built here (the
// first of testdata/golden_wan.py's).
var tinyVideo = videodit.Config{Frames: 2, Height: 8, Width: 12, Channels: 3, Patch: [3]int{1, 4, 4}, Dim: 16, FFNDim: 32,
	NumHeads: 2, Layers: 2, FreqDim: 16, Shapes: 3, Colors: 2, Directions: 2, Eps: 1e-6, RopeTheta: 10000}

// configAttrs returns cfg as a case's attributes (JSON numbers as float64).
func configAttrs(cfg videodit.Config) map[string]any {
	return map[string]any{"frames": float64(cfg.Frames), "height": float64(cfg.Height), "width": float64(cfg.Width),
		"channels": float64(cfg.Channels), "patch": []any{float64(cfg.Patch[0]), float64(cfg.Patch[1]), float64(cfg.Patch[2])},
		"dim": float64(cfg.Dim), "ffn_dim": float64(cfg.FFNDim), "num_heads": float64(cfg.NumHeads), "layers": float64(cfg.Layers),
		"freq_dim": float64(cfg.FreqDim), "shapes": float64(cfg.Shapes), "colors": float64(cfg.Colors),
		"directions": float64(cfg.Directions), "eps": cfg.Eps, "rope_theta": cfg.RopeTheta}
}

// videoCase builds a video_dit case with the names golden_wan.py writes:
// random weights, tokens, times and classes (the null class last).
func videoCase(seed int64) *Case {
	rng := rand.New(rand.NewSource(seed))
	in := map[string]*ref.Tensor{}
	for n, w := range videodit.RandomWeights(tinyVideo, ops.F32, rng) {
		in[n] = w
	}
	in["x"] = gputest.Rand(rng, ops.F32, []int{3, tinyVideo.Tokens(), tinyVideo.PatchDim()}, 1, 0)
	in["t"] = ref.New(ops.F32, 3)
	copy(in["t"].Data, []float64{1, 0.375, 0})
	in["class"] = ref.New(dtype.I32, 3)
	copy(in["class"].Data, []float64{0, 11, 12})
	return &Case{Name: "video", Op: "video_dit", Attrs: configAttrs(tinyVideo), Inputs: in, Atol: 2e-3, Rtol: 2e-3}
}

// wanCaseOf builds a wan_block case: block 0 of a random video DiT of
// width 32, under the names inside the block, on a 2x3x2 grid.
func wanCaseOf(seed int64) *Case {
	rng := rand.New(rand.NewSource(seed))
	cfg := tinyVideo
	cfg.Dim, cfg.FFNDim, cfg.Layers = 32, 48, 1
	in := map[string]*ref.Tensor{}
	for n, w := range videodit.RandomWeights(cfg, ops.F32, rng) {
		if b, ok := strings.CutPrefix(n, "blocks.0."); ok {
			in[b] = w
		}
	}
	in["x"] = gputest.Rand(rng, ops.F32, []int{2, 12, 32}, 1, 0)
	in["e0"] = gputest.Rand(rng, ops.F32, []int{2, 6, 32}, 0.5, 0)
	in["context"] = gputest.Rand(rng, ops.F32, []int{2, 3, 32}, 1, 0)
	attrs := map[string]any{"num_heads": 2.0, "eps": 1e-6, "grid": []any{2.0, 3.0, 2.0}, "rope_theta": 10000.0}
	return &Case{Name: "wan", Op: "wan_block", Attrs: attrs, Inputs: in, Atol: 2e-3, Rtol: 2e-3}
}

// TestWanRunners runs a wan_block and a video_dit case built here: the
// CPU runner's output is the expected one, the GPU runner must match it,
// and a wrong expected value must fail on both.
func TestWanRunners(t *testing.T) {
	d := gputest.Device(t)
	for _, c := range []*Case{wanCaseOf(1), videoCase(2)} {
		t.Run(c.Op, func(t *testing.T) {
			cpu, err := registry[c.Op].cpu(c)
			if err != nil {
				t.Fatal(err)
			}
			c.Outputs = cpu
			if r := Run(nil, c); !r.Pass || r.MaxAbs != 0 {
				t.Fatalf("cpu run: pass %v, max abs %g, err %v", r.Pass, r.MaxAbs, r.Err)
			}
			r := Run(d, c)
			if !r.Pass {
				t.Fatalf("gpu run failed: %v (max abs %g)", r.Err, r.MaxAbs)
			}
			t.Logf("gpu: max abs %.3g, max rel %.3g", r.MaxAbs, r.MaxRel)
			for name, o := range c.Outputs {
				o.Data[len(o.Data)/3] += 0.05
				if r := Run(d, c); r.Pass {
					t.Errorf("out.%s off by 0.05 in one element passed on the GPU", name)
				}
				if r := Run(nil, c); r.Pass {
					t.Errorf("out.%s off by 0.05 in one element passed on the CPU", name)
				}
			}
		})
	}
}

func TestWanRunnerErrors(t *testing.T) {
	d := gputest.Device(t)
	tests := []struct {
		name string
		c    func(int64) *Case
		edit func(c *Case)
		want string
	}{
		{"grid of other size", wanCaseOf, func(c *Case) { c.Attrs["grid"] = []any{2.0, 2.0, 2.0} }, "holds 8 tokens, in.x has 12"},
		{"missing weight", wanCaseOf, func(c *Case) { delete(c.Inputs, "norm3.bias") }, "norm3.bias"},
		{"extra weight", wanCaseOf, func(c *Case) { c.Inputs["norm4.bias"] = c.Inputs["norm3.bias"] }, "norm4.bias"},
		{"mis-shaped weight", wanCaseOf, func(c *Case) { c.Inputs["ffn.2.bias"] = ref.New(ops.F32, 31) }, "ffn.2.bias"},
		{"heads", wanCaseOf, func(c *Case) { c.Attrs["num_heads"] = 3.0 }, "num_heads"},
		{"x rank", wanCaseOf, func(c *Case) { c.Inputs["x"] = ref.New(ops.F32, 24, 32) }, "in.x shape"},
		{"class out of range", videoCase, func(c *Case) { c.Inputs["class"].Data[0] = 13 }, "in.class[0] = 13"},
		{"t and class of other lengths", videoCase, func(c *Case) { c.Inputs["t"] = ref.New(ops.F32, 2) }, "must both be [B]"},
		{"patch that does not divide", videoCase, func(c *Case) { c.Attrs["patch"] = []any{1.0, 3.0, 4.0} }, "must divide"},
		{"missing parameter", videoCase, func(c *Case) { delete(c.Inputs, "head.modulation") }, "head.modulation"},
		{"mis-shaped parameter", videoCase, func(c *Case) { c.Inputs["class_embedding.weight"] = ref.New(ops.F32, 16, 12) }, "class_embedding.weight"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c(3)
			c.Outputs = map[string]*ref.Tensor{"y": ref.New(ops.F32, 1), "v": ref.New(ops.F32, 1)}
			tc.edit(c)
			for _, dev := range []*ops.Device{nil, d} {
				r := Run(dev, c)
				if r.Pass || r.Err == nil || !strings.Contains(r.Err.Error(), tc.want) {
					t.Errorf("gpu %v: pass %v, err %v; want an error with %q", dev != nil, r.Pass, r.Err, tc.want)
				}
			}
		})
	}
}
