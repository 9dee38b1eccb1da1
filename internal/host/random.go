package host

import (
	"math/rand"
	"sort"

	"github.com/webfuser/webfuser/internal/dtype"
)

// Randn returns a tensor of shape drawn from N(mean, std²) by rng, each
// value rounded to dt.
func Randn(rng *rand.Rand, dt dtype.DType, shape []int, std, mean float64) *Tensor {
	t := New(dt, shape...)
	for i := range t.Data {
		t.Data[i] = dtype.Round(dt, mean+std*rng.NormFloat64())
	}
	return t
}

// RandomParams draws one tensor per entry of shapes with Randn, in the
// order of the sorted names (so that a seed gives the same parameters
// every run), each from N(mean, std²) as init gives them for its name
// and shape.
func RandomParams(shapes map[string][]int, dt dtype.DType, rng *rand.Rand, init func(name string, shape []int) (std, mean float64)) map[string]*Tensor {
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	w := make(map[string]*Tensor, len(shapes))
	for _, n := range names {
		std, mean := init(n, shapes[n])
		w[n] = Randn(rng, dt, shapes[n], std, mean)
	}
	return w
}
