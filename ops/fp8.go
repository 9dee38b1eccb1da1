package ops

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// Granularity says how many values share one FP8 scale.
type Granularity int

// The two quantisation granularities of the spec.
const (
	PerToken  Granularity = iota // one scale per row
	PerTensor                    // one scale for the whole tensor
)

// ParseGranularity reads "per_token" or "per_tensor".
func ParseGranularity(s string) (Granularity, error) {
	switch s {
	case "per_token":
		return PerToken, nil
	case "per_tensor":
		return PerTensor, nil
	}
	return 0, errorf("QuantizeFP8", "", "unknown granularity %q (want per_token or per_tensor)", s)
}

func fp8Max(format dtype.DType) float32 {
	if format == dtype.FP8E5M2 {
		return dtype.E5M2Max
	}
	return dtype.E4M3Max
}

func fp8Encoder(format dtype.DType) string {
	if format == dtype.FP8E5M2 {
		return "e5m2_encode"
	}
	return "e4m3_encode"
}

// enc4Finite names the WGSL encoder of four finite values in format.
func enc4Finite(format dtype.DType) string {
	if format == dtype.FP8E5M2 {
		return "e5m2x4_encode_finite"
	}
	return "e4m3x4_encode_finite"
}

// QuantizeFP8 quantises x [M,K] (any float storage) to FP8: scale =
// max(absmax, 1e-12) / fmax (fmax 448 for E4M3, 57344 for E5M2) per row
// or for the whole tensor, q = fp8(clamp(x / scale, -fmax, fmax)) with
// round to nearest even. It returns q [M,K] in format and scale [M,1] (or
// [1,1]) in f32.
func QuantizeFP8(x *gpu.Tensor, g Granularity, format dtype.DType) (q, scale *gpu.Tensor, err error) {
	const op = "QuantizeFP8"
	if err := checkFloat(op, "x", x); err != nil {
		return nil, nil, err
	}
	if format != dtype.FP8E4M3 && format != dtype.FP8E5M2 {
		return nil, nil, errorf(op, "", "format %v is not fp8_e4m3 or fp8_e5m2", format)
	}
	if len(x.Shape) != 2 {
		return nil, nil, errorf(op, "x", "shape %v, want [M,K]", x.Shape)
	}
	if g != PerToken && g != PerTensor {
		return nil, nil, errorf(op, "", "unknown granularity %d", g)
	}
	if err := checkBinding(op, "x", x); err != nil {
		return nil, nil, err
	}
	d := x.Device()
	m, k := x.Shape[0], x.Shape[1]
	if m > 0 && k > 0 && k*x.DType.Size()%16 == 0 {
		return quantizeRows(x, g, format, quantVariant{})
	}
	qmax := fp8Max(format)
	if g == PerToken {
		scale, err = absmax(x, m, k, true, qmax).RunOne(d)
	} else {
		var rowMax *gpu.Tensor
		if rowMax, err = absmax(x, m, k, false, qmax).RunOne(d); err == nil {
			scale, err = absmax(rowMax, 1, m, true, qmax).RunOne(d)
			rowMax.Release()
		}
	}
	if err != nil {
		return nil, nil, err
	}
	words := (m*k + 3) / 4
	pt := 0
	if g == PerTensor {
		pt = 1
	}
	qk := elementwise(d, "quantize_fp8", 1, words, "fp8").Snippet("BODY", fmt.Sprintf(`var word = 0u;
  for (var j = 0u; j < 4u; j = j + 1u) {
    let e = 4u * i + j;
    if (e < p.total) {
      let s = ld_s(select(e / p.k, 0u, p.per_tensor != 0u));
      word = word | (%s(fp8_div(ld_x(e), s)) << (8u * j));
    }
  }
  let nv = p.total - 4u * i;
  if (nv < 4u) { word = word | (q_buf[i] & (0xffffffffu << (8u * nv))); } // keep bytes past the tensor
  q_buf[i] = word;`, fp8Encoder(format)))
	qk.In("x", x).In("s", scale).Out("q", format, x.Shape...)
	qk.U32("total", m*k).U32("k", max(k, 1)).U32("per_tensor", pt)
	if q, err = qk.RunOne(d); err != nil {
		scale.Release()
		return nil, nil, err
	}
	return q, scale, nil
}

