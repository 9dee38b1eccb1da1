package ops

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops/ref"
)

var ffKinds = []string{"gelu", "gelu-approximate", "geglu", "geglu-approximate", "swiglu", "linear-silu"}

// ffWeights returns random proj_in and proj_out weights and biases for cfg.
func ffWeights(rng *rand.Rand, dt dtype.DType, cfg FeedForwardConfig) (inW, inB, outW, outB *ref.Tensor) {
	cfg, rows, err := cfg.Resolve()
	if err != nil {
		panic(err)
	}
	inW = randTensor(rng, dt, []int{rows, cfg.Dim}, 0.3, 0)
	outW = randTensor(rng, dt, []int{cfg.DimOut, cfg.InnerDim}, 0.3, 0)
	if !cfg.NoBias {
		inB = randTensor(rng, dt, []int{rows}, 0.5, 0)
		outB = randTensor(rng, dt, []int{cfg.DimOut}, 0.5, 0)
	}
	return
}

func TestFeedForwardMatchesReference(t *testing.T) {
	d := testDevice(t)
	for _, kind := range ffKinds {
		for _, dt := range floatStorage {
			for _, cfg := range []FeedForwardConfig{{Dim: 12}, {Dim: 7, DimOut: 5, InnerDim: 9, NoBias: true}} {
				cfg.ActivationFn = kind
				t.Run(fmt.Sprintf("%s/%v/%d-%d-%d", kind, dt, cfg.Dim, cfg.InnerDim, cfg.DimOut), func(t *testing.T) {
					rng := rand.New(rand.NewSource(6))
					inW, inB, outW, outB := ffWeights(rng, dt, cfg)
					x := randTensor(rng, dt, []int{2, 3, cfg.Dim}, 1, 0)
					want, err := ref.FeedForward(x, inW, inB, outW, outB, kind)
					if err != nil {
						t.Fatal(err)
					}
					pin, err := NewLinear(upload(t, d, inW), upload(t, d, inB))
					if err != nil {
						t.Fatal(err)
					}
					pout, err := NewLinear(upload(t, d, outW), upload(t, d, outB))
					if err != nil {
						t.Fatal(err)
					}
					ff, err := NewFeedForward(cfg, pin, pout)
					if err != nil {
						t.Fatal(err)
					}
					y, err := ff.Forward(upload(t, d, x))
					if err != nil {
						t.Fatal(err)
					}
					expectClose(t, y, want, matmulTol(dt))
				})
			}
		}
	}
}

func TestFeedForwardDefaults(t *testing.T) {
	c, rows, err := FeedForwardConfig{Dim: 10}.Resolve()
	if err != nil || c.InnerDim != 40 || c.DimOut != 10 || c.ActivationFn != "geglu" || rows != 80 || c.NoBias {
		t.Fatalf("defaults: %+v rows %d err %v", c, rows, err)
	}
	c, rows, _ = FeedForwardConfig{Dim: 10, Mult: 2, ActivationFn: "gelu", Dropout: 0.1}.Resolve()
	if c.InnerDim != 20 || rows != 20 {
		t.Fatalf("mult 2: %+v rows %d", c, rows)
	}
}

func TestAdaLayerNormContinuousMatchesReference(t *testing.T) {
	d := testDevice(t)
	for _, kind := range []NormKind{KindLayerNorm, KindRMSNorm} {
		for _, dt := range floatStorage {
			for _, s := range []struct{ b, l, dim, e int }{{2, 5, 12, 7}, {1, 3, 9, 16}} {
				for _, affine := range []bool{false, true} {
					t.Run(fmt.Sprintf("%v/%v/%v/affine=%v", kind, dt, s, affine), func(t *testing.T) {
						rng := rand.New(rand.NewSource(8))
						x := randTensor(rng, dt, []int{s.b, s.l, s.dim}, 2, 0.3)
						cond := randTensor(rng, dt, []int{s.b, s.e}, 1, 0)
						lw := randTensor(rng, dt, []int{2 * s.dim, s.e}, 0.3, 0)
						lb := randTensor(rng, dt, []int{2 * s.dim}, 0.2, 0)
						var nw, nb *ref.Tensor
						if affine {
							nw = randTensor(rng, dt, []int{s.dim}, 0.5, 1)
							nb = randTensor(rng, dt, []int{s.dim}, 0.5, 0)
							if kind == KindRMSNorm {
								nb = nil
							}
						}
						nt := "layer_norm"
						if kind == KindRMSNorm {
							nt = "rms_norm"
						}
						want, err := ref.AdaLayerNormContinuous(x, cond, lw, lb, nw, nb, nt, 1e-5)
						if err != nil {
							t.Fatal(err)
						}
						y, err := AdaLayerNormContinuousForward(upload(t, d, x), upload(t, d, cond), upload(t, d, lw), upload(t, d, lb),
							upload(t, d, nw), upload(t, d, nb), kind, 1e-5)
						if err != nil {
							t.Fatal(err)
						}
						expectClose(t, y, want, matmulTol(dt))
					})
				}
			}
		}
	}
}

