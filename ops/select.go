package ops

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// GateSelect holds the operands of TeleFuser's per-token modulation
// select, the image-to-video conditioning path where some tokens (the
// first frame's) take another timestep's modulation: two sets of scale,
// shift and gate, each [B,C] in any float dtype, and Index [B,L], u8
// (a bool tensor's bytes) or i32, whose nonzero entries pick set 1 for
// that token and whose zeros pick set 0.
type GateSelect struct {
	Scale0, Shift0, Gate0 *gpu.Tensor
	Scale1, Shift1, Gate1 *gpu.Tensor
	Index                 *gpu.Tensor
}

// selectSpec is one validated call of the gate-select family.
type selectSpec struct {
	op                  string
	x, res, resGate     *gpu.Tensor
	w, b                *gpu.Tensor
	eps                 float32
	norm                bool
	s                   GateSelect
	bsz, l, c, rows     int
	vec, units, wg, np  int
	cu, bcu, woff, boff int
	nPacked             int
}

func (sp *selectSpec) validate() error {
	op := sp.op
	if err := checkFloat(op, "x", sp.x); err != nil {
		return err
	}
	if len(sp.x.Shape) != 3 || sp.x.Shape[2] == 0 {
		return errorf(op, "x", "shape %v, want [B,L,C] with C > 0", sp.x.Shape)
	}
	sp.bsz, sp.l, sp.c = sp.x.Shape[0], sp.x.Shape[1], sp.x.Shape[2]
	sp.rows = sp.bsz * sp.l
	var ts operands
	ts.add("x", sp.x)
	for _, o := range []struct {
		name string
		t    *gpu.Tensor
	}{{"scale0", sp.s.Scale0}, {"shift0", sp.s.Shift0}, {"gate0", sp.s.Gate0}, {"scale1", sp.s.Scale1}, {"shift1", sp.s.Shift1}, {"gate1", sp.s.Gate1}} {
		if err := checkFloat(op, o.name, o.t); err != nil {
			return err
		}
		if !sameShape(o.t.Shape, []int{sp.bsz, sp.c}) {
			return errorf(op, o.name, "shape %v, want [B,C] = [%d,%d]", o.t.Shape, sp.bsz, sp.c)
		}
		ts.add(o.name, o.t)
	}
	idx := sp.s.Index
	if idx == nil {
		return errorf(op, "index", "is required")
	}
	if idx.DType != dtype.U8 && idx.DType != dtype.I32 {
		return &Error{Op: op, Tensor: "index", Rule: fmt.Sprintf("dtype %v is not supported (want u8 or i32)", idx.DType), Err: ErrDType}
	}
	if !sameShape(idx.Shape, []int{sp.bsz, sp.l}) {
		return errorf(op, "index", "shape %v, want [B,L] = [%d,%d]", idx.Shape, sp.bsz, sp.l)
	}
	ts.add("index", idx)
	if sp.res != nil || sp.resGate != nil {
		for _, o := range []struct {
			name string
			t    *gpu.Tensor
		}{{"residual", sp.res}, {"residual_gate", sp.resGate}} {
			if err := checkFloat(op, o.name, o.t); err != nil {
				return err
			}
			if !sameShape(o.t.Shape, sp.x.Shape) {
				return errorf(op, o.name, "shape %v, want x's %v", o.t.Shape, sp.x.Shape)
			}
			ts.add(o.name, o.t)
		}
	}
	if err := checkVector(op, "weight", sp.w, sp.c); err != nil {
		return err
	}
	if err := checkVector(op, "bias", sp.b, sp.c); err != nil {
		return err
	}
	ts.add("weight", sp.w)
	ts.add("bias", sp.b)
	if !(sp.eps >= 0) {
		return errorf(op, "", "eps must be non-negative, got %g", sp.eps)
	}
	if err := ts.check(op, sp.x.Device()); err != nil {
		return err
	}
	dev := sp.x.Device()
	sp.vec, sp.units = launch.Packing(sp.c, sp.x.DType)
	sp.cu = sp.c / (sp.vec * sp.units)
	sp.bcu = sp.bsz * sp.cu
	sp.wg, sp.np = launch.Row(dev, sp.cu, launch.NormUnitsPerInvocation(sp.vec, sp.x.DType))
	if sp.norm && sp.np*sp.units > launch.MaxRegisterPacks {
		return errorf(op, "x", "rows of %d elements exceed the kernel's limit of %d", sp.c, sp.wg*launch.MaxRegisterPacks*sp.vec)
	}
	sp.nPacked = 6 * sp.bsz * sp.c
	sp.woff, sp.boff = 6*sp.bcu, 6*sp.bcu
	if sp.w != nil {
		sp.boff += sp.cu
		sp.nPacked += sp.c
	}
	if sp.b != nil {
		sp.nPacked += sp.c
	}
	return nil
}