// quantVariant is a launch shape of the row quantisation kernel; the
// zero value takes internal/launch's choices.
type quantVariant struct {
	want    int  // target units per invocation; 0: launch's
	twoPass bool // absmax first, then the quantisation with the scale known, even where the row fits
	approx  bool // x times the reciprocal scale without the residual correction (codes may be one unit off near ties; benchmarks only)
	pairs   bool // 16-bit x: each unit's two code words in one 8-byte store (launch.QuantizePairStores)
	wg      int  // workgroup size in place of launch.Row's (benchmark variants)
	rows    int  // rows per workgroup of the fused kernel; 0: launch.QuantizeRowsPerWorkgroup
	// scale: "" invocation 0 computes the row's scale (fp8_scale_fma);
	// "every": each invocation does, by div_rn_checked, one row per
	// workgroup (the form before, for comparison); "none": a probe
	// without reduction or scale (s = fmax).
	scale string
	noEnc bool // a probe: the quotients' bits folded into each word, no encoding
}

// quantizeRows quantises x [M,K] whose rows are whole 16-byte words with
// wgsl/quantize_rows.wgsl: per token, one fused pass that keeps each row
// in registers between its absmax and its codes where the row fits
// (launch.QuantizeMaxPacks); otherwise, and per tensor, the absmax
// kernel first and a pass with the scale known.
func quantizeRows(x *gpu.Tensor, g Granularity, format dtype.DType, v quantVariant) (q, scale *gpu.Tensor, err error) {
	d := x.Device()
	m, k := x.Shape[0], x.Shape[1]
	qmax := fp8Max(format)
	up := 4 / x.DType.Size() // packs of four per 16-byte unit
	cu := k / (4 * up)
	want := launch.QuantizeUnitsPerInvocation
	if v.want != 0 {
		want = v.want
	}
	wg, np := launch.Row(d, cu, want)
	if v.wg > 0 {
		wg, np = v.wg, (cu+v.wg-1)/v.wg
	}
	fused := g == PerToken && np*up <= launch.QuantizeMaxPacks && !v.twoPass
	if !fused {
		np = max(1, min(np, launch.QuantizeMaxPacks/up))
		if g == PerToken {
			scale, err = absmax(x, m, k, true, qmax).RunOne(d)
		} else {
			var rowMax *gpu.Tensor
			if rowMax, err = absmax(x, m, k, false, qmax).RunOne(d); err == nil {
				scale, err = absmax(rowMax, 1, m, true, qmax).RunOne(d)
				rowMax.Release()
			}
		}
		if err != nil {
			return nil, nil, err
		}
	}
	sg := fused && d.Features.Subgroups
	red := "rowmax_tree"
	if sg {
		red = "rowmax_subgroup"
	}
	enc := fp8Encoder(format)
	rpw, scaleForm := 1, 0
	switch v.scale {
	case "every":
		scaleForm = 1
	case "none":
		scaleForm = 2
	}
	if fused && scaleForm != 1 {
		rpw = launch.QuantizeRowsPerWorkgroup(m)
		if v.rows > 0 {
			rpw = v.rows
		}
	}
	kn := &kernel.Kernel{Name: "quantize_rows", Subgroups: sg, Files: []string{"fp8", red, "quantize_rows"}, Grid: d.Groups((m + rpw - 1) / rpw)}
	kn.Uint("WG", wg).Uint("RPW", rpw).Uint("NP", np).Uint("UP", up).Bool("FUSED", fused).Uint("SCALE", scaleForm)
	kn.Bool("EXACT", !v.approx).Const("QMAX", fmt.Sprintf("%.1f", qmax))
	kn.In("x", x).Words()
	if !fused {
		kn.In("sin", scale)
		idx := "row"
		if g == PerTensor {
			idx = "0u"
		}
		kn.Snippet("SCALE_IN", "s = ld_sin("+idx+");").Snippet("SCALE_OUT", "")
	} else {
		kn.Snippet("SCALE_IN", "").Snippet("SCALE_OUT", "if (lid == 0u) { st_s(row, s); }")
	}
	kn.Out("q", format, x.Shape...)
	store := "for (var h = 0u; h < UP; h = h + 1u) { q_buf[(xb + j) * UP + h] = qw[h]; }"
	if up == 2 && (launch.QuantizePairStores || v.pairs) {
		kn.Pairs()
		store = "q_buf[xb + j] = vec2<u32>(qw[0], qw[1]);"
	}
	kn.Snippet("STORE_UNIT", store)
	if fused {
		kn.Out("s", dtype.F32, m, 1)
	}
	kn.U32("rows", m).U32("cu", cu).F32("qmax", qmax)
	kn.Snippet("LOAD_UNIT", loadUnit(x.DType)).Snippet("ENCODE", enc)
	enc4, helpers := enc4Finite(format), ""
	if v.noEnc {
		enc4, helpers = "probe_enc4", "fn probe_enc4(q: vec4<f32>) -> u32 { let b = bitcast<vec4<u32>>(q); return b.x ^ b.y ^ b.z ^ b.w; }"
	}
	kn.Snippet("ENCODE4", enc4).Snippet("HELPERS", helpers)
	outs, err := kn.Run(d)
	if err != nil {
		if scale != nil {
			scale.Release()
		}
		return nil, nil, err
	}
	if fused {
		return outs[0], outs[1], nil
	}
	return outs[0], scale, nil
}

