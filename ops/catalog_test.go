package ops

import (
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
)

// TestCatalogNoWritesPastOutputs runs every new output kernel on odd
// shapes into guarded outputs (gputest.Guard) and checks that nothing
// past an output changed.
func TestCatalogNoWritesPastOutputs(t *testing.T) {
	d := testDevice(t)
	gputest.Guard(t, d)
	for _, dt := range floatStorage {
		for _, shape := range [][]int{{3, 7}, {1, 1}, {5, 6}, {2, 9}} {
			rng := rand.New(rand.NewSource(1))
			r, c := shape[0], shape[1]
			x := upload(t, d, randTensor(rng, dt, shape, 1, 0))
			x2 := upload(t, d, randTensor(rng, dt, []int{r, 2 * c}, 1, 0))
			w := upload(t, d, randTensor(rng, dt, []int{c, c}, 0.3, 0))
			g := upload(t, d, randTensor(rng, dt, []int{c}, 1, 0))
			rot := upload(t, d, randTensor(rng, dt, []int{1, r, 1, 2 * c}, 1, 0))
			tab := upload(t, d, randTensor(rng, dtype.F32, []int{r, c}, 1, 0))
			runs := map[string]func() (*gpu.Tensor, error){
				"activation": func() (*gpu.Tensor, error) { return Activate(x, ActMish) },
				"gated":      func() (*gpu.Tensor, error) { return GatedActivation(x2, ActSiLU) },
				"narrow":     func() (*gpu.Tensor, error) { return Narrow(x2, 1, c) },
				"rotary":     func() (*gpu.Tensor, error) { return ApplyRotaryEmb(rot, tab, tab, true) },
				"rotary-half": func() (*gpu.Tensor, error) {
					return ApplyRotaryEmb(rot, tab, tab, false)
				},
				"linear+act": func() (*gpu.Tensor, error) { return linearAct(x, w, g, ActGELU, PathFused) },
				"bias+act":   func() (*gpu.Tensor, error) { return biasAct("t", x, g, ActSiLU) },
				"gate+residual composed": func() (*gpu.Tensor, error) {
					return linearGateResidual(x, w, g, g, x, PathComposed)
				},
				"quantize": func() (*gpu.Tensor, error) { q, _, err := QuantizeFP8(x, PerToken, dtype.FP8E4M3); return q, err },
			}
			for name, run := range runs {
				if _, err := run(); err != nil {
					t.Fatalf("%s %v %v: %v", name, dt, shape, err)
				}
				if err := d.CheckGuards(); err != nil {
					t.Fatalf("%s %v %v: %v", name, dt, shape, err)
				}
			}
		}
	}
}

func TestCatalogBadInputIsAnError(t *testing.T) {
	d := testDevice(t)
	x, _ := d.NewTensor(dtype.F32, 2, 3, 8)
	w5, _ := d.NewTensor(dtype.F32, 4, 5)
	w8, _ := d.NewTensor(dtype.F32, 4, 8)
	b3, _ := d.NewTensor(dtype.F32, 3)
	q8, _ := d.NewTensor(dtype.FP8E4M3, 4, 8)
	odd, _ := d.NewTensor(dtype.F32, 2, 7)
	tab, _ := d.NewTensor(dtype.F32, 3, 3)
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"weight shape", func() error { _, e := LinearForward(x, w5, nil); return e }, "ops.Linear: weight: shape [4 5], want [N,8]"},
		{"bias shape", func() error { _, e := LinearForward(x, w8, b3); return e }, "ops.Linear: bias: shape [3], want [4]"},
		{"nil weight", func() error { _, e := LinearForward(x, nil, nil); return e }, "ops.Linear: weight: is required"},
		{"unknown activation", func() error { _, e := GetActivation("swishy"); return e }, `ops.GetActivation: activation function "swishy" not found`},
		{"unknown activation name", func() error { _, e := ParseActivation("tanhh"); return e }, `ops.Activation: unknown activation "tanhh"`},
		{"fp8 without scale", func() error { _, e := NewLinearFP8(q8, nil, nil, ""); return e }, "ops.LinearFP8: weight_scale: is required"},
		{"fp8 matmul without scale", func() error { _, e := LinearForward(x, q8, nil); return e }, "ops.Linear: weight_scale: is required"},
		{"fp8 scale shape", func() error { _, e := NewLinearFP8(q8, b3, nil, ""); return e }, "ops.LinearFP8: weight_scale: shape [3]"},
		{"odd gated", func() error { _, e := GatedActivation(odd, ActGELU); return e }, "ops.GatedActivation: x: last dimension 7 is odd"},
		{"not gated", func() error { _, e := GatedActivation(x, ActMish); return e }, "ops.GatedActivation: activation mish is not gated"},
		{"rotary table", func() error { _, e := ApplyRotaryEmb(mustReshape(t, x, 1, 2, 3, 8), tab, tab, true); return e }, "ops.ApplyRotaryEmb: cos: shape [3 3]"},
		{"ff activation", func() error {
			_, e := NewFeedForward(FeedForwardConfig{Dim: 8, ActivationFn: "reglu"}, nil, nil)
			return e
		}, `ops.FeedForward: unknown activation_fn "reglu"`},
		{"ff proj shape", func() error {
			l, _ := NewLinear(w8, nil)
			_, e := NewFeedForward(FeedForwardConfig{Dim: 8, InnerDim: 4, ActivationFn: "geglu"}, l, l)
			return e
		}, "ops.FeedForward: proj_in.weight: shape [4 8], want [8 8] for geglu"},
		{"adaln linear", func() error {
			_, e := AdaLayerNormContinuousForward(x, odd, w8, nil, nil, nil, KindLayerNorm, 1e-5)
			return e
		}, "ops.AdaLayerNormContinuous: linear.weight: shape [4 8], want [16, E]"},
		{"granularity", func() error { _, e := ParseGranularity("per_block"); return e }, "ops.QuantizeFP8: unknown granularity"},
		{"gate shape", func() error { _, e := LinearGateResidual(x, w8, nil, b3, x); return e }, "ops.LinearGateResidual: residual: shape [2 3 8]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if _, ok := err.(*Error); !ok || !contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an *ops.Error containing %q", err, c.want)
			}
		})
	}
}

func mustReshape(t *testing.T, x *gpu.Tensor, shape ...int) *gpu.Tensor {
	t.Helper()
	v, err := x.Reshape(shape...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
