package ops

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops/ref"
)

// TestQuantizeExpertsFP8MatchesReference quantises expert weights of odd
// shapes in every float dtype (one all-zero channel) into guarded outputs:
// codes and scales exactly.
func TestQuantizeExpertsFP8MatchesReference(t *testing.T) {
	d := testDevice(t)
	for ci, sh := range [][3]int{{1, 1, 4}, {3, 5, 7}, {8, 6, 16}, {2, 40, 36}} {
		for _, dt := range floatStorage {
			t.Run(fmt.Sprintf("%v/%v", dt, sh), func(t *testing.T) {
				gputest.Guard(t, d)
				rng := rand.New(rand.NewSource(int64(60 + ci)))
				w := randTensor(rng, dt, sh[:], 0.5, 0)
				for i := 0; i < sh[2] && ci > 0; i++ {
					w.Data[sh[2]+i] = 0 // channel (0, 1)
				}
				wq, ws, err := ref.QuantizeExpertsFP8(w)
				if err != nil {
					t.Fatal(err)
				}
				q, s, err := QuantizeExpertsFP8(upload(t, d, w))
				if err != nil {
					t.Fatal(err)
				}
				if !sameShape(q.Shape, sh[:]) || !sameShape(s.Shape, sh[:2]) {
					t.Fatalf("shapes %v, %v, want %v and %v", q.Shape, s.Shape, sh, sh[:2])
				}
				expectClose(t, q, wq, tol{})
				expectClose(t, s, ws, tol{})
			})
		}
	}
}

// randomFP8Experts quantises random experts of case c in dtype dt on the CPU
// and uploads them.
func randomFP8Experts(t *testing.T, d *gpu.Device, rng *rand.Rand, dt dtype.DType, e, i, dm int) (ExpertsFP8, [6]*ref.Tensor) {
	var r [6]*ref.Tensor
	var err error
	for j, shape := range [][]int{{e, i, dm}, {e, dm, i}, {e, i, dm}} {
		if r[j], r[3+j], err = ref.QuantizeExpertsFP8(randTensor(rng, dt, shape, 0.4, 0)); err != nil {
			t.Fatal(err)
		}
	}
	return ExpertsFP8{W1: upload(t, d, r[0]), W2: upload(t, d, r[1]), W3: upload(t, d, r[2]),
		S1: upload(t, d, r[3]), S2: upload(t, d, r[4]), S3: upload(t, d, r[5])}, r
}

// TestMoEFP8MatchesReference runs the FP8 expert path (routing, E4M3
// experts with per-channel scales, activations quantised per row, bf16
// intermediates) on the MoE cases in every float dtype into guarded
// outputs.
func TestMoEFP8MatchesReference(t *testing.T) {
	d := testDevice(t)
	for ci, c := range moeCases {
		for _, dt := range floatStorage {
			t.Run(fmt.Sprintf("%v/T=%d/D=%d/I=%d/E=%d/k=%d", dt, c.t, c.d, c.i, c.e, c.k), func(t *testing.T) {
				gputest.Guard(t, d)
				rng := rand.New(rand.NewSource(int64(70 + ci)))
				x := randTensor(rng, dt, []int{c.t, c.d}, 1, 0)
				lg := randTensor(rng, dtype.F32, []int{c.t, c.e}, 2, 0)
				var b *ref.Tensor
				if c.bias {
					b = randTensor(rng, dtype.F32, []int{c.e}, 0.1, 0)
				}
				ex, r := randomFP8Experts(t, d, rng, dt, c.e, c.i, c.d)
				act := ActSiLU
				if ci == 2 {
					act = ActGELUTanh
				}
				routing := ref.MoERouting{TopK: c.k, Groups: c.groups, TopKGroups: c.tkg}
				want, err := ref.MoEFP8(x, lg, b, r[0], r[1], r[2], r[3], r[4], r[5], routing, act.String())
				if err != nil {
					t.Fatal(err)
				}
				y, err := MoEForwardFP8(upload(t, d, x), upload(t, d, lg), upload(t, d, b), ex,
					MoEConfig{TopK: c.k, Groups: c.groups, TopKGroups: c.tkg, Activation: act})
				if err != nil {
					t.Fatal(err)
				}
				expectClose(t, y, want, tolFor(dtype.BF16))
			})
		}
	}
}