// loadUnit is WGSL for decode_unit(w), a raw 16-byte word of x as UP
// packs of four f32, and load_unit(i), unit i of x_buf decoded.
func loadUnit(dt dtype.DType) string {
	body := "return array<vec4<f32>, UP>(bitcast<vec4<f32>>(w));"
	switch dt {
	case dtype.BF16:
		body = "return array<vec4<f32>, UP>(bf16x4_to_f32(w.xy), bf16x4_to_f32(w.zw));"
	case dtype.F16:
		body = "return array<vec4<f32>, UP>(f16x4_to_f32(w.xy), f16x4_to_f32(w.zw));"
	}
	return "fn decode_unit(w: vec4<u32>) -> array<vec4<f32>, UP> { " + body + " }\n" +
		"fn load_unit(i: u32) -> array<vec4<f32>, UP> { return decode_unit(x_buf[i]); }"
}

// absmax declares the row absmax of x viewed as [rows, cols], written to
// a new f32 tensor [rows, 1], or the FP8 scale when final.
func absmax(x *gpu.Tensor, rows, cols int, final bool, qmax float32) *kernel.Kernel {
	k := &kernel.Kernel{Name: "absmax", Files: []string{"fp8", "absmax"}, Grid: x.Device().Groups(rows)}
	k.Bool("FINAL", final).In("x", x).Out("s", dtype.F32, rows, 1)
	return k.U32("rows", rows).U32("d", cols).F32("qmax", qmax)
}

// LinearFP8 is a linear layer with an FP8 weight [Out, In] (four codes per
// word) and a per-output-channel f32 WeightScale [Out,1] (or one [1,1]).
// The matmul decodes and scales the weight in its load stage; the weight
// is never held at full width. With ActQuant PerToken activations are
// quantised per row to the weight's format first (TeleFuser's dynamic
// activation quantisation); with WeightOnly they are used as they are.
type LinearFP8 struct {
	In, Out     int
	Weight      *gpu.Tensor
	WeightScale *gpu.Tensor
	Bias        *gpu.Tensor
	WeightOnly  bool
}

// NewLinearFP8 wraps an FP8 weight, its scale and an optional bias.
// actQuant is "per_token" (default when empty) or "none".
func NewLinearFP8(weight, weightScale, bias *gpu.Tensor, actQuant string) (*LinearFP8, error) {
	const op = "LinearFP8"
	if weight == nil {
		return nil, errorf(op, "weight", "is required")
	}
	if weight.DType != dtype.FP8E4M3 && weight.DType != dtype.FP8E5M2 {
		return nil, errorf(op, "weight", "dtype %v, want fp8_e4m3 or fp8_e5m2", weight.DType)
	}
	if weightScale == nil {
		return nil, errorf(op, "weight_scale", "is required for an fp8 weight (dequantisation needs it)")
	}
	if len(weight.Shape) != 2 {
		return nil, errorf(op, "weight", "shape %v, want [out, in]", weight.Shape)
	}
	l := &LinearFP8{In: weight.Shape[1], Out: weight.Shape[0], Weight: weight, WeightScale: weightScale, Bias: bias}
	switch actQuant {
	case "", "per_token":
	case "none":
		l.WeightOnly = true
	default:
		return nil, errorf(op, "", "unknown activation_quant %q (want per_token or none)", actQuant)
	}
	// Validate scale and bias shapes once, with a zero-row x.
	return l, l.spec(nil).validateWeights()
}

