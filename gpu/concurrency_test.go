package gpu_test

import (
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/attention"
	"github.com/webfuser/webfuser/ops/ref"
)

// What may be shared between goroutines (README, Safety): a Device and
// every Tensor. Calls from several goroutines are serialised by the
// device's lock; a tensor released by one goroutine gives the others
// ErrReleased, never a crash or another tensor's data. This test runs 16
// goroutines of mixed operators, views and releases on one device, with
// shared weights and one shared input that a goroutine releases while
// the others use it; every output computed from live inputs must match
// the float64 reference. Run it under -race.

// mixed holds the shared operands and their references.
type mixed struct {
	d          *gpu.Device
	w, shift   *gpu.Tensor // RMSNorm weight [C], modulate shift [C]
	lw, lb     *gpu.Tensor // linear weight [C,C], bias [C]
	wR, shR    *ref.Tensor
	lwR, lbR   *ref.Tensor
	victim     *gpu.Tensor // [B,L,C], released by goroutine 0 mid-run
	victimR    *ref.Tensor
	B, L, C, H int
}

func newMixed(t *testing.T, rng *rand.Rand) *mixed {
	m := &mixed{d: gputest.Device(t), B: 2, L: 8, C: 32, H: 2}
	up := func(r *ref.Tensor) *gpu.Tensor { return gputest.Upload(t, m.d, r) }
	m.wR = gputest.Rand(rng, dtype.F32, []int{m.C}, 0.2, 1)
	m.shR = gputest.Rand(rng, dtype.F32, []int{m.C}, 1, 0)
	m.lwR = gputest.Rand(rng, dtype.F32, []int{m.C, m.C}, 0.2, 0)
	m.lbR = gputest.Rand(rng, dtype.F32, []int{m.C}, 0.1, 0)
	m.victimR = gputest.Rand(rng, dtype.F32, []int{m.B, m.L, m.C}, 1, 0)
	m.w, m.shift, m.lw, m.lb, m.victim = up(m.wR), up(m.shR), up(m.lwR), up(m.lbR), up(m.victimR)
	return m
}

// step runs one randomly chosen operation on x (or on the victim) and
// checks its result; it returns an error only for a wrong result or an
// error other than ErrReleased on the victim.
func (m *mixed) step(rng *rand.Rand, x *gpu.Tensor, xR *ref.Tensor) error {
	in, inR, shared := x, xR, false
	if rng.Intn(4) == 0 {
		in, inR, shared = m.victim, m.victimR, true
	}
	var y *gpu.Tensor
	var want *ref.Tensor
	var err error
	tol := gputest.For(dtype.F32, false)
	switch op := rng.Intn(5); op {
	case 0:
		y, err = ops.RMSNormForward(in, m.w, nil, 1e-5)
		if err == nil {
			want, _ = ref.RMSNorm(inR, m.wR, nil, 1e-5)
		}
	case 1:
		y, err = ops.Modulate(in, m.shift, m.w)
		if err == nil {
			want, _ = ref.Modulate(inR, m.shR, m.wR)
		}
	case 2:
		y, err = ops.LinearForward(in, m.lw, m.lb)
		tol = gputest.For(dtype.F32, true)
		if err == nil {
			want, _ = ref.Linear(inR, m.lwR, m.lbR)
		}
	case 3:
		var q *gpu.Tensor
		if q, err = in.Reshape(m.B, m.L, m.H, m.C/m.H); err == nil {
			y, err = attention.Dense(q, q, q, attention.Options{})
			q.Release() // a view: ends only itself
		}
		tol = gputest.For(dtype.F32, true)
		if err == nil {
			qR := &ref.Tensor{Shape: []int{m.B, m.L, m.H, m.C / m.H}, DType: dtype.F32, Data: inR.Data}
			want, _ = ref.Attention(qR, qR, qR, false, 0)
		}
	case 4:
		y, err = ops.Copy(in)
		want = inR
	}
	if err != nil {
		if shared && errors.Is(err, gpu.ErrReleased) {
			return nil
		}
		return fmt.Errorf("op on %v (shared %v): %w", in, shared, err)
	}
	defer y.Release()
	got, err := y.Float32()
	if err != nil {
		return err
	}
	for i, v := range got {
		w := want.Data[i]
		if d := float64(v) - w; d > tol.Atol+tol.Rtol*abs(w) || -d > tol.Atol+tol.Rtol*abs(w) {
			return fmt.Errorf("%v[%d] = %g, want %g: another goroutine's data?", y, i, v, w)
		}
	}
	return nil
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func TestConcurrentMixedOpsAndReleases(t *testing.T) {
	const goroutines = 16
	iters := 24
	if testing.Short() {
		iters = 6
	}
	m := newMixed(t, rand.New(rand.NewSource(1)))
	defer func() {
		for _, x := range []*gpu.Tensor{m.w, m.shift, m.lw, m.lb, m.victim} {
			x.Release()
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(100 + g)))
			for i := 0; i < iters; i++ {
				if g == 0 && i == iters/2 {
					m.victim.Release() // while the others use it
				}
				xR := gputest.Rand(rng, dtype.F32, []int{m.B, m.L, m.C}, 1, 0)
				x, err := m.d.Upload(xR.DType, xR.Shape, xR.Float32())
				if err != nil {
					errs <- err
					return
				}
				if err := m.step(rng, x, xR); err != nil {
					errs <- fmt.Errorf("goroutine %d, step %d: %w", g, i, err)
					x.Release()
					return
				}
				// Release, sometimes twice and sometimes from another goroutine.
				switch rng.Intn(3) {
				case 0:
					x.Release()
				case 1:
					x.Release()
					x.Release()
				case 2:
					done := make(chan struct{})
					go func() { x.Release(); close(done) }()
					x.Release()
					<-done
				}
				if _, err := x.Float32(); !errors.Is(err, gpu.ErrReleased) {
					errs <- fmt.Errorf("goroutine %d: a released input downloaded: %v", g, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