// TestNewExpertsFP8 quantises three expert weights on the device, each to
// its own fields, against the host quantiser, into guarded outputs.
func TestNewExpertsFP8(t *testing.T) {
	d := testDevice(t)
	gputest.Guard(t, d)
	rng := rand.New(rand.NewSource(75))
	ws := []*ref.Tensor{randTensor(rng, dtype.BF16, []int{3, 10, 12}, 0.4, 0), randTensor(rng, dtype.BF16, []int{3, 12, 10}, 0.4, 0),
		randTensor(rng, dtype.BF16, []int{3, 10, 12}, 0.4, 0)}
	e, err := NewExpertsFP8(upload(t, d, ws[0]), upload(t, d, ws[1]), upload(t, d, ws[2]))
	if err != nil {
		t.Fatal(err)
	}
	for i, got := range [][2]*gpu.Tensor{{e.W1, e.S1}, {e.W2, e.S2}, {e.W3, e.S3}} {
		q, s, err := ref.QuantizeExpertsFP8(ws[i])
		if err != nil {
			t.Fatal(err)
		}
		expectClose(t, got[0], q, tol{})
		expectClose(t, got[1], s, tol{})
	}
	if _, err := NewExpertsFP8(upload(t, d, ws[0]), nil, upload(t, d, ws[2])); err == nil {
		t.Fatal("a missing w2 passed")
	}
}

func TestMoEFP8BadInputIsAnError(t *testing.T) {
	d := testDevice(t)
	x, _ := d.NewTensor(dtype.F32, 3, 4)
	idx, _ := d.NewTensor(dtype.I32, 3, 2)
	wf, _ := d.NewTensor(dtype.F32, 3, 2)
	w13, _ := d.NewTensor(dtype.FP8E4M3, 8, 5, 4)
	w2, _ := d.NewTensor(dtype.FP8E4M3, 8, 4, 5)
	f32w, _ := d.NewTensor(dtype.F32, 8, 5, 4)
	s13, _ := d.NewTensor(dtype.F32, 8, 5)
	s2, _ := d.NewTensor(dtype.F32, 8, 4)
	ok := ExpertsFP8{W1: w13, W2: w2, W3: w13, S1: s13, S2: s2, S3: s13}
	with := func(f func(e *ExpertsFP8)) ExpertsFP8 { e := ok; f(&e); return e }
	cases := []struct {
		name string
		e    ExpertsFP8
		want string
	}{
		{"f32 weight", with(func(e *ExpertsFP8) { e.W1 = f32w }), "ops.GroupedExpertForwardFP8: w1: want fp8_e4m3 expert weights"},
		{"missing scale", with(func(e *ExpertsFP8) { e.S3 = nil }), "ops.GroupedExpertForwardFP8: s3: want f32 [8,5]"},
		{"scale shape", with(func(e *ExpertsFP8) { e.S2 = s13 }), "ops.GroupedExpertForwardFP8: s2: want f32 [8,4]"},
		{"w2 shape", with(func(e *ExpertsFP8) { e.W2 = w13 }), "ops.GroupedExpertForwardFP8: w2: shape [8 5 4], want [8,4,5]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := GroupedExpertForwardFP8(x, idx, wf, c.e, ActSiLU)
			if _, ok := err.(*Error); !ok || !contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an *ops.Error containing %q", err, c.want)
			}
		})
	}
	if _, _, err := QuantizeExpertsFP8(s13); err == nil || !contains(err.Error(), "ops.QuantizeExpertsFP8: w: shape [8 5]") {
		t.Fatalf("2-D weight: %v", err)
	}
}
