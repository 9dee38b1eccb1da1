package gpu

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webfuser/webfuser/internal/dtype"
)

// addPipeline compiles the add-a-constant kernel of gpu_test.go on d.
func addPipeline(t *testing.T, d *Device) *Pipeline {
	t.Helper()
	p, err := d.Pipeline(Kernel{Key: "test/add", Source: addOne, Bindings: []Access{Read, ReadWrite, Uniform}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantIs(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: got %v, want an error wrapping %q", what, err, kind)
	}
}

// TestReleasedTensorEveryUse: every use of a released tensor, and of a
// view of one, is ErrReleased; releasing a view ends only the view.
func TestReleasedTensorEveryUse(t *testing.T) {
	d := testDevice(t)
	p := addPipeline(t, d)
	params := NewParams().U32(4).F32(1).Bytes()
	x, _ := d.Upload(dtype.F32, []int{4}, []float32{1, 2, 3, 4})
	y, _ := d.NewTensor(dtype.F32, 4)
	defer y.Release()
	v, err := x.Reshape(2, 2)
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := x.Reshape(4)
	v2.Release() // ends v2 only
	if _, err := x.Float32(); err != nil {
		t.Fatalf("releasing a view ended its parent: %v", err)
	}
	if _, err := v.Float32(); err != nil {
		t.Fatalf("releasing a view ended a sibling: %v", err)
	}
	wantIs(t, "released view", func() error { _, err := v2.Float32(); return err }(), ErrReleased)

	x.Release()
	x.Release() // idempotent
	v.Release()
	for _, tt := range []*Tensor{x, v} {
		_, err := tt.Bytes()
		wantIs(t, "Bytes "+tt.String(), err, ErrReleased)
		_, err = tt.Float32()
		wantIs(t, "Float32", err, ErrReleased)
		wantIs(t, "Write", tt.Write(make([]byte, 16)), ErrReleased)
		_, err = tt.Reshape(4)
		wantIs(t, "Reshape", err, ErrReleased)
		wantIs(t, "Dispatch", d.Dispatch(p, Grid{1, 1, 1}, params, tt, y), ErrReleased)
		if !tt.Released() {
			t.Error("Released() is false")
		}
	}
	err = d.Dispatch(p, Grid{1, 1, 1}, params, x, y)
	if len(err.Error()) > 120 {
		t.Errorf("the error for a released operand is %d characters: %v", len(err.Error()), err)
	}
	// A view made before the release of its parent fails as its parent.
	z, _ := d.NewTensor(dtype.F32, 4)
	zv, _ := z.Reshape(1, 4)
	z.Release()
	_, err = zv.Float32()
	wantIs(t, "view of a released tensor", err, ErrReleased)
	if _, err := y.Float32(); err != nil {
		t.Fatalf("an unrelated tensor: %v", err)
	}
}

// TestZeroTensor: a Tensor{} made by hand is refused, never a nil-pointer panic.
func TestZeroTensor(t *testing.T) {
	d := testDevice(t)
	p := addPipeline(t, d)
	y, _ := d.NewTensor(dtype.F32, 4)
	defer y.Release()
	for _, z := range []*Tensor{{}, {Shape: []int{4}, DType: dtype.F32}, nil} {
		_, err := z.Bytes()
		wantIs(t, "Bytes", err, ErrReleased)
		wantIs(t, "Write", z.Write([]byte{1, 2, 3, 4}), ErrReleased)
		_, err = z.Reshape(1)
		wantIs(t, "Reshape", err, ErrReleased)
		_, err = z.GuardsIntact()
		wantIs(t, "GuardsIntact", err, ErrReleased)
		z.Release()
		if !z.Released() || z.Device() == nil || z.Device().Limits.MaxBindingSize == 0 {
			t.Errorf("zero tensor: Released %v, Device %v", z.Released(), z.Device())
		}
		if z != nil {
			err = d.Dispatch(p, Grid{1, 1, 1}, NewParams().U32(4).F32(1).Bytes(), z, y)
			wantIs(t, "Dispatch", err, ErrReleased)
		}
	}
	_, err := (&Tensor{}).Device().NewTensor(dtype.F32, 4)
	wantIs(t, "the placeholder device", err, ErrClosed)
}

// TestConcurrentRelease: 16 goroutines releasing and using one tensor
// (3 of 6 runs crashed before the device lock covered the check).
func TestConcurrentRelease(t *testing.T) {
	d := testDevice(t)
	for run := 0; run < 20; run++ {
		x, _ := d.Upload(dtype.F32, []int{64}, make([]float32, 64))
		v, _ := x.Reshape(8, 8)
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				var err error
				switch g % 4 {
				case 0:
					x.Release()
				case 1:
					_, err = v.Float32()
				case 2:
					_, err = x.Reshape(64)
				case 3:
					err = x.Write(make([]byte, 256))
				}
				if err != nil && !errors.Is(err, ErrReleased) {
					t.Errorf("goroutine %d: %v", g, err)
				}
			}(g)
		}
		wg.Wait()
		if !x.Released() || !v.Released() {
			t.Fatal("tensor not released")
		}
	}
}

