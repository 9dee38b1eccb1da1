package ops

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// newElementwise starts a program over wgsl/elementwise.wgsl; the body is
// the WGSL run for item i and the uniform block starts with "n: u32".
func newElementwise(d *gpu.Device, name string, vec int, body string, files ...string) *program {
	pr := newProgram(d, name, vec, append(files, "elementwise")...)
	pr.vars["BODY"] = body
	pr.uniform = []string{"n: u32"}
	return pr
}

// launch compiles pr and dispatches one invocation per item; params must
// begin with the item count n.
func launch(pr *program, n int, params *gpu.Params, args ...*gpu.Tensor) error {
	pipe, err := pr.pipeline()
	if err != nil {
		return err
	}
	d := pr.dev
	return d.Dispatch(pipe, d.Groups((n+255)/256), params.Bytes(), args...)
}

// rndScalar returns a WGSL function name(v: f32) -> f32 that rounds to dt
// and back, as storing and reloading an intermediate would.
func rndScalar(name string, dt dtype.DType) string {
	switch dt {
	case dtype.F16:
		return fmt.Sprintf("fn %s(v: f32) -> f32 { return f16_to_f32(f32_to_f16(v)); }\n", name)
	case dtype.BF16:
		return fmt.Sprintf("fn %s(v: f32) -> f32 { return bf16_to_f32(f32_to_bf16(v)); }\n", name)
	}
	return fmt.Sprintf("fn %s(v: f32) -> f32 { return v; }\n", name)
}

// lanes returns WGSL for a pack whose lanes are f applied to each lane of
// the pack expression v ("%s" in f marks the lane).
func lanes(vec int, f, v string) string {
	if vec == 1 {
		return fmt.Sprintf(f, v)
	}
	return fmt.Sprintf("P(%s, %s, %s, %s)", fmt.Sprintf(f, v+".x"), fmt.Sprintf(f, v+".y"),
		fmt.Sprintf(f, v+".z"), fmt.Sprintf(f, v+".w"))
}

// packWidth returns 4 when every n is a multiple of 4, else 1.
func packWidth(n ...int) int {
	for _, v := range n {
		if v%4 != 0 {
			return 1
		}
	}
	return 4
}

// allocOutput allocates every output of the catalog's kernels; tests
// swap in gpu.Device.NewGuarded to catch writes past an output.
var allocOutput = func(d *gpu.Device, dt dtype.DType, shape []int) (*gpu.Tensor, error) {
	return d.NewTensor(dt, shape...)
}

// withOutput allocates an output tensor, releasing it again if fn fails.
func withOutput(d *gpu.Device, dt dtype.DType, shape []int, fn func(y *gpu.Tensor) error) (*gpu.Tensor, error) {
	y, err := allocOutput(d, dt, shape)
	if err != nil {
		return nil, err
	}
	if err := fn(y); err != nil {
		y.Release()
		return nil, err
	}
	return y, nil
}

// lastDimOf returns the size of the last dimension and the rows before it.
func lastDimOf(op, name string, t *gpu.Tensor) (rows, d int, err error) {
	if len(t.Shape) == 0 {
		return 0, 0, errorf(op, name, "shape %v has no last dimension", t.Shape)
	}
	d = t.Shape[len(t.Shape)-1]
	if d == 0 {
		return 0, 0, nil
	}
	return t.Numel() / d, d, nil
}