// spec returns the matmul for x (which may be nil while validating).
func (l *LinearFP8) spec(x *gpu.Tensor) *matmulSpec {
	return &matmulSpec{op: "LinearFP8", x: x, w: l.Weight, wScale: l.WeightScale, b: l.Bias}
}

// validateWeights checks the weight side of a spec without an x.
func (s *matmulSpec) validateWeights() error {
	n := s.w.Shape[0]
	if err := checkFloat(s.op, "weight_scale", s.wScale); err != nil {
		return err
	}
	if c := s.wScale.Numel(); c != n && c != 1 {
		return errorf(s.op, "weight_scale", "shape %v, want [%d,1] (per output channel) or [1,1]", s.wScale.Shape, n)
	}
	return checkVector(s.op, "bias", s.b, n)
}

// Forward computes x @ dq(Weight)ᵀ + Bias for x [..., In]; the output has x's dtype.
func (l *LinearFP8) Forward(x *gpu.Tensor) (*gpu.Tensor, error) { return l.forward(x, ActNone) }

// ForwardAct computes act(Forward(x)) with the activation in the matmul's epilogue.
func (l *LinearFP8) ForwardAct(x *gpu.Tensor, act Activation) (*gpu.Tensor, error) {
	return l.forward(x, act)
}

func (l *LinearFP8) forward(x *gpu.Tensor, act Activation) (*gpu.Tensor, error) {
	s := l.spec(x)
	s.act = act
	if err := checkFloat(s.op, "x", x); err != nil {
		return nil, err
	}
	if l.WeightOnly {
		return matmul(s)
	}
	if len(x.Shape) == 0 || x.Shape[len(x.Shape)-1] != l.In {
		return nil, errorf(s.op, "x", "shape %v, want last dimension %d", x.Shape, l.In)
	}
	x2, err := x.Reshape(x.Numel()/max(1, l.In), l.In)
	if err != nil {
		return nil, err
	}
	q, sx, err := QuantizeFP8(x2, PerToken, l.Weight.DType)
	if err != nil {
		return nil, err
	}
	defer q.Release()
	defer sx.Release()
	q.Shape = x.Shape // same elements; the matmul reads rows of K
	s.x, s.xScale, s.outDT = q, sx, x.DType
	return matmul(s)
}

// Dims returns the input and output features.
func (l *LinearFP8) Dims() (in, out int) { return l.In, l.Out }

// Parameters returns the tensors the layer owns.
func (l *LinearFP8) Parameters() []*gpu.Tensor { return nonNil(l.Weight, l.WeightScale, l.Bias) }

// LinearFP8Forward is the functional form (the golden op linear_fp8).
func LinearFP8Forward(x, weight, weightScale, bias *gpu.Tensor, actQuant string) (*gpu.Tensor, error) {
	l, err := NewLinearFP8(weight, weightScale, bias, actQuant)
	if err != nil {
		return nil, err
	}
	return l.Forward(x)
}

// QuantizeLinear returns an FP8 copy of l: the weight quantised per output
// channel (scale = max(row absmax, 1e-12) / fmax), the bias shared.
func QuantizeLinear(l *Linear, format dtype.DType, actQuant string) (*LinearFP8, error) {
	q, s, err := QuantizeFP8(l.Weight, PerToken, format)
	if err != nil {
		return nil, err
	}
	f, err := NewLinearFP8(q, s, l.Bias, actQuant)
	if err != nil {
		q.Release()
		s.Release()
		return nil, err
	}
	return f, nil
}

// ReplaceLinearLayers walks a module tree and swaps every Linear
// projection for a LinearFP8 quantised from its weight (activation
// quantisation per token), as TeleFuser's replace_linear_layers does. The
// full-width weight is released once quantised, so frozen weights are
// never held twice (TeleFuser's ConvertParamsToBuffers). It returns the
// number of layers replaced.
func ReplaceLinearLayers(m Module, format dtype.DType) (int, error) {
	return replaceLinears(m, nil, func(l *Linear) (Projector, error) { return QuantizeLinear(l, format, "per_token") })
}
