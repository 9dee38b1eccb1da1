package attention

import (
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/host"
	"github.com/webfuser/webfuser/ops/ref"
)

// Short names for the shared helpers of ops/internal/gputest.

func testDevice(t testing.TB) *gpu.Device { return gputest.Device(t) }

func randTensor(rng *rand.Rand, dt dtype.DType, shape []int, std float64) *ref.Tensor {
	return gputest.Rand(rng, dt, shape, std, 0)
}

func upload(t testing.TB, d *gpu.Device, r *ref.Tensor) *gpu.Tensor { return gputest.Upload(t, d, r) }

// tensorMaker returns a function that makes tensors of d (contents
// unset) released when t ends, for kernels that are only compiled.
func tensorMaker(t testing.TB, d *gpu.Device) func(dt dtype.DType, s ...int) *gpu.Tensor {
	return func(dt dtype.DType, s ...int) *gpu.Tensor {
		x, err := d.NewTensor(dt, s...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(x.Release)
		return x
	}
}

// tolFor is the spec's tolerance for ops with softmax and products.
func tolFor(dt dtype.DType) (float64, float64) {
	tl := gputest.For(dt, true)
	return tl.Atol, tl.Rtol
}

func expectClose(t testing.TB, got *gpu.Tensor, want *ref.Tensor) {
	t.Helper()
	gputest.ExpectClose(t, got, want, gputest.For(want.DType, true))
}

// toLayout converts a BSND reference tensor to layout l.
func toLayout(r *ref.Tensor, l Layout) *ref.Tensor {
	if l == BNSD {
		return host.SwapAxes12(r)
	}
	return r
}

// runImpls runs causal attention on q, k, v through Attention with each
// backend name, hands each output to check and returns the fallback
// warnings the calls gave.
func runImpls(t *testing.T, d *gpu.Device, q, k, v *ref.Tensor, check func(o *gpu.Tensor), impls ...AttnImplType) []string {
	t.Helper()
	var warnings []string
	old := Warn
	Warn = func(m string) { warnings = append(warnings, m) }
	defer func() { Warn = old }()
	for _, impl := range impls {
		cfg := DenseAttention(impl)
		cfg.Causal = true
		o, err := Attention(upload(t, d, q), upload(t, d, k), upload(t, d, v), cfg)
		if err != nil {
			t.Fatalf("%v: %v", impl, err)
		}
		check(o)
	}
	return warnings
}
