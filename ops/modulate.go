package ops

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
	"github.com/webfuser/webfuser/internal/shapes"
)

// modulateUniforms declares the uniforms that describe scale and shift
// broadcasts (see rowModulateBases and wgsl/broadcast.wgsl).
func modulateUniforms(k *kernel.Kernel, l int, constant float32, bs, bh shapes.Broadcast) {
	k.U32("l", l).F32("scale_const", constant).
		U32("s_sb", bs.SB).U32("s_sl", bs.SL).U32("s_ldiv", bs.LDiv).
		U32("h_sb", bh.SB).U32("h_sl", bh.SL).U32("h_ldiv", bh.LDiv)
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
	if err := ts.check(op, x.Device()); err != nil {
		return nil, err
	}
	return modulateKernel(x, scale, shift, scaleConstant, bs, bh, modulateVariant{rows: launch.ModulateRows(x.Shape[2])}).RunOne(x.Device())
}

// modulateVariant is a launch shape of the modulate kernel.
type modulateVariant struct {
	rows  bool // one workgroup per row (modulate_rows.wgsl) or one pack per invocation
	wg    int  // workgroup size of the row kernel; 0 lets launch.Row pick
	units int  // packs per unit of the row kernel; 0 lets launch.Packing pick
}

// modulateKernel declares one modulate variant writing a new output y.
func modulateKernel(x, scale, shift *gpu.Tensor, k float32, bs, bh shapes.Broadcast, v modulateVariant) *kernel.Kernel {
	dev := x.Device()
	rows, c := x.Shape[0]*x.Shape[1], x.Shape[2]
	if !v.rows {
		vec := launch.PackWidth(c)
		packs := x.Numel() / vec
		kn := &kernel.Kernel{Name: "modulate", Vec: vec, Files: []string{"broadcast", "modulate"}, Grid: launch.Flat(dev, packs)}
		kn.In("x", x).In("sc", scale).In("sh", shift).Out("y", x.DType, x.Shape...)
		kn.U32("packs", packs).U32("cp", c/vec)
		modulateUniforms(kn, x.Shape[1], k, bs, bh)
		return kn.Snippet("LOAD_OPERANDS", modulateLoads("row", "c", bs.Scalar(), bh.Scalar()))
	}
	vec, units := launch.Packing(c, x.DType)
	if v.units != 0 {
		units = v.units
	}
	cu := c / (vec * units)
	wg, np := launch.Row(dev, cu, launch.ModulateUnitsPerInvocation)
	if v.wg != 0 {
		wg, np = v.wg, (cu+v.wg-1)/v.wg
	}
	kn := &kernel.Kernel{Name: "modulate_rows", Vec: vec, Units: units, Files: []string{"modulate_rows"}, Grid: dev.Groups(rows)}
	kn.Uint("WG", wg).Uint("NP", np)
	kn.In("x", x).In("sc", scale).In("sh", shift).Out("y", x.DType, x.Shape...)
	kn.U32("rows", rows).U32("cu", cu)
	modulateUniforms(kn, x.Shape[1], k, bs, bh)
	return kn.Snippet("MOD_BASES", rowModulateBases).Snippet("LOAD_OPERANDS", unitModulateLoads(bs.Scalar(), bh.Scalar()))
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
