package attention

import (
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops/internal/optest"
	"github.com/webfuser/webfuser/ops/ref"
)

// Short names for the shared helpers of ops/internal/optest.

func testDevice(t testing.TB) *gpu.Device { return optest.Device(t) }

func randTensor(rng *rand.Rand, dt dtype.DType, shape []int, std float64) *ref.Tensor {
	return optest.Rand(rng, dt, shape, std, 0)
}

func upload(t testing.TB, d *gpu.Device, r *ref.Tensor) *gpu.Tensor { return optest.Upload(t, d, r) }

// tolFor is the spec's tolerance for ops with softmax and products.
func tolFor(dt dtype.DType) (float64, float64) {
	tl := optest.For(dt, 2e-3)
	return tl.Atol, tl.Rtol
}

func expectClose(t testing.TB, got *gpu.Tensor, want *ref.Tensor) {
	t.Helper()
	optest.ExpectClose(t, got, want, optest.For(want.DType, 2e-3))
}

// toLayout converts a BSND reference tensor to layout l.
func toLayout(r *ref.Tensor, l Layout) *ref.Tensor {
	if l == BNSD {
		return ref.SwapAxes12(r)
	}
	return r
}
