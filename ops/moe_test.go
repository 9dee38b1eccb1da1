package ops

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops/ref"
)

var moeCases = []struct {
	t, d, i, e, k, groups, tkg int
	bias                       bool
}{
	{1, 8, 6, 4, 1, 1, 0, false},
	{5, 13, 16, 8, 2, 2, 1, true},
	{37, 8, 6, 12, 3, 4, 2, true},
	{3, 12, 5, 2, 2, 1, 0, false},
	{70, 16, 24, 8, 2, 1, 0, true},
	{90, 36, 40, 2, 1, 1, 0, false}, // two tiles per expert, two column tiles
}

// TestRouteTopKMatchesReference routes random logits with groups, kept
// groups and a correction bias into guarded outputs.
func TestRouteTopKMatchesReference(t *testing.T) {
	d := testDevice(t)
	for ci, c := range moeCases {
		for _, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
			t.Run(fmt.Sprintf("%v/T=%d/E=%d/k=%d/g=%d/%d", dt, c.t, c.e, c.k, c.groups, c.tkg), func(t *testing.T) {
				gputest.Guard(t, d)
				rng := rand.New(rand.NewSource(int64(20 + ci)))
				lg := randTensor(rng, dt, []int{c.t, c.e}, 2, 0)
				var b *ref.Tensor
				if c.bias {
					b = randTensor(rng, dtype.F32, []int{c.e}, 0.1, 0)
				}
				cfg := MoEConfig{TopK: c.k, Groups: c.groups, TopKGroups: c.tkg, RoutingScale: 2.5}
				wi, ww, err := ref.RouteTopK(lg, b, ref.MoERouting{TopK: c.k, Groups: c.groups, TopKGroups: c.tkg, RoutingScale: 2.5})
				if err != nil {
					t.Fatal(err)
				}
				gi, gw, err := RouteTopK(upload(t, d, lg), upload(t, d, b), cfg)
				if err != nil {
					t.Fatal(err)
				}
				expectClose(t, gi, wi, tol{})
				wt := tol{Rtol: 1e-5}
				if dt == dtype.BF16 {
					wt = tolFor(dt)
				}
				expectClose(t, gw, ww, wt)
			})
		}
	}
}

// TestMoEMatchesReference runs routing and the grouped expert forward in
// every float dtype on odd shapes, into guarded outputs.
func TestMoEMatchesReference(t *testing.T) {
	d := testDevice(t)
	for ci, c := range moeCases {
		for _, dt := range floatStorage {
			t.Run(fmt.Sprintf("%v/T=%d/D=%d/I=%d/E=%d/k=%d", dt, c.t, c.d, c.i, c.e, c.k), func(t *testing.T) {
				gputest.Guard(t, d)
				rng := rand.New(rand.NewSource(int64(30 + ci)))
				x := randTensor(rng, dt, []int{c.t, c.d}, 1, 0)
				lg := randTensor(rng, dtype.F32, []int{c.t, c.e}, 2, 0)
				w1 := randTensor(rng, dt, []int{c.e, c.i, c.d}, 0.4, 0)
				w3 := randTensor(rng, dt, []int{c.e, c.i, c.d}, 0.4, 0)
				w2 := randTensor(rng, dt, []int{c.e, c.d, c.i}, 0.4, 0)
				var b *ref.Tensor
				if c.bias {
					b = randTensor(rng, dtype.F32, []int{c.e}, 0.1, 0)
				}
				act := ActSiLU
				if ci == 2 {
					act = ActGELUTanh
				}
				want, err := ref.MoE(x, lg, b, w1, w2, w3, ref.MoERouting{TopK: c.k, Groups: c.groups, TopKGroups: c.tkg}, act.String())
				if err != nil {
					t.Fatal(err)
				}
				y, err := MoEForward(upload(t, d, x), upload(t, d, lg), upload(t, d, b), upload(t, d, w1), upload(t, d, w2), upload(t, d, w3),
					MoEConfig{TopK: c.k, Groups: c.groups, TopKGroups: c.tkg, Activation: act})
				if err != nil {
					t.Fatal(err)
				}
				expectClose(t, y, want, matmulTol(dt))
			})
		}
	}
}

func TestMoEBadInputIsAnError(t *testing.T) {
	d := testDevice(t)
	lg, _ := d.NewTensor(dtype.F32, 3, 8)
	x, _ := d.NewTensor(dtype.F32, 3, 4)
	w1, _ := d.NewTensor(dtype.F32, 8, 5, 4)
	w2, _ := d.NewTensor(dtype.F32, 8, 4, 5)
	w2bad, _ := d.NewTensor(dtype.F32, 8, 5, 4)
	idx, _ := d.NewTensor(dtype.I32, 3, 2)
	wf, _ := d.NewTensor(dtype.F32, 3, 2)
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"groups", func() error { _, _, e := RouteTopK(lg, nil, MoEConfig{TopK: 1, Groups: 3}); return e }, "ops.RouteTopK: 8 experts do not divide into 3 groups"},
		{"top_k", func() error { _, _, e := RouteTopK(lg, nil, MoEConfig{TopK: 5, Groups: 4, TopKGroups: 2}); return e }, "ops.RouteTopK: top_k 5 must be within 1..4"},
		{"bias", func() error { _, _, e := RouteTopK(lg, x, MoEConfig{TopK: 1}); return e }, "ops.RouteTopK: correction_bias: shape [3 4], want [8]"},
		{"w2", func() error { _, e := GroupedExpertForward(x, idx, wf, w1, w2bad, w1, ActSiLU); return e }, "ops.GroupedExpertForward: w2: shape [8 5 4], want [8,4,5]"},
		{"indices", func() error { _, e := GroupedExpertForward(x, wf, wf, w1, w2, w1, ActSiLU); return e }, "ops.GroupedExpertForward: indices: want i32 [3, top_k]"},
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
