package dit

import (
	"math"
	"os"
	"testing"

	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

var sharedDevice *ops.Device

// testDevice opens the default adapter (WEBFUSER_ADAPTER may force one) once per test binary.
func testDevice(t testing.TB) *ops.Device {
	t.Helper()
	if sharedDevice == nil {
		if os.Getenv("XDG_RUNTIME_DIR") == "" {
			os.Setenv("XDG_RUNTIME_DIR", os.TempDir())
		}
		d, err := ops.OpenDevice(ops.DeviceOptions{})
		if err != nil {
			t.Fatalf("open device: %v", err)
		}
		sharedDevice = d
	}
	return sharedDevice
}

// tolFor returns the spec's dit_block tolerance (a matrix op) for a dtype.
func tolFor(dt ops.DType) (atol, rtol float64) {
	switch dt {
	case ops.F16:
		return 1e-2, 1e-2
	case ops.BF16:
		return 3e-2, 3e-2
	}
	return 2e-3, 2e-3
}

// expectClose downloads got and compares it with want elementwise.
func expectClose(t testing.TB, got *ops.Tensor, want *ref.Tensor) {
	t.Helper()
	g, err := ops.Download(got)
	if err != nil {
		t.Fatal(err)
	}
	if g.DType != want.DType || len(g.Shape) != len(want.Shape) || g.Numel() != want.Numel() {
		t.Fatalf("got %v%v, want %v%v", g.DType, g.Shape, want.DType, want.Shape)
	}
	for i := range g.Shape {
		if g.Shape[i] != want.Shape[i] {
			t.Fatalf("shape %v, want %v", g.Shape, want.Shape)
		}
	}
	atol, rtol := tolFor(want.DType)
	worst := 0.0
	for i, w := range want.Data {
		d := math.Abs(g.Data[i] - w)
		if !(d <= atol+rtol*math.Abs(w)) {
			t.Fatalf("y[%d] = %v, want %v (atol %g, rtol %g)", i, g.Data[i], w, atol, rtol)
		}
		worst = math.Max(worst, d)
	}
	t.Logf("max abs error %.3g over %d elements", worst, len(want.Data))
}
