package dit

import (
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/golden"
	"github.com/webfuser/webfuser/ops/ref"
)

// The golden runners of dit_block: inputs in.x [B,S,D], in.cond [B,D]
// and the weights by their spec names; output out.y [B,S,D]; attributes
// num_heads (required), mlp_ratio, activation_fn and eps.
func init() {
	golden.Register("dit_block", goldenGPU, goldenCPU)
}

// caseConfig reads a case's attributes for a block of width dim.
func caseConfig(c *golden.Case, dim int) (Config, float64, error) {
	heads, err := c.Int("num_heads", 0)
	if err != nil {
		return Config{}, 0, err
	}
	if heads == 0 {
		return Config{}, 0, errorf("", "attr num_heads is required")
	}
	ratio, err := c.Float("mlp_ratio", DefaultMLPRatio)
	if err != nil {
		return Config{}, 0, err
	}
	act, err := c.String("activation_fn", DefaultActivationFn)
	if err != nil {
		return Config{}, 0, err
	}
	eps, err := c.Float("eps", DefaultEps)
	if err != nil {
		return Config{}, 0, err
	}
	return Config{Dim: dim, NumHeads: heads, MLPRatio: ratio, ActivationFn: act, Eps: float32(eps)}, eps, nil
}

// caseDim returns D from a case's x [B,S,D].
func caseDim(c *golden.Case) (*ref.Tensor, *ref.Tensor, int, error) {
	x, err := c.Input("x")
	if err != nil {
		return nil, nil, 0, err
	}
	cond, err := c.Input("cond")
	if err != nil {
		return nil, nil, 0, err
	}
	if len(x.Shape) != 3 {
		return nil, nil, 0, errorf("x", "shape %v, want [B,S,D]", x.Shape)
	}
	return x, cond, x.Shape[2], nil
}

func goldenGPU(d *ops.Device, c *golden.Case, in map[string]*ops.Tensor) (map[string]*ops.Tensor, error) {
	_, _, dim, err := caseDim(c)
	if err != nil {
		return nil, err
	}
	cfg, _, err := caseConfig(c, dim)
	if err != nil {
		return nil, err
	}
	w := make(map[string]*ops.Tensor, len(in))
	for n, t := range in {
		if n != "x" && n != "cond" {
			w[n] = t
		}
	}
	b, err := New(cfg, w)
	if err != nil {
		return nil, err
	}
	y, err := b.Forward(in["x"], in["cond"])
	return map[string]*ops.Tensor{"y": y}, err
}

func goldenCPU(c *golden.Case) (map[string]*ref.Tensor, error) {
	x, cond, dim, err := caseDim(c)
	if err != nil {
		return nil, err
	}
	cfg, eps, err := caseConfig(c, dim)
	if err != nil {
		return nil, err
	}
	w := make(map[string]*ref.Tensor, len(c.Inputs))
	for n, t := range c.Inputs {
		if n != "x" && n != "cond" {
			w[n] = t
		}
	}
	// Check the weights as the GPU runner does, then compute with the
	// attribute's eps as stored (float64).
	if cfg, err = checkRefWeights(cfg, w); err != nil {
		return nil, err
	}
	y, err := ref.DiTBlock(x, cond, w, ref.DiTConfig{NumHeads: cfg.NumHeads, ActivationFn: cfg.ActivationFn, Eps: eps})
	return map[string]*ref.Tensor{"y": y}, err
}
