package golden

import (
	"encoding/json"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/models/dit"
	"github.com/webfuser/webfuser/ops/ref"
)

// smallLimits lowers the element and work budgets so that every case a
// fuzz target makes runs on the CPU reference in milliseconds.
func smallLimits(f *testing.F) {
	old := limits
	limits.elements, limits.work = 1<<16, 1<<22
	f.Cleanup(func() { limits = old })
}

// FuzzParseCase feeds arbitrary bytes to the case reader and runs what
// it accepts on the CPU reference: every outcome must be a value (a
// refusal, a pass or a failed comparison), never a panic. Seeds: a few
// golden files and testdata/fuzz/FuzzParseCase.
func FuzzParseCase(f *testing.F) {
	smallLimits(f)
	for _, p := range []string{"norm/rms_norm_f32_0_w.safetensors", "catalog/linear_f32_0.safetensors", "attention/radial_mask_hunyuan_S1000_V900_F3_bs128_d1.0.safetensors"} {
		if b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "golden", p)); err == nil {
			f.Add(b)
		}
	}
	f.Add(caseBytes(f, "radial_mask", `{"seq_len":300,"video_tokens":256,"num_frames":4,"block_size":64}`, nil, f32("out.block_mask", 4, 4)))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b, "fuzz")
		if err != nil {
			return
		}
		if r := Run(nil, c); errors.Is(r.Err, ErrPanic) {
			t.Fatalf("%s: %v", c.Op, r.Err)
		}
	})
}

// caseInputs makes plausible inputs for op from four small dimensions:
// the names its runners read, with shapes that often but not always fit.
func caseInputs(op string, a, b, c, d int, rng *rand.Rand, attrs map[string]any) map[string][]int {
	switch op {
	case "rms_norm", "layer_norm", "norm_infer":
		return map[string][]int{"x": {a, b, c}, "weight": {c}, "bias": {c}}
	case "fused_scale_shift":
		return map[string][]int{"x": {a, b, c}, "scale": {a, 1, c}, "shift": {c}}
	case "activation", "quantize_fp8":
		return map[string][]int{"x": {a, b, c}}
	case "gated_activation":
		return map[string][]int{"x": {a, b, 2 * c}}
	case "linear":
		return map[string][]int{"x": {a, b, c}, "weight": {d, c}, "bias": {d}}
	case "linear_fp8":
		return map[string][]int{"x": {a, c}, "weight": {d, c}, "weight_scale": {d}}
	case "feed_forward":
		return map[string][]int{"x": {a, b, c}, "proj_in.weight": {2 * d, c}, "proj_in.bias": {2 * d}, "proj_out.weight": {c, d}}
	case "ada_layer_norm_continuous":
		return map[string][]int{"x": {a, b, c}, "cond": {a, d}, "linear.weight": {2 * c, d}, "linear.bias": {2 * c}, "norm.weight": {c}}
	case "rotary":
		return map[string][]int{"x": {a, b, c, 2 * d}, "cos": {b, 2 * d}, "sin": {b, 2 * d}}
	case "attention", "local_sparse_attention":
		return map[string][]int{"q": {a, b * c, d, 4}, "k": {a, b * c, d, 4}, "v": {a, b * c, d, 4}}
	case "block_sparse_attention":
		return map[string][]int{"q": {a, b * c, d, 4}, "k": {a, b, d, 4}, "v": {a, b, d, 4}, "block_mask": {d, b, c}}
	case "dit_block":
		in := map[string][]int{"x": {a, b, 4 * c}, "cond": {a, 4 * c}}
		heads, _ := attrs["num_heads"].(float64)
		cfg := dit.Config{Dim: 4 * c, NumHeads: int(heads), MLPRatio: 2}
		if r, ok := attrs["mlp_ratio"].(float64); ok {
			cfg.MLPRatio = r
		}
		if s, ok := attrs["activation_fn"].(string); ok {
			cfg.ActivationFn = s
		}
		if shapes, err := cfg.WeightShapes(); err == nil && rng.Intn(4) != 0 {
			for n, s := range shapes {
				if len(s) < 2 || s[0]*s[1] <= 1<<14 {
					in[n] = s
				}
			}
		}
		return in
	}
	return nil
}

// FuzzCaseAttrs runs every registered op on the CPU reference with
// fuzzed attributes (any JSON) and small fuzzed shapes: every outcome
// must be a value, never a panic or an allocation the bounds would not
// allow. Seeds: testdata/fuzz/FuzzCaseAttrs and the attributes of the
// golden cases.
func FuzzCaseAttrs(f *testing.F) {
	smallLimits(f)
	seeds := []struct {
		op    uint8
		attrs string
	}{
		{0, `{"fn":"gelu_tanh"}`}, {1, `{"norm_type":"rms_norm","eps":1e-5}`}, {2, `{"causal":true,"scale":0.2,"input_layout":"BNSD"}`},
		{3, `{"block_q":2,"block_k":3,"causal":true}`}, {4, `{"num_heads":2,"mlp_ratio":2.5,"activation_fn":"swiglu"}`},
		{5, `{"activation_fn":"geglu"}`}, {6, `{"scale_constant":0}`}, {7, `{"fn":"silu"}`}, {8, `{"eps":1e-6}`},
		{9, `{}`}, {10, `{"activation_quant":"per_token"}`}, {11, `{"frames":2,"height":2,"width":2,"topk":1,"local_range":1,"window":[1,2,2]}`},
		{12, `{"granularity":"per_tensor","format":"e5m2"}`}, {13, `{"seq_len":300,"video_tokens":256,"num_frames":4,"block_size":64,"model_type":"hunyuan"}`},
		{14, `{"eps":1e-5}`}, {15, `{"interleaved":false}`}, {13, `{"seq_len":1e300}`}, {11, `{"window":[0,-1,1e20]}`},
	}
	for i, s := range seeds {
		f.Add(s.op, s.attrs, uint8(i), uint8(i*7), uint8(i*13), uint8(i*5), int64(i))
	}
	ops := Supported()
	f.Fuzz(func(t *testing.T, opi uint8, attrs string, a, b, c, d uint8, seed int64) {
		op := ops[int(opi)%len(ops)]
		cs := &Case{Name: "fuzz", Op: op, Attrs: map[string]any{}, Inputs: map[string]*ref.Tensor{}}
		if json.Unmarshal([]byte(attrs), &cs.Attrs) != nil || cs.Attrs == nil {
			return
		}
		rng := rand.New(rand.NewSource(seed))
		dims := func(v uint8) int { return int(v)%7 + 1 }
		for n, shape := range caseInputs(op, dims(a), dims(b), dims(c), dims(d), rng, cs.Attrs) {
			dt := []dtype.DType{dtype.F32, dtype.F16, dtype.BF16}[int(seed&3)%3]
			switch n {
			case "block_mask":
				dt = dtype.U8
			case "weight":
				if op == "linear_fp8" {
					dt = dtype.FP8E4M3
				}
			}
			x := ref.New(dt, shape...)
			for i := range x.Data {
				x.Data[i] = dtype.Round(dt, rng.NormFloat64())
				if dt == dtype.U8 {
					x.Data[i] = float64(rng.Intn(2))
				}
			}
			cs.Inputs[n] = x
		}
		r := Run(nil, cs)
		if errors.Is(r.Err, ErrPanic) {
			t.Fatalf("%s %s: %v", op, attrs, r.Err)
		}
	})
}
