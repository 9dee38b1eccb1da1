package ops

import (
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/shapes"
	"github.com/webfuser/webfuser/wgsl"
)

// Default epsilons, as TeleFuser's RMSNorm and LayerNorm use them.
const (
	RMSNormEps   = 1e-5
	LayerNormEps = 1e-6
)

// NormKind selects the normalisation of a norm kernel.
type NormKind int

// The two normalisations TeleFuser uses.
const (
	KindRMSNorm NormKind = iota
	KindLayerNorm
)

func (k NormKind) String() string {
	if k == KindLayerNorm {
		return "LayerNorm"
	}
	return "RMSNorm"
}

// ModulateArgs are the scale and shift of a modulation, y*(Constant+Scale)+Shift.
type ModulateArgs struct {
	Scale, Shift *gpu.Tensor
	Constant     float32
}

// normSpec is one validated normalisation call.
type normSpec struct {
	op      string
	kind    NormKind
	x, w, b *gpu.Tensor
	eps     float32
	mod     *ModulateArgs
	bs, bh  shapes.Broadcast
	rows, d int
	outDT   dtype.DType
}

func (s *normSpec) validate() error {
	op := s.op
	if err := checkFloat(op, "x", s.x); err != nil {
		return err
	}
	if len(s.x.Shape) == 0 || s.x.Shape[len(s.x.Shape)-1] == 0 {
		return errorf(op, "x", "shape %v has no last dimension to normalise", s.x.Shape)
	}
	s.d = s.x.Shape[len(s.x.Shape)-1]
	s.rows = s.x.Numel() / s.d
	if err := checkVector(op, "weight", s.w, s.d); err != nil {
		return err
	}
	if err := checkVector(op, "bias", s.b, s.d); err != nil {
		return err
	}
	if s.b != nil && s.w == nil && s.kind == KindRMSNorm {
		return errorf(op, "bias", "needs a weight")
	}
	if !(s.eps >= 0) {
		return errorf(op, "", "eps must be non-negative, got %g", s.eps)
	}
	s.outDT = s.x.DType
	if s.kind == KindRMSNorm && s.w != nil {
		s.outDT = s.w.DType
	}
	dev := s.x.Device()
	var ts operands
	ts.add("x", s.x)
	ts.add("weight", s.w)
	ts.add("bias", s.b)
	if s.mod != nil {
		var err error
		if err := checkFloat(op, "scale", s.mod.Scale); err != nil {
			return err
		}
		if err := checkFloat(op, "shift", s.mod.Shift); err != nil {
			return err
		}
		if len(s.x.Shape) != 3 {
			return errorf(op, "x", "modulate needs x as [B,L,C], got %v", s.x.Shape)
		}
		if s.bs, err = shapes.ModulateBroadcast(s.x.Shape, s.mod.Scale.Shape); err != nil {
			return errorf(op, "scale", "%v", err)
		}
		if s.bh, err = shapes.ModulateBroadcast(s.x.Shape, s.mod.Shift.Shape); err != nil {
			return errorf(op, "shift", "%v", err)
		}
		ts.add("scale", s.mod.Scale)
		ts.add("shift", s.mod.Shift)
	}
	return ts.check(op, dev)
}

// maxRegisterPacks bounds the packs of a row one invocation keeps in
// registers; rows longer than WG*maxRegisterPacks packs are refused.
const maxRegisterPacks = 32

// run dispatches the norm kernel for a validated spec.
func (s *normSpec) run() (*gpu.Tensor, error) {
	dev := s.x.Device()
	vec, units := packing(s.d, s.x.DType)
	du := s.d / (vec * units)
	// Aim for about 48 bytes of the row per invocation (3 f32 packs) or
	// 6 units of 16-bit storage (96 bytes): enough loads in flight, few
	// invocations per barrier. The H200 sweeps (bench/) put the best
	// workgroup sizes there.
	wg, np := rowLaunch(du, max(1, 48/(vec*s.x.DType.Size())))
	if max := int(dev.Limits.MaxInvocations); wg > max {
		wg, np = max, (du+max-1)/max
	}
	if np*units > maxRegisterPacks {
		return nil, errorf(s.op, "x", "rows of %d elements exceed the kernel's limit of %d", s.d, wg*maxRegisterPacks*vec)
	}
	y, err := dev.NewTensor(s.outDT, s.x.Shape...)
	if err != nil {
		return nil, err
	}
	if err := s.dispatch(y, vec, units, wg, np); err != nil {
		y.Release()
		return nil, err
	}
	return y, nil
}

