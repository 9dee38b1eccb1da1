package ops

import (
	"fmt"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
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
	// halfMath asks the Blocked kernel for f16 products: operands rounded
	// to f16, each K step of the tile (BK terms) summed in f16, the steps
	// in f32 (wgsl/matmul_tiled.wgsl). Not exact to the spec's f32 bound;
	// only benchmarks and its tests set it (bench/matmul.md). Float
	// operands on a device with shader-f16 only.
	halfMath bool
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
		if err := s.checkGateResidual(&ts); err != nil {
			return err
		}
	}
	return ts.check(op, s.x.Device())
}

// checkGateResidual validates the gate and residual of s.gr against the
// output (s.m, s.n, s.outShape), sets gdiv and gstride and adds both to ts.
func (s *matmulSpec) checkGateResidual(ts *operands) error {
	op, g, r := s.op, s.gr.Gate, s.gr.Residual
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
	return nil
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

// run declares the product with tile t and dispatches it.
func (s *matmulSpec) run(t launch.Tile) (*gpu.Tensor, error) {
	return s.kernel(t).RunOne(s.x.Device())
}

// kernel declares the product y = epi(x @ wᵀ) with tile t: the kernel
// the tile's kind names (launch.Simple, launch.Blocked, launch.GEMV).
// FP8 operands are decoded by the kernels and scaled by their scales.
func (s *matmulSpec) kernel(t launch.Tile) *kernel.Kernel {
	switch t.Kind {
	case launch.Blocked:
		return s.blockedKernel(t)
	case launch.GEMV:
		return s.gemvKernel(t)
	}
	return s.simpleKernel(t)
}

func isHalf(dt dtype.DType) bool { return dt == dtype.F16 || dt == dtype.BF16 }
func isFP8(dt dtype.DType) bool  { return dt == dtype.FP8E4M3 || dt == dtype.FP8E5M2 }

// operands declares the bindings and uniforms every matmul kernel shares
// (x, w and their scales, bias, gate and residual, m, n, k, gdiv,
// gstride) and returns the scalar loads LOAD_A (row gm, column gk) and
// LOAD_B (row gn) and the epilogue, which sees v, m and n. With
// wordsW the weight is bound as 16-byte words (w_buf, for an FP8 weight
// the caller decodes itself).
func (s *matmulSpec) operands(k *kernel.Kernel, wordsW bool) (loadA, loadB, epilogue string) {
	k.In("x", s.x).In("w", s.w)
	loadA, loadB = "ld_x(gm * p.k + gk)", "ld_w(gn * p.k + gk)"
	if wordsW {
		k.Words() // the caller decodes it; loadB does not apply
	}
	if s.xScale != nil {
		k.In("xs", s.xScale)
		loadA += " * ld_xs(gm)"
	}
	if s.wScale != nil {
		k.In("ws", s.wScale)
		loadB += " * " + s.wScaleAt("gn")
	}
	var epi []string
	if s.b != nil {
		k.In("b", s.b)
		epi = append(epi, "v = v + ld_b(n);")
	}
	if s.act != ActNone || s.gr != nil {
		epi = append(epi, "v = rnd1_y(v);")
	}
	if s.act != ActNone {
		epi = append(epi, fmt.Sprintf("v = rnd1_y(%s(v));", s.act.wgslFn()))
	}
	k.U32("m", s.m).U32("n", s.n).U32("k", s.k)
	if s.gr != nil {
		k.In("g", s.gr.Gate).In("res", s.gr.Residual)
		k.U32("gdiv", max(1, s.gdiv)).U32("gstride", s.gstride)
		epi = append(epi, "v = ld_res(m * p.n + n) + rnd1_y(ld_g((m / p.gdiv) * p.gstride + n) * v);")
	}
	k.Out("y", s.outDT, s.outShape...)
	return loadA, loadB, strings.Join(epi, "\n  ")
}

// wScaleAt is the weight scale of row n (WGSL), one scale or one per row.
func (s *matmulSpec) wScaleAt(n string) string {
	if s.wScale.Numel() == 1 {
		return "ld_ws(0u)"
	}
	return "ld_ws(" + n + ")"
}

func fp8Name(dt dtype.DType) string {
	if dt == dtype.FP8E5M2 {
		return "e5m2"
	}
	return "e4m3"
}

// packStore returns WGSL that stores the outputs of row m from column
// n: a (vec4) in packs of 4 when vec is 4, element by element with
// bounds tests otherwise (four, from an expression per lane).
func packStore(vec int, lane func(i int) string) string { return packStoreTo("y", "m", vec, lane) }

// packStoreTo is packStore into binding name at output row row (WGSL).
func packStoreTo(name, row string, vec int, lane func(i int) string) string {
	at := "(" + row + ") * p.n + n"
	if vec == 4 {
		return fmt.Sprintf("stv_%s((%s) / 4u, P(%s, %s, %s, %s));", name, at, lane(0), lane(1), lane(2), lane(3))
	}
	s := fmt.Sprintf("st_%s(%s, %s);", name, at, lane(0))
	for i := 1; i < 4; i++ {
		s += fmt.Sprintf(" if (n + %du < p.n) { st_%s(%s + %du, %s); }", i, name, at, i, lane(i))
	}
	return s
}

// tile returns the tile the launch policy picks for s.
func (s *matmulSpec) tile() launch.Tile {
	return launch.MatmulTile(s.x.Device(), s.m, s.n, s.k, s.w.DType.Size())
}

// matmul validates s and runs it with the tile the launch policy picks.
func matmul(s *matmulSpec) (*gpu.Tensor, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s.run(s.tile())
}

// LinearForward computes y = x @ weightᵀ + bias for x [..., K], weight
// [N, K] and bias [N] (nil for none), accumulating in f32; y has x's dtype.
func LinearForward(x, weight, bias *gpu.Tensor) (*gpu.Tensor, error) {
	return matmul(&matmulSpec{op: "Linear", x: x, w: weight, b: bias})
}

// Linear is torch.nn.Linear: Weight [Out, In] and an optional Bias [Out],
// with the Precision its Forward multiplies in (PrecisionExact unless set).
type Linear struct {
	In, Out      int
	Weight, Bias *gpu.Tensor
	Precision    Precision
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

// Forward computes x @ Weightᵀ + Bias in the layer's Precision.
func (l *Linear) Forward(x *gpu.Tensor) (*gpu.Tensor, error) {
	return LinearForwardPrecision(x, l.Weight, l.Bias, l.Precision)
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
