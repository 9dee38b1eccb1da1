package attention

import (
	"math"
	"math/rand"
	"os"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/gpu/dtype"
	"github.com/webfuser/webfuser/ops/ref"
)

var sharedDevice *gpu.Device

func testDevice(t testing.TB) *gpu.Device {
	t.Helper()
	if sharedDevice == nil {
		if os.Getenv("XDG_RUNTIME_DIR") == "" {
			os.Setenv("XDG_RUNTIME_DIR", os.TempDir())
		}
		d, err := gpu.Open(gpu.Options{})
		if err != nil {
			t.Fatalf("open device: %v", err)
		}
		sharedDevice = d
	}
	return sharedDevice
}

func randTensor(rng *rand.Rand, dt dtype.DType, shape []int, std float64) *ref.Tensor {
	t := ref.New(dt, shape...)
	for i := range t.Data {
		t.Data[i] = dtype.Round(dt, std*rng.NormFloat64())
	}
	return t
}

func upload(t testing.TB, d *gpu.Device, r *ref.Tensor) *gpu.Tensor {
	t.Helper()
	g, err := d.Upload(r.DType, r.Shape, r.Float32())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// tolFor is the spec's tolerance for ops with softmax and products.
func tolFor(dt dtype.DType) (float64, float64) {
	switch dt {
	case dtype.F16:
		return 1e-2, 1e-2
	case dtype.BF16:
		return 3e-2, 3e-2
	}
	return 2e-3, 2e-3
}

func expectClose(t testing.TB, got *gpu.Tensor, want *ref.Tensor) {
	t.Helper()
	if got.DType != want.DType || len(got.Shape) != len(want.Shape) {
		t.Fatalf("got %v, want %v%v", got, want.DType, want.Shape)
	}
	for i := range got.Shape {
		if got.Shape[i] != want.Shape[i] {
			t.Fatalf("got %v, want %v%v", got, want.DType, want.Shape)
		}
	}
	v, err := got.Float32()
	if err != nil {
		t.Fatal(err)
	}
	atol, rtol := tolFor(want.DType)
	bad := 0
	for i, w := range want.Data {
		g := float64(v[i])
		if !(math.Abs(g-w) <= atol+rtol*math.Abs(w)) {
			if bad < 5 {
				t.Errorf("element %d: got %g, want %g", i, g, w)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d elements outside atol %g rtol %g", bad, len(want.Data), atol, rtol)
	}
}

// toLayout converts a BSND reference tensor to layout l.
func toLayout(r *ref.Tensor, l Layout) *ref.Tensor {
	if l == BNSD {
		return ref.SwapAxes12(r)
	}
	return r
}
