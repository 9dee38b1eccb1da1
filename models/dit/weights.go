package dit

import (
	"math"
	"math/rand"

	"github.com/webfuser/webfuser/ops"
)

// RandomWeights returns a full set of weights for cfg in dtype dt, drawn
// from rng: norm weights near 1, linear weights N(0, 1/fan_in), biases
// N(0, 0.1²), and adaln scaled so that shifts, scales and gates come out
// of order 0.5 and both residual branches matter.
func RandomWeights(cfg Config, dt ops.DType, rng *rand.Rand) (map[string]*ops.HostTensor, error) {
	shapes, err := cfg.WeightShapes()
	if err != nil {
		return nil, err
	}
	w := make(map[string]*ops.HostTensor, len(shapes))
	for _, n := range WeightNames() {
		std, mean := weightInit(n, shapes[n])
		w[n] = ops.RandomHost(rng, dt, shapes[n], std, mean)
	}
	return w, nil
}

// weightInit returns the standard deviation and mean RandomWeights draws
// weight n of shape from.
func weightInit(n string, shape []int) (std, mean float64) {
	switch {
	case n == "norm1.weight" || n == "norm2.weight":
		return 0.2, 1
	case n == "adaln.weight":
		return 0.5 / math.Sqrt(float64(shape[1])), 0
	case len(shape) == 2:
		return 1 / math.Sqrt(float64(shape[1])), 0
	}
	return 0.1, 0
}

// RandomInputs returns x [batch,seq,D] drawn from N(0, 1) and cond
// [batch,D] drawn from N(0, 1), in dtype dt. It allocates what batch and
// seq ask for: check them with cfg.HostElements first.
func RandomInputs(cfg Config, dt ops.DType, batch, seq int, rng *rand.Rand) (x, cond *ops.HostTensor) {
	return ops.RandomHost(rng, dt, []int{batch, seq, cfg.Dim}, 1, 0), ops.RandomHost(rng, dt, []int{batch, cfg.Dim}, 1, 0)
}

// UploadWeights copies named host tensors to d. On an error the
// tensors already uploaded are released.
func UploadWeights(d *ops.Device, w map[string]*ops.HostTensor) (map[string]*ops.Tensor, error) {
	out := make(map[string]*ops.Tensor, len(w))
	for n, r := range w {
		t, err := ops.Upload(d, r)
		if err != nil {
			ReleaseWeights(out)
			return nil, errorf(n, "upload: %v", err)
		}
		out[n] = t
	}
	return out, nil
}

// ReleaseWeights releases every tensor of a weight map.
func ReleaseWeights(w map[string]*ops.Tensor) {
	for _, t := range w {
		t.Release()
	}
}

// CheckHostWeights resolves cfg's defaults and checks host weights as
// New checks device ones, returning the resolved configuration.
func (cfg Config) CheckHostWeights(w map[string]*ops.HostTensor) (Config, error) {
	cfg, _, _, err := cfg.resolve()
	if err != nil {
		return cfg, err
	}
	info := make(map[string]weightInfo, len(w))
	for n, t := range w {
		if t != nil {
			info[n] = weightInfo{t.Shape, t.DType}
		}
	}
	_, err = cfg.checkWeights(info)
	return cfg, err
}
