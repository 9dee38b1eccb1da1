package ops

import (
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops/ref"
)

// Short names for the shared helpers of ops/internal/gputest.

type tol = gputest.Tol

func testDevice(t testing.TB) *gpu.Device { return gputest.Device(t) }

func randTensor(rng *rand.Rand, dt dtype.DType, shape []int, std, mean float64) *ref.Tensor {
	return gputest.Rand(rng, dt, shape, std, mean)
}

func upload(t testing.TB, d *gpu.Device, r *ref.Tensor) *gpu.Tensor { return gputest.Upload(t, d, r) }

// tolFor is the spec's elementwise tolerance for a storage dtype.
func tolFor(dt dtype.DType) tol { return gputest.For(dt, false) }

func expectClose(t testing.TB, got *gpu.Tensor, want *ref.Tensor, tl tol) {
	t.Helper()
	gputest.ExpectClose(t, got, want, tl)
}
