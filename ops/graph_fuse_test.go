package ops

import (
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/internal/gputest"
)

// narrows is a recording for mergeNarrows: nine chunks of x's last
// dimension (packs of 4), then of z's: two of 12 columns, one of 8 (a
// different width: not merged with them), two of 3 at odd starts (packs
// of 1).
func narrows(x, z *Tensor) ([]*Tensor, error) {
	type cut struct {
		t             *Tensor
		start, length int
	}
	var cuts []cut
	for j := 0; j < 9; j++ {
		cuts = append(cuts, cut{x, 4 * j, 4})
	}
	cuts = append(cuts, cut{z, 0, 12}, cut{z, 12, 12}, cut{z, 40, 8}, cut{z, 1, 3}, cut{z, 5, 3})
	var outs []*Tensor
	for _, c := range cuts {
		y, err := Narrow(c.t, c.start, c.length)
		if err != nil {
			for _, t := range outs {
				t.Release()
			}
			return nil, err
		}
		outs = append(outs, y)
	}
	return outs, nil
}

func TestGraphMergesNarrows(t *testing.T) {
	d := testDevice(t)
	gputest.Guard(t, d)
	exact := tol{}
	for _, dt := range []DType{F32, BF16, F16} {
		t.Run(dt.String(), func(t *testing.T) {
			rng := rand.New(rand.NewSource(9))
			x := upload(t, d, randTensor(rng, dt, []int{2, 3, 36}, 1, 0))
			z := upload(t, d, randTensor(rng, dt, []int{2, 48}, 1, 0))
			defer x.Release()
			defer z.Release()
			g, outs, err := Record(d, []*Tensor{x, z}, func() ([]*Tensor, error) { return narrows(x, z) })
			if err != nil {
				t.Fatal(err)
			}
			defer g.Release()
			for _, t := range outs {
				t.Release()
			}
			// x's nine chunks in launches of at most MaxStorageBuffers-1
			// outputs, then z's: 12+12, 8, 3+3.
			per := int(d.Limits.MaxStorageBuffers) - 1
			if st := g.Stats(); st.Recorded != 14 || st.Kernels != (9+per-1)/per+3 {
				t.Errorf("stats %+v: want 14 recorded launches, %d replayed", st, (9+per-1)/per+3)
			}
			x2 := upload(t, d, randTensor(rng, dt, []int{2, 3, 36}, 1, 0))
			z2 := upload(t, d, randTensor(rng, dt, []int{2, 48}, 1, 0))
			defer x2.Release()
			defer z2.Release()
			got, err := g.Replay(x2, z2)
			if err != nil {
				t.Fatal(err)
			}
			want, err := narrows(x2, z2)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				sameValues(t, got[i], want[i], exact)
				want[i].Release()
			}
		})
	}
}
