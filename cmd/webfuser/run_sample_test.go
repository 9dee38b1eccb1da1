package main

import (
	"fmt"
	"math/rand"
	"reflect"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/golden"
	"github.com/webfuser/webfuser/models/dit"
	"github.com/webfuser/webfuser/ops/ref"
)

func TestSampleRows(t *testing.T) {
	for _, c := range []struct {
		total, n int
		want     []int
	}{
		{10, 3, []int{0, 4, 9}},
		{10, 1, []int{0}},
		{10, 0, nil},
		{3, 8, []int{0, 1, 2}},
		{1, 2, []int{0}},
		{8192, 4, []int{0, 2730, 5460, 8191}},
	} {
		if got := sampleRows(c.total, c.n); !reflect.DeepEqual(got, c.want) {
			t.Errorf("sampleRows(%d, %d) = %v, want %v", c.total, c.n, got, c.want)
		}
	}
}

// TestReferenceRowsMatchFullReference checks that the sampled check
// computes exactly the rows of the full float64 reference, in every
// dtype, for plain and gated feed-forwards, with and without batches.
func TestReferenceRowsMatchFullReference(t *testing.T) {
	for _, c := range []struct {
		dt         dtype.DType
		act        string
		batch, seq int
		dim, heads int
		sample     int
		noBias     bool
	}{
		{dtype.F32, "gelu-approximate", 2, 16, 32, 2, 5, false},
		{dtype.BF16, "gelu-approximate", 1, 24, 32, 4, 3, false},
		{dtype.F16, "swiglu", 3, 8, 16, 2, 7, false},
		{dtype.F32, "geglu", 1, 12, 16, 1, 12, true},
	} {
		t.Run(fmt.Sprintf("%v_%s_B%d", c.dt, c.act, c.batch), func(t *testing.T) {
			cfg := dit.Config{Dim: c.dim, NumHeads: c.heads, MLPRatio: 2, ActivationFn: c.act, Eps: dit.DefaultEps}
			rng := rand.New(rand.NewSource(3))
			w, err := dit.RandomWeights(cfg, c.dt, rng)
			if err != nil {
				t.Fatal(err)
			}
			if c.noBias {
				for _, n := range []string{"adaln.bias", "qkv.bias", "proj.bias", "ffn.proj_in.bias", "ffn.proj_out.bias"} {
					delete(w, n)
				}
			}
			x, cond := dit.RandomInputs(cfg, c.dt, c.batch, c.seq, rng)
			full, err := golden.DiTReference(cfg, x, cond, w)
			if err != nil {
				t.Fatal(err)
			}
			rows := sampleRows(c.batch*c.seq, c.sample)
			got, err := referenceRows(cfg, x, cond, w, rows)
			if err != nil {
				t.Fatal(err)
			}
			if got.DType != full.DType || len(got.Data) != len(rows)*c.dim {
				t.Fatalf("got %v%v, want %v rows of %d", got.DType, got.Shape, len(rows), c.dim)
			}
			for i, r := range rows {
				for j := 0; j < c.dim; j++ {
					if g, w := got.Data[i*c.dim+j], full.Data[r*c.dim+j]; g != w {
						t.Fatalf("row %d col %d: %v, full reference %v", r, j, g, w)
					}
				}
			}
		})
	}
	bad := ref.New(dtype.F32, 2, 2)
	if _, err := referenceRows(dit.NewConfig(8, 2), bad, bad, nil, []int{0}); err == nil {
		t.Error("an x of the wrong width gave no error")
	}
}
