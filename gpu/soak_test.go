package gpu_test

import (
	"math/rand"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/attention"
)

// TestSoak makes mixed operator calls in rounds on one device, releasing
// every output, and checks after each round that the device's live
// bytes are back to where they started, that the Go heap returns to the
// level of the second round within 5% (64 KB of slack), and the pool's
// bytes within 25%: the pool keeps a high-water mark of buffers in use
// at once, which moves with how many batches are still in flight when
// outputs are released, so a loaded machine adds a few buffers (6-9% on
// a 2-core machine running other builds) without any leak. It makes 10,000 calls (20 rounds of 500, a
// few seconds on lavapipe); -short makes 600, and WEBFUSER_SOAK=N makes
// N rounds of 500.
func TestSoak(t *testing.T) {
	rounds, calls := 20, 500
	if n, err := strconv.Atoi(os.Getenv("WEBFUSER_SOAK")); err == nil && n > 2 {
		rounds = n
	} else if testing.Short() {
		rounds, calls = 6, 100
		if runtime.GOOS == "js" {
			rounds, calls = 4, 40
		}
	}
	d := gputest.Device(t)
	rng := rand.New(rand.NewSource(3))
	const B, L, C, H = 2, 16, 64, 4
	up := func(shape ...int) *gpu.Tensor {
		return gputest.Upload(t, d, gputest.Rand(rng, dtype.F32, shape, 1, 0))
	}
	w, lw, lb := up(C), up(C, C), up(C)
	defer func() {
		for _, x := range []*gpu.Tensor{w, lw, lb} {
			x.Release()
		}
	}()
	start := d.MemStats()
	var heap0, pool0 uint64
	var total int
	began := time.Now()
	for r := 0; r < rounds; r++ {
		xs := []*gpu.Tensor{up(B, L, C), up(1, 7, C), up(B, 1, C)}
		for i := 0; i < calls; i++ {
			x := xs[rng.Intn(len(xs))]
			var y, y2 *gpu.Tensor
			var err error
			switch rng.Intn(8) {
			case 0:
				y, err = ops.RMSNormForward(x, w, nil, 1e-5)
			case 1:
				y, err = ops.LayerNormForward(x, w, lb, 1e-5)
			case 2:
				y, err = ops.Modulate(x, lb, w)
			case 3:
				y, err = ops.LinearForward(x, lw, lb)
			case 4:
				y, err = ops.Activate(x, ops.ActGELUTanh)
			case 5:
				y, err = ops.Copy(x)
			case 6:
				var q *gpu.Tensor
				if q, err = x.Reshape(x.Shape[0], x.Shape[1], H, C/H); err == nil {
					y, err = attention.Dense(q, q, q, attention.Options{})
				}
			case 7:
				y, err = ops.NormThenModulate(ops.KindRMSNorm, x, w, nil, 1e-5, ops.ModulateArgs{Shift: lb, Scale: w, Constant: 1})
				if err == nil {
					y2, err = ops.LinearGateResidual(y, lw, lb, w, x)
				}
			}
			if err != nil {
				t.Fatalf("round %d call %d on %v: %v", r, i, x, err)
			}
			total++
			if i%50 == 49 { // read one back now and then: it must be finite
				v, err := y.Float32()
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range v {
					if f != f {
						t.Fatalf("round %d call %d: NaN in %v", r, i, y)
					}
				}
			}
			y.Release()
			y2.Release()
		}
		for _, x := range xs {
			x.Release()
		}
		if err := d.Sync(); err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		var hs runtime.MemStats
		runtime.ReadMemStats(&hs)
		ms := d.MemStats()
		t.Logf("round %2d (%5d calls, %v): live %d tensors %d B, pool %d buffers %d B, Go heap %d B",
			r, total, time.Since(began).Round(time.Millisecond), ms.LiveTensors, ms.LiveBytes, ms.PoolBuffers, ms.PoolBytes, hs.HeapAlloc)
		if ms.LiveTensors != start.LiveTensors || ms.LiveBytes != start.LiveBytes {
			t.Errorf("round %d: live %d tensors %d B, started at %d tensors %d B: tensors leak", r, ms.LiveTensors, ms.LiveBytes, start.LiveTensors, start.LiveBytes)
		}
		// The first round compiles pipelines and fills the pool; the
		// second sets the level the others must keep.
		if r <= 1 {
			heap0, pool0 = hs.HeapAlloc, ms.PoolBytes
			continue
		}
		if !near(ms.PoolBytes, pool0, 0.25, 0) {
			t.Errorf("round %d: pool %d B, second round %d B", r, ms.PoolBytes, pool0)
		}
		if !near(hs.HeapAlloc, heap0, 0.05, 64<<10) {
			t.Errorf("round %d: Go heap %d B, second round %d B", r, hs.HeapAlloc, heap0)
		}
	}
}

// near reports whether v is within frac of base, or within slack bytes.
func near(v, base uint64, frac float64, slack uint64) bool {
	diff := float64(v) - float64(base)
	if diff < 0 {
		diff = -diff
	}
	return diff <= frac*float64(base) || diff <= float64(slack)
}
