package golden

import (
	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

func init() {
	Register("rms_norm", normGPU(ops.KindRMSNorm, ops.RMSNormEps), normCPU(ops.KindRMSNorm, ops.RMSNormEps))
	Register("layer_norm", normGPU(ops.KindLayerNorm, ops.LayerNormEps), normCPU(ops.KindLayerNorm, ops.LayerNormEps))
	Register("norm_infer", normInferGPU, normInferCPU)
	Register("fused_scale_shift", scaleShiftGPU, scaleShiftCPU)
}

func normGPU(kind ops.NormKind, defEps float64) GPURunner {
	return func(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
		eps, err := c.Float("eps", defEps)
		if err != nil {
			return nil, err
		}
		var y *gpu.Tensor
		if kind == ops.KindRMSNorm {
			y, err = ops.RMSNormForward(in["x"], in["weight"], in["bias"], float32(eps))
		} else {
			y, err = ops.LayerNormForward(in["x"], in["weight"], in["bias"], float32(eps))
		}
		return map[string]*gpu.Tensor{"y": y}, err
	}
}

func normCPU(kind ops.NormKind, defEps float64) CPURunner {
	return func(c *Case) (map[string]*ref.Tensor, error) {
		eps, err := c.Float("eps", defEps)
		if err != nil {
			return nil, err
		}
		x, err := c.Input("x")
		if err != nil {
			return nil, err
		}
		var y *ref.Tensor
		if kind == ops.KindRMSNorm {
			y, err = ref.RMSNorm(x, c.Inputs["weight"], c.Inputs["bias"], eps)
		} else {
			y, err = ref.LayerNorm(x, c.Inputs["weight"], c.Inputs["bias"], eps)
		}
		return map[string]*ref.Tensor{"y": y}, err
	}
}

// normInferAttrs reads norm_infer's eps (default TeleFuser's LayerNorm
// eps, 1e-6) and is_rms_norm (default false, as norm_infer's).
func normInferAttrs(c *Case) (float64, bool, error) {
	eps, err := c.Float("eps", ops.LayerNormEps)
	if err != nil {
		return 0, false, err
	}
	rms, err := c.Bool("is_rms_norm", false)
	return eps, rms, err
}

func normInferGPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	eps, rms, err := normInferAttrs(c)
	if err != nil {
		return nil, err
	}
	kind := ops.KindLayerNorm
	if rms {
		kind = ops.KindRMSNorm
	}
	y, err := ops.NormInfer(kind, in["x"], in["weight"], in["bias"], float32(eps))
	return map[string]*gpu.Tensor{"y": y}, err
}

func normInferCPU(c *Case) (map[string]*ref.Tensor, error) {
	eps, rms, err := normInferAttrs(c)
	if err != nil {
		return nil, err
	}
	x, err := c.Input("x")
	if err != nil {
		return nil, err
	}
	y, err := ref.NormInfer(x, c.Inputs["weight"], c.Inputs["bias"], eps, rms)
	return map[string]*ref.Tensor{"y": y}, err
}

func scaleShiftGPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	k, err := c.Float("scale_constant", 1)
	if err != nil {
		return nil, err
	}
	y, err := ops.FusedScaleShift(in["x"], in["scale"], in["shift"], float32(k))
	return map[string]*gpu.Tensor{"y": y}, err
}

func scaleShiftCPU(c *Case) (map[string]*ref.Tensor, error) {
	k, err := c.Float("scale_constant", 1)
	if err != nil {
		return nil, err
	}
	var ts [3]*ref.Tensor
	for i, n := range []string{"x", "scale", "shift"} {
		if ts[i], err = c.Input(n); err != nil {
			return nil, err
		}
	}
	y, err := ref.FusedScaleShift(ts[0], ts[1], ts[2], k)
	return map[string]*ref.Tensor{"y": y}, err
}
