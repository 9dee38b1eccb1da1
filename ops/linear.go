package ops

import (
	"fmt"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/wgsl"
)

// GateResidual is the epilogue y = Residual + Gate * y. Gate is [N],
// [B,N], [B,1,N] (per batch of x [B,...,K]) or the output's shape;
// Residual has the output's shape.
type GateResidual struct {
	Gate, Residual *gpu.Tensor
}

// matmulSpec is one validated matmul: y = epi(A @ Bᵀ) with A [M,K], B [N,K].
type matmulSpec struct {
	op            string
	x, w, b       *gpu.Tensor
	xScale        *gpu.Tensor // per-row scale of an FP8 x [M,1]
	wScale        *gpu.Tensor // per-row [N,1] or scalar [1,1] scale of an FP8 w
	act           Activation
	gr            *GateResidual
	m, n, k       int
	gdiv, gstride int
	outDT         dtype.DType
	outShape      []int
}

// validate checks shapes and dtypes and fills the sizes. x may have any
// leading shape; its last dimension is K.
func (s *matmulSpec) validate() error {
	op := s.op
	if s.x == nil {
		return errorf(op, "x", "is required")
	}
	if s.xScale == nil {
		if err := checkFloat(op, "x", s.x); err != nil {
			return err
		}
	} else if s.x.DType != dtype.FP8E4M3 && s.x.DType != dtype.FP8E5M2 {
		return errorf(op, "x", "dtype %v, want fp8 with a scale", s.x.DType)
	}
	if s.w == nil {
		return errorf(op, "weight", "is required")
	}
	isFP8W := s.w.DType == dtype.FP8E4M3 || s.w.DType == dtype.FP8E5M2
	if isFP8W && s.wScale == nil {
		return errorf(op, "weight_scale", "is required for an fp8 weight (dequantisation needs it)")
	}
	if !isFP8W {
		if err := checkFloat(op, "weight", s.w); err != nil {
			return err
		}
	}
	if len(s.x.Shape) == 0 {
		return errorf(op, "x", "shape %v has no last dimension", s.x.Shape)
	}
	s.k = s.x.Shape[len(s.x.Shape)-1]
	if len(s.w.Shape) != 2 || s.w.Shape[1] != s.k {
		return errorf(op, "weight", "shape %v, want [N,%d] (x is %v)", s.w.Shape, s.k, s.x.Shape)
	}
	s.n = s.w.Shape[0]
	s.m = 1
	for _, v := range s.x.Shape[:len(s.x.Shape)-1] {
		s.m *= v
	}
	if s.wScale != nil {
		if err := checkFloat(op, "weight_scale", s.wScale); err != nil {
			return err
		}
		if n := s.wScale.Numel(); n != s.n && n != 1 {
			return errorf(op, "weight_scale", "shape %v, want [%d,1] (per output channel) or [1,1]", s.wScale.Shape, s.n)
		}
	}
	if s.xScale != nil && s.xScale.Numel() != s.m {
		return errorf(op, "x_scale", "shape %v, want [%d,1]", s.xScale.Shape, s.m)
	}
	if err := checkVector(op, "bias", s.b, s.n); err != nil {
		return err
	}
	if err := checkAct(op, s.act); err != nil {
		return err
	}
	s.outShape = append(append([]int(nil), s.x.Shape[:len(s.x.Shape)-1]...), s.n)
	if s.outDT == 0 && s.x.DType.IsFloat() && s.xScale == nil {
		s.outDT = s.x.DType
	}
	var ts operands
	ts.add("x", s.x)
	ts.add("weight", s.w)
	ts.add("bias", s.b)
	ts.add("weight_scale", s.wScale)
	ts.add("x_scale", s.xScale)
	if s.gr != nil {
		g, r := s.gr.Gate, s.gr.Residual
		if err := checkFloat(op, "gate", g); err != nil {
			return err
		}
		if err := checkFloat(op, "residual", r); err != nil {
			return err
		}
		if !sameShape(r.Shape, s.outShape) {
			return errorf(op, "residual", "shape %v, want the output's %v", r.Shape, s.outShape)
		}
		if err := s.gateBroadcast(g.Shape); err != nil {
			return err
		}
		ts.add("gate", g)
		ts.add("residual", r)
	}
	return ts.check(op, s.x.Device())
}