// packing returns the pack width and packs per unit for rows of n
// elements of dt: units of two packs (one 16-byte access) for 16-bit
// storage when n allows, which the H200 needs to reach copy bandwidth.
func packing(n int, dt dtype.DType) (vec, units int) {
	switch {
	case n%8 == 0 && dt.Size() == 2:
		return 4, 2
	case n%4 == 0:
		return 4, 1
	}
	return 1, 1
}

// rowLaunch picks the workgroup size of a kernel that gives one
// workgroup to a row of n units: the smallest power of two from 32 to 256
// that leaves each invocation at most want units, and np, the units per
// invocation.
func rowLaunch(n, want int) (wg, np int) {
	wg = 32
	for wg < 256 && wg*want < n {
		wg *= 2
	}
	return wg, (n + wg - 1) / wg
}

func (s *normSpec) dispatch(y *gpu.Tensor, vec, units, wg, np int) error {
	pr, params, args := s.program(y, vec, units, wg, np)
	pipe, err := pr.pipeline()
	if err != nil {
		return err
	}
	return s.x.Device().Dispatch(pipe, s.x.Device().Groups(s.rows), params.Bytes(), args...)
}

// program assembles the norm kernel variant for a launch shape, with its
// parameters and arguments.
func (s *normSpec) program(y *gpu.Tensor, vec, units, wg, np int) (*program, *gpu.Params, []*gpu.Tensor) {
	dev := s.x.Device()
	pr := newProgram(dev, "norm", vec, "reduce", "broadcast", "norm").
		constant("WG", wgsl.U32(wg)).constant("NP", wgsl.U32(np)).
		constant("LAYER", wgsl.Bool(s.kind == KindLayerNorm)).
		constant("MOD", wgsl.Bool(s.mod != nil)).
		subgroups(true)
	pr.units = units
	pr.buf("x", s.x.DType, false)
	args := []*gpu.Tensor{s.x}
	var loads, out []string
	if s.w != nil {
		pr.buf("w", s.w.DType, false)
		args = append(args, s.w)
		loads = append(loads, "let wu = ldu_w(j);")
		if s.kind == KindRMSNorm {
			// TeleFuser rounds the normalised row to the weight's dtype first.
			pr.extra = append(pr.extra, roundFn("rnd_w", s.w.DType, vec))
			out = append(out, "y = rnd_w$U(y) * wu[h];")
		} else {
			out = append(out, "y = y * wu[h];")
		}
	}
	if s.b != nil {
		pr.buf("b", s.b.DType, false)
		args = append(args, s.b)
		loads = append(loads, "let bu = ldu_b(j);")
		if s.kind == KindRMSNorm {
			out = append(out, "y = rnd_w$U(y) + bu[h];")
		} else {
			out = append(out, "y = y + bu[h];")
		}
	}
	pr.uniform = []string{"rows: u32", "d: u32", "du: u32", "eps: f32"}
	params := gpu.NewParams().U32(uint32(s.rows)).U32(uint32(s.d)).U32(uint32(s.d / (vec * units))).F32(s.eps)
	pr.vars["MOD_BASES"] = ""
	if s.mod == nil {
		// broadcast.wgsl reads p.l; keep the uniform block well-formed.
		pr.uniform = append(pr.uniform, "l: u32")
		params.U32(1)
	} else {
		pr.buf("sc", s.mod.Scale.DType, false).buf("sh", s.mod.Shift.DType, false)
		args = append(args, s.mod.Scale, s.mod.Shift)
		// The row's operand offsets are computed once, not per unit.
		pr.vars["MOD_BASES"] = rowModulateBases
		pr.extra = append(pr.extra, roundFn("rnd_mid", s.outDT, vec))
		loads = append(loads, unitModulateLoads(s.bs.Scalar(), s.bh.Scalar()))
		out = append(out, "y = rnd_mid$U(y);", "y = y * (P(p.scale_const) + scu[h]) + shu[h];")
		pr.uniform = append(pr.uniform, modulateUniform...)
		appendModulateParams(params, s.x.Shape[1], s.mod.Constant, s.bs, s.bh)
	}
	pr.vars["UNIT_LOADS"] = strings.Join(loads, "\n      ")
	// $U marks the roundings: checked in one output pass, unchecked in the other.
	body := strings.Join(out, "\n        ")
	pr.vars["OUTPUT_CHECKED"] = strings.ReplaceAll(body, "$U", "")
	pr.vars["OUTPUT_UNCHECKED"] = strings.ReplaceAll(body, "$U", "_unchecked") + checkOutput(s.outDT)
	pr.buf("y", y.DType, true)
	return pr, params, append(args, y)
}

