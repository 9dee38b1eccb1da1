package golden

import (
	"fmt"

	"github.com/webfuser/webfuser/models/dit"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

// The golden runners of dit_block: inputs in.x [B,S,D], in.cond [B,D]
// and the weights by their spec names; output out.y [B,S,D]; attributes
// num_heads (required), mlp_ratio, activation_fn and eps.
func init() {
	Register("dit_block", ditGPU, ditCPU)
}

// ditCaseConfig reads a case's attributes for a block of width dim.
func ditCaseConfig(c *Case, dim int) (dit.Config, float64, error) {
	heads, err := c.Int("num_heads", 0)
	if err != nil {
		return dit.Config{}, 0, err
	}
	if heads == 0 {
		return dit.Config{}, 0, fmt.Errorf("golden: attr num_heads is required")
	}
	ratio, err := c.Float("mlp_ratio", dit.DefaultMLPRatio)
	if err != nil {
		return dit.Config{}, 0, err
	}
	act, err := c.String("activation_fn", dit.DefaultActivationFn)
	if err != nil {
		return dit.Config{}, 0, err
	}
	eps, err := c.Float("eps", dit.DefaultEps)
	if err != nil {
		return dit.Config{}, 0, err
	}
	return dit.Config{Dim: dim, NumHeads: heads, MLPRatio: ratio, ActivationFn: act, Eps: float32(eps)}, eps, nil
}

// ditCaseDim returns D from a case's x [B,S,D].
func ditCaseDim(c *Case) (*ref.Tensor, *ref.Tensor, int, error) {
	x, err := c.Input("x")
	if err != nil {
		return nil, nil, 0, err
	}
	cond, err := c.Input("cond")
	if err != nil {
		return nil, nil, 0, err
	}
	if len(x.Shape) != 3 {
		return nil, nil, 0, fmt.Errorf("golden: in.x shape %v, want [B,S,D]", x.Shape)
	}
	return x, cond, x.Shape[2], nil
}

func ditGPU(d *ops.Device, c *Case, in map[string]*ops.Tensor) (map[string]*ops.Tensor, error) {
	_, _, dim, err := ditCaseDim(c)
	if err != nil {
		return nil, err
	}
	cfg, _, err := ditCaseConfig(c, dim)
	if err != nil {
		return nil, err
	}
	w := make(map[string]*ops.Tensor, len(in))
	for n, t := range in {
		if n != "x" && n != "cond" {
			w[n] = t
		}
	}
	b, err := dit.New(cfg, w)
	if err != nil {
		return nil, err
	}
	y, err := b.Forward(in["x"], in["cond"])
	return map[string]*ops.Tensor{"y": y}, err
}

func ditCPU(c *Case) (map[string]*ref.Tensor, error) {
	x, cond, dim, err := ditCaseDim(c)
	if err != nil {
		return nil, err
	}
	cfg, eps, err := ditCaseConfig(c, dim)
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
	if cfg, err = cfg.CheckHostWeights(w); err != nil {
		return nil, err
	}
	y, err := ref.DiTBlock(x, cond, w, ref.DiTConfig{NumHeads: cfg.NumHeads, ActivationFn: cfg.ActivationFn, Eps: eps})
	return map[string]*ref.Tensor{"y": y}, err
}

// DiTReference computes a DiT block on the CPU with the float64
// reference (ref.DiTBlock), after checking the weights as dit.New does.
func DiTReference(cfg dit.Config, x, cond *ref.Tensor, w map[string]*ref.Tensor) (*ref.Tensor, error) {
	cfg, err := cfg.CheckHostWeights(w)
	if err != nil {
		return nil, err
	}
	return ref.DiTBlock(x, cond, w, ref.DiTConfig{NumHeads: cfg.NumHeads, ActivationFn: cfg.ActivationFn, Eps: float64(cfg.Eps)})
}
