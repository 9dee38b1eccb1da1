package ops

import (
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/gputest"
)

// chain is five kernels in which a is read two launches after it is
// made and c three: a = x*(1+s)+s, b = silu(a), c = b*s+a, d = silu(c),
// e = d*s+c.
func chain(x, s *Tensor) ([]*Tensor, error) {
	var tmp []*Tensor
	defer func() {
		for _, t := range tmp {
			t.Release()
		}
	}()
	keep := func(t *Tensor, err error) (*Tensor, error) {
		if err == nil {
			tmp = append(tmp, t)
		}
		return t, err
	}
	a, err := keep(FusedScaleShift(x, s, s, 1))
	if err != nil {
		return nil, err
	}
	b, err := keep(Activate(a, ActSiLU))
	if err != nil {
		return nil, err
	}
	c, err := keep(FusedScaleShift(b, s, a, 0))
	if err != nil {
		return nil, err
	}
	d, err := keep(Activate(c, ActSiLU))
	if err != nil {
		return nil, err
	}
	e, err := FusedScaleShift(d, s, c, 0)
	if err != nil {
		return nil, err
	}
	return []*Tensor{e}, nil
}

// sameValues checks that two device tensors hold the same values within tl.
func sameValues(t *testing.T, got, want *Tensor, tl tol) {
	t.Helper()
	g, err := got.Float32()
	if err != nil {
		t.Fatal(err)
	}
	w, err := want.Float32()
	if err != nil {
		t.Fatal(err)
	}
	if len(g) != len(w) {
		t.Fatalf("%d values, want %d", len(g), len(w))
	}
	for i := range w {
		if !tl.Within(float64(g[i]), float64(w[i])) {
			t.Fatalf("element %d: got %g, want %g", i, g[i], w[i])
		}
	}
}

func TestGraphReplayMatchesEager(t *testing.T) {
	d := testDevice(t)
	gputest.Guard(t, d) // the recording's outputs and the arena's buffers
	for _, dt := range []DType{F32, BF16, F16} {
		t.Run(dt.String(), func(t *testing.T) {
			rng := rand.New(rand.NewSource(7))
			x := upload(t, d, randTensor(rng, dt, []int{2, 3, 20}, 1, 0))
			s := upload(t, d, randTensor(rng, dt, []int{20}, 0.5, 0))
			defer x.Release()
			defer s.Release()
			g, outs, err := Record(d, []*Tensor{x, s}, func() ([]*Tensor, error) { return chain(x, s) })
			if err != nil {
				t.Fatal(err)
			}
			defer g.Release()
			eager := outs[0]
			defer eager.Release()
			st := g.Stats()
			// By hand: a, b, c take slots 0, 1, 2; d takes a's, e takes b's.
			// All five are the same size: 120 values in 16-byte units.
			unit := uint64((120*dt.Size() + 15) &^ 15)
			if want := (GraphStats{Recorded: 5, Kernels: 5, EagerBuffers: 5, EagerBytes: 5 * unit, ArenaBuffers: 3, ArenaBytes: 3 * unit}); st != want {
				t.Errorf("stats %+v, want %+v", st, want)
			}
			same, err := g.Replay()
			if err != nil {
				t.Fatal(err)
			}
			sameValues(t, same[0], eager, gputest.For(dt, false))

			// New inputs, rebound: the eager result for them.
			x2 := upload(t, d, randTensor(rng, dt, []int{2, 3, 20}, 1, 0))
			s2 := upload(t, d, randTensor(rng, dt, []int{20}, 0.5, 0))
			defer x2.Release()
			defer s2.Release()
			outs2, err := g.Replay(x2, s2)
			if err != nil {
				t.Fatal(err)
			}
			want, err := chain(x2, s2)
			if err != nil {
				t.Fatal(err)
			}
			defer want[0].Release()
			sameValues(t, outs2[0], want[0], gputest.For(dt, false))

			// New values written in place into the bound x2.
			xh := randTensor(rng, dt, []int{2, 3, 20}, 1, 0)
			if err := g.Write(0, xh); err != nil {
				t.Fatal(err)
			}
			outs3, err := g.Replay()
			if err != nil {
				t.Fatal(err)
			}
			x3 := upload(t, d, xh)
			defer x3.Release()
			want3, err := chain(x3, s2)
			if err != nil {
				t.Fatal(err)
			}
			defer want3[0].Release()
			sameValues(t, outs3[0], want3[0], gputest.For(dt, false))

			// Two rebinding replays in one batch: the first's bind groups
			// and uniforms are released before the batch is submitted.
			if _, err := g.Replay(x, s); err != nil {
				t.Fatal(err)
			}
			outs4, err := g.Replay(x2, s2)
			if err != nil {
				t.Fatal(err)
			}
			sameValues(t, outs4[0], want3[0], gputest.For(dt, false)) // x2 holds xh now
		})
	}
}