// TestReplaceLinearLayers quantises a FeedForward to FP8 and checks the
// output against the float64 emulation of the quantised network, and the
// parameter memory before and after.
func TestReplaceLinearLayers(t *testing.T) {
	d := testDevice(t)
	for _, kind := range []string{"geglu", "gelu"} {
		t.Run(kind, func(t *testing.T) {
			cfg := FeedForwardConfig{Dim: 32, ActivationFn: kind}
			rng := rand.New(rand.NewSource(10))
			inW, inB, outW, outB := ffWeights(rng, dtype.F32, cfg)
			x := randTensor(rng, dtype.F32, []int{2, 5, 32}, 1, 0)
			pin, _ := NewLinear(upload(t, d, inW), upload(t, d, inB))
			pout, _ := NewLinear(upload(t, d, outW), upload(t, d, outB))
			ff, err := NewFeedForward(cfg, pin, pout)
			if err != nil {
				t.Fatal(err)
			}
			before := ParameterBytes(ff)
			n, err := ReplaceLinearLayers(ff, dtype.FP8E4M3)
			if err != nil || n != 2 {
				t.Fatalf("replaced %d layers, err %v", n, err)
			}
			after := ParameterBytes(ff)
			t.Logf("FeedForward(dim 32, %s) parameters: %d bytes before, %d after FP8 (%.2fx smaller)", kind, before, after, float64(before)/float64(after))
			if pin.Weight != nil || after*3 > before {
				t.Fatalf("full-width weights kept: %d -> %d bytes", before, after)
			}
			if _, ok := ff.ProjOut.(*LinearFP8); !ok {
				t.Fatal("proj_out was not replaced")
			}
			// Emulation: weights quantised per channel, activations per token.
			qi, si, _ := ref.QuantizeFP8(inW, false, dtype.FP8E4M3)
			qo, so, _ := ref.QuantizeFP8(outW, false, dtype.FP8E4M3)
			h, _ := ref.LinearFP8(x, qi, si, inB, true)
			if kind == "geglu" {
				h, _ = ref.GatedActivation(h, "gelu")
			} else {
				h, _ = ref.Activation(h, "gelu")
			}
			want, _ := ref.LinearFP8(h, qo, so, outB, true)
			y, err := ff.Forward(upload(t, d, x))
			if err != nil {
				t.Fatal(err)
			}
			expectClose(t, y, want, matmulTol(dtype.F32))
		})
	}
}

func TestActivationLayers(t *testing.T) {
	d := testDevice(t)
	rng := rand.New(rand.NewSource(14))
	x := randTensor(rng, dtype.F32, []int{3, 6}, 1, 0)
	w := randTensor(rng, dtype.F32, []int{8, 6}, 0.4, 0)
	b := randTensor(rng, dtype.F32, []int{8}, 0.4, 0)
	lin, err := NewLinear(upload(t, d, w), upload(t, d, b))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := ref.Linear(x, w, b)
	gelu, _ := NewGELU(lin, "tanh")
	la, _ := NewLinearActivation(lin, "mish")
	cases := []struct {
		layer ProjectedActivation
		want  func() (*ref.Tensor, error)
	}{
		{gelu, func() (*ref.Tensor, error) { return ref.Activation(h, "gelu_tanh") }},
		{NewGEGLU(lin), func() (*ref.Tensor, error) { return ref.GatedActivation(h, "gelu") }},
		{NewSwiGLU(lin), func() (*ref.Tensor, error) { return ref.GatedActivation(h, "silu") }},
		{NewApproximateGELU(lin), func() (*ref.Tensor, error) { return ref.Activation(h, "approx_gelu") }},
		{la, func() (*ref.Tensor, error) { return ref.Activation(h, "mish") }},
	}
	for i, c := range cases {
		want, err := c.want()
		if err != nil {
			t.Fatal(err)
		}
		y, err := c.layer.Forward(upload(t, d, x))
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		expectClose(t, y, want, matmulTol(dtype.F32))
	}
	if _, err := NewGELU(lin, "erf"); err == nil {
		t.Error("NewGELU accepted approximate=erf")
	}
}
