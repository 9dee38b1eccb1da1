package ops

import (
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops/ref"
)

// The cases of TeleFuser's unit tests that check a module or API property
// rather than values, mapped to the equivalent checks of WebFuser's Go API
// (testdata/telefuser_conformance.md lists them; the value cases are the
// golden cases of testdata/golden_telefuser.py). Names follow TeleFuser's
// test ids.

// test_activations.py::TestGetActivation (test_get_activation x5,
// test_case_insensitive x3, test_invalid_activation) and
// TestACT2CLS::test_all_activations_instantiable.
func TestTeleFuserGetActivation(t *testing.T) {
	for name, want := range map[string]Activation{"swish": ActSiLU, "silu": ActSiLU, "mish": ActMish, "gelu": ActGELU, "relu": ActReLU,
		"SiLU": ActSiLU, "SILU": ActSiLU} {
		a, err := GetActivation(name)
		if err != nil || a.Fn != want {
			t.Errorf("GetActivation(%q) = %v, %v; want %v", name, a, err, want)
		}
	}
	if _, err := GetActivation("invalid"); err == nil || !strings.Contains(err.Error(), `activation function "invalid" not found`) {
		t.Errorf("GetActivation(invalid): %v", err)
	}
}

// linearLayer returns a Linear [out, in] with TeleFuser's nn.Linear
// initialisation range, U(-1/sqrt(in), 1/sqrt(in)), weight and bias.
func linearLayer(t *testing.T, d *gpu.Device, rng *rand.Rand, out, in int) (*Linear, *ref.Tensor, *ref.Tensor) {
	w, b := ref.New(dtype.F32, out, in), ref.New(dtype.F32, out)
	bound := 1 / math.Sqrt(float64(in))
	for i := range w.Data {
		w.Data[i] = float64(float32((2*rng.Float64() - 1) * bound))
	}
	for i := range b.Data {
		b.Data[i] = float64(float32((2*rng.Float64() - 1) * bound))
	}
	l, err := NewLinear(upload(t, d, w), upload(t, d, b))
	if err != nil {
		t.Fatal(err)
	}
	return l, w, b
}