func TestGraphErrors(t *testing.T) {
	d := testDevice(t)
	rng := rand.New(rand.NewSource(3))
	x := upload(t, d, randTensor(rng, F32, []int{1, 2, 8}, 1, 0))
	s := upload(t, d, randTensor(rng, F32, []int{8}, 1, 0))
	defer x.Release()
	defer s.Release()
	g, outs, err := Record(d, []*Tensor{x, s}, func() ([]*Tensor, error) { return chain(x, s) })
	if err != nil {
		t.Fatal(err)
	}
	defer outs[0].Release()
	wide := upload(t, d, randTensor(rng, F32, []int{1, 2, 16}, 1, 0))
	half := upload(t, d, randTensor(rng, BF16, []int{1, 2, 8}, 1, 0))
	defer wide.Release()
	defer half.Release()
	cases := []struct {
		name   string
		replay func() error
		want   string
	}{
		{"shape", func() error { _, err := g.Replay(wide, s); return err }, "input 0: is f32[1 2 16], the graph was recorded with f32[1 2 8]"},
		{"dtype", func() error { _, err := g.Replay(half, s); return err }, "input 0: is bf16[1 2 8]"},
		{"count", func() error { _, err := g.Replay(x); return err }, "1 given, the graph was recorded with 2"},
		{"write index", func() error { return g.Write(2, NewHostTensor(F32, 8)) }, "index 2 outside"},
		{"write size", func() error { return g.Write(1, NewHostTensor(F32, 9)) }, "9 values for input 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.replay()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// The refused rebinds left the graph usable on its inputs, and a
	// graph released before its replay is submitted leaves a valid batch.
	if _, err := g.Replay(); err != nil {
		t.Fatal(err)
	}
	g.Release()
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Replay(); !errors.Is(err, ErrGraph) || !strings.Contains(err.Error(), "replay after Release") {
		t.Fatalf("replay after Release: %v", err)
	}

	t.Run("released upload", func(t *testing.T) {
		_, _, err := Record(d, []*Tensor{x}, func() ([]*Tensor, error) {
			s2, err := Upload(d, NewHostTensor(F32, 8))
			if err != nil {
				return nil, err
			}
			defer s2.Release()
			return chain(x, s2)
		})
		if !errors.Is(err, ErrGraph) || !strings.Contains(err.Error(), "pass it as an input") {
			t.Fatalf("got %v, want an ErrGraph that says to pass the tensor as an input", err)
		}
	})
	t.Run("output not computed", func(t *testing.T) {
		_, _, err := Record(d, []*Tensor{x, s}, func() ([]*Tensor, error) { return []*Tensor{x}, nil })
		if !errors.Is(err, ErrGraph) || !strings.Contains(err.Error(), "output 0") {
			t.Fatalf("got %v, want an ErrGraph naming output 0", err)
		}
	})
}

func TestGraphAfterClose(t *testing.T) {
	d, err := OpenDevice(DeviceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(5))
	x := upload(t, d, randTensor(rng, F32, []int{1, 2, 8}, 1, 0))
	s := upload(t, d, randTensor(rng, F32, []int{8}, 1, 0))
	g, _, err := Record(d, []*Tensor{x, s}, func() ([]*Tensor, error) { return chain(x, s) })
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := g.Replay(); !errors.Is(err, gpu.ErrClosed) {
		t.Fatalf("replay after Close: %v, want ErrClosed", err)
	}
	g.Release() // after Close: drops what Close freed, no panic
}
