package ops

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/shapes"
	"github.com/webfuser/webfuser/wgsl"
)

// modulateUniform lists the uniform fields that describe scale and shift
// broadcasts; they follow a "l: u32" field in every kernel that modulates.
var modulateUniform = []string{"l: u32", "scale_const: f32",
	"s_sb: u32", "s_sl: u32", "s_ldiv: u32", "h_sb: u32", "h_sl: u32", "h_ldiv: u32"}

// appendModulateParams writes the values of modulateUniform after l.
func appendModulateParams(p *gpu.Params, l int, constant float32, bs, bh shapes.Broadcast) {
	p.U32(uint32(l)).F32(constant).
		U32(uint32(bs.SB)).U32(uint32(bs.SL)).U32(uint32(bs.LDiv)).
		U32(uint32(bh.SB)).U32(uint32(bh.SL)).U32(uint32(bh.LDiv))
}

// modulateLoads returns WGSL that sets packs sc and sh for the element at
// (row, c): a scalar operand is splat, any other is read as a pack.
func modulateLoads(row, c string, scaleScalar, shiftScalar bool) string {
	load := func(dst, buf, pre string, scalar bool) string {
		if scalar {
			return fmt.Sprintf("let %s = P(ld_%s(0u));", dst, buf)
		}
		return fmt.Sprintf("let %s = ldv_%s(operand_index(%s, %s, p.%s_sb, p.%s_sl, p.%s_ldiv) / V);", dst, buf, row, c, pre, pre, pre)
	}
	return load("sc", "sc", "s", scaleScalar) + "\n        " + load("sh", "sh", "h", shiftScalar)
}

// FusedScaleShift computes TeleFuser's fused_scale_shift:
// y = x * (scaleConstant + scale) + shift for x [B,L,C]. scale and shift
// each take one of the broadcast forms [], [C], [B,C], [B,1,C], [B,L,C]
// or [B,F,1,C] (per frame: token l uses frame l/(L/F)), independently and
// in any float dtype. The output has x's dtype.
func FusedScaleShift(x, scale, shift *gpu.Tensor, scaleConstant float32) (*gpu.Tensor, error) {
	const op = "FusedScaleShift"
	ts := operands{{"x", x}, {"scale", scale}, {"shift", shift}}
	for _, nt := range ts {
		if err := checkFloat(op, nt.name, nt.t); err != nil {
			return nil, err
		}
	}
	if len(x.Shape) != 3 {
		return nil, errorf(op, "x", "shape %v, want [B,L,C]", x.Shape)
	}
	bs, err := shapes.ModulateBroadcast(x.Shape, scale.Shape)
	if err != nil {
		return nil, errorf(op, "scale", "%v", err)
	}
	bh, err := shapes.ModulateBroadcast(x.Shape, shift.Shape)
	if err != nil {
		return nil, errorf(op, "shift", "%v", err)
	}
	dev := x.Device()
	if err := ts.check(op, dev); err != nil {
		return nil, err
	}
	y, err := dev.NewTensor(x.DType, x.Shape...)
	if err != nil {
		return nil, err
	}
	if err := scaleShiftInto(y, x, scale, shift, scaleConstant, bs, bh, chooseModulate(x.Shape[2])); err != nil {
		y.Release()
		return nil, err
	}
	return y, nil
}

// modulateVariant is a launch shape of the modulate kernel.
type modulateVariant struct {
	rows  bool // one workgroup per row (modulate_rows.wgsl) or one pack per invocation
	wg    int  // workgroup size of the row kernel; 0 picks about three units per invocation
	units int  // packs per unit of the row kernel; 0 picks by packing()
}

// scaleShiftInto runs one modulate variant, writing into y.
func scaleShiftInto(y, x, scale, shift *gpu.Tensor, k float32, bs, bh shapes.Broadcast, v modulateVariant) error {
	pr, params, groups := modulateProgram(x, scale, shift, y, k, bs, bh, v)
	pipe, err := pr.pipeline()
	if err != nil {
		return err
	}
	return x.Device().Dispatch(pipe, groups, params.Bytes(), x, scale, shift, y)
}

