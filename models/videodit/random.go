package videodit

import (
	"math/rand"

	"github.com/webfuser/webfuser/models/wan"
	"github.com/webfuser/webfuser/ops"
)

// RandomWeights returns a full set of parameters for cfg in dtype dt,
// drawn from rng in the order of the sorted names, for tests and for
// timing without trained weights, as wan.RandomInit gives them: linear
// weights N(0, 1/fan_in), biases N(0, 0.1²), norm weights near 1,
// modulations N(0, 0.3²).
func RandomWeights(cfg Config, dt ops.DType, rng *rand.Rand) map[string]*ops.HostTensor {
	return ops.RandomParams(cfg.ParamShapes(), dt, rng, wan.RandomInit)
}
