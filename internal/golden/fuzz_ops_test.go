package golden

import (
	"errors"
	"fmt"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/models/dit"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

// opAttrs lists valid attribute sets per op, as the golden cases use them.
var opAttrs = map[string][]map[string]any{
	"rms_norm":          {{"eps": 1e-5}, {"eps": 1e-6}},
	"layer_norm":        {{"eps": 1e-6}, {}},
	"norm_infer":        {{"eps": 1e-6, "is_rms_norm": true}, {"eps": 1e-6, "is_rms_norm": false}},
	"fused_scale_shift": {{"scale_constant": 1.0}, {"scale_constant": 0.0}},
	"activation": {{"fn": "gelu"}, {"fn": "gelu_tanh"}, {"fn": "silu"}, {"fn": "relu"}, {"fn": "mish"},
		{"fn": "approx_gelu"}, {"fn": "fp32_silu"}},
	"gated_activation": {{"fn": "gelu"}, {"fn": "gelu_tanh"}, {"fn": "silu"}},
	"linear":           {{}},
	"linear_fp8":       {{"activation_quant": "per_token"}, {"activation_quant": "none"}},
	"feed_forward": {{"activation_fn": "geglu"}, {"activation_fn": "gelu"}, {"activation_fn": "gelu-approximate"},
		{"activation_fn": "geglu-approximate"}, {"activation_fn": "swiglu"}, {"activation_fn": "linear-silu"}},
	"ada_layer_norm_continuous": {{"eps": 1e-5, "norm_type": "layer_norm"}, {"eps": 1e-5, "norm_type": "rms_norm"}},
	"rotary":                    {{"interleaved": true}, {"interleaved": false}},
	"quantize_fp8": {{"granularity": "per_token", "format": "e4m3"}, {"granularity": "per_tensor", "format": "e4m3"},
		{"granularity": "per_token", "format": "e5m2"}},
	"attention": {{}, {"causal": true}, {"scale": 0.2}, {"input_layout": "BNSD", "output_layout": "BNSD"},
		{"input_layout": "BSND", "output_layout": "BNSD", "causal": true}},
	"block_sparse_attention": {{"block_q": 16.0, "block_k": 16.0}, {"block_q": 32.0, "block_k": 16.0, "causal": true}},
	"radial_mask":            {{"model_type": "wan"}, {"model_type": "hunyuan"}},
	"local_sparse_attention": {{}},
	"dit_block": {{"activation_fn": "gelu-approximate"}, {"activation_fn": "swiglu", "mlp_ratio": 2.0},
		{"activation_fn": "geglu", "mlp_ratio": 2.5}, {"activation_fn": "linear-silu"}},
}

// opCase builds a case for op whose shapes follow the op's rules, from
// dimensions a, b, c, d in 1..17 (1, primes and powers of two among
// them) and a dtype; nil when the op is unknown here.
func opCase(op string, a, b, c, d int, dt dtype.DType, attrs map[string]any, rng *rand.Rand) *Case {
	cs := &Case{Name: "fuzz", Op: op, Attrs: map[string]any{}, Inputs: map[string]*ref.Tensor{}}
	for k, v := range attrs {
		cs.Attrs[k] = v
	}
	r := func(dt dtype.DType, std float64, shape ...int) *ref.Tensor { return randRef(rng, dt, std, shape...) }
	in := func(name string, t *ref.Tensor) { cs.Inputs[name] = t }
	switch op {
	case "rms_norm", "layer_norm":
		in("x", r(dt, 1, a, b, c))
		if d%3 != 0 {
			in("weight", r(dt, 1, c))
		}
		if d%2 == 0 && op == "layer_norm" {
			in("bias", r(dt, 1, c))
		}
	case "norm_infer": // weight and bias each on their own
		in("x", r(dt, 1, a, b, c))
		if d%3 != 0 {
			in("weight", r(dt, 1, c))
		}
		if d%2 == 0 {
			in("bias", r(dt, 1, c))
		}
	case "fused_scale_shift":
		in("x", r(dt, 1, a, b, c))
		forms := [][]int{{}, {c}, {a, c}, {a, 1, c}, {a, b, c}}
		in("scale", r(dt, 0.5, forms[d%5]...))
		in("shift", r(dt, 0.5, forms[(d/5+a)%5]...))
	case "activation":
		in("x", r(dt, 2, a, b, c))
	case "quantize_fp8":
		in("x", r(dt, 2, a*b, c))
	case "gated_activation":
		in("x", r(dt, 2, a, b, 2*c))
	case "linear":
		in("x", r(dt, 1, a, b, c))
		in("weight", r(dt, 0.3, d, c))
		if a%2 == 1 {
			in("bias", r(dt, 1, d))
		}
	case "linear_fp8":
		in("x", r(dt, 1, a, c))
		wq, ws, _ := ref.QuantizeFP8(r(dtype.F32, 0.2, d, c), false, dtype.FP8E4M3)
		in("weight", wq)
		in("weight_scale", ws)
	case "feed_forward":
		rows := d
		if fn, _ := cs.Attrs["activation_fn"].(string); fn == "geglu" || fn == "swiglu" {
			rows = 2 * d
		}
		in("x", r(dt, 1, a, b, c))
		in("proj_in.weight", r(dt, 0.3, rows, c))
		in("proj_in.bias", r(dt, 0.3, rows))
		in("proj_out.weight", r(dt, 0.3, c, d))
	case "ada_layer_norm_continuous":
		in("x", r(dt, 1, a, b, c))
		in("cond", r(dt, 1, a, d))
		in("linear.weight", r(dt, 0.3, 2*c, d))
		in("linear.bias", r(dt, 0.2, 2*c))
		in("norm.weight", r(dt, 1, c))
	case "rotary":
		in("x", r(dt, 1, a, b, c, 2*d))
		in("cos", r(dtype.F32, 0.7, b, d))
		in("sin", r(dtype.F32, 0.7, b, d))
	case "attention", "block_sparse_attention":
		D := 4 * (d%4 + 1)
		sk := b + d%3
		q, k, v := r(dt, 1, a, b, c, D), r(dt, 1, a, sk, c, D), r(dt, 1, a, sk, c, D)
		if l, _ := cs.Attrs["input_layout"].(string); l == "BNSD" {
			q, k, v = r(dt, 1, a, c, b, D), r(dt, 1, a, c, sk, D), r(dt, 1, a, c, sk, D)
		}
		in("q", q)
		in("k", k)
		in("v", v)
		if op == "block_sparse_attention" {
			bq, _ := cs.Attrs["block_q"].(float64)
			bk, _ := cs.Attrs["block_k"].(float64)
			m := ref.New(dtype.U8, ceilDiv(b, int(bq)), ceilDiv(sk, int(bk)))
			for i := range m.Data {
				m.Data[i] = float64(rng.Intn(2))
			}
			in("block_mask", m)
		}
	case "radial_mask":
		bs := []int{16, 32, 64, 128}[d%4]
		frames := a + 1
		video := frames * (b + c) * 8
		cs.Attrs["block_size"] = float64(bs)
		cs.Attrs["num_frames"] = float64(frames)
		cs.Attrs["video_tokens"] = float64(video)
		cs.Attrs["seq_len"] = float64(max(video+c*d, bs))
	case "local_sparse_attention":
		win := []any{float64(a%2 + 1), float64(b%2*2 + 2), float64(c%2*2 + 2)}
		f, h, w := (a%2+1)*(d%2+1), (b%2*2+2)*(c%3+1), (c%2*2+2)*(d%2+1)
		cs.Attrs["window"], cs.Attrs["frames"], cs.Attrs["height"], cs.Attrs["width"] = win, float64(f), float64(h), float64(w)
		cs.Attrs["topk"], cs.Attrs["local_range"] = float64(d%4), float64(a%3+1)
		D := 4 * (d%2 + 1)
		for _, n := range []string{"q", "k", "v"} {
			in(n, r(dt, 1, 1, f*h*w, c%3+1, D))
		}
	case "dit_block":
		heads := a%3 + 1
		D := 4 * heads * (c%2 + 1)
		cs.Attrs["num_heads"] = float64(heads)
		cfg, _, err := ditCaseConfig(cs, D)
		if err != nil {
			return nil
		}
		w, err := dit.RandomWeights(cfg, dt, rng)
		if err != nil {
			return nil
		}
		x, cond := dit.RandomInputs(cfg, dt, a%2+1, b, rng)
		in("x", x)
		in("cond", cond)
		for n, t := range w {
			in(n, t)
		}
	default:
		return nil
	}
	return cs
}

// FuzzOpShapes runs every registered op on small fuzzed shapes (1,
// primes, powers of two) in f32, f16 and bf16 on the GPU, into guarded
// outputs, against the float64 reference: where both accept the shapes,
// the outputs must agree within the spec's tolerance and no kernel may
// write past an output; neither may panic. A GPU refusal that wraps
// ops.ErrInvalid, ops.ErrDType or gpu.ErrLimit is a documented limit,
// not a failure. Seeds: testdata/fuzz/FuzzOpShapes and one per op.
func FuzzOpShapes(f *testing.F) {
	names := Supported()
	for i := range names {
		f.Add(uint8(i), uint8(i), uint8(i*3+1), uint8(i*5+2), uint8(i*7+3), uint8(i), int64(i))
	}
	f.Add(uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), int64(0)) // all ones
	f.Fuzz(func(t *testing.T, opi, ai, bi, ci, di, dti uint8, seed int64) {
		d := gputest.Device(t)
		op := names[int(opi)%len(names)]
		attrs := opAttrs[op]
		if len(attrs) == 0 {
			t.Skipf("no attributes known for %s", op)
		}
		rng := rand.New(rand.NewSource(seed))
		dims := func(v uint8) int { return int(v)%17 + 1 }
		dt := []dtype.DType{dtype.F32, dtype.F16, dtype.BF16}[int(dti)%3]
		c := opCase(op, dims(ai), dims(bi), dims(ci), dims(di), dt, attrs[int(dti/3)%len(attrs)], rng)
		if c == nil {
			return
		}
		r := registry[op]
		var want map[string]*ref.Tensor
		cpuErr := guard(func() (err error) { want, err = r.cpu(c); return err })
		if errors.Is(cpuErr, ErrPanic) {
			t.Fatalf("%s on %s: reference: %v", op, describe(c), cpuErr)
		}
		if cpuErr != nil {
			return // shapes the reference refuses: the GPU run is not compared
		}
		c.Outputs = want
		c.Atol, c.Rtol = defaultTol(c)
		d.GuardOutputs(true)
		res := Run(d, c)
		gerr := d.CheckGuards()
		d.GuardOutputs(false)
		if gerr != nil {
			t.Fatalf("%s on %s: %v", op, describe(c), gerr)
		}
		if res.Pass {
			return
		}
		if res.Err != nil && !errors.Is(res.Err, ErrPanic) &&
			(errors.Is(res.Err, ops.ErrInvalid) || errors.Is(res.Err, ops.ErrDType) || errors.Is(res.Err, gpu.ErrLimit)) {
			return
		}
		t.Fatalf("%s on %s: %v", op, describe(c), res.Err)
	})
}

// describe lists a case's input shapes and attributes for a failure.
func describe(c *Case) string {
	s := fmt.Sprint(c.Attrs)
	for n, t := range c.Inputs {
		s += fmt.Sprintf(" %s=%v%v", n, t.DType, t.Shape)
	}
	return s
}
