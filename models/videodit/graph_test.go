package videodit

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

// TestGraphForward records the forward, replays it on new tokens, times
// and classes, and checks the replay against the float64 reference and
// the eager forward on the same inputs, and the arena against what the
// eager forward allocates.
func TestGraphForward(t *testing.T) {
	d := gputest.Device(t)
	gputest.Guard(t, d)
	m, w := load(t, tiny, ops.F32, 11)
	rng := rand.New(rand.NewSource(12))
	shape := []int{2, tiny.Tokens(), tiny.PatchDim()}
	inputs := func(x *ref.Tensor, ts []float64, classes []int) []*ops.Tensor {
		sinH, hotH, ctxH, err := tiny.Conditioning(ops.F32, ts, classes)
		if err != nil {
			t.Fatal(err)
		}
		cond, err := m.upload(sinH, hotH, ctxH)
		if err != nil {
			t.Fatal(err)
		}
		in := append([]*ops.Tensor{gputest.Upload(t, d, x)}, cond...)
		t.Cleanup(func() {
			for _, x := range in {
				x.Release()
			}
		})
		return in
	}
	in := inputs(gputest.Rand(rng, ops.F32, shape, 1, 0), []float64{0.9, 0.9}, []int{1, tiny.NumClasses()})
	g, outs, err := ops.Record(d, in, func() ([]*ops.Tensor, error) {
		v, err := m.forward(in[0], in[1], in[2], in[3])
		return []*ops.Tensor{v}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Release()
	outs[0].Release()
	st := g.Stats()
	t.Logf("%+v", st)
	if st.ArenaBuffers >= st.EagerBuffers || st.ArenaBytes >= st.EagerBytes || st.Kernels < 10 {
		t.Errorf("stats %+v: the arena should hold less than the eager run allocates", st)
	}

	x2 := gputest.Rand(rng, ops.F32, shape, 1, 0)
	ts2, cl2 := []float64{0.25, 0.6}, []int{tiny.NumClasses() - 1, 0}
	in2 := inputs(x2, ts2, cl2)
	got, err := g.Replay(in2...)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.VideoDiT(x2, ts2, cl2, w, refConfig(tiny))
	if err != nil {
		t.Fatal(err)
	}
	gputest.ExpectClose(t, got[0], want, gputest.For(ops.F32, true))
	eager, err := m.Forward(in2[0], ts2, cl2)
	if err != nil {
		t.Fatal(err)
	}
	defer eager.Release()
	e, err := ops.Download(eager)
	if err != nil {
		t.Fatal(err)
	}
	gputest.ExpectClose(t, got[0], e, gputest.For(ops.F32, true))
}

// TestSampleGraph samples with and without the graph, guided and not.
func TestSampleGraph(t *testing.T) {
	m, _ := load(t, tiny, ops.F32, 13)
	for _, cfg := range []float64{1, 2.5} {
		opt := SampleOptions{Class: tiny.Class(1, 0, 1), Seed: 5, Steps: 3, CFG: cfg, Shift: 2}
		eager, err := m.Sample(opt)
		if err != nil {
			t.Fatal(err)
		}
		opt.Graph = true
		got, err := m.Sample(opt)
		if err != nil {
			t.Fatal(err)
		}
		tol := gputest.For(ops.F32, true)
		for i, w := range eager.Data {
			if !tol.Within(got.Data[i], w) {
				t.Fatalf("cfg %g: frame value %d: graph %g, eager %g", cfg, i, got.Data[i], w)
			}
		}
	}
}

// TestForwardGraph checks ForwardGraph against Forward across calls with
// new times and classes, and its refusal of another batch size.
func TestForwardGraph(t *testing.T) {
	d := gputest.Device(t)
	m, _ := load(t, tiny, ops.F32, 14)
	rng := rand.New(rand.NewSource(15))
	fg := m.NewForwardGraph()
	defer fg.Release()
	calls := []struct {
		ts      []float64
		classes []int
	}{
		{[]float64{1, 1}, []int{3, tiny.NumClasses()}},
		{[]float64{0.5, 0.5}, []int{3, tiny.NumClasses()}},
		{[]float64{0.1, 0.7}, []int{0, 5}},
	}
	for i, c := range calls {
		x := gputest.Upload(t, d, gputest.Rand(rng, ops.F32, []int{2, tiny.Tokens(), tiny.PatchDim()}, 1, 0))
		defer x.Release()
		got, err := fg.Forward(x, c.ts, c.classes)
		if err != nil {
			t.Fatal(err)
		}
		want, err := m.Forward(x, c.ts, c.classes)
		if err != nil {
			t.Fatal(err)
		}
		w, err := ops.Download(want)
		want.Release()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("call %d", i)
		gputest.ExpectClose(t, got, w, gputest.For(ops.F32, true))
	}
	x3 := gputest.Upload(t, d, gputest.Rand(rng, ops.F32, []int{3, tiny.Tokens(), tiny.PatchDim()}, 1, 0))
	defer x3.Release()
	if _, err := fg.Forward(x3, []float64{1, 1, 1}, []int{0, 0, 0}); err == nil || !strings.Contains(err.Error(), "recorded with a batch of 2") {
		t.Fatalf("batch of 3: %v, want an error naming the recorded batch", err)
	}
}
