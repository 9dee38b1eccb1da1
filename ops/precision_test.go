package ops

import (
	"errors"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
	"github.com/webfuser/webfuser/ops/ref"
)

// TestLinearPrecision checks the exported precision setting: f16
// products on 16-bit storage launch the f16 kernel and stay within the
// f16 bound against ops/ref; f32 storage and unknown precisions are
// refused with errors that name the rule; exact launches no f16 kernel.
func TestLinearPrecision(t *testing.T) {
	d := testDevice(t)
	needF16(t, d)
	s := mnk{130, 136, 256} // large enough for a Blocked tile
	for _, tc := range []struct {
		dt      dtype.DType
		p       Precision
		wantF16 bool
		wantErr bool
	}{
		{dtype.BF16, PrecisionF16Products, true, false},
		{dtype.F16, PrecisionF16Products, true, false},
		{dtype.BF16, PrecisionExact, false, false},
		{dtype.F32, PrecisionF16Products, false, true},
		{dtype.F16, Precision(7), false, true},
	} {
		t.Run(tc.dt.String()+"/"+tc.p.String(), func(t *testing.T) {
			x, w, b := goldenLinear(3, tc.dt, s, true)
			want, err := ref.Linear(x, w, b)
			if err != nil {
				t.Fatal(err)
			}
			gputest.Guard(t, d)
			l, err := NewLinear(upload(t, d, w), upload(t, d, b))
			if err != nil {
				t.Fatal(err)
			}
			l.Precision = tc.p
			y := new(struct{ err error })
			launched, err := kernel.Capture(d, func() error {
				out, err := l.Forward(upload(t, d, x))
				if err == nil {
					expectClose(t, out, want, f16MathTol(tc.dt))
				}
				y.err = err
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantErr {
				if y.err == nil || !errors.Is(y.err, ErrInvalid) {
					t.Fatalf("got %v, want an ErrInvalid", y.err)
				}
				return
			}
			if y.err != nil {
				t.Fatal(y.err)
			}
			f16 := false
			for _, k := range launched {
				f16 = f16 || k.F16
			}
			// f16 products apply where the launch policy picks a Blocked
			// tile (on CPU drivers it picks Simple tiles: exact there).
			blocked := launch.MatmulTile(d, s.m, s.n, s.k, 4).Kind == launch.Blocked
			if f16 != (tc.wantF16 && blocked) {
				t.Fatalf("f16 kernel launched: %v, want %v (Blocked tile: %v)", f16, tc.wantF16 && blocked, blocked)
			}
		})
	}
}
