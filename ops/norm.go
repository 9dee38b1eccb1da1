package ops

import (
	"fmt"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
	"github.com/webfuser/webfuser/internal/shapes"
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

// String names the norm, "RMSNorm" or "LayerNorm".
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
	variant normVariant
	once    bool // norm_infer's rounding: f32 throughout, one rounding to x's dtype
}

// normVariant is a launch shape of the fused norm+modulate kernel; the
// zero value takes internal/launch's choices.
type normVariant struct {
	wg       int             // workgroup size; 0: launch.Row's
	round    launch.Rounding // the bf16 fast path's rounding, where setRnd
	setRnd   bool
	store    launch.Rounding // how bf16 outputs round, where setStore (see launch.BF16StoreRounding)
	setStore bool
	rpw      int // rows per workgroup, 1 or 2 (where pairRows allows); 0: launch.NormRowsPerWorkgroup's
}

// name lists the variant's settings that differ from launch's choice,
// as benchmark rows name them: "round=fma/store=fma", "rpw=2".
func (v normVariant) name() string {
	var parts []string
	if v.wg != 0 {
		parts = append(parts, fmt.Sprintf("wg=%d", v.wg))
	}
	if v.rpw != 0 {
		parts = append(parts, fmt.Sprintf("rpw=%d", v.rpw))
	}
	if v.setRnd {
		parts = append(parts, "round="+v.round.String())
	}
	if v.setStore {
		parts = append(parts, "store="+v.store.String())
	}
	return strings.Join(parts, "/")
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
	if s.b != nil && s.w == nil && s.kind == KindRMSNorm && !s.once {
		return errorf(op, "bias", "needs a weight")
	}
	if !(s.eps >= 0) {
		return errorf(op, "", "eps must be non-negative, got %g", s.eps)
	}
	s.outDT = s.x.DType
	if s.kind == KindRMSNorm && s.w != nil && !s.once {
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

// run allocates the output and dispatches the norm kernel for a validated spec.
func (s *normSpec) run() (*gpu.Tensor, error) {
	k, err := s.kernel()
	if err != nil {
		return nil, err
	}
	return k.RunOne(s.x.Device())
}

// kernel declares the norm kernel for a validated spec: one workgroup per
// row, the row held in registers between the statistics and the output.
func (s *normSpec) kernel() (*kernel.Kernel, error) {
	dev := s.x.Device()
	vec, units := launch.Packing(s.d, s.x.DType)
	du := s.d / (vec * units)
	rpw := launch.NormRowsPerWorkgroup(s.mod != nil)
	if s.variant.rpw != 0 {
		rpw = s.variant.rpw
	}
	if !s.pairRows() {
		rpw = 1
	}
	want := launch.NormUnitsPerInvocation(vec, s.x.DType)
	wg, np := launch.Row(dev, du, max(1, want/rpw))
	if s.variant.wg != 0 {
		wg, np = s.variant.wg, (du+s.variant.wg-1)/s.variant.wg
	}
	if np*units > launch.MaxRegisterPacks {
		return nil, errorf(s.op, "x", "rows of %d elements exceed the kernel's limit of %d", s.d, wg*launch.MaxRegisterPacks*vec)
	}
	if np*units*rpw > launch.MaxRegisterPacks {
		rpw = 1
	}
	sg := dev.Features.Subgroups
	k := &kernel.Kernel{Name: "norm", Vec: vec, Units: units, Subgroups: sg,
		Files: []string{reduceFile(sg), "norm"}, Grid: dev.Groups((s.rows + rpw - 1) / rpw)}
	k.Uint("WG", wg).Uint("NP", np).Uint("RPW", rpw).Bool("LAYER", s.kind == KindLayerNorm).Bool("MOD", s.mod != nil)
	k.In("x", s.x)
	var loads, out []string
	if s.w != nil {
		k.In("w", s.w)
		loads = append(loads, "let wu = ldu_w(j);")
		if s.kind == KindRMSNorm && !s.once {
			// TeleFuser rounds the normalised row to the weight's dtype first.
			out = append(out, "y = rnd_w$U(y) * wu[h];")
		} else {
			out = append(out, "y = y * wu[h];")
		}
	}
	if s.b != nil {
		k.In("b", s.b)
		loads = append(loads, "let bu = ldu_b(j);")
		if s.kind == KindRMSNorm && !s.once {
			out = append(out, "y = rnd_w$U(y) + bu[h];")
		} else {
			out = append(out, "y = y + bu[h];")
		}
	}
	k.U32("rows", s.rows).U32("d", s.d).U32("du", du).F32("eps", s.eps)
	bases := ""
	if s.mod != nil {
		k.In("sc", s.mod.Scale).In("sh", s.mod.Shift)
		// The row's operand offsets are computed once, not per unit.
		bases = rowModulateBases
		loads = append(loads, unitModulateLoads(s.bs.Scalar(), s.bh.Scalar()))
		out = append(out, "y = rnd_y$U(y);", "y = y * (P(p.scale_const) + scu[h]) + shu[h];")
		modulateUniforms(k, s.x.Shape[1], s.mod.Constant, s.bs, s.bh)
	}
	k.Out("y", s.outDT, s.x.Shape...)
	body := strings.Join(out, "\n        ")
	k.Snippet("MOD_BASES", bases).
		Snippet("UNIT_LOADS", strings.Join(loads, "\n      ")).
		Snippet("OUTPUT_CHECKED", strings.ReplaceAll(body, "$U", ""))
	if s.mod == nil {
		// $U marks the roundings: checked in one output pass, unchecked in the other.
		k.Snippet("OUTPUT_UNCHECKED", strings.ReplaceAll(body, "$U", "_unchecked")+checkOutput(s.outDT)).
			Snippet("STORE_FAST", "stu_y_unchecked(base + j, u);")
		return k, nil
	}
	// The fused norm+modulate rounds three times per value; on its fast
	// path the two intermediate roundings may use the float pipe.
	mode := launch.BF16Rounding(dev)
	if s.variant.setRnd {
		mode = s.variant.round
	}
	f := newFastOut(s.outDT, vec, mode)
	f.units, f.storeMode = units, launch.BF16StoreRounding(dev)
	if s.variant.setStore {
		f.storeMode = s.variant.store
	}
	fast := body
	for _, name := range []string{"w", "y"} {
		dt := s.outDT
		if name == "w" && s.w != nil {
			dt = s.w.DType
		}
		fast = strings.ReplaceAll(fast, "rnd_"+name+"$U(y)", f.rnd(false, name, dt, "y"))
	}
	f.declare(k)
	k.Snippet("OUTPUT_UNCHECKED", fast+joinLine(f.keep("y"))).Snippet("STORE_FAST", f.store("base + j"))
	return k, nil
}

// pairRows reports whether the norm kernel may give two rows to a
// workgroup: RMSNorm (one statistic per row, so both rows reduce as one
// vec2), and with modulate only where each pair of rows (2i, 2i+1) reads
// the same scale and shift rows: L even, and each operand constant over
// l or constant over runs of an even number of tokens (per frame).
func (s *normSpec) pairRows() bool {
	if s.kind != KindRMSNorm {
		return false
	}
	if s.mod == nil {
		return true
	}
	pair := func(b shapes.Broadcast) bool { return b.SL == 0 || b.LDiv%2 == 0 }
	return s.x.Shape[1]%2 == 0 && pair(s.bs) && pair(s.bh)
}

// reduceFile is the workgroup reduction a row kernel includes.
func reduceFile(subgroups bool) string {
	if subgroups {
		return "reduce_subgroup"
	}
	return "reduce_tree"
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

// NormInfer computes TeleFuser's norm_infer kernel: RMSNorm or LayerNorm
// (kind) over the last dimension of x, times weight and plus bias when
// given, in f32 with one rounding to x's dtype at the end (RMSNormForward
// rounds as RMSNorm.forward_native: the normalised row, then the product).
// weight and bias may each be nil.
func NormInfer(kind NormKind, x, weight, bias *gpu.Tensor, eps float32) (*gpu.Tensor, error) {
	return normalize(&normSpec{op: "NormInfer", kind: kind, x: x, w: weight, b: bias, eps: eps, once: true})
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

// checkOutput is the WGSL line that adds an output pack y to nan_sum
// before an unchecked store of dtype dt, or nothing where stores are
// always checked.
func checkOutput(dt dtype.DType) string {
	if dt == dtype.BF16 {
		return "\n        nan_sum = nan_sum + hsum(y);"
	}
	return ""
}
