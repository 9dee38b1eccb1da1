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

// TestNonFiniteInputs puts NaN and infinities into x, the weight and the
// modulate operands. The bf16 norm kernels round without a per-lane NaN
// test and fall back to checked rounding when they meet a NaN; every NaN
// of the reference must come out as a NaN, and everything else as usual.
func TestNonFiniteInputs(t *testing.T) {
	d := testDevice(t)
	nan, inf := math.NaN(), math.Inf(1)
	for _, dt := range []dtype.DType{dtype.BF16, dtype.F32, dtype.F16} {
		for _, c := range []int{24, 20, 7} { // 16-byte units, 8-byte packs, scalars
			for _, kind := range []string{"rms", "layer", "rms+modulate", "rms+modulate f32 operands", "modulate"} {
				name := fmt.Sprintf("%v/C%d/%s", dt, c, kind)
				t.Run(name, func(t *testing.T) {
					rng := rand.New(rand.NewSource(7))
					shape := []int{2, 3, c}
					x := randTensor(rng, dt, shape, 1, 0)
					x.Data[1] = nan      // row 0
					x.Data[c+2] = inf    // row 1
					x.Data[2*c+3] = -inf // row 2
					w := randTensor(rng, dt, []int{c}, 1, 1)
					w.Data[c-1] = nan // last column of every row
					b := randTensor(rng, dt, []int{c}, 1, 0)
					sc := randTensor(rng, dt, []int{2, c}, 1, 0)
					sh := randTensor(rng, dt, []int{2, c}, 1, 0)
					sc.Data[c+1] = inf // batch 1, column 1
					if kind == "rms+modulate f32 operands" {
						// f32 0x7fffffff, the NaN NVIDIA's arithmetic returns:
						// unchecked bf16 rounding would carry it into the sign bit.
						sc = randTensor(rng, dtype.F32, []int{2, c}, 1, 0)
						sc.Data[2] = math.Float64frombits(0x7fffffffe0000000)
					}
					var want *ref.Tensor
					var got *gpu.Tensor
					var err error
					gx, gw, gb, gsc, gsh := upload(t, d, x), upload(t, d, w), upload(t, d, b), upload(t, d, sc), upload(t, d, sh)
					switch kind {
					case "rms":
						if want, err = ref.RMSNorm(x, w, nil, RMSNormEps); err == nil {
							got, err = RMSNormForward(gx, gw, nil, RMSNormEps)
						}
					case "layer":
						if want, err = ref.LayerNorm(x, w, b, LayerNormEps); err == nil {
							got, err = LayerNormForward(gx, gw, gb, LayerNormEps)
						}
					case "rms+modulate", "rms+modulate f32 operands":
						var n *ref.Tensor
						if n, err = ref.RMSNorm(x, w, nil, RMSNormEps); err == nil {
							if want, err = ref.FusedScaleShift(n, sc, sh, 1); err == nil {
								got, err = NormModulate(KindRMSNorm, gx, gw, nil, RMSNormEps, ModulateArgs{Scale: gsc, Shift: gsh, Constant: 1})
							}
						}
					case "modulate":
						if want, err = ref.FusedScaleShift(x, sc, sh, 1); err == nil {
							got, err = FusedScaleShift(gx, gsc, gsh, 1)
						}
					}
					if err != nil {
						t.Fatal(err)
					}
					v, err := got.Float32()
					if err != nil {
						t.Fatal(err)
					}
					tl := tolFor(dt)
					nans := 0
					for i, w := range want.Data {
						g := float64(v[i])
						switch {
						case math.IsNaN(w):
							nans++
							if !math.IsNaN(g) {
								t.Errorf("element %d: got %g, want NaN", i, g)
							}
						case math.IsInf(w, 0):
							if g != w {
								t.Errorf("element %d: got %g, want %g", i, g, w)
							}
						case !(math.Abs(g-w) <= tl.Atol+tl.Rtol*math.Abs(w)):
							t.Errorf("element %d: got %g, want %g", i, g, w)
						}
					}
					if nans == 0 {
						t.Fatalf("the reference has no NaN: the case tests nothing")
					}
				})
			}
		}
	}
}