// modulateProgram assembles one modulate variant with its parameters and grid.
func modulateProgram(x, scale, shift, y *gpu.Tensor, k float32, bs, bh shapes.Broadcast, v modulateVariant) (*program, *gpu.Params, gpu.Grid) {
	dev := x.Device()
	rows, c := x.Shape[0]*x.Shape[1], x.Shape[2]
	if !v.rows {
		vec := packWidth(c)
		pr := newProgram(dev, "modulate", vec, "broadcast", "modulate")
		pr.buf("x", x.DType, false).buf("sc", scale.DType, false).buf("sh", shift.DType, false).buf("y", y.DType, true)
		pr.uniform = append([]string{"packs: u32", "cp: u32"}, modulateUniform...)
		pr.vars["LOAD_OPERANDS"] = modulateLoads("row", "c", bs.Scalar(), bh.Scalar())
		packs := x.Numel() / vec
		params := gpu.NewParams().U32(uint32(packs)).U32(uint32(c / vec))
		appendModulateParams(params, x.Shape[1], k, bs, bh)
		return pr, params, dev.Groups((packs + 255) / 256)
	}
	vec, units := packing(c, x.DType)
	if v.units != 0 {
		units = v.units
	}
	cu := c / (vec * units)
	wg, np := rowLaunch(cu, 3)
	if v.wg != 0 {
		wg, np = v.wg, (cu+v.wg-1)/v.wg
	}
	pr := newProgram(dev, "modulate_rows", vec, "broadcast", "modulate_rows")
	pr.units = units
	pr.constant("WG", wgsl.U32(wg)).constant("NP", wgsl.U32(np))
	pr.vars["MOD_BASES"] = rowModulateBases
	pr.buf("x", x.DType, false).buf("sc", scale.DType, false).buf("sh", shift.DType, false).buf("y", y.DType, true)
	pr.uniform = append([]string{"rows: u32", "cu: u32"}, modulateUniform...)
	pr.vars["LOAD_OPERANDS"] = unitModulateLoads(bs.Scalar(), bh.Scalar())
	params := gpu.NewParams().U32(uint32(rows)).U32(uint32(cu))
	appendModulateParams(params, x.Shape[1], k, bs, bh)
	return pr, params, dev.Groups(rows)
}

// rowModulateBases is WGSL that computes, once per row of x, where the
// row's scale and shift start (s_base, h_base), from row = b*L + l.
const rowModulateBases = `let mb = row / p.l;
  let ml = row - mb * p.l;
  let s_base = mb * p.s_sb + (ml / p.s_ldiv) * p.s_sl;
  let h_base = mb * p.h_sb + (ml / p.h_ldiv) * p.h_sl;`

// unitModulateLoads is WGSL for kernels that walk one row in units (see
// wgsl.Vec), whose operand rows start at s_base and h_base: it sets scu
// and shu, the units of scale and shift at unit j of the row.
func unitModulateLoads(scaleScalar, shiftScalar bool) string {
	load := func(dst, buf, base string, scalar bool) string {
		if scalar {
			return fmt.Sprintf("let %s = splat(ld_%s(0u));", dst, buf)
		}
		return fmt.Sprintf("let %s = ldu_%s(%s / (V * H) + j);", dst, buf, base)
	}
	return load("scu", "sc", "s_base", scaleScalar) + "\n      " + load("shu", "sh", "h_base", shiftScalar)
}

// Modulate is TeleFuser's modulate(x, shift, scale) = x * (1 + scale) + shift.
// Note the argument order: shift before scale, as in TeleFuser.
func Modulate(x, shift, scale *gpu.Tensor) (*gpu.Tensor, error) {
	return FusedScaleShift(x, scale, shift, 1)
}
