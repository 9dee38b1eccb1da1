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

// TestMergeAttnStatesMatchesReference merges random states on odd shapes
// in every float dtype of out and lse, with empty states (an infinite
// lse) on one side, the other and both, into guarded outputs.
func TestMergeAttnStatesMatchesReference(t *testing.T) {
	d := testDevice(t)
	shapes := [][]int{{1, 1, 1, 1}, {2, 3, 5, 7}, {1, 5, 3, 16}, {2, 1, 3, 128}, {3, 13}}
	for _, odt := range floatStorage {
		for _, ldt := range floatStorage {
			for _, shape := range shapes {
				t.Run(fmt.Sprintf("%v/lse=%v/%v", odt, ldt, shape), func(t *testing.T) {
					gputest.Guard(t, d)
					rng := rand.New(rand.NewSource(3))
					lshape := append(append([]int(nil), shape[:len(shape)-1]...), 1)
					po := randTensor(rng, odt, shape, 1, 0)
					so := randTensor(rng, odt, shape, 1, 0)
					pl := randTensor(rng, ldt, lshape, 3, 2)
					sl := randTensor(rng, ldt, lshape, 3, 2)
					if n := len(pl.Data); n >= 4 {
						pl.Data[0] = math.Inf(-1)
						sl.Data[1] = math.Inf(-1)
						pl.Data[2], sl.Data[2] = math.Inf(-1), math.Inf(-1)
						sl.Data[3] = math.Inf(1)
					}
					wo, wl, err := ref.MergeAttnStates(po, pl, so, sl)
					if err != nil {
						t.Fatal(err)
					}
					o, l, err := MergeAttnStates(upload(t, d, po), upload(t, d, pl), upload(t, d, so), upload(t, d, sl))
					if err != nil {
						t.Fatal(err)
					}
					expectClose(t, o, wo, tolFor(odt))
					expectCloseInf(t, l, wl, tolFor(ldt))
				})
			}
		}
	}
}

// expectCloseInf is expectClose where infinities must match exactly.
func expectCloseInf(t *testing.T, got *Tensor, want *ref.Tensor, tl tol) {
	t.Helper()
	if got.DType != want.DType || !sameShape(got.Shape, want.Shape) {
		t.Fatalf("got %v, want %v%v", got, want.DType, want.Shape)
	}
	v, err := got.Float32()
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want.Data {
		g := float64(v[i])
		if math.IsInf(w, 0) && g != w || !math.IsInf(w, 0) && !tl.Within(g, w) {
			t.Fatalf("element %d: got %g, want %g", i, g, w)
		}
	}
}

// TestMergeAttnStatesIsAttentionOverTheUnion splits the keys of a small
// attention in two, computes each half's output and log-sum-exp on the
// host, and checks that the merge on the device gives attention over all keys.
func TestMergeAttnStatesIsAttentionOverTheUnion(t *testing.T) {
	d := testDevice(t)
	rng := rand.New(rand.NewSource(5))
	const S, H, D, Sk, split = 3, 2, 8, 11, 4
	q := randTensor(rng, dtype.F32, []int{1, S, H, D}, 1, 0)
	k := randTensor(rng, dtype.F32, []int{1, Sk, H, D}, 1, 0)
	v := randTensor(rng, dtype.F32, []int{1, Sk, H, D}, 1, 0)
	want, err := ref.Attention(q, k, v, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	part := func(lo, hi int) (*ref.Tensor, *ref.Tensor) {
		o, l := ref.New(dtype.F32, 1, S, H, D), ref.New(dtype.F32, 1, S, H, 1)
		for s := 0; s < S; s++ {
			for h := 0; h < H; h++ {
				m, sc := math.Inf(-1), make([]float64, hi-lo)
				for j := lo; j < hi; j++ {
					dot := 0.0
					for c := 0; c < D; c++ {
						dot += q.Data[(s*H+h)*D+c] * k.Data[(j*H+h)*D+c]
					}
					sc[j-lo] = dot / math.Sqrt(D)
					m = math.Max(m, sc[j-lo])
				}
				sum := 0.0
				for j := lo; j < hi; j++ {
					e := math.Exp(sc[j-lo] - m)
					sum += e
					for c := 0; c < D; c++ {
						o.Data[(s*H+h)*D+c] += e * v.Data[(j*H+h)*D+c]
					}
				}
				for c := 0; c < D; c++ {
					o.Data[(s*H+h)*D+c] /= sum
				}
				l.Data[s*H+h] = m + math.Log(sum)
			}
		}
		return o.Round(dtype.F32), l.Round(dtype.F32)
	}
	po, pl := part(0, split)
	so, sl := part(split, Sk)
	o, _, err := MergeAttnStates(upload(t, d, po), upload(t, d, pl), upload(t, d, so), upload(t, d, sl))
	if err != nil {
		t.Fatal(err)
	}
	expectClose(t, o, want, gputest.For(dtype.F32, true))
}

func TestMergeAttnStatesBadInputIsAnError(t *testing.T) {
	d := testDevice(t)
	o, _ := d.NewTensor(dtype.F32, 2, 3, 4, 8)
	o2, _ := d.NewTensor(dtype.F32, 2, 3, 4, 4)
	l, _ := d.NewTensor(dtype.F32, 2, 3, 4, 1)
	l2, _ := d.NewTensor(dtype.F32, 2, 3, 5)
	u, _ := d.NewTensor(dtype.U8, 2, 3, 4, 1)
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"out shapes", func() error { _, _, e := MergeAttnStates(o2, l, o, l); return e }, "ops.MergeAttnStates: prev_out: shape [2 3 4 4], want suff_out's [2 3 4 8]"},
		{"lse size", func() error { _, _, e := MergeAttnStates(o, l, o, l2); return e }, "ops.MergeAttnStates: suff_lse: shape [2 3 5], want one value per row of D (24 values"},
		{"lse dtype", func() error { _, _, e := MergeAttnStates(o, u, o, l); return e }, "ops.MergeAttnStates: prev_lse: dtype u8 is not supported"},
		{"nil", func() error { _, _, e := MergeAttnStates(o, l, nil, l); return e }, "ops.MergeAttnStates: suff_out: is required"},
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
