package golden

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

// Runners of the operators beyond TeleFuser's docs (the spec's
// "Operators beyond TeleFuser's docs"): the per-token modulation
// select family, merge_attn_states, the per-block int8 quantiser, the
// NF4 linear layer (with plain or compressed statistics) and the grouped
// MoE, with bf16 or FP8 experts.
func init() {
	Register("scale_shift_gate_select", selectGPU(false, false), selectCPU(false, false))
	Register("layer_norm_scale_shift_gate_select", selectGPU(true, false), selectCPU(true, false))
	Register("residual_layer_norm_scale_shift_gate_select", selectGPU(true, true), selectCPU(true, true))
	Register("merge_attn_states", mergeGPU, mergeCPU)
	Register("quantize_int8_per_block", quantInt8GPU, quantInt8CPU)
	Register("linear_nf4", linearNF4GPU, linearNF4CPU)
	Register("linear_nf4_compressed", linearNF4CompressedGPU, linearNF4CompressedCPU)
	Register("moe", moeGPU, moeCPU)
	Register("moe_fp8", moeFP8GPU, moeFP8CPU)
}

// selectNames are the inputs every gate-select case has.
var selectNames = []string{"x", "scale0", "shift0", "gate0", "scale1", "shift1", "gate1", "index"}

// selectGPU runs one of the gate-select operators: norm adds the
// LayerNorm (weight and bias optional, attr eps, default 1e-6), resid the
// gated residual (inputs residual and residual_gate, output residual_out).
func selectGPU(norm, resid bool) GPURunner {
	return func(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
		if _, err := inputs(c, selectNames...); err != nil {
			return nil, err
		}
		eps, err := c.Float("eps", 1e-6)
		if err != nil {
			return nil, err
		}
		s := ops.GateSelect{Scale0: in["scale0"], Shift0: in["shift0"], Gate0: in["gate0"],
			Scale1: in["scale1"], Shift1: in["shift1"], Gate1: in["gate1"], Index: in["index"]}
		out := map[string]*gpu.Tensor{}
		switch {
		case resid:
			out["y"], out["residual_out"], out["gate"], err = ops.ResidualLayerNormScaleShiftGateSelect(in["x"], in["residual"], in["residual_gate"],
				in["weight"], in["bias"], float32(eps), s)
		case norm:
			out["y"], out["gate"], err = ops.LayerNormScaleShiftGateSelect(in["x"], in["weight"], in["bias"], float32(eps), s)
		default:
			out["y"], out["gate"], err = ops.ScaleShiftGateSelect(in["x"], s)
		}
		return out, err
	}
}

func selectCPU(norm, resid bool) CPURunner {
	return func(c *Case) (map[string]*ref.Tensor, error) {
		ts, err := inputs(c, selectNames...)
		if err != nil {
			return nil, err
		}
		eps, err := c.Float("eps", 1e-6)
		if err != nil {
			return nil, err
		}
		s := ref.GateSelectSets{Scale0: ts[1], Shift0: ts[2], Gate0: ts[3], Scale1: ts[4], Shift1: ts[5], Gate1: ts[6], Index: ts[7]}
		out := map[string]*ref.Tensor{}
		switch {
		case resid:
			rs, err := inputs(c, "residual", "residual_gate")
			if err != nil {
				return nil, err
			}
			out["y"], out["residual_out"], out["gate"], err = ref.ResidualLayerNormScaleShiftGateSelect(ts[0], rs[0], rs[1],
				c.Inputs["weight"], c.Inputs["bias"], eps, s)
			return out, err
		case norm:
			out["y"], out["gate"], err = ref.LayerNormScaleShiftGateSelect(ts[0], c.Inputs["weight"], c.Inputs["bias"], eps, s)
		default:
			out["y"], out["gate"], err = ref.ScaleShiftGateSelect(ts[0], s)
		}
		return out, err
	}
}

var mergeNames = []string{"prev_out", "prev_lse", "suff_out", "suff_lse"}

func mergeGPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	if _, err := inputs(c, mergeNames...); err != nil {
		return nil, err
	}
	o, l, err := ops.MergeAttnStates(in["prev_out"], in["prev_lse"], in["suff_out"], in["suff_lse"])
	return map[string]*gpu.Tensor{"out": o, "lse": l}, err
}

