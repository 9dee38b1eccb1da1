package golden

import (
	"math"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops/ref"
)

// TestParityRunnersAgree builds one case per parity op with the tensor
// and attribute names of testdata/golden_parity.py, computes the expected
// outputs with the CPU runner and requires the GPU runner to pass it.
func TestParityRunnersAgree(t *testing.T) {
	d := gputest.Device(t)
	rng := rand.New(rand.NewSource(2))
	r := func(dt dtype.DType, std float64, shape ...int) *ref.Tensor { return randRef(rng, dt, std, shape...) }
	idx := ref.New(dtype.U8, 2, 5)
	for i := range idx.Data {
		idx.Data[i] = float64(i % 2)
	}
	sel := func(dt dtype.DType) map[string]*ref.Tensor {
		m := map[string]*ref.Tensor{"x": r(dt, 1, 2, 5, 12), "index": idx}
		for _, n := range []string{"scale0", "shift0", "gate0", "scale1", "shift1", "gate1"} {
			m[n] = r(dt, 1, 2, 12)
		}
		return m
	}
	lnIn := sel(dtype.BF16)
	lnIn["weight"], lnIn["bias"] = r(dtype.BF16, 1, 12), r(dtype.BF16, 1, 12)
	resIn := sel(dtype.F32)
	resIn["residual"], resIn["residual_gate"] = r(dtype.F32, 1, 2, 5, 12), r(dtype.F32, 1, 2, 5, 12)
	pl := r(dtype.F32, 2, 2, 3, 4, 1)
	pl.Data[1] = math.Inf(-1)
	nf4w, nf4a, _ := ref.QuantizeNF4(r(dtype.F32, 0.3, 7, 72), 64)
	fp8 := map[string]*ref.Tensor{"x": r(dtype.BF16, 1, 9, 12), "logits": r(dtype.F32, 2, 9, 6)}
	for i, shape := range [][]int{{6, 10, 12}, {6, 12, 10}, {6, 10, 12}} {
		n := string(rune('1' + i))
		fp8["w"+n], fp8["s"+n], _ = ref.QuantizeExpertsFP8(r(dtype.F32, 0.3, shape...))
	}
	code := ref.New(dtype.F32, 256)
	for i := range code.Data {
		code.Data[i] = float64(i)/127.5 - 1
	}
	stCodes := ref.New(dtype.U8, 12)
	for i := range stCodes.Data {
		stCodes.Data[i] = float64(37 * i % 256)
	}
	nf4w2, _, _ := ref.QuantizeNF4(r(dtype.F32, 0.3, 24, 32), 64) // 12 blocks
	stats := map[string]*ref.Tensor{"x": r(dtype.BF16, 1, 3, 32), "weight": nf4w2, "absmax_codes": stCodes,
		"absmax_scale": r(dtype.F32, 0.01, 1), "absmax_code": code, "bias": r(dtype.BF16, 1, 24)}
	cases := []*Case{
		{Op: "linear_nf4_compressed", Attrs: map[string]any{"out_features": 24.0, "offset": 0.05}, Inputs: stats},
		{Op: "moe_fp8", Attrs: map[string]any{"top_k": 2.0}, Inputs: fp8},
		{Op: "moe", Attrs: map[string]any{"top_k": 2.0, "num_expert_groups": 2.0, "top_k_groups": 1.0, "routing_scale": 1.5},
			Inputs: map[string]*ref.Tensor{"x": r(dtype.F32, 1, 9, 12), "logits": r(dtype.F32, 2, 9, 6), "correction_bias": r(dtype.F32, 0.1, 6),
				"w1": r(dtype.F32, 0.3, 6, 10, 12), "w3": r(dtype.F32, 0.3, 6, 10, 12), "w2": r(dtype.F32, 0.3, 6, 12, 10)}},
		{Op: "linear_nf4", Attrs: map[string]any{"out_features": 7.0}, Inputs: map[string]*ref.Tensor{
			"x": r(dtype.BF16, 1, 2, 72), "weight": nf4w, "absmax": nf4a, "bias": r(dtype.BF16, 1, 7)}},
		{Op: "linear_nf4", Attrs: map[string]any{"out_features": 7.0, "blocksize": 64.0}, Inputs: map[string]*ref.Tensor{
			"x": r(dtype.F32, 1, 11, 72), "weight": nf4w, "absmax": nf4a}},
		{Op: "scale_shift_gate_select", Inputs: sel(dtype.F16)},
		{Op: "layer_norm_scale_shift_gate_select", Attrs: map[string]any{"eps": 1e-6}, Inputs: lnIn},
		{Op: "residual_layer_norm_scale_shift_gate_select", Attrs: map[string]any{"eps": 1e-5}, Inputs: resIn},
		{Op: "merge_attn_states", Inputs: map[string]*ref.Tensor{"prev_out": r(dtype.BF16, 1, 2, 3, 4, 8), "prev_lse": pl,
			"suff_out": r(dtype.BF16, 1, 2, 3, 4, 8), "suff_lse": r(dtype.F32, 2, 2, 3, 4, 1)}},
		{Op: "quantize_int8_per_block", Attrs: map[string]any{"block_size": 64.0, "smooth_k": true, "tensor_layout": "HND"},
			Inputs: map[string]*ref.Tensor{"x": r(dtype.BF16, 2, 1, 2, 70, 8)}},
		{Op: "quantize_int8_per_block", Attrs: map[string]any{"block_size": 4.0, "sm_scale": 0.36067376}, Inputs: map[string]*ref.Tensor{"x": r(dtype.F16, 1, 1, 9, 2, 5)}},
	}
	for _, c := range cases {
		c.Name = c.Op
		t.Run(c.Op, func(t *testing.T) { runnersAgree(t, d, c) })
	}
}
