package gpu

import (
	"errors"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
)

// TestPreparedEncode encodes one prepared dispatch (y = x + k) three
// times in one pass and checks the result, the guard, and the refusals.
func TestPreparedEncode(t *testing.T) {
	d := testDevice(t)
	p, err := d.Pipeline(Kernel{Key: "test/add", Source: addOne, Bindings: []Access{Read, ReadWrite, Uniform}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	in := make([]float32, n)
	for i := range in {
		in[i] = float32(i)
	}
	x, _ := d.Upload(dtype.F32, []int{n}, in)
	defer x.Release()
	y, err := d.NewGuarded(dtype.F32, n)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Release()
	x2, err := x.ViewAs(dtype.F32, 2, n/2) // a view with another shape binds the same buffer
	if err != nil {
		t.Fatal(err)
	}
	params := NewParams().U32(n).F32(0.5).Bytes()
	pr, err := d.Prepare(p, d.Groups((n+63)/64), params, x2, y)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Encode([]*Prepared{pr, pr, pr}); err != nil {
		t.Fatal(err)
	}
	got, err := y.Float32()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != float32(i)+0.5 {
			t.Fatalf("y[%d] = %g, want %g", i, v, float32(i)+0.5)
		}
	}
	if ok, err := y.GuardsIntact(); err != nil || !ok {
		t.Fatalf("guards intact %v, %v", ok, err)
	}
	if _, err := x.ViewAs(dtype.F32, n+64); err == nil || !strings.Contains(err.Error(), "needs") {
		t.Errorf("a view past the buffer: %v", err)
	}
	if _, err := d.Prepare(p, d.Groups(2), params, x); err == nil || !strings.Contains(err.Error(), "got 1 tensors") {
		t.Errorf("one tensor for two bindings: %v", err)
	}
	x.Release()
	if err := d.Encode([]*Prepared{pr}); !errors.Is(err, ErrReleased) {
		t.Errorf("encode after its input was released: %v, want ErrReleased", err)
	}
	pr.Release()
	pr.Release() // idempotent
	if err := d.Encode([]*Prepared{pr}); err == nil || !strings.Contains(err.Error(), "was released") {
		t.Errorf("encode of a released Prepared: %v", err)
	}
}
