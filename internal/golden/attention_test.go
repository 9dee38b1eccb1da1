package golden

import (
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops/ref"
)

// TestAttentionRunnersAgree builds cases with the tensor and attribute
// names of testdata/golden_attention.py, takes the expected outputs from
// the CPU runner and requires the GPU runner to pass them.
func TestAttentionRunnersAgree(t *testing.T) {
	d := gputest.Device(t)
	rng := rand.New(rand.NewSource(7))
	r := func(dt dtype.DType, shape ...int) *ref.Tensor {
		x := ref.New(dt, shape...)
		for i := range x.Data {
			x.Data[i] = dtype.Round(dt, rng.NormFloat64())
		}
		return x
	}
	mask := ref.New(dtype.U8, 2, 3, 3)
	for i := range mask.Data {
		mask.Data[i] = float64(rng.Intn(2))
	}
	cases := []*Case{
		{Name: "dense_bnsd", Op: "attention", Attrs: map[string]any{"causal": true, "input_layout": "BNSD", "output_layout": "BNSD"},
			Inputs: map[string]*ref.Tensor{"q": r(dtype.F16, 1, 4, 77, 80), "k": r(dtype.F16, 1, 2, 90, 80), "v": r(dtype.F16, 1, 2, 90, 80)}},
		{Name: "dense_scale", Op: "attention", Attrs: map[string]any{"scale": 0.2},
			Inputs: map[string]*ref.Tensor{"q": r(dtype.BF16, 2, 5, 2, 64), "k": r(dtype.BF16, 2, 30, 2, 64), "v": r(dtype.BF16, 2, 30, 2, 64)}},
		{Name: "sage_bnsd", Op: "sage_attention", Attrs: map[string]any{"causal": true, "input_layout": "BNSD", "output_layout": "BSND"},
			Inputs: map[string]*ref.Tensor{"q": r(dtype.BF16, 1, 4, 77, 64), "k": r(dtype.BF16, 1, 2, 130, 64), "v": r(dtype.BF16, 1, 2, 130, 64)}},
		{Name: "sage_scale", Op: "sage_attention", Attrs: map[string]any{"scale": 0.2},
			Inputs: map[string]*ref.Tensor{"q": r(dtype.F32, 2, 5, 2, 12), "k": r(dtype.F32, 2, 30, 2, 12), "v": r(dtype.F32, 2, 30, 2, 12)}},
		{Name: "block_sparse", Op: "block_sparse_attention", Attrs: map[string]any{"block_q": 64.0, "block_k": 64.0},
			Inputs: map[string]*ref.Tensor{"q": r(dtype.F32, 1, 150, 2, 32), "k": r(dtype.F32, 1, 150, 1, 32), "v": r(dtype.F32, 1, 150, 1, 32), "block_mask": mask}},
		{Name: "radial", Op: "radial_mask", Attrs: map[string]any{"seq_len": 3000.0, "video_tokens": 2880.0, "num_frames": 6.0,
			"block_size": 128.0, "decay_factor": 1.0, "model_type": "hunyuan"}, Inputs: map[string]*ref.Tensor{}},
		{Name: "local", Op: "local_sparse_attention", Attrs: map[string]any{"frames": 2.0, "height": 16.0, "width": 16.0,
			"topk": 3.0, "local_range": 2.0, "window": []any{2.0, 8.0, 8.0}},
			Inputs: map[string]*ref.Tensor{"q": r(dtype.F32, 1, 512, 2, 16), "k": r(dtype.F32, 1, 512, 2, 16), "v": r(dtype.F32, 1, 512, 2, 16)}},
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) { runnersAgree(t, d, c) })
	}
}
