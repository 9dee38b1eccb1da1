package ops

import (
	"strconv"

	"github.com/webfuser/webfuser/gpu"
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

// dispatchRule is one row of the dispatch table: for a fusion, on
// devices of a type ("" any, "cpu", or a GPU type such as
// "discrete-gpu"), for outputs of at least minElems elements, take path.
type dispatchRule struct {
	fusion   Fusion
	devType  string
	minElems int
	path     Path
	evidence string // the benchmark that backs the row
}

// dispatchTable is consulted top to bottom; the first matching row wins.
// Every row names the benchmark case (BenchmarkDispatch in
// dispatch_bench_test.go) whose figures justify it. The fused path never
// stores the intermediate, so it moves less memory everywhere measured.
var dispatchTable = []dispatchRule{
	// On the H200 the fused GELU epilogue made 4096x1536 outputs 2.6x
	// slower than a plain matmul followed by the activation kernel
	// (bench/dispatch.md); at 8192x3072 the two tie.
	{FuseLinearBiasAct, "discrete-gpu", 1 << 22, PathComposed, "BenchmarkDispatch/linear+bias+activation/4096x1536"},
	{FuseNormModulate, "", 0, PathFused, "BenchmarkDispatch/norm+modulate"},
	{FuseLinearBiasAct, "", 0, PathFused, "BenchmarkDispatch/linear+bias+activation"},
	{FuseGateResidual, "", 0, PathFused, "BenchmarkDispatch/gate+residual"},
}

// ChoosePath returns the path the dispatch table picks for a fusion on
// device d with an output of elems elements.
func ChoosePath(f Fusion, d *gpu.Device, elems int) Path {
	for _, r := range dispatchTable {
		if r.fusion == f && (r.devType == "" || r.devType == d.Info.Type) && elems >= r.minElems {
			return r.path
		}
	}
	return PathComposed
}

// tile is a matmul tile: WX*WY invocations, a (4*WY) x (4*WX) output
// tile, BK deep steps through K.
type tile struct{ wx, wy, bk int }

// smem returns the workgroup memory the tile stages (padded rows, see wgsl/matmul.wgsl).
func (t tile) smem() uint32 { return uint32(t.bk*(4*t.wy+1)*4 + t.bk*(t.wx+1)*16) }

// tileTable lists matmul tiles from largest to smallest; the first that
// fits the device's workgroup memory and invocation limits and whose
// output tile the problem fills (minM rows, minN columns) wins. The last
// row fits every WebGPU device (the core limits are 16 KiB, 256).
var tileTable = []struct {
	t          tile
	minM, minN int
}{
	{tile{16, 16, 16}, 48, 48}, // 64x64, about 8.2 KiB
	{tile{8, 8, 16}, 0, 0},     // 32x32, about 4.2 KiB
	{tile{4, 4, 8}, 0, 0},      // 16x16, about 1.1 KiB
}

// chooseTile picks the matmul tile for an [m,k] x [n,k]ᵀ product on d.
func chooseTile(d *gpu.Device, m, n, k int) tile {
	for _, r := range tileTable {
		t := r.t
		if t.smem() <= d.Limits.MaxWorkgroupMemory && uint32(t.wx*t.wy) <= d.Limits.MaxInvocations &&
			m >= r.minM && n >= r.minN {
			return t
		}
	}
	return tileTable[len(tileTable)-1].t
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
		return s.run(chooseTile(x.Device(), s.m, s.n, s.k))
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
	d := h.Device()
	vec := packWidth(s.n)
	g, r := s.gr.Gate, s.gr.Residual
	return withOutput(d, h.DType, h.Shape, func(y *gpu.Tensor) error {
		pr := newElementwise(d, "gate_residual", vec, `let r = i / p.cols;
  let c = i - r * p.cols;
  let g = ldv_g((r / p.gdiv) * p.gs + c);
  stv_y(i, ldv_res(i) + rnd_y(g * ldv_h(i)));`)
		pr.buf("h", h.DType, false).buf("g", g.DType, false).buf("res", r.DType, false).buf("y", y.DType, true)
		pr.uniform = append(pr.uniform, "cols: u32", "gdiv: u32", "gs: u32")
		pr.extra = append(pr.extra, roundFn("rnd_y", y.DType, vec))
		packs := s.m * s.n / vec
		params := gpu.NewParams().U32(uint32(packs)).U32(uint32(s.n / vec)).U32(uint32(max(1, s.gdiv))).U32(uint32(s.gstride / vec))
		return launch(pr, packs, params, h, g, r, y)
	})
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
