package ops

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

// testDevice opens the default adapter (WEBFUSER_ADAPTER may force one) once per test binary.
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

// randTensor returns values mean + std*N(0,1) rounded to dt.
func randTensor(rng *rand.Rand, dt dtype.DType, shape []int, std, mean float64) *ref.Tensor {
	t := ref.New(dt, shape...)
	for i := range t.Data {
		t.Data[i] = dtype.Round(dt, mean+std*rng.NormFloat64())
	}
	return t
}

// upload copies a reference tensor to the device; nil stays nil.
func upload(t testing.TB, d *gpu.Device, r *ref.Tensor) *gpu.Tensor {
	t.Helper()
	if r == nil {
		return nil
	}
	g, err := d.Upload(r.DType, r.Shape, r.Float32())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

type tol struct{ atol, rtol float64 }

// tolFor returns the spec's default tolerance for a storage dtype.
func tolFor(dt dtype.DType) tol {
	switch dt {
	case dtype.F16:
		return tol{1e-2, 1e-2}
	case dtype.BF16:
		return tol{3e-2, 3e-2}
	}
	return tol{1e-4, 1e-4}
}

// expectClose downloads got and compares it with want element by element.
func expectClose(t testing.TB, got *gpu.Tensor, want *ref.Tensor, tl tol) {
	t.Helper()
	if got.DType != want.DType {
		t.Fatalf("dtype %v, want %v", got.DType, want.DType)
	}
	if len(got.Shape) != len(want.Shape) {
		t.Fatalf("shape %v, want %v", got.Shape, want.Shape)
	}
	for i := range got.Shape {
		if got.Shape[i] != want.Shape[i] {
			t.Fatalf("shape %v, want %v", got.Shape, want.Shape)
		}
	}
	v, err := got.Float32()
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i, w := range want.Data {
		g := float64(v[i])
		if !(math.Abs(g-w) <= tl.atol+tl.rtol*math.Abs(w)) {
			if bad < 5 {
				t.Errorf("element %d: got %g, want %g", i, g, w)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d elements outside atol %g rtol %g", bad, len(want.Data), tl.atol, tl.rtol)
	}
}
