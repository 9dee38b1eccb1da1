package ops

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/launch"
	"github.com/webfuser/webfuser/ops/ref"
)

// matmulTol is the spec's tolerance for ops with matrix products.
func matmulTol(dt dtype.DType) tol {
	if dt == dtype.F32 {
		return tol{Atol: 2e-3, Rtol: 2e-3}
	}
	return tolFor(dt)
}

func TestLinearMatchesReference(t *testing.T) {
	d := testDevice(t)
	shapes := []struct{ m, n, k int }{{1, 1, 1}, {1, 77, 33}, {77, 5, 1000}, {3, 8, 4097}, {65, 130, 31}, {2, 1000, 7}}
	for _, dt := range floatStorage {
		for i, s := range shapes {
			for _, bias := range []bool{false, true} {
				t.Run(fmt.Sprintf("%v/%dx%dx%d/bias=%v", dt, s.m, s.n, s.k, bias), func(t *testing.T) {
					rng := rand.New(rand.NewSource(int64(i)))
					x := randTensor(rng, dt, []int{s.m, s.k}, 1, 0)
					w := randTensor(rng, dt, []int{s.n, s.k}, 0.1, 0)
					var b *ref.Tensor
					if bias {
						b = randTensor(rng, dt, []int{s.n}, 1, 0)
					}
					want, err := ref.Linear(x, w, b)
					if err != nil {
						t.Fatal(err)
					}
					y, err := LinearForward(upload(t, d, x), upload(t, d, w), upload(t, d, b))
					if err != nil {
						t.Fatal(err)
					}
					expectClose(t, y, want, matmulTol(dt))
				})
			}
		}
	}
}

// TestLinearEveryTile runs each tile of the table (the fallbacks for small
// workgroup memory included) on odd shapes into guarded outputs.
func TestLinearEveryTile(t *testing.T) {
	d := testDevice(t)
	for _, tile := range []launch.Tile{{WX: 16, WY: 16, BK: 16}, {WX: 8, WY: 8, BK: 16}, {WX: 4, WY: 4, BK: 8}} {
		for _, dt := range floatStorage {
			for _, s := range []struct{ m, n, k int }{{77, 33, 19}, {5, 12, 40}, {1, 3, 2}} {
				t.Run(fmt.Sprintf("%v/%v/%dx%dx%d", tile, dt, s.m, s.n, s.k), func(t *testing.T) {
					rng := rand.New(rand.NewSource(9))
					x := randTensor(rng, dt, []int{s.m, s.k}, 1, 0)
					w := randTensor(rng, dt, []int{s.n, s.k}, 0.3, 0)
					b := randTensor(rng, dt, []int{s.n}, 1, 0)
					want, _ := ref.LinearAct(x, w, b, "gelu_tanh")
					sp := &matmulSpec{op: "Linear", x: upload(t, d, x), w: upload(t, d, w), b: upload(t, d, b), act: ActGELUTanh}
					if err := sp.validate(); err != nil {
						t.Fatal(err)
					}
					gputest.Guard(t, d)
					y, err := sp.run(tile)
					if err != nil {
						t.Fatal(err)
					}
					expectClose(t, y, want, matmulTol(dt))
				})
			}
		}
	}
}
