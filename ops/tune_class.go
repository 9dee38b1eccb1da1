package ops

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"time"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/host"
	"github.com/webfuser/webfuser/internal/launch"
)

// One class of Tune: the shapes it times, their operands, every
// candidate checked against the default tile and timed, and the pick.

// tuneFinalists is how many of the fastest candidates on a class's
// first shape are timed again on every shape, with the default.
const tuneFinalists = 3

// tuneBound is how many times slower than the fastest so far a
// candidate's first trial may run before Tune keeps that trial's time
// and moves on: on a slow GPU, the Simple tiles at 4096³ would otherwise
// take most of the run. Five, not less: a trial at idle clocks ran at up
// to 3x its warm time on the H200.
const tuneBound = 5

// tuneShapes returns the products Tune times for class c, m x n x k. On
// GPUs: for a GEMV K = N = 4096 and 8192 and the DiT block's modulation
// (K=3072, N=6x3072); for a tiled product 4096³ (the reference)
// and the block's MLP products at S=4096 (K=3072, N=12288 and back).
// Smaller on CPU drivers (where the tiled ones still give the default
// tile its 96 workgroups), and one small shape when small; a shape
// whose operands do not fit the device's bindings is left out.
func tuneShapes(d *Device, c launch.TileClass, small bool) [][3]int {
	m := c.Rows
	var shapes [][3]int
	switch {
	case small:
		shapes = [][3]int{{256, 256, 256}}
	case d.Info.Class == gpu.ClassCPU && m > 0:
		shapes = [][3]int{{m, 1024, 1024}, {m, 2048, 512}}
	case d.Info.Class == gpu.ClassCPU:
		shapes = [][3]int{{1024, 1024, 1024}, {1024, 2048, 512}}
	case m > 0:
		shapes = [][3]int{{m, 4096, 4096}, {m, 8192, 8192}, {m, 18432, 3072}}
	default:
		shapes = [][3]int{{4096, 4096, 4096}, {4096, 12288, 3072}, {4096, 3072, 12288}}
	}
	if m > 0 {
		for i := range shapes {
			shapes[i][0] = m
		}
	}
	// Keep the shapes whose operands fit the device's bindings (x and y
	// counted at 4 bytes an element): WebGPU's default binding limit is
	// 128 MiB, under the 8192² f32 weight. 1024³ fits any device.
	limit := min(d.Limits.MaxBindingSize, d.Limits.MaxBufferSize)
	fit := slices.DeleteFunc(shapes, func(s [3]int) bool {
		m, n, k := uint64(s[0]), uint64(s[1]), uint64(s[2])
		return max(n*k*uint64(c.WSize), m*k*4, m*n*4) > limit
	})
	if len(fit) == 0 {
		fit = [][3]int{{1024, 1024, 1024}}
		if m > 0 {
			fit[0][0] = m
		}
	}
	return fit
}

// tuneSet is one class's operands: x, copies of the weight (so that a
// GEMV's weights do not stay in cache between calls, as a model's
// layers' do not), the FP8 scale, and a spec per copy.
type tuneSet struct {
	x, scale *gpu.Tensor
	ws       []*gpu.Tensor
	specs    []*matmulSpec
}

func (s *tuneSet) release() {
	if s == nil {
		return
	}
	for _, t := range append([]*gpu.Tensor{s.x, s.scale}, s.ws...) {
		if t != nil {
			t.Release()
		}
	}
}

// tuneCopyBytes is the weight bytes a GEMV class rotates through on a
// GPU: past the last-level cache of current GPUs (the H200's is 50 MB).
const tuneCopyBytes = 256 << 20

func newTuneSet(d *Device, c launch.TileClass, wdt DType, m, n, k int) (*tuneSet, error) {
	rng := rand.New(rand.NewSource(int64(1 + m + 7*n + 13*c.WSize)))
	s := &tuneSet{}
	up := func(dt DType, shape ...int) (*gpu.Tensor, error) {
		return Upload(d, host.Randn(rng, dt, shape, 1, 0))
	}
	var err error
	if s.x, err = up(tuneWeights[wdt], m, k); err != nil {
		return nil, err
	}
	if isFP8(wdt) {
		if s.scale, err = Upload(d, host.Randn(rng, F32, []int{n, 1}, 0.01, 0.02)); err != nil {
			s.release()
			return nil, err
		}
	}
	copies := 1
	if c.Rows > 0 && d.Info.Class != gpu.ClassCPU {
		copies = max(1, tuneCopyBytes/(n*k*wdt.Size()))
	}
	for i := 0; i < copies; i++ {
		var w *gpu.Tensor
		if i == 0 {
			w, err = up(wdt, n, k)
		} else {
			w, err = Copy(s.ws[0])
		}
		if err != nil {
			s.release()
			return nil, err
		}
		s.ws = append(s.ws, w)
		sp := &matmulSpec{op: "Tune", x: s.x, w: w, wScale: s.scale}
		if err := sp.validate(); err != nil {
			s.release()
			return nil, err
		}
		s.specs = append(s.specs, sp)
	}
	return s, nil
}

