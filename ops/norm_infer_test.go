package ops

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops/ref"
)

// TestNormInferRoundsOnce pins the rounding that separates norm_infer
// (TeleFuser's kernel and its test's reference: f32 throughout, one
// rounding) from RMSNorm.forward_native (the normalised row rounded to
// bf16, then the product). Row [3, 4, 0, 0] has RMS 2.5 (eps 0), so
// x̂ = [1.2, 1.6, 0, 0]; weight 7 and bias [-11, -11, 0, 0] give
// 8.4 - 11 = -2.6 and 11.2 - 11 = 0.2 rounded once (bf16 -2.59375 and
// 0.2001953125), but bf16(1.2)·7 = 8.421875 -> 8.4375 and bf16(1.6)·7 =
// 11.2109375 -> 11.1875 rounded twice (-2.5625, 0.1875).
func TestNormInferRoundsOnce(t *testing.T) {
	d := testDevice(t)
	vec := func(v ...float64) *ref.Tensor {
		r := ref.New(dtype.BF16, len(v))
		copy(r.Data, v)
		return r
	}
	x := ref.New(dtype.BF16, 1, 4)
	copy(x.Data, []float64{3, 4, 0, 0})
	w, b := vec(7, 7, 7, 7), vec(-11, -11, 0, 0)
	once := []float64{-2.59375, 0.2001953125, 0, 0}
	twice := []float64{-2.5625, 0.1875, 0, 0}
	for _, c := range []struct {
		name string
		cpu  func() (*ref.Tensor, error)
		gpu  func() (*Tensor, error)
		want []float64
	}{
		{"NormInfer", func() (*ref.Tensor, error) { return ref.NormInfer(x, w, b, 0, true) },
			func() (*Tensor, error) {
				return NormInfer(KindRMSNorm, upload(t, d, x), upload(t, d, w), upload(t, d, b), 0)
			}, once},
		{"RMSNormForward", func() (*ref.Tensor, error) { return ref.RMSNorm(x, w, b, 0) },
			func() (*Tensor, error) { return RMSNormForward(upload(t, d, x), upload(t, d, w), upload(t, d, b), 0) }, twice},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := ref.New(dtype.BF16, 1, 4)
			copy(want.Data, c.want)
			got, err := c.cpu()
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range got.Data {
				if v != c.want[i] {
					t.Errorf("reference y[%d] = %v, want %v", i, v, c.want[i])
				}
			}
			y, err := c.gpu()
			if err != nil {
				t.Fatal(err)
			}
			expectClose(t, y, want, tol{})
		})
	}
}

// TestNormInferMatchesReference checks NormInfer against ref.NormInfer on
// odd shapes, every dtype and each affine form, a bias without a weight
// among them (norm_infer takes each on its own).
func TestNormInferMatchesReference(t *testing.T) {
	d := testDevice(t)
	for _, kind := range []NormKind{KindRMSNorm, KindLayerNorm} {
		for _, dt := range floatStorage {
			for _, shape := range [][]int{{1, 1}, {3, 77}, {2, 5, 1000}, {2, 3, 3072}, {5, 4100}} {
				for _, affine := range []string{"none", "weight", "bias", "both"} {
					name := fmt.Sprintf("%v/%v/%v/%s", kind, dt, shape, affine)
					t.Run(name, func(t *testing.T) {
						D := shape[len(shape)-1]
						rng := rand.New(rand.NewSource(int64(len(name))))
						x := randTensor(rng, dt, shape, 3, 0)
						var w, b *ref.Tensor
						if affine == "weight" || affine == "both" {
							w = randTensor(rng, dt, []int{D}, 3, 1)
						}
						if affine == "bias" || affine == "both" {
							b = randTensor(rng, dt, []int{D}, 3, 0)
						}
						want, err := ref.NormInfer(x, w, b, 1e-6, kind == KindRMSNorm)
						if err != nil {
							t.Fatal(err)
						}
						y, err := NormInfer(kind, upload(t, d, x), upload(t, d, w), upload(t, d, b), 1e-6)
						if err != nil {
							t.Fatal(err)
						}
						expectClose(t, y, want, tolFor(dt))
					})
				}
			}
		}
	}
}