func normalize(s *normSpec) (*gpu.Tensor, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s.run()
}

// RMSNormForward computes TeleFuser's RMSNorm over the last dimension of
// x: x * rsqrt(mean(x²) + eps), then times weight (and plus bias) when
// given. The output has weight's dtype when a weight is given, else x's.
// weight and bias may be nil.
func RMSNormForward(x, weight, bias *gpu.Tensor, eps float32) (*gpu.Tensor, error) {
	return normalize(&normSpec{op: "RMSNorm", kind: KindRMSNorm, x: x, w: weight, b: bias, eps: eps})
}

// LayerNormForward computes torch.nn.functional.layer_norm over the last
// dimension of x (biased variance, statistics in f32). weight and bias may be nil.
func LayerNormForward(x, weight, bias *gpu.Tensor, eps float32) (*gpu.Tensor, error) {
	return normalize(&normSpec{op: "LayerNorm", kind: KindLayerNorm, x: x, w: weight, b: bias, eps: eps})
}

// NormModulate computes modulate(norm(x), shift, scale) in one fused
// kernel: the normalised row is rounded to the output dtype (as a
// composition that stored it would) and then scaled and shifted with any
// broadcast form of FusedScaleShift. x must be [B,L,C].
func NormModulate(kind NormKind, x, weight, bias *gpu.Tensor, eps float32, mod ModulateArgs) (*gpu.Tensor, error) {
	return normalize(&normSpec{op: kind.String() + "+Modulate", kind: kind, x: x, w: weight, b: bias, eps: eps, mod: &mod})
}

// RMSNorm is TeleFuser's RMSNorm layer: an optional weight (and bias) of
// size Dim and Eps (default RMSNormEps).
type RMSNorm struct {
	Dim          int
	Eps          float32
	Weight, Bias *gpu.Tensor
}

// NewRMSNorm returns an RMSNorm layer with the default eps and the given
// weight (nil for elementwise_affine=False).
func NewRMSNorm(dim int, weight *gpu.Tensor) *RMSNorm {
	return &RMSNorm{Dim: dim, Eps: RMSNormEps, Weight: weight}
}

// Forward applies the layer to x.
func (m *RMSNorm) Forward(x *gpu.Tensor) (*gpu.Tensor, error) {
	if err := checkFloat("RMSNorm", "x", x); err != nil {
		return nil, err
	}
	if len(x.Shape) == 0 || x.Shape[len(x.Shape)-1] != m.Dim {
		return nil, errorf("RMSNorm", "x", "shape %v, want last dimension %d", x.Shape, m.Dim)
	}
	return RMSNormForward(x, m.Weight, m.Bias, m.Eps)
}

// LayerNorm is torch.nn.LayerNorm as TeleFuser uses it: optional weight
// and bias of size Dim, Eps (default LayerNormEps).
type LayerNorm struct {
	Dim          int
	Eps          float32
	Weight, Bias *gpu.Tensor
}

// NewLayerNorm returns a LayerNorm layer with the default eps; weight and
// bias may be nil (elementwise_affine=False).
func NewLayerNorm(dim int, weight, bias *gpu.Tensor) *LayerNorm {
	return &LayerNorm{Dim: dim, Eps: LayerNormEps, Weight: weight, Bias: bias}
}

// Forward applies the layer to x.
func (m *LayerNorm) Forward(x *gpu.Tensor) (*gpu.Tensor, error) {
	if err := checkFloat("LayerNorm", "x", x); err != nil {
		return nil, err
	}
	if len(x.Shape) == 0 || x.Shape[len(x.Shape)-1] != m.Dim {
		return nil, errorf("LayerNorm", "x", "shape %v, want last dimension %d", x.Shape, m.Dim)
	}
	return LayerNormForward(x, m.Weight, m.Bias, m.Eps)
}