func mergeCPU(c *Case) (map[string]*ref.Tensor, error) {
	ts, err := inputs(c, mergeNames...)
	if err != nil {
		return nil, err
	}
	o, l, err := ref.MergeAttnStates(ts[0], ts[1], ts[2], ts[3])
	return map[string]*ref.Tensor{"out": o, "lse": l}, err
}

// int8Attrs reads block_size (default 128), sm_scale (default 1),
// smooth_k (default false) and tensor_layout ("NHD", default, or "HND").
func int8Attrs(c *Case) (ops.Int8BlockOptions, error) {
	r := c.Read()
	o := ops.Int8BlockOptions{Block: r.Int("block_size", 128), Scale: float32(r.Float("sm_scale", 1))}
	layout := r.String("tensor_layout", "NHD")
	if r.Err != nil {
		return o, r.Err
	}
	if o.SmoothMean, r.Err = c.Bool("smooth_k", false); r.Err != nil {
		return o, r.Err
	}
	switch layout {
	case "NHD":
	case "HND":
		o.HeadFirst = true
	default:
		return o, fmt.Errorf("attr tensor_layout: %q is not NHD or HND", layout)
	}
	return o, nil
}

// quantInt8GPU returns the codes as an i32 tensor, the dtype the golden
// files store them in (the format has no i8).
func quantInt8GPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	o, err := int8Attrs(c)
	if err != nil {
		return nil, err
	}
	if _, err := c.Input("x"); err != nil {
		return nil, err
	}
	q, s, err := ops.QuantizeInt8PerBlock(in["x"], o)
	if err != nil {
		return nil, err
	}
	return codesAsI32(d, q, s)
}

// codesAsI32 returns int8 codes q (released here) as the I32 output q of
// a golden case, beside their scales s (released on an error).
func codesAsI32(d *gpu.Device, q, s *gpu.Tensor) (map[string]*gpu.Tensor, error) {
	defer q.Release()
	codes, err := ops.Int8Values(q)
	if err != nil {
		s.Release()
		return nil, err
	}
	v := make([]float32, len(codes))
	for i, b := range codes {
		v[i] = float32(b)
	}
	qi, err := d.Upload(dtype.I32, q.Shape, v)
	if err != nil {
		s.Release()
		return nil, err
	}
	return map[string]*gpu.Tensor{"q": qi, "scale": s}, nil
}

func quantInt8CPU(c *Case) (map[string]*ref.Tensor, error) {
	o, err := int8Attrs(c)
	if err != nil {
		return nil, err
	}
	x, err := c.Input("x")
	if err != nil {
		return nil, err
	}
	q, s, err := ref.QuantizeInt8PerBlock(x, o.Block, float64(o.Scale), o.SmoothMean, o.HeadFirst)
	return map[string]*ref.Tensor{"q": q, "scale": s}, err
}

// nf4Attrs reads out_features (required) and blocksize (default 64).
func nf4Attrs(c *Case) (n, bs int, err error) {
	r := c.Read()
	n, bs = r.Int("out_features", 0), r.Int("blocksize", ops.NF4BlockSize)
	if r.Err == nil && n < 1 {
		r.Err = fmt.Errorf("attr out_features: %d, want a positive count", n)
	}
	return n, bs, r.Err
}

func linearNF4GPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	n, bs, err := nf4Attrs(c)
	if err != nil {
		return nil, err
	}
	if _, err := inputs(c, "x", "weight", "absmax"); err != nil {
		return nil, err
	}
	return ys(ops.LinearNF4Forward(in["x"], in["weight"], in["absmax"], in["bias"], n, bs))
}

func linearNF4CPU(c *Case) (map[string]*ref.Tensor, error) {
	n, bs, err := nf4Attrs(c)
	if err != nil {
		return nil, err
	}
	ts, err := inputs(c, "x", "weight", "absmax")
	if err != nil {
		return nil, err
	}
	return refY(ref.LinearNF4(ts[0], ts[1], ts[2], c.Inputs["bias"], n, bs))
}

// nf4StatsNames are the inputs of a linear_nf4_compressed case beside x:
// the packed codes and the compressed statistics (attr offset).
var nf4StatsNames = []string{"x", "weight", "absmax_codes", "absmax_scale", "absmax_code"}

