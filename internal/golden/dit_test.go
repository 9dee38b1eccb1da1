package golden

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/models/dit"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

// goldenCase builds a dit_block case with the names testdata/golden_dit.py
// writes, its expected output from the CPU runner.
func ditCase(t *testing.T, dt ops.DType, b, s, dim int, attrs map[string]any) *Case {
	t.Helper()
	cfg, _, err := ditCaseConfig(&Case{Attrs: attrs}, dim)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(int64(b*1000 + s*10 + dim)))
	w, err := dit.RandomWeights(cfg, dt, rng)
	if err != nil {
		t.Fatal(err)
	}
	x, cond := dit.RandomInputs(cfg, dt, b, s, rng)
	in := map[string]*ref.Tensor{"x": x, "cond": cond}
	for n, v := range w {
		in[n] = v
	}
	c := &Case{Name: "dit", Op: "dit_block", Attrs: attrs, Inputs: in, Atol: 2e-3, Rtol: 2e-3}
	if dt == ops.BF16 {
		c.Atol, c.Rtol = 3e-2, 3e-2
	}
	return c
}

func TestDiTRunners(t *testing.T) {
	d := gputest.Device(t)
	tests := []struct {
		name      string
		dt        ops.DType
		b, s, dim int
		attrs     map[string]any
	}{
		{"f32", ops.F32, 2, 5, 32, map[string]any{"num_heads": 2.0, "mlp_ratio": 4.0, "activation_fn": "gelu-approximate", "eps": 1e-6}},
		{"bf16", ops.BF16, 2, 16, 48, map[string]any{"num_heads": 3.0, "mlp_ratio": 2.0, "activation_fn": "swiglu", "eps": 1e-5}},
		{"defaults", ops.F32, 1, 4, 16, map[string]any{"num_heads": 4.0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ditCase(t, tc.dt, tc.b, tc.s, tc.dim, tc.attrs)
			cpu, err := ditCPU(c)
			if err != nil {
				t.Fatal(err)
			}
			c.Outputs = cpu
			if r := Run(nil, c); !r.Pass || r.MaxAbs != 0 {
				t.Fatalf("cpu run: pass %v, max abs %g, err %v", r.Pass, r.MaxAbs, r.Err)
			}
			r := Run(d, c)
			if !r.Pass {
				t.Fatalf("gpu run failed: %v (max abs %g)", r.Err, r.MaxAbs)
			}
			t.Logf("gpu: max abs %.3g, max rel %.3g", r.MaxAbs, r.MaxRel)
		})
	}
}

func TestDiTRunnerErrors(t *testing.T) {
	d := gputest.Device(t)
	good := ditCase(t, ops.F32, 1, 3, 16, map[string]any{"num_heads": 2.0})
	y, err := ditCPU(good)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(c *Case)
		want string
	}{
		{"no heads", func(c *Case) { delete(c.Attrs, "num_heads") }, "num_heads"},
		{"no cond", func(c *Case) { delete(c.Inputs, "cond") }, "in.cond"},
		{"no qkv", func(c *Case) { delete(c.Inputs, "qkv.weight") }, "qkv.weight"},
		{"bad ratio", func(c *Case) { c.Attrs["mlp_ratio"] = 3.0 }, "ffn.proj_in.weight"},
	}
	for _, tc := range tests {
		for _, dev := range []*ops.Device{nil, d} {
			c := &Case{Name: tc.name, Op: "dit_block", Attrs: map[string]any{}, Inputs: map[string]*ref.Tensor{}, Outputs: y, Atol: 1, Rtol: 1}
			for k, v := range good.Attrs {
				c.Attrs[k] = v
			}
			for k, v := range good.Inputs {
				c.Inputs[k] = v
			}
			tc.edit(c)
			r := Run(dev, c)
			if r.Pass || r.Err == nil || !strings.Contains(r.Err.Error(), tc.want) {
				t.Errorf("%s (gpu %v): pass %v, err %v; want a failure naming %q", tc.name, dev != nil, r.Pass, r.Err, tc.want)
			}
		}
	}
}