// TestCloseEndsEverything: after Close every call is ErrClosed, never a
// panic; Close is idempotent and Open starts over.
func TestCloseEndsEverything(t *testing.T) {
	d, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := addPipeline(t, d)
	x, _ := d.Upload(dtype.F32, []int{4}, []float32{1, 2, 3, 4})
	y, _ := d.NewTensor(dtype.F32, 4)
	g, _ := d.NewGuarded(dtype.F32, 4)
	v, _ := x.Reshape(2, 2)
	// Leave work recorded and unsubmitted, and a tensor in the pool.
	if err := d.Dispatch(p, Grid{1, 1, 1}, NewParams().U32(4).F32(1).Bytes(), x, y); err != nil {
		t.Fatal(err)
	}
	w, _ := d.NewTensor(dtype.F32, 16)
	w.Release()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	wantIs(t, "Err", d.Err(), ErrClosed)
	_, err = d.NewTensor(dtype.F32, 4)
	wantIs(t, "NewTensor", err, ErrClosed)
	_, err = d.Upload(dtype.F32, []int{1}, []float32{1})
	wantIs(t, "Upload", err, ErrClosed)
	_, err = d.NewGuarded(dtype.F32, 4)
	wantIs(t, "NewGuarded", err, ErrClosed)
	_, err = d.NewOutput(dtype.F32, 4)
	wantIs(t, "NewOutput", err, ErrClosed)
	_, err = d.Pipeline(Kernel{Key: "test/other", Source: addOne, Bindings: []Access{Read, ReadWrite, Uniform}})
	wantIs(t, "Pipeline", err, ErrClosed)
	wantIs(t, "Dispatch", d.Dispatch(p, Grid{1, 1, 1}, nil, x, y), ErrClosed)
	wantIs(t, "Flush", d.Flush(), ErrClosed)
	wantIs(t, "Sync", d.Sync(), ErrClosed)
	_, _, err = d.Measure(1, 1, func() error { return nil })
	wantIs(t, "Measure", err, ErrClosed)
	_, err = d.Profile(func() error { return nil })
	if err != ErrNoTimestamps {
		wantIs(t, "Profile", err, ErrClosed)
	}
	for _, tt := range []*Tensor{x, y, g, v} {
		_, err = tt.Float32()
		wantIs(t, "Float32 "+tt.String(), err, ErrClosed)
		wantIs(t, "Write", tt.Write(make([]byte, 4)), ErrClosed)
		if !tt.Released() {
			t.Error("a tensor of a closed device is not Released")
		}
		tt.Release()
	}
	_, err = g.GuardsIntact()
	wantIs(t, "GuardsIntact", err, ErrClosed)
	d.TrimPool()
	if d.Raw() != nil {
		t.Error("Raw after Close")
	}
	if ms := d.MemStats(); ms.LiveTensors != 0 || ms.PoolBuffers != 0 {
		t.Errorf("closed device holds %+v", ms)
	}

	d2, err := Open(Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	defer d2.Close()
	z, _ := d2.Upload(dtype.F32, []int{2}, []float32{5, 6})
	if got, err := z.Float32(); err != nil || got[1] != 6 {
		t.Fatalf("the new device: %v %v", got, err)
	}
}

// TestReadTimeout: a download that outlasts the read timeout returns
// ErrDeviceLost instead of waiting for ever, and the device stays lost.
func TestReadTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("spins the device for a while")
	}
	d, err := Open(Options{ReadTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// A kernel that loops long enough on any device to outlast 1 ms.
	src := `
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
struct P { n: u32 }
@group(0) @binding(1) var<uniform> p: P;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
	var acc = 0.0;
	for (var i = 0u; i < p.n; i++) { acc = acc * 0.999 + f32(i & 7u); }
	y[g.x] = acc;
}`
	p, err := d.Pipeline(Kernel{Key: "test/spin", Source: src, Bindings: []Access{ReadWrite, Uniform}})
	if err != nil {
		t.Fatal(err)
	}
	y, _ := d.NewTensor(dtype.F32, 64*64)
	for i := 0; i < 4; i++ {
		if err := d.Dispatch(p, Grid{64, 1, 1}, NewParams().U32(200000).Bytes(), y); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	_, err = y.Float32()
	wantIs(t, "download past the timeout", err, ErrDeviceLost)
	if !strings.Contains(err.Error(), "no result after") || time.Since(start) > 30*time.Second {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
	_, err = d.NewTensor(dtype.F32, 4)
	wantIs(t, "later call", err, ErrDeviceLost)
}

// TestNilDevice: the methods a caller may reach with the nil of a failed
// Open return errors instead of panicking.
func TestNilDevice(t *testing.T) {
	var d *Device
	_, err := d.NewTensor(dtype.F32, 1)
	wantIs(t, "NewTensor", err, ErrClosed)
	_, err = d.Upload(dtype.F32, []int{1}, []float32{1})
	wantIs(t, "Upload", err, ErrClosed)
	_, err = d.NewOutput(dtype.F32, 1)
	wantIs(t, "NewOutput", err, ErrClosed)
	_, err = d.NewGuarded(dtype.F32, 1)
	wantIs(t, "NewGuarded", err, ErrClosed)
	wantIs(t, "Flush", d.Flush(), ErrClosed)
	wantIs(t, "Sync", d.Sync(), ErrClosed)
	wantIs(t, "Err", d.Err(), ErrClosed)
	wantIs(t, "CheckGuards", d.CheckGuards(), ErrClosed)
	if d.Dispatch(nil, Grid{1, 1, 1}, nil) == nil {
		t.Error("Dispatch on no device")
	}
	d.TrimPool()
	d.GuardOutputs(true)
	if d.Close() != nil || d.Raw() != nil || d.MemStats() != (MemStats{}) {
		t.Error("nil device")
	}
}
