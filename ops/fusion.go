package ops

import (
	"strconv"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/launch"
)

// Path says how an operator pair that can be fused runs.
type Path uint8

// The two paths every fusable pair has.
const (
	PathFused    Path = iota // one hand-written kernel
	PathComposed             // the primitives one after another, intermediates stored
)

// String returns "fused" or "composed".
func (p Path) String() string {
	if p == PathComposed {
		return "composed"
	}
	return "fused"
}

// Fusion names an operator pair with a fused kernel and a composed path.
type Fusion uint8

// The fusable pairs of architecture.md.
const (
	FuseNormModulate  Fusion = iota // RMSNorm/LayerNorm then modulate
	FuseLinearBiasAct               // linear + bias then an activation
	FuseGateResidual                // residual + gate * linear(x)
)

// String names the operator pair, e.g. "gate+residual".
func (f Fusion) String() string {
	names := [...]string{"norm+modulate", "linear+bias+activation", "gate+residual"}
	if int(f) < len(names) {
		return names[f]
	}
	return "fusion(" + strconv.Itoa(int(f)) + ")"
}

// fusionRule is one row of the fusion table: for a fusion, on devices
// of a class (any when anyClass), for outputs of at least minElems
// elements, take path.
type fusionRule struct {
	fusion   Fusion
	anyClass bool
	class    gpu.Class
	minElems int
	path     Path
	evidence string // the benchmark that backs the row
}

// fusionTable is consulted top to bottom; the first matching row wins.
// Every row names the benchmark case (BenchmarkDispatch in
// dispatch_test.go) whose figures justify it, run on the NVIDIA machine
// by bench/device.sh dispatch. The fused path never stores the
// intermediate, so it moves less memory everywhere measured.
var fusionTable = []fusionRule{
	// On the H200 the fused GELU epilogue made 4096x1536 outputs 2.6x
	// slower than a plain matmul followed by the activation kernel
	// (bench/results/2026-11-27-h200-dispatch.txt); a second run did not
	// reproduce the gap (2026-11-27-h200-dispatch-2.txt): unsettled.
	{FuseLinearBiasAct, false, gpu.ClassDiscrete, 1 << 22, PathComposed, "BenchmarkDispatch/linear+bias+activation/4096x1536"},
	{FuseNormModulate, true, 0, 0, PathFused, "BenchmarkDispatch/norm+modulate"},
	{FuseLinearBiasAct, true, 0, 0, PathFused, "BenchmarkDispatch/linear+bias+activation"},
	{FuseGateResidual, true, 0, 0, PathFused, "BenchmarkDispatch/gate+residual"},
}

// ChoosePath returns the path the fusion table picks for a fusion on
// device d with an output of elems elements.
func ChoosePath(f Fusion, d *gpu.Device, elems int) Path { return choosePath(f, d.Info.Class, elems) }

func choosePath(f Fusion, c gpu.Class, elems int) Path {
	for _, r := range fusionTable {
		if r.fusion == f && (r.anyClass || r.class == c) && elems >= r.minElems {
			return r.path
		}
	}
	return PathComposed
}

// LinearAct computes act(x @ weightᵀ + bias) on the path the dispatch
// table picks (fused epilogue, or linear then the activation kernel).
func LinearAct(x, weight, bias *gpu.Tensor, act Activation) (*gpu.Tensor, error) {
	p := PathFused
	if x != nil && weight != nil && len(weight.Shape) == 2 {
		p = ChoosePath(FuseLinearBiasAct, x.Device(), x.Numel()/max(1, x.Shape[len(x.Shape)-1])*weight.Shape[0])
	}
	return linearAct(x, weight, bias, act, p)
}

func linearAct(x, weight, bias *gpu.Tensor, act Activation, p Path) (*gpu.Tensor, error) {
	const op = "LinearAct"
	if p == PathFused {
		return matmul(&matmulSpec{op: op, x: x, w: weight, b: bias, act: act})
	}
	h, err := matmul(&matmulSpec{op: op, x: x, w: weight, b: bias})
	if err != nil {
		return nil, err
	}
	defer h.Release()
	return biasAct(op, h, nil, act)
}

// LinearGateResidual computes residual + gate * (x @ weightᵀ + bias),
// TeleFuser's gated residual update, on the path the dispatch table
// picks. gate is [N], [B,N], [B,1,N] or the output's shape.
func LinearGateResidual(x, weight, bias, gate, residual *gpu.Tensor) (*gpu.Tensor, error) {
	p := PathFused
	if residual != nil {
		p = ChoosePath(FuseGateResidual, residual.Device(), residual.Numel())
	}
	return linearGateResidual(x, weight, bias, gate, residual, p)
}

func linearGateResidual(x, weight, bias, gate, residual *gpu.Tensor, p Path) (*gpu.Tensor, error) {
	s := &matmulSpec{op: "LinearGateResidual", x: x, w: weight, b: bias, gr: &GateResidual{gate, residual}}
	if err := s.validate(); err != nil {
		return nil, err
	}
	if p == PathFused {
		return s.run(s.tile())
	}
	h, err := matmul(&matmulSpec{op: s.op, x: x, w: weight, b: bias})
	if err != nil {
		return nil, err
	}
	defer h.Release()
	return gateResidual(s, h)
}

// gateResidual is the composed path's second kernel: y = residual +
// rnd(gate * h), with the gate broadcast validated in s.
func gateResidual(s *matmulSpec, h *gpu.Tensor) (*gpu.Tensor, error) {
	vec := launch.PackWidth(s.n)
	packs := s.m * s.n / vec
	k := elementwise(h.Device(), "gate_residual", vec, packs).Snippet("BODY", `let r = i / p.cols;
  let c = i - r * p.cols;
  let g = ldv_g((r / p.gdiv) * p.gs + c);
  stv_y(i, ldv_res(i) + rnd_y(g * ldv_h(i)));`)
	k.In("h", h).In("g", s.gr.Gate).In("res", s.gr.Residual).Out("y", h.DType, h.Shape...)
	k.U32("cols", s.n/vec).U32("gdiv", max(1, s.gdiv)).U32("gs", s.gstride/vec)
	return k.RunOne(h.Device())
}

// NormThenModulate computes modulate(norm(x), shift, scale) on the path
// the dispatch table picks: NormModulate's fused kernel, or the norm
// kernel followed by FusedScaleShift.
func NormThenModulate(kind NormKind, x, weight, bias *gpu.Tensor, eps float32, mod ModulateArgs) (*gpu.Tensor, error) {
	p := PathFused
	if x != nil {
		p = ChoosePath(FuseNormModulate, x.Device(), x.Numel())
	}
	return normThenModulate(kind, x, weight, bias, eps, mod, p)
}

func normThenModulate(kind NormKind, x, weight, bias *gpu.Tensor, eps float32, mod ModulateArgs, p Path) (*gpu.Tensor, error) {
	if p == PathFused {
		return NormModulate(kind, x, weight, bias, eps, mod)
	}
	var n *gpu.Tensor
	var err error
	if kind == KindRMSNorm {
		n, err = RMSNormForward(x, weight, bias, eps)
	} else {
		n, err = LayerNormForward(x, weight, bias, eps)
	}
	if err != nil {
		return nil, err
	}
	defer n.Release()
	return FusedScaleShift(n, mod.Scale, mod.Shift, mod.Constant)
}