// pack gathers the six modulation operands, and the LayerNorm weight and
// bias where given, into one f32 tensor (see wgsl/gate_select.wgsl): the
// select kernel then binds eight buffers at most, WebGPU's default limit.
func (sp *selectSpec) pack() (*gpu.Tensor, error) {
	d := sp.x.Device()
	bc := sp.bsz * sp.c
	k := elementwise(d, "gate_select_pack", 1, 6*bc).Snippet("BODY", `let t = i / p.bc;
  let e = i - t * p.bc;
  var v = 0.0;
  switch t {
    case 0u: { v = ld_s0(e); }
    case 1u: { v = ld_h0(e); }
    case 2u: { v = ld_g0(e); }
    case 3u: { v = ld_s1(e); }
    case 4u: { v = ld_h1(e); }
    default: { v = ld_g1(e); }
  }
  st_m(i, v);`)
	k.In("s0", sp.s.Scale0).In("h0", sp.s.Shift0).In("g0", sp.s.Gate0).
		In("s1", sp.s.Scale1).In("h1", sp.s.Shift1).In("g1", sp.s.Gate1).
		Out("m", dtype.F32, sp.nPacked).U32("bc", bc)
	m, err := k.RunOne(d)
	if err != nil || (sp.w == nil && sp.b == nil) {
		return m, err
	}
	// The affine weight and bias follow the six sets.
	body, wk := "", elementwise(d, "gate_select_pack_affine", 1, sp.c)
	if sp.w != nil {
		wk.In("w", sp.w)
		body += "st_m(p.off + i, ld_w(i));\n  "
	}
	if sp.b != nil {
		wk.In("b", sp.b)
		body += fmt.Sprintf("st_m(p.off + %d * p.n + i, ld_b(i));", boolInt(sp.w != nil))
	}
	wk.Into("m", m).U32("off", 6*bc).Snippet("BODY", body)
	if _, err := wk.Run(d); err != nil {
		m.Release()
		return nil, err
	}
	return m, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// kernel declares the select kernel for a validated spec and its packed operands m.
func (sp *selectSpec) kernel(m *gpu.Tensor) *kernel.Kernel {
	dev := sp.x.Device()
	sg := sp.norm && dev.Features.Subgroups
	files := []string{"reduce_tree", "gate_select"}
	if sg {
		files[0] = "reduce_subgroup"
	}
	k := &kernel.Kernel{Name: "gate_select", Vec: sp.vec, Units: sp.units, Subgroups: sg, Files: files, Grid: dev.Groups(sp.rows)}
	k.Uint("WG", sp.wg).Uint("NP", sp.np).Bool("NORM", sp.norm)
	k.In("x", sp.x)
	resid := ""
	if sp.res != nil {
		k.In("res", sp.res).In("rg", sp.resGate)
		resid = `let ru = ldu_res(base + j);
      let gu = ldu_rg(base + j);
      for (var h = 0u; h < H; h = h + 1u) { u[h] = ru[h] + gu[h] * u[h]; }
      stu_ro(base + j, u);`
	}
	k.In("m", m)
	index := "((idx_buf[row >> 2u] >> ((row & 3u) * 8u)) & 0xffu) != 0u"
	if sp.s.Index.DType == dtype.I32 {
		index = "idx_buf[row] != 0u"
	}
	k.In("idx", sp.s.Index)
	k.Out("y", sp.x.DType, sp.x.Shape...)
	if sp.res != nil {
		k.Out("ro", sp.x.DType, sp.x.Shape...)
	}
	k.Out("gate", sp.x.DType, sp.x.Shape...)
	k.U32("rows", sp.rows).U32("l", max(sp.l, 1)).U32("c", sp.c).U32("cu", sp.cu).U32("bcu", sp.bcu)
	loads, affine := "", ""
	k.F32("eps", sp.eps)
	if sp.norm {
		if sp.w != nil {
			k.U32("w_off", sp.woff)
			loads += "let wu = ldu_m(p.w_off + j);"
			affine += "v = v * wu[h];"
		}
		if sp.b != nil {
			k.U32("b_off", sp.boff)
			loads += " let bu = ldu_m(p.b_off + j);"
			affine += " v = v + bu[h];"
		}
	}
	return k.Snippet("INDEX", index).Snippet("RESIDUAL", resid).Snippet("AFFINE_LOADS", loads).Snippet("AFFINE", affine)
}

// run validates, packs and launches; it returns y, the residual output
// (RESID only) and the gate.
func (sp *selectSpec) run() ([]*gpu.Tensor, error) {
	if err := sp.validate(); err != nil {
		return nil, err
	}
	m, err := sp.pack()
	if err != nil {
		return nil, err
	}
	defer m.Release()
	return sp.kernel(m).Run(sp.x.Device())
}

// ScaleShiftGateSelect is TeleFuser's fused_scale_shift_gate_select: for
// x [B,L,C] it returns y = x * (1 + scale) + shift and gate [B,L,C], the
// set's gate broadcast over the token, with the set that s.Index picks per
// token. Math is f32; y and gate have x's dtype.
func ScaleShiftGateSelect(x *gpu.Tensor, s GateSelect) (y, gate *gpu.Tensor, err error) {
	outs, err := (&selectSpec{op: "ScaleShiftGateSelect", x: x, s: s}).run()
	if err != nil {
		return nil, nil, err
	}
	return outs[0], outs[1], nil
}

// LayerNormScaleShiftGateSelect is TeleFuser's
// fused_layernorm_scale_shift_gate_select01: h = LayerNorm(x) over C
// (biased variance, eps, optional weight and bias [C], f32 and never
// rounded), then y = h * (1 + scale) + shift and the gate, as in
// ScaleShiftGateSelect. weight and bias may be nil.
func LayerNormScaleShiftGateSelect(x, weight, bias *gpu.Tensor, eps float32, s GateSelect) (y, gate *gpu.Tensor, err error) {
	outs, err := (&selectSpec{op: "LayerNormScaleShiftGateSelect", x: x, w: weight, b: bias, eps: eps, norm: true, s: s}).run()
	if err != nil {
		return nil, nil, err
	}
	return outs[0], outs[1], nil
}

// ResidualLayerNormScaleShiftGateSelect is TeleFuser's
// fused_residual_layernorm_scale_shift_gate_select01: r = residual +
// residualGate * x (all [B,L,C], f32), stored as residualOut in x's
// dtype, then LayerNormScaleShiftGateSelect on r before rounding.
func ResidualLayerNormScaleShiftGateSelect(x, residual, residualGate, weight, bias *gpu.Tensor, eps float32, s GateSelect) (y, residualOut, gate *gpu.Tensor, err error) {
	const op = "ResidualLayerNormScaleShiftGateSelect"
	if residual == nil {
		return nil, nil, nil, errorf(op, "residual", "is required")
	}
	if residualGate == nil {
		return nil, nil, nil, errorf(op, "residual_gate", "is required")
	}
	outs, err := (&selectSpec{op: op, x: x, res: residual, resGate: residualGate, w: weight, b: bias, eps: eps, norm: true, s: s}).run()
	if err != nil {
		return nil, nil, nil, err
	}
	return outs[0], outs[1], outs[2], nil
}
