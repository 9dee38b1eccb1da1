package videodit

import (
	"math"
	"math/rand"
	"strings"

	"github.com/webfuser/webfuser/ops"
)

// RandomWeights returns a full set of parameters for cfg in dtype dt,
// drawn from rng, for tests and for timing without trained weights:
// linear weights N(0, 1/fan_in), biases N(0, 0.1²), norm weights near 1,
// modulations N(0, 0.3²), drawn in the order of the sorted names.
func RandomWeights(cfg Config, dt ops.DType, rng *rand.Rand) map[string]*ops.HostTensor {
	return ops.RandomParams(cfg.ParamShapes(), dt, rng, func(n string, s []int) (std, mean float64) {
		switch {
		case strings.Contains(n, "norm"):
			return 0.2, 1
		case strings.HasSuffix(n, "modulation"):
			return 0.3, 0
		case len(s) == 2:
			return 1 / math.Sqrt(float64(s[1])), 0
		}
		return 0.1, 0
	})
}
