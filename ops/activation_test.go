package ops

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops/ref"
)

// probe runs a WGSL expression of x (f32 in, f32 out) on the GPU over xs.
func probe(t *testing.T, d *gpu.Device, expr string, xs []float32, files ...string) []float32 {
	t.Helper()
	x, err := d.Upload(dtype.F32, []int{len(xs)}, xs)
	if err != nil {
		t.Fatal(err)
	}
	k := elementwise(d, "probe", 1, len(xs), files...).Snippet("BODY", "let v = ld_x(i);\n  st_y(i, "+expr+");")
	y, err := k.In("x", x).Out("y", dtype.F32, len(xs)).RunOne(d)
	if err != nil {
		t.Fatal(err)
	}
	out, err := y.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestErfMatchesFloat64 sweeps erf over [-10, 10] densely (and a few
// special values) against math.Erf: within 2 f32 ulp plus 1e-7 of absolute
// slack that the device's exp (not correctly rounded) may need.
func TestErfMatchesFloat64(t *testing.T) {
	d := testDevice(t)
	var xs []float32
	for x := -10.0; x <= 10; x += 1.0 / 4096 {
		xs = append(xs, float32(x))
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 1e-10, 0.927734375, math.Nextafter32(0.927734375, 1), 30, -30, float32(math.Inf(1)), float32(math.Inf(-1)))
	got := probe(t, d, "erf_f32(v)", xs, "act")
	worst := 0.0
	for i, x := range xs {
		want := math.Erf(float64(x))
		w32 := float32(want)
		ulp := math.Abs(float64(math.Nextafter32(w32, float32(math.Inf(1))) - w32))
		e := math.Abs(float64(got[i]) - want)
		if e > 2*ulp+1e-7 {
			t.Fatalf("erf(%g) = %g, want %g (error %.3g ulp)", x, got[i], want, e/ulp)
		}
		if e/ulp > worst {
			worst = e / ulp
		}
	}
	t.Logf("erf: %d points, worst error %.2f ulp", len(xs), worst)
}

// TestGELUFormsMatchFloat64 sweeps both exact GELUs of wgsl/act.wgsl,
// act_gelu (launch.GELUErfc false) and act_gelu_erfc (true), over
// [-14, 14] densely against x Φ(x) in float64, each within its bound of
// f32 ulps plus an absolute slack: act_gelu within 4 ulp, but its erfc
// polynomial is fitted for erf (absolute error), so below x = -5 its
// values are only absolutely close (1e-7); act_gelu_erfc within 16 + x²
// ulp (the f32 evaluation of its polynomial, then of -x²/2, whose
// rounding grows with x²: 14 ulp below |x| = 4, 94 at -10.6 on lavapipe,
// against the spec's 1e-4 relative), down to 1e-30, below which the
// device's exp may flush.
func TestGELUFormsMatchFloat64(t *testing.T) {
	d := testDevice(t)
	var xs []float32
	for x := -14.0; x <= 14; x += 1.0 / 1024 {
		xs = append(xs, float32(x))
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 1e-10, -1e-10, 1.3119, -1.3119, 30, -30, 1e6, -1e6)
	for _, c := range []struct {
		fn                    string
		maxUlp, growth, slack float64
	}{{"act_gelu", 4, 0, 1e-7}, {"act_gelu_erfc", 16, 1, 1e-30}} {
		got := probe(t, d, c.fn+"(v)", xs, "act")
		worst := 0.0
		for i, x := range xs {
			want := 0.5 * float64(x) * math.Erfc(-float64(x)/math.Sqrt2)
			w32 := float32(want)
			ulp := math.Abs(float64(math.Nextafter32(w32, float32(math.Inf(1))) - w32))
			e := math.Abs(float64(got[i]) - want)
			if e > (c.maxUlp+c.growth*float64(x*x))*ulp+c.slack {
				t.Fatalf("%s(%g) = %g, want %g (error %.3g ulp)", c.fn, x, got[i], want, e/ulp)
			}
			if e > c.slack && e/ulp > worst {
				worst = e / ulp
			}
		}
		t.Logf("%s: %d points, worst error %.2f ulp beyond the slack", c.fn, len(xs), worst)
	}
}

var allActivations = []Activation{ActGELU, ActGELUTanh, ActSiLU, ActFP32SiLU, ActApproxGELU, ActReLU, ActMish}

func TestActivationsMatchReference(t *testing.T) {
	d := testDevice(t)
	for _, fn := range allActivations {
		for _, dt := range floatStorage {
			for _, shape := range [][]int{{3, 77}, {2, 8}, {1}, {5, 3, 12}} {
				t.Run(fmt.Sprintf("%v/%v/%v", fn, dt, shape), func(t *testing.T) {
					rng := rand.New(rand.NewSource(int64(fn)))
					x := randTensor(rng, dt, shape, 4, 0)
					if len(x.Data) > 8 {
						copy(x.Data, []float64{-30, -12, 0, 25, dtype.Round(dt, -0.5), 100, -100, 1e-3})
					}
					want, err := ref.Activation(x, fn.String())
					if err != nil {
						t.Fatal(err)
					}
					y, err := Activate(upload(t, d, x), fn)
					if err != nil {
						t.Fatal(err)
					}
					expectClose(t, y, want, tolFor(dt))
				})
			}
		}
	}
}

func TestGatedActivationMatchesReference(t *testing.T) {
	d := testDevice(t)
	for _, fn := range []Activation{ActGELU, ActGELUTanh, ActSiLU} {
		for _, dt := range floatStorage {
			for _, shape := range [][]int{{3, 14}, {2, 5, 16}, {1, 2}} {
				t.Run(fmt.Sprintf("%v/%v/%v", fn, dt, shape), func(t *testing.T) {
					rng := rand.New(rand.NewSource(5))
					x := randTensor(rng, dt, shape, 2, 0)
					want, err := ref.GatedActivation(x, fn.String())
					if err != nil {
						t.Fatal(err)
					}
					gx := upload(t, d, x)
					y, err := GatedActivation(gx, fn)
					if err != nil {
						t.Fatal(err)
					}
					expectClose(t, y, want, tolFor(dt))
				})
			}
		}
	}
}

func TestGetActivation(t *testing.T) {
	for name, want := range map[string]Activation{"silu": ActSiLU, "Swish": ActSiLU, "gelu": ActGELU, "relu": ActReLU, "MISH": ActMish} {
		l, err := GetActivation(name)
		if err != nil || l.Fn != want {
			t.Errorf("GetActivation(%q) = %v, %v; want %v", name, l, err, want)
		}
	}
	if FP32SiLU().Fn != ActFP32SiLU {
		t.Error("FP32SiLU has the wrong function")
	}
	_, err := GetActivation("softsign")
	if e, ok := err.(*Error); !ok || e.Op != "GetActivation" || !contains(e.Rule, "softsign") {
		t.Errorf("unknown name gave %v", err)
	}
	if _, err := ParseActivation("gelu_tanh"); err != nil {
		t.Error(err)
	}
}
