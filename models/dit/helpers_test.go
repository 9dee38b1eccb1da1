package dit

import (
	"testing"

	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

func testDevice(t testing.TB) *ops.Device { return gputest.Device(t) }

// expectClose compares got with want under the spec's tolerance for a
// block (an operator with matrix products).
func expectClose(t testing.TB, got *ops.Tensor, want *ref.Tensor) {
	t.Helper()
	gputest.ExpectClose(t, got, want, gputest.For(want.DType, true))
}

// reference computes the block with the float64 reference after the
// weight checks New makes.
func reference(cfg Config, x, cond *ref.Tensor, w map[string]*ref.Tensor) (*ref.Tensor, error) {
	cfg, err := cfg.CheckHostWeights(w)
	if err != nil {
		return nil, err
	}
	return ref.DiTBlock(x, cond, w, ref.DiTConfig{NumHeads: cfg.NumHeads, ActivationFn: cfg.ActivationFn, Eps: float64(cfg.Eps)})
}
