package wan

import (
	"math"
	"strings"
)

// RandomInit gives the normal distribution (std, mean) that random
// parameters of a Wan-style model draw from, by name and shape: norm
// weights N(1, 0.2²), linear weights N(0, 1/fan_in), modulations
// N(0, 0.3²), the rest (biases) N(0, 0.1²). Tests and timing without
// trained weights use it with ops.RandomParams.
func RandomInit(name string, shape []int) (std, mean float64) {
	switch {
	case strings.Contains(name, "norm"):
		return 0.2, 1
	case strings.HasSuffix(name, "modulation"):
		return 0.3, 0
	case len(shape) == 2:
		return 1 / math.Sqrt(float64(shape[1])), 0
	}
	return 0.1, 0
}
