// Package gputest holds what the GPU tests share: one device per test
// binary, random reference tensors, uploads and the elementwise tolerance
// check of the spec, and compile-only builds of a kernel (CompileOnly). It
// imports gpu, internal/kernel and ops/ref only, so the tests of ops
// itself can use it.
package gputest

import (
	"math"
	"math/rand"
	"os"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/host"
	"github.com/webfuser/webfuser/ops/ref"
)

var shared *gpu.Device

// Device opens the default adapter (WEBFUSER_ADAPTER may force one) once
// per test binary.
func Device(t testing.TB) *gpu.Device {
	t.Helper()
	if shared == nil {
		if os.Getenv("XDG_RUNTIME_DIR") == "" {
			os.Setenv("XDG_RUNTIME_DIR", os.TempDir())
		}
		d, err := gpu.Open(gpu.Options{})
		if err != nil {
			t.Fatalf("open device: %v", err)
		}
		shared = d
	}
	return shared
}

// Rand returns values mean + std*N(0,1) rounded to dt.
func Rand(rng *rand.Rand, dt dtype.DType, shape []int, std, mean float64) *ref.Tensor {
	return host.Randn(rng, dt, shape, std, mean)
}

// Upload copies a reference tensor to the device; nil stays nil.
func Upload(t testing.TB, d *gpu.Device, r *ref.Tensor) *gpu.Tensor {
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

// Tol is an elementwise tolerance (dtype.Tolerance).
type Tol = dtype.Tolerance

// For returns the spec's default tolerance for an output dtype
// (dtype.DefaultTolerance); products selects the bound of operators
// with matrix products or softmax.
func For(dt dtype.DType, products bool) Tol { return dtype.DefaultTolerance(dt, products) }

// ExpectClose downloads got and checks its dtype, shape and every element
// against want.
func ExpectClose(t testing.TB, got *gpu.Tensor, want *ref.Tensor, tl Tol) {
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
	bad := 0
	for i, w := range want.Data {
		g := float64(v[i])
		if !tl.Within(g, w) {
			if bad < 5 {
				t.Errorf("element %d: got %g, want %g", i, g, w)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d elements outside atol %g rtol %g", bad, len(want.Data), tl.Atol, tl.Rtol)
	}
}

// Guard makes every kernel output on d a guarded tensor for the rest of
// the test and, when the test ends, fails it if any kernel wrote past the
// end of one (gpu.Device.GuardOutputs and CheckGuards).
func Guard(t testing.TB, d *gpu.Device) {
	t.Helper()
	d.GuardOutputs(true)
	t.Cleanup(func() {
		err := d.CheckGuards()
		d.GuardOutputs(false)
		if err != nil {
			t.Error(err)
		}
	})
}

// Live fails t unless every value of y is finite and some value is not
// zero: what a benchmark-only probe kernel must give to show that the
// work it keeps reached its output.
func Live(t testing.TB, y []float32) {
	t.Helper()
	nonzero := false
	for i, v := range y {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("output %d = %v", i, v)
		}
		nonzero = nonzero || v != 0
	}
	if !nonzero {
		t.Fatal("every output is zero")
	}
}
