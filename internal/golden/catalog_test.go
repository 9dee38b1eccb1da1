package golden

import (
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops/ref"
)

func randRef(rng *rand.Rand, dt dtype.DType, std float64, shape ...int) *ref.Tensor {
	t := ref.New(dt, shape...)
	for i := range t.Data {
		t.Data[i] = dtype.Round(dt, std*rng.NormFloat64())
	}
	return t
}

// TestCatalogRunnersAgree builds one case per catalog op with the tensor
// and attribute names of testdata/golden_catalog.py, computes the expected
// outputs with the CPU runner and requires the GPU runner to pass it.
func TestCatalogRunnersAgree(t *testing.T) {
	d := gputest.Device(t)
	rng := rand.New(rand.NewSource(1))
	r := func(dt dtype.DType, std float64, shape ...int) *ref.Tensor { return randRef(rng, dt, std, shape...) }
	wq, ws, _ := ref.QuantizeFP8(r(dtype.F32, 0.2, 7, 33), false, dtype.FP8E4M3)
	cases := []*Case{
		{Op: "activation", Attrs: map[string]any{"fn": "gelu"}, Inputs: map[string]*ref.Tensor{"x": r(dtype.BF16, 3, 3, 5)}},
		{Op: "gated_activation", Attrs: map[string]any{"fn": "silu"}, Inputs: map[string]*ref.Tensor{"x": r(dtype.F16, 2, 3, 14)}},
		{Op: "linear", Inputs: map[string]*ref.Tensor{"x": r(dtype.F32, 1, 5, 33), "weight": r(dtype.F32, 0.2, 7, 33), "bias": r(dtype.F32, 1, 7)}},
		{Op: "feed_forward", Attrs: map[string]any{"activation_fn": "swiglu"}, Inputs: map[string]*ref.Tensor{
			"x": r(dtype.F32, 1, 2, 3, 7), "proj_in.weight": r(dtype.F32, 0.3, 18, 7), "proj_in.bias": r(dtype.F32, 0.3, 18),
			"proj_out.weight": r(dtype.F32, 0.3, 5, 9)}},
		{Op: "ada_layer_norm_continuous", Attrs: map[string]any{"eps": 1e-5, "norm_type": "rms_norm"}, Inputs: map[string]*ref.Tensor{
			"x": r(dtype.F32, 1, 2, 5, 12), "cond": r(dtype.F32, 1, 2, 7), "linear.weight": r(dtype.F32, 0.3, 24, 7),
			"linear.bias": r(dtype.F32, 0.2, 24), "norm.weight": r(dtype.F32, 1, 12)}},
		{Op: "rotary", Attrs: map[string]any{"interleaved": false}, Inputs: map[string]*ref.Tensor{
			"x": r(dtype.F16, 1, 2, 5, 3, 16), "cos": r(dtype.F32, 0.7, 5, 8), "sin": r(dtype.F32, 0.7, 5, 8)}},
		{Op: "quantize_fp8", Attrs: map[string]any{"granularity": "per_tensor", "format": "e4m3"}, Inputs: map[string]*ref.Tensor{"x": r(dtype.F32, 3, 3, 77)}},
		{Op: "linear_fp8", Attrs: map[string]any{"activation_quant": "per_token"}, Inputs: map[string]*ref.Tensor{
			"x": r(dtype.BF16, 1, 5, 33), "weight": wq, "weight_scale": ws, "bias": r(dtype.BF16, 1, 7)}},
	}
	for _, c := range cases {
		c.Name = c.Op
		t.Run(c.Op, func(t *testing.T) { runnersAgree(t, d, c) })
	}
}

// runnersAgree computes a case's outputs with its CPU runner and checks
// that the GPU runner matches them at the case's default tolerance.
func runnersAgree(t *testing.T, d *gpu.Device, c *Case) {
	t.Helper()
	if c.Attrs == nil {
		c.Attrs = map[string]any{}
	}
	reg, ok := registry[c.Op]
	if !ok {
		t.Fatalf("no runner for %s", c.Op)
	}
	out, err := reg.cpu(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Outputs = out
	c.Atol, c.Rtol = defaultTol(c)
	if res := Run(d, c); !res.Pass {
		t.Fatalf("GPU runner: %v", res.Err)
	}
}