// gateBroadcast sets gdiv and gstride: output row m reads gate row m/gdiv.
func (s *matmulSpec) gateBroadcast(g []int) error {
	n, m := s.n, s.m
	switch {
	case len(g) == 1 && g[0] == n:
		s.gdiv, s.gstride = 1, 0
	case sameShape(g, s.outShape) || (len(g) == 2 && g[0] == m && g[1] == n):
		s.gdiv, s.gstride = 1, n
	case len(s.outShape) >= 2 && g[0] == s.outShape[0] && g[len(g)-1] == n && gpu.Numel(g) == g[0]*n && (len(g) == 2 || len(g) == 3):
		s.gdiv, s.gstride = max(1, m/max(1, g[0])), n
	default:
		return errorf(s.op, "gate", "shape %v does not broadcast to the output %v (want [N], [B,N], [B,1,N] or the output's shape)", g, s.outShape)
	}
	return nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fp8Loader returns a WGSL function ld8_NAME(i) -> f32 that decodes
// element i of an FP8 buffer (four codes per word, lane 0 low).
func fp8Loader(name string, dt dtype.DType) string {
	dec := "e4m3_decode"
	if dt == dtype.FP8E5M2 {
		dec = "e5m2_decode"
	}
	return fmt.Sprintf("fn ld8_%s(i: u32) -> f32 { return %s((%s_buf[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu); }\n", name, dec, name)
}

// run allocates the output and dispatches the matmul with tile t.
func (s *matmulSpec) run(t tile) (*gpu.Tensor, error) {
	return withOutput(s.x.Device(), s.outDT, s.outShape, func(y *gpu.Tensor) error { return s.dispatch(y, t) })
}

func (s *matmulSpec) dispatch(y *gpu.Tensor, t tile) error {
	d := s.x.Device()
	vec := packWidth(s.n)
	pr := newProgram(d, "matmul", vec, "act", "fp8", "matmul").
		constant("WX", wgsl.U32(t.wx)).constant("WY", wgsl.U32(t.wy)).constant("BK", wgsl.U32(t.bk))
	args := []*gpu.Tensor{s.x, s.w}
	pr.buf("x", s.x.DType, false).buf("w", s.w.DType, false)
	loadA, loadB := "ld_x(gm * p.k + gk)", "ld_w(gn * p.k + gk)"
	if s.xScale != nil {
		pr.buf("xs", s.xScale.DType, false)
		args = append(args, s.xScale)
		pr.extra = append(pr.extra, fp8Loader("x", s.x.DType))
		loadA = "ld8_x(gm * p.k + gk) * ld_xs(gm)"
	}
	if s.wScale != nil {
		pr.buf("ws", s.wScale.DType, false)
		args = append(args, s.wScale)
		pr.extra = append(pr.extra, fp8Loader("w", s.w.DType))
		idx := "gn"
		if s.wScale.Numel() == 1 {
			idx = "0u"
		}
		loadB = fmt.Sprintf("ld8_w(gn * p.k + gk) * ld_ws(%s)", idx)
	}
	pr.vars["LOAD_A"], pr.vars["LOAD_B"] = loadA, loadB
	var epi strings.Builder
	epi.WriteString("fn epi(a: f32, m: u32, n: u32) -> f32 {\n  var v = a;\n")
	if s.b != nil {
		pr.buf("b", s.b.DType, false)
		args = append(args, s.b)
		epi.WriteString("  v = v + ld_b(n);\n")
	}
	if s.act != ActNone || s.gr != nil {
		epi.WriteString("  v = rnd_o(v);\n")
	}
	if s.act != ActNone {
		fmt.Fprintf(&epi, "  v = rnd_o(%s(v));\n", s.act.wgslFn())
	}
	if s.gr != nil {
		pr.buf("g", s.gr.Gate.DType, false).buf("res", s.gr.Residual.DType, false)
		args = append(args, s.gr.Gate, s.gr.Residual)
		epi.WriteString("  v = ld_res(m * p.n + n) + rnd_o(ld_g((m / p.gdiv) * p.gstride + n) * v);\n")
	}
	epi.WriteString("  return v;\n}\n")
	pr.extra = append(pr.extra, rndScalar("rnd_o", s.outDT), epi.String())
	if vec == 4 {
		pr.vars["STORE"] = "stv_y((m * p.n + n) / 4u, P(epi(a.x, m, n), epi(a.y, m, n + 1u), epi(a.z, m, n + 2u), epi(a.w, m, n + 3u)));"
	} else {
		pr.vars["STORE"] = "st_y(m * p.n + n, epi(a.x, m, n)); if (n + 1u < p.n) { st_y(m * p.n + n + 1u, epi(a.y, m, n + 1u)); } if (n + 2u < p.n) { st_y(m * p.n + n + 2u, epi(a.z, m, n + 2u)); } if (n + 3u < p.n) { st_y(m * p.n + n + 3u, epi(a.w, m, n + 3u)); }"
	}
	pr.buf("y", y.DType, true)
	args = append(args, y)
	pr.uniform = []string{"m: u32", "n: u32", "k: u32", "gdiv: u32", "gstride: u32"}
	params := gpu.NewParams().U32(uint32(s.m)).U32(uint32(s.n)).U32(uint32(s.k)).U32(uint32(max(1, s.gdiv))).U32(uint32(s.gstride))
	pipe, err := pr.pipeline()
	if err != nil {
		return err
	}
	g := gpu.Grid{uint32((s.n + 4*t.wx - 1) / (4 * t.wx)), uint32((s.m + 4*t.wy - 1) / (4 * t.wy)), 1}
	if g[0] > d.Limits.MaxGroupsPerDim || g[1] > d.Limits.MaxGroupsPerDim {
		return errorf(s.op, "x", "output [%d,%d] needs %v workgroups, over the device's limit of %d per dimension; split the work", s.m, s.n, g, d.Limits.MaxGroupsPerDim)
	}
	return d.Dispatch(pipe, g, params.Bytes(), args...)
}

// matmul validates s and runs it with the tile the dispatch table picks.
func matmul(s *matmulSpec) (*gpu.Tensor, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s.run(chooseTile(s.x.Device(), s.m, s.n, s.k))
}

// LinearForward computes y = x @ weightᵀ + bias for x [..., K], weight
// [N, K] and bias [N] (nil for none), accumulating in f32; y has x's dtype.
func LinearForward(x, weight, bias *gpu.Tensor) (*gpu.Tensor, error) {
	return matmul(&matmulSpec{op: "Linear", x: x, w: weight, b: bias})
}

// Linear is torch.nn.Linear: Weight [Out, In] and an optional Bias [Out].
type Linear struct {
	In, Out      int
	Weight, Bias *gpu.Tensor
}

// NewLinear wraps a weight [Out, In] and optional bias [Out] as a layer.
func NewLinear(weight, bias *gpu.Tensor) (*Linear, error) {
	if err := checkFloat("Linear", "weight", weight); err != nil {
		return nil, err
	}
	if len(weight.Shape) != 2 {
		return nil, errorf("Linear", "weight", "shape %v, want [out, in]", weight.Shape)
	}
	if err := checkVector("Linear", "bias", bias, weight.Shape[0]); err != nil {
		return nil, err
	}
	return &Linear{In: weight.Shape[1], Out: weight.Shape[0], Weight: weight, Bias: bias}, nil
}

// Forward computes x @ Weightᵀ + Bias.
func (l *Linear) Forward(x *gpu.Tensor) (*gpu.Tensor, error) {
	return LinearForward(x, l.Weight, l.Bias)
}

// ForwardAct computes act(x @ Weightᵀ + Bias) by the path the dispatch table picks.
func (l *Linear) ForwardAct(x *gpu.Tensor, act Activation) (*gpu.Tensor, error) {
	return LinearAct(x, l.Weight, l.Bias, act)
}

// Dims returns the input and output features.
func (l *Linear) Dims() (in, out int) { return l.In, l.Out }

// Parameters returns the tensors the layer owns.
func (l *Linear) Parameters() []*gpu.Tensor { return nonNil(l.Weight, l.Bias) }

func nonNil(ts ...*gpu.Tensor) []*gpu.Tensor {
	var out []*gpu.Tensor
	for _, t := range ts {
		if t != nil {
			out = append(out, t)
		}
	}
	return out
}