// tuneClass times cands (those of class c that fit d, the default
// first) with wdt weights and returns the class's entry: every
// candidate on the first shape, each checked against the default tile's
// output there, then the fastest few and the default on every shape
// (the first again, on the same operands), each checked too. The pick is the finalist with the best geometric mean of
// its times over the default's, if that beats the default by tuneMargin
// and no shape is more than tuneSlack slower.
func tuneClass(d *Device, c launch.TileClass, wdt DType, cands []launch.Tile, small bool, g *tuneGauge, step func(string) error) (TuneEntry, error) {
	shapes := tuneShapes(d, c, small)
	def := cands[0]
	e := TuneEntry{Rows: c.Rows, Weight: wdt.String(), Shapes: shapes, Default: def.String(), Tile: def.String()}
	rejected := map[launch.Tile]bool{}
	reject := func(t launch.Tile, shape [3]int, err error) {
		rejected[t] = true
		e.Rejected = append(e.Rejected, fmt.Sprintf("%v at %dx%dx%d: %v", t, shape[0], shape[1], shape[2], err))
	}
	// bound is how slow a candidate's first trial may be (a call) before
	// its timing stops there: five times the fastest so far on the shape.
	bound := func(times map[launch.Tile]time.Duration) time.Duration {
		b := time.Duration(0)
		for _, tm := range times {
			if b == 0 || tm < b {
				b = tm
			}
		}
		return tuneBound * b
	}
	// timeAll checks and times ts on set, the operands of shape sh, after
	// warming the GPU up (the upload of operands leaves it idle); an error
	// of the default's ends the tuning, another tile's rejects that tile.
	timeAll := func(set *tuneSet, sh [3]int, ts []launch.Tile) (map[launch.Tile]time.Duration, error) {
		want, err := tuneOutput(set.specs[0], def)
		if err != nil {
			return nil, fmt.Errorf("ops.Tune: %v, default tile %v: %w", c, def, err)
		}
		if err := g.warm(time.Second); err != nil {
			return nil, err
		}
		tol := 1e-3 // f32 outputs: tiles differ only in summation order
		if tuneWeights[wdt] != F32 {
			tol = 2e-2 // bf16 outputs: one rounding apart at most
		}
		times := map[launch.Tile]time.Duration{}
		for _, t := range ts {
			if rejected[t] {
				continue
			}
			got, err := tuneOutput(set.specs[0], t)
			if err == nil {
				err = tuneCompare(got, want, tol)
			}
			if err == nil {
				times[t], err = tuneTime(d, set, t, small, g, bound(times))
			}
			if err != nil && t == def {
				return nil, fmt.Errorf("ops.Tune: %v, default tile %v: %w", c, def, err)
			}
			if err != nil {
				reject(t, sh, err)
			}
			if err := step(c.String()); err != nil {
				return nil, err
			}
		}
		return times, nil
	}
	set, err := newTuneSet(d, c, wdt, shapes[0][0], shapes[0][1], shapes[0][2])
	if err != nil {
		return e, err
	}
	defer func() { set.release() }() // the last shape's operands
	first, err := timeAll(set, shapes[0], cands)
	if err != nil {
		return e, err
	}
	e.Timed = len(first)
	ranked := make([]launch.Tile, 0, len(first))
	for t := range first {
		if t != def {
			ranked = append(ranked, t)
		}
	}
	slices.SortFunc(ranked, func(a, b launch.Tile) int { return int(first[a] - first[b]) })
	finals := append([]launch.Tile{def}, ranked[:min(len(ranked), tuneFinalists)]...)
	ns := map[launch.Tile][]int64{}
	for i, sh := range shapes {
		if i > 0 { // shape 0's operands serve both passes
			set.release()
			if set, err = newTuneSet(d, c, wdt, sh[0], sh[1], sh[2]); err != nil {
				return e, err
			}
		}
		times, err := timeAll(set, sh, finals)
		if err != nil {
			return e, err
		}
		for _, t := range finals {
			tm := times[t]
			if i == 0 {
				tm = min(tm, first[t]) // the better of its two times
			}
			ns[t] = append(ns[t], int64(tm))
		}
	}
	best, bestScore := def, 1.0
	for _, t := range finals[1:] {
		if rejected[t] {
			continue
		}
		score := tuneScore(ns[t], ns[def])
		worst := 0.0
		for j := range shapes {
			worst = max(worst, float64(ns[t][j])/float64(ns[def][j]))
		}
		if score <= 1-tuneMargin && worst <= 1+tuneSlack && score < bestScore {
			best, bestScore = t, score
		}
	}
	e.Tile, e.DefaultNs, e.TileNs = best.String(), ns[def], ns[best]
	return e, nil
}

// tuneOutput runs spec s with tile t into a fresh output and downloads it.
func tuneOutput(s *matmulSpec, t launch.Tile) ([]float32, error) {
	y, err := s.run(t)
	if err != nil {
		return nil, err
	}
	defer y.Release()
	h, err := Download(y)
	if err != nil {
		return nil, err
	}
	return h.Float32(), nil
}

// tuneCompare checks a candidate's output against the default tile's:
// every element within tol of the largest magnitude.
func tuneCompare(got, want []float32, tol float64) error {
	scale := 0.0
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i, v := range want {
		if diff := math.Abs(float64(got[i]) - float64(v)); !(diff <= tol*scale) {
			return fmt.Errorf("output %d is %g, the default tile's %g (tolerance %.0e of %g)", i, got[i], v, tol, scale)
		}
	}
	return nil
}
