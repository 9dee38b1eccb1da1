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
// modulations N(0, 0.3²).
func RandomWeights(cfg Config, dt ops.DType, rng *rand.Rand) map[string]*ops.HostTensor {
	w := map[string]*ops.HostTensor{}
	for n, s := range cfg.ParamShapes() {
		std, mean := 0.1, 0.0
		switch {
		case strings.Contains(n, "norm"):
			std, mean = 0.2, 1
		case strings.HasSuffix(n, "modulation"):
			std = 0.3
		case len(s) == 2:
			std = 1 / math.Sqrt(float64(s[1]))
		}
		t := ops.NewHostTensor(dt, s...)
		for i := range t.Data {
			t.Data[i] = mean + std*rng.NormFloat64()
		}
		w[n] = t.Round(dt)
	}
	return w
}
