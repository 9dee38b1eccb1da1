package gpu

import (
	"os"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
)

// testDevice opens the default adapter once per test binary.
var shared *Device

func testDevice(t *testing.T) *Device {
	t.Helper()
	if shared == nil {
		d, err := Open(Options{})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		shared = d
	}
	return shared
}

func TestMain(m *testing.M) {
	if os.Getenv("XDG_RUNTIME_DIR") == "" {
		os.Setenv("XDG_RUNTIME_DIR", os.TempDir())
	}
	os.Exit(m.Run())
}

const addOne = `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
struct P { n: u32, k: f32 }
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
	if (g.x < p.n) { y[g.x] = x[g.x] + p.k; }
}`

func TestDispatchRoundTrip(t *testing.T) {
	d := testDevice(t)
	k := Kernel{Key: "test/add", Source: addOne, Bindings: []Access{Read, ReadWrite, Uniform}}
	p, err := d.Pipeline(k)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 63, 64, 1000} {
		in := make([]float32, n)
		for i := range in {
			in[i] = float32(i)
		}
		x, _ := d.Upload(dtype.F32, []int{n}, in)
		y, err := d.NewGuarded(dtype.F32, n)
		if err != nil {
			t.Fatal(err)
		}
		params := NewParams().U32(uint32(n)).F32(0.5).Bytes()
		if err := d.Dispatch(p, d.Groups((n+63)/64), params, x, y); err != nil {
			t.Fatal(err)
		}
		out, err := y.Float32()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range out {
			if v != float32(i)+0.5 {
				t.Fatalf("n=%d: y[%d]=%g", n, i, v)
			}
		}
		if ok, err := y.GuardsIntact(); err != nil || !ok {
			t.Fatalf("n=%d: guards broken (%v)", n, err)
		}
		x.Release()
	}
	if d.CachedPipelines() < 1 {
		t.Fatal("pipeline not cached")
	}
}

func TestGuardsCatchOverrun(t *testing.T) {
	d := testDevice(t)
	// A kernel that writes one element past the end must be caught.
	k := Kernel{Key: "test/overrun", Source: strings.Replace(addOne, "if (g.x < p.n)", "if (g.x <= p.n)", 1), Bindings: []Access{Read, ReadWrite, Uniform}}
	p, err := d.Pipeline(k)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := d.Upload(dtype.F32, []int{8}, make([]float32, 8))
	xl, _ := d.Upload(dtype.F32, []int{16}, make([]float32, 16))
	_ = x
	y, _ := d.NewGuarded(dtype.F32, 8)
	if err := d.Dispatch(p, Grid{1, 1, 1}, NewParams().U32(8).F32(1).Bytes(), xl, y); err != nil {
		t.Fatal(err)
	}
	if ok, _ := y.GuardsIntact(); ok {
		t.Fatal("an out-of-bounds write went unnoticed")
	}
}

func TestCompileErrorIsReturned(t *testing.T) {
	d := testDevice(t)
	_, err := d.Pipeline(Kernel{Key: "test/bad", Source: "fn main( {", Bindings: nil})
	if err == nil || !strings.Contains(err.Error(), "test/bad") {
		t.Fatalf("want a compile error naming the kernel, got %v", err)
	}
}

func TestMeasure(t *testing.T) {
	d := testDevice(t)
	p, _ := d.Pipeline(Kernel{Key: "test/add", Source: addOne, Bindings: []Access{Read, ReadWrite, Uniform}})
	x, _ := d.NewTensor(dtype.F32, 4096)
	y, _ := d.NewTensor(dtype.F32, 4096)
	dur, _, err := d.Measure(3, 2, func() error {
		return d.Dispatch(p, Grid{64, 1, 1}, NewParams().U32(4096).F32(1).Bytes(), x, y)
	})
	if err != nil || dur <= 0 {
		t.Fatalf("measure: %v %v", dur, err)
	}
}

func TestSizeClass(t *testing.T) {
	for _, c := range []struct{ in, want uint64 }{{1, 256}, {256, 256}, {257, 320}, {1000, 1024}, {1025, 1280}, {1 << 20, 1 << 20}} {
		if got := sizeClass(c.in); got != c.want {
			t.Errorf("sizeClass(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}
