package golden

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops/ref"
)

// w8a8Inputs returns x [2,5,K] and the codes (as I32) and scales of a
// random weight [N,K], as testdata/golden_w8a8.py names them.
func w8a8Inputs(t *testing.T, rng *rand.Rand, dt dtype.DType, n, k int) map[string]*ref.Tensor {
	t.Helper()
	q, s, err := ref.QuantizeInt8Rows(randRef(rng, dtype.F32, 0.05, n, k))
	if err != nil {
		t.Fatal(err)
	}
	qi := ref.New(dtype.I32, n, k)
	copy(qi.Data, q.Data)
	return map[string]*ref.Tensor{"x": randRef(rng, dt, 1, 2, 5, k), "wq": qi, "wscale": s}
}

// TestW8A8RunnersAgree builds quantize_int8 and linear_w8a8 cases (every
// epilogue) with the names of testdata/golden_w8a8.py, computes the
// expected outputs with the CPU runner and requires the GPU runner to
// pass them.
func TestW8A8RunnersAgree(t *testing.T) {
	d := gputest.Device(t)
	rng := rand.New(rand.NewSource(13))
	plain := w8a8Inputs(t, rng, dtype.F32, 7, 36)
	bias := w8a8Inputs(t, rng, dtype.BF16, 16, 64)
	bias["bias"] = randRef(rng, dtype.BF16, 0.5, 16)
	gated := w8a8Inputs(t, rng, dtype.BF16, 12, 32)
	gated["gate"], gated["residual"] = randRef(rng, dtype.BF16, 0.7, 2, 12), randRef(rng, dtype.BF16, 1, 2, 5, 12)
	cases := []*Case{
		{Op: "quantize_int8", Inputs: map[string]*ref.Tensor{"w": randRef(rng, dtype.BF16, 0.1, 9, 40)}},
		{Op: "linear_w8a8", Inputs: plain},
		{Op: "linear_w8a8", Inputs: bias},
		{Op: "linear_w8a8", Attrs: map[string]any{"activation": "gelu_tanh"}, Inputs: bias},
		{Op: "linear_w8a8", Inputs: gated},
	}
	for _, c := range cases {
		c.Name = c.Op
		t.Run(c.Op, func(t *testing.T) { runnersAgree(t, d, c) })
	}
}

// TestW8A8RunnerErrors checks that malformed linear_w8a8 cases are
// errors: codes out of the int8 range, a gate without a residual, an
// activation beside a gate.
func TestW8A8RunnerErrors(t *testing.T) {
	d := gputest.Device(t)
	rng := rand.New(rand.NewSource(14))
	big := w8a8Inputs(t, rng, dtype.F32, 4, 8)
	big["wq"].Data[3] = 300
	lone := w8a8Inputs(t, rng, dtype.F32, 4, 8)
	lone["gate"] = randRef(rng, dtype.F32, 1, 4)
	both := w8a8Inputs(t, rng, dtype.F32, 4, 8)
	both["gate"], both["residual"] = randRef(rng, dtype.F32, 1, 4), randRef(rng, dtype.F32, 1, 2, 5, 4)
	for _, c := range []struct {
		c    *Case
		want string
	}{
		{&Case{Op: "linear_w8a8", Inputs: big}, "not an int8 code"},
		{&Case{Op: "linear_w8a8", Inputs: lone}, "both or neither"},
		{&Case{Op: "linear_w8a8", Attrs: map[string]any{"activation": "silu"}, Inputs: both}, "one or the other"},
	} {
		c.c.Name, c.c.Outputs = "bad", map[string]*ref.Tensor{"y": ref.New(dtype.F32, 2, 5, 4)}
		for _, dev := range []bool{false, true} {
			r := Run(nil, c.c)
			if dev {
				r = Run(d, c.c)
			}
			if r.Pass || r.Err == nil || !strings.Contains(r.Err.Error(), c.want) {
				t.Errorf("%v: got %v, want an error saying %q", c.want, r.Err, c.want)
			}
		}
	}
}
