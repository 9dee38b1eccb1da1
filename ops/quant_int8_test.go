package ops

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops/ref"
)

// expectInt8 compares int8 codes with the reference: equal, or one apart
// where the reference quotient lies within 1e-3 of a rounding tie (the
// f32 kernel and the f64 reference may then round differently).
func expectInt8(t *testing.T, q *Tensor, want, quot *ref.Tensor) {
	t.Helper()
	if q.DType != dtype.U8 || !sameShape(q.Shape, want.Shape) {
		t.Fatalf("got %v, want u8%v", q, want.Shape)
	}
	got, err := Int8Values(q)
	if err != nil {
		t.Fatal(err)
	}
	ties := 0
	for i, w := range want.Data {
		g := float64(got[i])
		if g == w {
			continue
		}
		a := math.Abs(quot.Data[i])
		if math.Abs(g-w) == 1 && math.Abs(a-math.Floor(a)-0.5) < 1e-3 {
			ties++
			continue
		}
		t.Fatalf("element %d: got %v, want %v (quotient %v)", i, g, w, quot.Data[i])
	}
	if ties > 0 {
		t.Logf("%d codes one apart at rounding ties", ties)
	}
}

// TestQuantizeInt8PerBlockMatchesReference quantises odd shapes in both
// layouts, with and without K smoothing, the fused (D a multiple of 4)
// and the word-by-word variant, into guarded outputs.
func TestQuantizeInt8PerBlockMatchesReference(t *testing.T) {
	d := testDevice(t)
	cases := []struct {
		shape []int
		block int
	}{{[]int{1, 1, 1, 4}, 128}, {[]int{2, 7, 3, 4}, 4}, {[]int{1, 5, 2, 3}, 2}, {[]int{2, 13, 3, 5}, 64}, {[]int{1, 130, 2, 8}, 128}, {[]int{1, 67, 1, 16}, 64}}
	for _, dt := range floatStorage {
		for ci, c := range cases {
			for _, headFirst := range []bool{false, true} {
				for _, smooth := range []bool{false, true} {
					sm := 1.0
					if !smooth {
						sm = float64(float32(Log2E / math.Sqrt(float64(c.shape[3]))))
					}
					t.Run(fmt.Sprintf("%v/%v/blk=%d/hnd=%v/smooth=%v", dt, c.shape, c.block, headFirst, smooth), func(t *testing.T) {
						gputest.Guard(t, d)
						rng := rand.New(rand.NewSource(int64(ci)))
						x := randTensor(rng, dt, c.shape, 2, 0.7)
						if ci == 3 { // an all-zero block: scale 0, codes 0
							for i := 0; i < c.shape[2]*c.shape[3]*2; i++ {
								x.Data[i] = 0
							}
						}
						quot, ws, err := ref.Int8PerBlockQuotients(x, c.block, sm, smooth, headFirst)
						if err != nil {
							t.Fatal(err)
						}
						wq, _, _ := ref.QuantizeInt8PerBlock(x, c.block, sm, smooth, headFirst)
						q, s, err := QuantizeInt8PerBlock(upload(t, d, x), Int8BlockOptions{Block: c.block, Scale: float32(sm), SmoothMean: smooth, HeadFirst: headFirst})
						if err != nil {
							t.Fatal(err)
						}
						expectClose(t, s, ws, tol{Atol: 0, Rtol: 1e-6})
						expectInt8(t, q, wq, quot)
					})
				}
			}
		}
	}
}

func TestPerBlockInt8(t *testing.T) {
	d := testDevice(t)
	gputest.Guard(t, d)
	rng := rand.New(rand.NewSource(9))
	q := randTensor(rng, dtype.BF16, []int{1, 131, 2, 16}, 1, 0)
	k := randTensor(rng, dtype.BF16, []int{1, 70, 1, 16}, 1, 3)
	qi, qs, ki, ks, err := PerBlockInt8(upload(t, d, q), upload(t, d, k), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !sameShape(qs.Shape, []int{1, 2, 2}) || !sameShape(ks.Shape, []int{1, 1, 2}) {
		t.Fatalf("scales %v %v, want [1 2 2] [1 1 2]", qs, ks)
	}
	sm := float64(float32(0.25 * 1.44269504))
	quot, wqs, _ := ref.Int8PerBlockQuotients(q, 128, sm, false, false)
	wq, _, _ := ref.QuantizeInt8PerBlock(q, 128, sm, false, false)
	expectClose(t, qs, wqs, tol{Rtol: 1e-6})
	expectInt8(t, qi, wq, quot)
	quot, wks, _ := ref.Int8PerBlockQuotients(k, 64, 1, true, false)
	wk, _, _ := ref.QuantizeInt8PerBlock(k, 64, 1, true, false)
	expectClose(t, ks, wks, tol{Rtol: 1e-6})
	expectInt8(t, ki, wk, quot)
}

func TestQuantizeInt8BadInputIsAnError(t *testing.T) {
	d := testDevice(t)
	x3, _ := d.NewTensor(dtype.F32, 2, 3, 8)
	x4, _ := d.NewTensor(dtype.F32, 2, 3, 1, 8)
	u, _ := d.NewTensor(dtype.U8, 2, 3, 1, 8)
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"rank", func() error { _, _, e := QuantizeInt8PerBlock(x3, Int8BlockOptions{Block: 64}); return e }, "ops.QuantizeInt8PerBlock: x: shape [2 3 8], want [B,L,H,D]"},
		{"block", func() error { _, _, e := QuantizeInt8PerBlock(x4, Int8BlockOptions{}); return e }, "ops.QuantizeInt8PerBlock: block size 0 must be positive"},
		{"dtype", func() error { _, _, e := QuantizeInt8PerBlock(u, Int8BlockOptions{Block: 64}); return e }, "ops.QuantizeInt8PerBlock: x: dtype u8 is not supported"},
		{"scale", func() error {
			_, _, e := QuantizeInt8PerBlock(x4, Int8BlockOptions{Block: 64, Scale: float32(math.Inf(1))})
			return e
		}, "ops.QuantizeInt8PerBlock: scale +Inf is not finite"},
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
