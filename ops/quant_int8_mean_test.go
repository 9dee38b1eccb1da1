package ops

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops/ref"
)

// TestSequenceMean checks K's smoothing mean over the sequence against
// the float64 mean on long columns with a large offset, where an
// uncompensated f32 sum drifts by far more than the tolerance (a few
// units in the last place of the f32 mean), in both layouts, with
// sequences of one, several and a partial chunk of meanRows rows.
func TestSequenceMean(t *testing.T) {
	d := testDevice(t)
	for _, c := range []struct {
		shape     []int
		headFirst bool
		dt        dtype.DType
	}{
		{[]int{1, 5000, 3, 8}, false, dtype.F32},
		{[]int{2, 3, 3001, 4}, true, dtype.F32},
		{[]int{1, 1, 2, 4}, false, dtype.F32},
		{[]int{1, 65, 2, 3}, false, dtype.BF16},
		{[]int{1, 2, 700, 5}, true, dtype.F16},
	} {
		t.Run(fmt.Sprintf("%v/%v/hnd=%v", c.dt, c.shape, c.headFirst), func(t *testing.T) {
			gputest.Guard(t, d)
			rng := rand.New(rand.NewSource(int64(c.shape[1] + c.shape[2])))
			x := randTensor(rng, c.dt, c.shape, 1, 1000)
			B, L, H, D := c.shape[0], c.shape[1], c.shape[2], c.shape[3]
			sb, sl, sh := L*H*D, H*D, D
			if c.headFirst {
				H, L = c.shape[1], c.shape[2]
				sb, sl, sh = H*L*D, D, L*D
			}
			want := ref.New(dtype.F32, B*H*D)
			for b := 0; b < B; b++ {
				for h := 0; h < H; h++ {
					for e := 0; e < D; e++ {
						s := 0.0
						for l := 0; l < L; l++ {
							s += x.Data[b*sb+h*sh+l*sl+e]
						}
						want.Data[(b*H+h)*D+e] = dtype.Round(c.dt, s/float64(L))
					}
				}
			}
			got, err := sequenceMean(d, upload(t, d, x), B, H, L, D, sb, sh, sl)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Release()
			// 2 ulp of the f32 mean near 1000 (2^-14 each), one rounding
			// step of the 16-bit dtypes (their ties may fall either way).
			tl := tol{Atol: 2.0 / 16384}
			if c.dt != dtype.F32 {
				tl = tol{Rtol: 8e-3}
			}
			expectClose(t, got, want, tl)
		})
	}
}
