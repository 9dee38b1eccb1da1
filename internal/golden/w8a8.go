package golden

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

// Runners of the W8A8 linear (issue 13, testdata/golden_w8a8.py):
// quantize_int8 (in.w, out.q int8 codes as I32, out.scale f32) and
// linear_w8a8 (in.x, in.wq codes as I32, in.wscale, optional in.bias,
// in.gate with in.residual, attr activation).
func init() {
	Register("quantize_int8", quantizeInt8GPU, quantizeInt8CPU)
	Register("linear_w8a8", linearW8A8GPU, linearW8A8CPU)
}

func quantizeInt8GPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	if _, err := c.Input("w"); err != nil {
		return nil, err
	}
	q, s, err := ops.QuantizeInt8(in["w"])
	if err != nil {
		return nil, err
	}
	return codesAsI32(d, q, s)
}

func quantizeInt8CPU(c *Case) (map[string]*ref.Tensor, error) {
	w, err := c.Input("w")
	if err != nil {
		return nil, err
	}
	if len(w.Shape) != 2 {
		return nil, fmt.Errorf("in.w: shape %v, want [N, K]", w.Shape)
	}
	q, s, err := ref.QuantizeInt8Rows(w)
	if err != nil {
		return nil, err
	}
	qi := ref.New(dtype.I32, q.Shape...)
	copy(qi.Data, q.Data)
	return map[string]*ref.Tensor{"q": qi, "scale": s}, nil
}

// w8a8Codes checks that in.wq holds int8 codes ([N, K], each in
// [-128, 127]) and returns them as the u8 bytes ops.LinearW8A8 reads.
func w8a8Codes(c *Case) ([]byte, error) {
	wq, err := c.Input("wq")
	if err != nil {
		return nil, err
	}
	if len(wq.Shape) != 2 {
		return nil, fmt.Errorf("in.wq: shape %v, want [N, K]", wq.Shape)
	}
	b := make([]byte, len(wq.Data))
	for i, v := range wq.Data {
		if v != float64(int8(v)) {
			return nil, fmt.Errorf("in.wq: element %d is %v, not an int8 code", i, v)
		}
		b[i] = byte(int8(v))
	}
	return b, nil
}

// w8a8Epilogue reads the activation attribute ("" for none) and whether
// the case has a gate and residual (both or neither).
func w8a8Epilogue(c *Case) (act string, gr bool, err error) {
	if act, err = c.String("activation", ""); err != nil {
		return "", false, err
	}
	_, g := c.Inputs["gate"]
	_, r := c.Inputs["residual"]
	if g != r {
		return "", false, fmt.Errorf("in.gate and in.residual: give both or neither")
	}
	if g && act != "" {
		return "", false, fmt.Errorf("attr activation: %q with a gate and residual; the epilogue takes one or the other", act)
	}
	return act, g, nil
}

func linearW8A8GPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	act, gr, err := w8a8Epilogue(c)
	if err != nil {
		return nil, err
	}
	codes, err := w8a8Codes(c)
	if err != nil {
		return nil, err
	}
	if _, err := inputs(c, "x", "wscale"); err != nil {
		return nil, err
	}
	wq, err := d.UploadBytes(dtype.U8, in["wq"].Shape, codes)
	if err != nil {
		return nil, err
	}
	defer wq.Release()
	x, ws, b := in["x"], in["wscale"], in["bias"]
	switch {
	case gr:
		return ys(ops.LinearW8A8GateResidual(x, wq, ws, b, in["gate"], in["residual"]))
	case act != "":
		fn, err := ops.ParseActivation(act)
		if err != nil {
			return nil, err
		}
		return ys(ops.LinearW8A8Act(x, wq, ws, b, fn))
	}
	return ys(ops.LinearW8A8(x, wq, ws, b))
}

func linearW8A8CPU(c *Case) (map[string]*ref.Tensor, error) {
	act, gr, err := w8a8Epilogue(c)
	if err != nil {
		return nil, err
	}
	if _, err := w8a8Codes(c); err != nil {
		return nil, err
	}
	ts, err := inputs(c, "x", "wq", "wscale")
	if err != nil {
		return nil, err
	}
	b := c.Inputs["bias"]
	switch {
	case gr:
		return refY(ref.LinearW8A8GateResidual(ts[0], ts[1], ts[2], b, c.Inputs["gate"], c.Inputs["residual"]))
	case act != "":
		return refY(ref.LinearW8A8Act(ts[0], ts[1], ts[2], b, act))
	}
	return refY(ref.LinearW8A8(ts[0], ts[1], ts[2], b))
}
