package ops

import (
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops/internal/optest"
	"github.com/webfuser/webfuser/ops/ref"
)

// Short names for the shared helpers of ops/internal/optest.

type tol = optest.Tol

func testDevice(t testing.TB) *gpu.Device { return optest.Device(t) }

func randTensor(rng *rand.Rand, dt dtype.DType, shape []int, std, mean float64) *ref.Tensor {
	return optest.Rand(rng, dt, shape, std, mean)
}

func upload(t testing.TB, d *gpu.Device, r *ref.Tensor) *gpu.Tensor { return optest.Upload(t, d, r) }

// tolFor is the spec's elementwise tolerance for a storage dtype.
func tolFor(dt dtype.DType) tol { return optest.For(dt, 1e-4) }

func expectClose(t testing.TB, got *gpu.Tensor, want *ref.Tensor, tl tol) {
	t.Helper()
	optest.ExpectClose(t, got, want, tl)
}
