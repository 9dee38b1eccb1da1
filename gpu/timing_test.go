package gpu

import (
	"errors"
	"testing"
	"time"

	"github.com/webfuser/webfuser/internal/dtype"
)

func TestProfile(t *testing.T) {
	d := testDevice(t)
	if !d.Features.Timestamps {
		t.Skip("no timestamp queries on this device")
	}
	add, err := d.Pipeline(Kernel{Key: "test/add", Source: addOne, Bindings: []Access{Read, ReadWrite, Uniform}})
	if err != nil {
		t.Fatal(err)
	}
	add2, err := d.Pipeline(Kernel{Key: "test2/add/x", Source: addOne, Bindings: []Access{Read, ReadWrite, Uniform}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 4096
	x, _ := d.Upload(dtype.F32, []int{n}, make([]float32, n))
	y, _ := d.NewTensor(dtype.F32, n)
	z, _ := d.NewTensor(dtype.F32, n)
	defer x.Release()
	defer y.Release()
	defer z.Release()
	for _, c := range []struct {
		name  string
		calls int // dispatches of alternating kernels
	}{
		{"none", 0},
		{"three", 3},
		{"past one query set", profileSetQueries/2 + 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			rows, err := d.Profile(func() error {
				for i := 0; i < c.calls; i++ {
					p, in, out := add, x, y
					if i%2 == 1 {
						p, in, out = add2, y, z
					}
					if err := d.Dispatch(p, Grid{n / 64, 1, 1}, NewParams().U32(n).F32(1).Bytes(), in, out); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != c.calls {
				t.Fatalf("%d rows for %d dispatches", len(rows), c.calls)
			}
			zero, total := 0, time.Duration(0)
			for i, r := range rows {
				want := "test/add"
				if i%2 == 1 {
					want = "test2/add/x"
				}
				if r.Key != want || r.Groups != (Grid{n / 64, 1, 1}) || r.Bytes != 2*4*n {
					t.Fatalf("row %d = %+v, want key %s, grid %d, %d bytes", i, r, want, n/64, 2*4*n)
				}
				if r.Duration < 0 {
					t.Fatalf("row %d: negative duration %v", i, r.Duration)
				}
				if r.Duration == 0 {
					zero++
				}
				total += r.Duration
			}
			// A coarse timestamp clock (SwiftShader under Dawn) can give a
			// short pass the same start and end, but not most of them.
			if c.calls > 0 && (total <= 0 || 2*zero > len(rows)) {
				t.Errorf("%d of %d dispatches have no duration (total %v)", zero, len(rows), total)
			}
			if c.calls >= 2 {
				// The profiled work ran: z = (x + 1) + 1.
				v, err := z.Float32()
				if err != nil {
					t.Fatal(err)
				}
				if v[0] != 2 || v[n-1] != 2 {
					t.Fatalf("z = %g ... %g, want 2", v[0], v[n-1])
				}
			}
		})
	}
	// After a profile, batches are plain again: Measure still works.
	if _, _, err := d.Measure(1, 1, func() error {
		return d.Dispatch(add, Grid{n / 64, 1, 1}, NewParams().U32(n).F32(1).Bytes(), x, y)
	}); err != nil {
		t.Fatalf("measure after profile: %v", err)
	}
}

func TestProfileErrors(t *testing.T) {
	d := testDevice(t)
	if !d.Features.Timestamps {
		t.Skip("no timestamp queries on this device")
	}
	boom := errors.New("boom")
	if _, err := d.Profile(func() error { return boom }); err != boom {
		t.Errorf("record's error: got %v", err)
	}
	if _, err := d.Profile(func() error {
		_, err := d.Profile(func() error { return nil })
		return err
	}); err == nil {
		t.Error("a nested Profile was accepted")
	}
	d.Features.Timestamps = false
	_, err := d.Profile(func() error { return nil })
	d.Features.Timestamps = true
	if err != ErrNoTimestamps {
		t.Errorf("without timestamps: got %v, want ErrNoTimestamps", err)
	}
}