func linearNF4CompressedGPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	n, bs, err := nf4Attrs(c)
	if err != nil {
		return nil, err
	}
	off, err := c.Float("offset", 0)
	if err != nil {
		return nil, err
	}
	if _, err := inputs(c, nf4StatsNames...); err != nil {
		return nil, err
	}
	st := ops.NF4Stats{Codes: in["absmax_codes"], Scale: in["absmax_scale"], Code: in["absmax_code"], Offset: float32(off)}
	return ys(ops.LinearNF4CompressedForward(in["x"], in["weight"], st, in["bias"], n, bs))
}

func linearNF4CompressedCPU(c *Case) (map[string]*ref.Tensor, error) {
	n, bs, err := nf4Attrs(c)
	if err != nil {
		return nil, err
	}
	off, err := c.Float("offset", 0)
	if err != nil {
		return nil, err
	}
	ts, err := inputs(c, nf4StatsNames...)
	if err != nil {
		return nil, err
	}
	a, err := ref.DequantizeNF4Stats(ts[2], ts[3], ts[4], float64(float32(off)))
	if err != nil {
		return nil, err
	}
	return refY(ref.LinearNF4(ts[0], ts[1], a, c.Inputs["bias"], n, bs))
}

// moeAttrs reads top_k (required), num_expert_groups (1), top_k_groups
// (all), routing_scale (1) and activation (silu).
func moeAttrs(c *Case) (ops.MoEConfig, error) {
	r := c.Read()
	cfg := ops.MoEConfig{TopK: r.Int("top_k", 0), Groups: r.Int("num_expert_groups", 1), TopKGroups: r.Int("top_k_groups", 0),
		RoutingScale: float32(r.Float("routing_scale", 1))}
	act := r.String("activation", "silu")
	if r.Err != nil {
		return cfg, r.Err
	}
	var err error
	cfg.Activation, err = ops.ParseActivation(act)
	return cfg, err
}

var moeNames = []string{"x", "logits", "w1", "w2", "w3"}

func moeGPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	cfg, err := moeAttrs(c)
	if err != nil {
		return nil, err
	}
	if _, err := inputs(c, moeNames...); err != nil {
		return nil, err
	}
	return ys(ops.MoEForward(in["x"], in["logits"], in["correction_bias"], in["w1"], in["w2"], in["w3"], cfg))
}

func moeCPU(c *Case) (map[string]*ref.Tensor, error) {
	ts, routing, act, err := moeRefCase(c, moeNames)
	if err != nil {
		return nil, err
	}
	return refY(ref.MoE(ts[0], ts[1], c.Inputs["correction_bias"], ts[2], ts[3], ts[4], routing, act))
}

// moeRefCase reads a MoE case for ops/ref: the inputs names, the routing
// and the activation's name.
func moeRefCase(c *Case, names []string) ([]*ref.Tensor, ref.MoERouting, string, error) {
	cfg, err := moeAttrs(c)
	if err != nil {
		return nil, ref.MoERouting{}, "", err
	}
	ts, err := inputs(c, names...)
	if err != nil {
		return nil, ref.MoERouting{}, "", err
	}
	act := cfg.Activation.String()
	if cfg.Activation == ops.ActNone {
		act = "silu"
	}
	return ts, ref.MoERouting{TopK: cfg.TopK, Groups: cfg.Groups, TopKGroups: cfg.TopKGroups, RoutingScale: float64(cfg.RoutingScale)}, act, nil
}

// moeFP8Names are the inputs of a moe_fp8 case: the E4M3 experts and
// their per-channel scales beside the router's inputs.
var moeFP8Names = []string{"x", "logits", "w1", "w2", "w3", "s1", "s2", "s3"}

func moeFP8GPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	cfg, err := moeAttrs(c)
	if err != nil {
		return nil, err
	}
	if _, err := inputs(c, moeFP8Names...); err != nil {
		return nil, err
	}
	e := ops.ExpertsFP8{W1: in["w1"], W2: in["w2"], W3: in["w3"], S1: in["s1"], S2: in["s2"], S3: in["s3"]}
	return ys(ops.MoEForwardFP8(in["x"], in["logits"], in["correction_bias"], e, cfg))
}

func moeFP8CPU(c *Case) (map[string]*ref.Tensor, error) {
	ts, routing, act, err := moeRefCase(c, moeFP8Names)
	if err != nil {
		return nil, err
	}
	return refY(ref.MoEFP8(ts[0], ts[1], c.Inputs["correction_bias"], ts[2], ts[3], ts[4], ts[5], ts[6], ts[7], routing, act))
}