// test_activations.py: TestGELU (shape and computation, approximate
// modes), TestGEGLU, TestSwiGLU, TestLinearActivation (three activations,
// and that SiLU lowers 0.5), with the modules' shapes.
func TestTeleFuserActivationModules(t *testing.T) {
	d := testDevice(t)
	rng := rand.New(rand.NewSource(42))
	x := randTensor(rng, dtype.F32, []int{2, 10, 64}, 1, 0)
	gx := upload(t, d, x)
	shapeIs := func(name string, y *gpu.Tensor, err error, want ...int) *gpu.Tensor {
		t.Helper()
		if err != nil || !sameShape(y.Shape, want) {
			t.Fatalf("%s: %v, %v; want shape %v", name, y, err, want)
		}
		return y
	}
	// GELU(64 -> 128): the activation changes the projection's output.
	l, w, b := linearLayer(t, d, rng, 128, 64)
	g, _ := NewGELU(l, "none")
	y, err := g.Forward(gx)
	y = shapeIs("GELU", y, err, 2, 10, 128)
	lin, _ := l.Forward(gx)
	yv, _ := y.Float32()
	lv, _ := lin.Float32()
	same := true
	for i := range yv {
		if math.Abs(float64(yv[i]-lv[i])) > 1e-8+1e-5*math.Abs(float64(lv[i])) {
			same = false
		}
	}
	if same {
		t.Error("GELU: output equals the projection")
	}
	want, _ := ref.LinearAct(x, w, b, "gelu")
	expectClose(t, y, want, matmulTol(dtype.F32))
	for _, approx := range []string{"none", "tanh"} {
		l32, _, _ := linearLayer(t, d, rng, 32, 32)
		g, err := NewGELU(l32, approx)
		if err != nil {
			t.Fatal(err)
		}
		y, err := g.Forward(upload(t, d, randTensor(rng, dtype.F32, []int{2, 10, 32}, 1, 0)))
		shapeIs("GELU "+approx, y, err, 2, 10, 32)
	}
	// GEGLU and SwiGLU (64 -> 128, projections of 256): non-zero outputs.
	for name, mk := range map[string]func(Projector) ProjectedActivation{
		"GEGLU":  func(p Projector) ProjectedActivation { return NewGEGLU(p) },
		"SwiGLU": func(p Projector) ProjectedActivation { return NewSwiGLU(p) },
	} {
		l, _, _ := linearLayer(t, d, rng, 256, 64)
		y, err := mk(l).Forward(gx)
		v, _ := shapeIs(name, y, err, 2, 10, 128).Float32()
		nonzero := false
		for _, e := range v {
			nonzero = nonzero || e != 0
		}
		if !nonzero {
			t.Errorf("%s: all zeros", name)
		}
	}
	// LinearActivation (64 -> 128) with silu, gelu, relu.
	for _, a := range []string{"silu", "gelu", "relu"} {
		l, _, _ := linearLayer(t, d, rng, 128, 64)
		la, err := NewLinearActivation(l, a)
		if err != nil {
			t.Fatal(err)
		}
		y, err := la.Forward(gx)
		shapeIs("LinearActivation "+a, y, err, 2, 10, 128)
	}
	// test_applies_activation: weight 0.5*I, no bias, x = 1: silu(0.5) < 1.
	eye := ref.New(dtype.F32, 64, 64)
	for i := 0; i < 64; i++ {
		eye.Data[i*64+i] = 0.5
	}
	l2, _ := NewLinear(upload(t, d, eye), nil)
	la, _ := NewLinearActivation(l2, "silu")
	ones := ref.New(dtype.F32, 1, 1, 64)
	for i := range ones.Data {
		ones.Data[i] = 1
	}
	y, err = la.Forward(upload(t, d, ones))
	v, _ := shapeIs("LinearActivation silu", y, err, 1, 1, 64).Float32()
	for i, e := range v {
		if !(e < 1) {
			t.Fatalf("element %d: %g, want < 1", i, e)
		}
	}
}

// test_rotary.py::test_apply_rotary_embedding_3d_input passes a 4-row
// table for 16 tokens, which TeleFuser's kernel reads past its end
// (asserting only the output's shape); WebFuser refuses the table.
func TestTeleFuserRotaryShortTableIsAnError(t *testing.T) {
	d := testDevice(t)
	x, _ := d.NewTensor(dtype.BF16, 4, 16, 8, 64)
	tab, _ := d.NewTensor(dtype.BF16, 4, 32)
	if _, err := ApplyRotaryEmb(x, tab, tab, true); err == nil {
		t.Fatal("a 4-row table for 16 tokens was accepted")
	}
}

// test_normalization.py::TestAdaLayerNormContinuous::
// test_initialization_with_norm_types: embedding 512, conditioning 256,
// both norm types: a linear of 256 -> 1024 and the chosen norm.
func TestTeleFuserAdaLNNormTypes(t *testing.T) {
	d := testDevice(t)
	w, _ := d.NewTensor(dtype.F32, 1024, 256)
	for _, kind := range []NormKind{KindLayerNorm, KindRMSNorm} {
		lin, err := NewLinear(w, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewAdaLayerNormContinuous(512, lin, kind, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if in, out := a.Linear.Dims(); in != 256 || out != 1024 || a.Norm != kind || a.Eps != 1e-5 {
			t.Errorf("%v: linear %d -> %d, norm %v, eps %g", kind, in, out, a.Norm, a.Eps)
		}
	}
	if _, err := NewAdaLayerNormContinuous(500, &Linear{In: 256, Out: 1024, Weight: w}, KindLayerNorm, nil, nil); err == nil {
		t.Error("a 1024-row linear for embedding 500 was accepted")
	}
}
