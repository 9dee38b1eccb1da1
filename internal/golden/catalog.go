package golden

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

// Runners of the operator catalog: activations, linear layers, the
// feed-forward network, AdaLayerNormContinuous, rotary embedding and FP8.
func init() {
	Register("activation", actGPU(ops.Activate), actCPU(ref.Activation))
	Register("gated_activation", actGPU(ops.GatedActivation), actCPU(ref.GatedActivation))
	Register("linear", linearGPU, linearCPU)
	Register("feed_forward", feedForwardGPU, feedForwardCPU)
	Register("ada_layer_norm_continuous", adaLNGPU, adaLNCPU)
	Register("rotary", rotaryGPU, rotaryCPU)
	Register("quantize_fp8", quantizeGPU, quantizeCPU)
	Register("linear_fp8", linearFP8GPU, linearFP8CPU)
}

// ys wraps a single output named y.
func ys(y *gpu.Tensor, err error) (map[string]*gpu.Tensor, error) {
	return map[string]*gpu.Tensor{"y": y}, err
}

func refY(y *ref.Tensor, err error) (map[string]*ref.Tensor, error) {
	return map[string]*ref.Tensor{"y": y}, err
}

// inputs returns the named required inputs of a case.
func inputs(c *Case, names ...string) ([]*ref.Tensor, error) {
	out := make([]*ref.Tensor, len(names))
	for i, n := range names {
		t, err := c.Input(n)
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

// actGPU runs an activation kernel named by the case's "fn" attribute.
func actGPU(run func(*gpu.Tensor, ops.Activation) (*gpu.Tensor, error)) GPURunner {
	return func(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
		name, err := c.String("fn", "")
		if err != nil {
			return nil, err
		}
		fn, err := ops.ParseActivation(name)
		if err != nil {
			return nil, err
		}
		return ys(run(in["x"], fn))
	}
}

// actCPU runs the reference of an activation named by the case's "fn" attribute.
func actCPU(run func(*ref.Tensor, string) (*ref.Tensor, error)) CPURunner {
	return func(c *Case) (map[string]*ref.Tensor, error) {
		name, err := c.String("fn", "")
		if err != nil {
			return nil, err
		}
		x, err := c.Input("x")
		if err != nil {
			return nil, err
		}
		return refY(run(x, name))
	}
}

func linearGPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	return ys(ops.LinearForward(in["x"], in["weight"], in["bias"]))
}

func linearCPU(c *Case) (map[string]*ref.Tensor, error) {
	ts, err := inputs(c, "x", "weight")
	if err != nil {
		return nil, err
	}
	return refY(ref.Linear(ts[0], ts[1], c.Inputs["bias"]))
}

func feedForwardGPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	kind, err := c.String("activation_fn", "geglu")
	if err != nil {
		return nil, err
	}
	return ys(ops.FeedForwardForward(in["x"], in["proj_in.weight"], in["proj_in.bias"], in["proj_out.weight"], in["proj_out.bias"], kind))
}

func feedForwardCPU(c *Case) (map[string]*ref.Tensor, error) {
	kind, err := c.String("activation_fn", "geglu")
	if err != nil {
		return nil, err
	}
	ts, err := inputs(c, "x", "proj_in.weight", "proj_out.weight")
	if err != nil {
		return nil, err
	}
	return refY(ref.FeedForward(ts[0], ts[1], c.Inputs["proj_in.bias"], ts[2], c.Inputs["proj_out.bias"], kind))
}

// adaLNAttrs reads eps and norm_type.
func adaLNAttrs(c *Case) (float64, string, error) {
	eps, err := c.Float("eps", 1e-5)
	if err != nil {
		return 0, "", err
	}
	nt, err := c.String("norm_type", "layer_norm")
	if err != nil {
		return 0, "", err
	}
	if nt != "layer_norm" && nt != "rms_norm" {
		return 0, "", fmt.Errorf("attr norm_type: %q is not layer_norm or rms_norm", nt)
	}
	return eps, nt, nil
}

func adaLNGPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	eps, nt, err := adaLNAttrs(c)
	if err != nil {
		return nil, err
	}
	kind := ops.KindLayerNorm
	if nt == "rms_norm" {
		kind = ops.KindRMSNorm
	}
	return ys(ops.AdaLayerNormContinuousForward(in["x"], in["cond"], in["linear.weight"], in["linear.bias"],
		in["norm.weight"], in["norm.bias"], kind, float32(eps)))
}

func adaLNCPU(c *Case) (map[string]*ref.Tensor, error) {
	eps, nt, err := adaLNAttrs(c)
	if err != nil {
		return nil, err
	}
	ts, err := inputs(c, "x", "cond", "linear.weight")
	if err != nil {
		return nil, err
	}
	return refY(ref.AdaLayerNormContinuous(ts[0], ts[1], ts[2], c.Inputs["linear.bias"], c.Inputs["norm.weight"], c.Inputs["norm.bias"], nt, eps))
}

func rotaryGPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	il, err := c.Bool("interleaved", true)
	if err != nil {
		return nil, err
	}
	return ys(ops.ApplyRotaryEmb(in["x"], in["cos"], in["sin"], il))
}

func rotaryCPU(c *Case) (map[string]*ref.Tensor, error) {
	il, err := c.Bool("interleaved", true)
	if err != nil {
		return nil, err
	}
	ts, err := inputs(c, "x", "cos", "sin")
	if err != nil {
		return nil, err
	}
	return refY(ref.Rotary(ts[0], ts[1], ts[2], il))
}

// quantAttrs reads granularity and format.
func quantAttrs(c *Case) (ops.Granularity, dtype.DType, error) {
	gs, err := c.String("granularity", "per_token")
	if err != nil {
		return 0, 0, err
	}
	g, err := ops.ParseGranularity(gs)
	if err != nil {
		return 0, 0, err
	}
	fs, err := c.String("format", "e4m3")
	if err != nil {
		return 0, 0, err
	}
	f, err := dtype.Parse(fs)
	if err != nil || (f != dtype.FP8E4M3 && f != dtype.FP8E5M2) {
		return 0, 0, fmt.Errorf("attr format: %q is not e4m3 or e5m2", fs)
	}
	return g, f, nil
}

func quantizeGPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	g, f, err := quantAttrs(c)
	if err != nil {
		return nil, err
	}
	q, s, err := ops.QuantizeFP8(in["x"], g, f)
	return map[string]*gpu.Tensor{"q": q, "scale": s}, err
}

func quantizeCPU(c *Case) (map[string]*ref.Tensor, error) {
	g, f, err := quantAttrs(c)
	if err != nil {
		return nil, err
	}
	x, err := c.Input("x")
	if err != nil {
		return nil, err
	}
	q, s, err := ref.QuantizeFP8(x, g == ops.PerTensor, f)
	return map[string]*ref.Tensor{"q": q, "scale": s}, err
}

func linearFP8GPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	aq, err := c.String("activation_quant", "per_token")
	if err != nil {
		return nil, err
	}
	return ys(ops.LinearFP8Forward(in["x"], in["weight"], in["weight_scale"], in["bias"], aq))
}

func linearFP8CPU(c *Case) (map[string]*ref.Tensor, error) {
	aq, err := c.String("activation_quant", "per_token")
	if err != nil {
		return nil, err
	}
	if aq != "per_token" && aq != "none" {
		return nil, fmt.Errorf("attr activation_quant: %q is not per_token or none", aq)
	}
	ts, err := inputs(c, "x", "weight", "weight_scale")
	if err != nil {
		return nil, err
	}
	return refY(ref.LinearFP8(ts[0], ts[1], ts[2], c.Inputs["bias"], aq == "per_token"))
}
