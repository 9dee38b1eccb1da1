package host

import (
	"math"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
)

// TestRandomParamsSeeded: the same seed gives the same parameters (the
// draws follow the sorted names, not the map's order), each with the
// mean and spread init asked for, rounded to the dtype.
func TestRandomParamsSeeded(t *testing.T) {
	shapes := map[string][]int{"a": {64, 64}, "b": {4096}, "c": {3}, "d": {2, 2}, "e": {}}
	init := func(n string, s []int) (float64, float64) {
		if n == "b" {
			return 0.5, 1
		}
		return 0.1, 0
	}
	w1 := RandomParams(shapes, dtype.BF16, rand.New(rand.NewSource(3)), init)
	for i := 0; i < 5; i++ {
		w2 := RandomParams(shapes, dtype.BF16, rand.New(rand.NewSource(3)), init)
		for n, x := range w1 {
			for j, v := range x.Data {
				if w2[n].Data[j] != v {
					t.Fatalf("run %d: %s[%d] %g, first run %g", i, n, j, w2[n].Data[j], v)
				}
			}
		}
	}
	b := w1["b"]
	var sum, sq float64
	for _, v := range b.Data {
		if dtype.Round(dtype.BF16, v) != v {
			t.Fatalf("%g is not a bf16 value", v)
		}
		sum += v
		sq += v * v
	}
	n := float64(len(b.Data))
	mean, std := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n))
	if math.Abs(mean-1) > 0.05 || math.Abs(std-0.5) > 0.05 {
		t.Errorf("b: mean %.3f std %.3f, want 1 and 0.5", mean, std)
	}
	if len(w1["e"].Data) != 1 || w1["a"].DType != dtype.BF16 {
		t.Errorf("scalar %v, dtype %v", w1["e"].Data, w1["a"].DType)
	}
}
