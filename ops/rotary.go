package ops

import (
	"math"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
	"github.com/webfuser/webfuser/internal/rope"
)

// ApplyRotaryEmb rotates x [B,S,H,D] by the angles whose cosines and
// sines are tabled per position: pair (x0, x1) becomes (x0*c - x1*s,
// x0*s + x1*c) in f32, cast back to x's dtype. interleaved (TeleFuser's
// default) pairs x[2i] with x[2i+1]; otherwise pairs are x[i] and
// x[i+D/2] (half-split, NeoX). cos and sin are [S, D/2] (leading
// singleton dimensions allowed, e.g. [S,1,1,D/2]) or full width [S, D]:
// interleaved then reads column 2i for pair i, as TeleFuser strides it
// (cos[..., ::2]), and half-split reads column i.
func ApplyRotaryEmb(x, cos, sin *gpu.Tensor, interleaved bool) (*gpu.Tensor, error) {
	const op = "ApplyRotaryEmb"
	if err := checkFloat(op, "x", x); err != nil {
		return nil, err
	}
	if len(x.Shape) != 4 {
		return nil, errorf(op, "x", "shape %v, want [B,S,H,D]", x.Shape)
	}
	S, D := x.Shape[1], x.Shape[3]
	if D%2 != 0 {
		return nil, errorf(op, "x", "head dimension %d is odd", D)
	}
	var width int
	tables := operands{{"cos", cos}, {"sin", sin}}
	for _, nt := range tables {
		name, t := nt.name, nt.t
		if err := checkFloat(op, name, t); err != nil {
			return nil, err
		}
		w := 0
		if len(t.Shape) > 0 {
			w = t.Shape[len(t.Shape)-1]
		}
		if (w != D/2 && w != D) || t.Numel() != S*w || (len(t.Shape) > 1 && t.Shape[0] != S) {
			return nil, errorf(op, name, "shape %v, want [%d,%d] or full width [%d,%d]", t.Shape, S, D/2, S, D)
		}
		if width != 0 && w != width {
			return nil, errorf(op, name, "shape %v differs in width from the other table", t.Shape)
		}
		width = w
	}
	d := x.Device()
	if err := tables.check(op, d); err != nil {
		return nil, err
	}
	if rotaryRowsFit(D, interleaved) && launch.RotaryRows(x.DType.Size()) {
		return rotaryRowsKernel(x, cos, sin, interleaved, width, rotaryVariant{}).RunOne(d)
	}
	return rotaryFlatKernel(x, cos, sin, interleaved, width).RunOne(d)
}

// rotaryRowsFit reports whether the row kernel takes heads of D values:
// D a multiple of 8 (interleaved) or 16 (half-split).
func rotaryRowsFit(D int, interleaved bool) bool {
	return (interleaved && D%8 == 0) || (!interleaved && D%16 == 0)
}

// rotaryFlatKernel declares the flat rotary kernel (wgsl/elementwise.wgsl)
// for x [B,S,H,D] and tables [S, width]: one invocation per pack of
// four values (D a multiple of 4 interleaved, of 8 half-split: a pack of
// each half) or per pair, the table entries loaded per invocation.
func rotaryFlatKernel(x, cos, sin *gpu.Tensor, interleaved bool, width int) *kernel.Kernel {
	d := x.Device()
	S, H, D := x.Shape[1], x.Shape[2], x.Shape[3]
	ce := 1
	if width == D && interleaved {
		ce = 2
	}
	vec := 1
	if (interleaved && D%4 == 0) || (!interleaved && D%8 == 0) {
		vec = 4
	}
	half := D / 2
	var units int
	var body string
	switch {
	case interleaved && vec == 4: // one pack: pairs 2u and 2u+1
		units = x.Numel() / 4
		body = `let row = i / p.upr;
  let u = i - row * p.upr;
  let t = (row / p.h) % p.s;
  let v = ldv_x(i);
  let c0 = ld_cos(t * p.cs + 2u * u * p.ce); let s0 = ld_sin(t * p.cs + 2u * u * p.ce);
  let c1 = ld_cos(t * p.cs + (2u * u + 1u) * p.ce); let s1 = ld_sin(t * p.cs + (2u * u + 1u) * p.ce);
  stv_y(i, P(v.x * c0 - v.y * s0, v.x * s0 + v.y * c0, v.z * c1 - v.w * s1, v.z * s1 + v.w * c1));`
	case interleaved: // one pair
		units = x.Numel() / 2
		body = `let row = i / p.upr;
  let u = i - row * p.upr;
  let t = (row / p.h) % p.s;
  let c = ld_cos(t * p.cs + u * p.ce); let s = ld_sin(t * p.cs + u * p.ce);
  let x0 = ld_x(2u * i); let x1 = ld_x(2u * i + 1u);
  st_y(2u * i, x0 * c - x1 * s);
  st_y(2u * i + 1u, x0 * s + x1 * c);`
	case vec == 4: // half-split, four pairs: a pack of each half
		units = x.Numel() / 8
		body = `let row = i / p.upr;
  let u = i - row * p.upr;
  let t = (row / p.h) % p.s;
  let j = 4u * u;
  let c = P(ld_cos(t * p.cs + j), ld_cos(t * p.cs + j + 1u), ld_cos(t * p.cs + j + 2u), ld_cos(t * p.cs + j + 3u));
  let s = P(ld_sin(t * p.cs + j), ld_sin(t * p.cs + j + 1u), ld_sin(t * p.cs + j + 2u), ld_sin(t * p.cs + j + 3u));
  let a = (row * p.d + j) / 4u;
  let b = (row * p.d + j + p.half) / 4u;
  let x0 = ldv_x(a); let x1 = ldv_x(b);
  stv_y(a, x0 * c - x1 * s);
  stv_y(b, x0 * s + x1 * c);`
	default: // half-split, one pair
		units = x.Numel() / 2
		body = `let row = i / p.upr;
  let u = i - row * p.upr;
  let t = (row / p.h) % p.s;
  let c = ld_cos(t * p.cs + u); let s = ld_sin(t * p.cs + u);
  let x0 = ld_x(row * p.d + u); let x1 = ld_x(row * p.d + u + p.half);
  st_y(row * p.d + u, x0 * c - x1 * s);
  st_y(row * p.d + u + p.half, x0 * s + x1 * c);`
	}
	rows := x.Numel() / max(1, D)
	upr := 0
	if rows > 0 {
		upr = units / rows
	}
	k := elementwise(d, "rotary", vec, units).Snippet("BODY", body)
	k.In("x", x).In("cos", cos).In("sin", sin).Out("y", x.DType, x.Shape...)
	k.U32("upr", upr).U32("h", H).U32("s", S).U32("cs", width)
	if interleaved {
		k.U32("ce", ce)
	} else {
		k.U32("d", D).U32("half", half)
	}
	return k
}

// rotaryVariant is a launch shape of the row rotary kernel; the zero
// value takes internal/launch's choices.
type rotaryVariant struct {
	want     int             // target work units per invocation; 0: launch's
	store    launch.Rounding // how bf16 outputs round, where setStore (see launch.BF16StoreRounding)
	setStore bool
	noTable  bool // a probe: constant cosines and sines, the tables read only in a branch never taken
}

// rotaryRowsKernel declares the row rotary kernel (wgsl/rotary_rows.wgsl)
// for x [B,S,H,D] with D a multiple of 8 (interleaved) or 16
// (half-split) and tables [S, width]: one workgroup per token, units of
// eight values, and the token's table row found once per invocation.
func rotaryRowsKernel(x, cos, sin *gpu.Tensor, interleaved bool, width int, v rotaryVariant) *kernel.Kernel {
	d := x.Device()
	S, H, D := x.Shape[1], x.Shape[2], x.Shape[3]
	rows := x.Shape[0] * S
	ud := D / 8 // x units per head
	uh, want := ud, launch.RowUnitsPerInvocation
	if !interleaved {
		uh, want = ud/2, launch.GatedUnitsPerInvocation
	}
	if v.want != 0 {
		want = v.want
	}
	cu := H * uh
	wg, np := launch.Row(d, cu, want)
	f := newFastOut(x.DType, 4, launch.RoundInt) // no intermediate roundings
	f.units, f.storeMode = 2, launch.BF16StoreRounding(d)
	if v.setStore {
		f.storeMode = v.store
	}
	rp := 2
	var table string
	ts := width / 8 // table units per row
	switch {
	case !interleaved:
		rp = 4
		table = "cu8 = ldu_cos(p.ts * t + c); su8 = ldu_sin(p.ts * t + c);"
	case width == D: // full width: pair i reads column 2i
		table = `let cw = ldu_cos(p.ts * t + c); let sw = ldu_sin(p.ts * t + c);
    cq = P(cw[0].x, cw[0].z, cw[1].x, cw[1].z); sq = P(sw[0].x, sw[0].z, sw[1].x, sw[1].z);`
	default:
		ts = width / 4 // table packs per row
		table = "cq = ldv_cos(p.ts * t + c); sq = ldv_sin(p.ts * t + c);"
	}
	if v.noTable {
		table = "cq = P(0.8); sq = P(0.6); cu8 = splat(0.8); su8 = splat(0.6); if (p.rows == 0xffffffffu) { " + table + " }"
	}
	k := &kernel.Kernel{Name: "rotary_rows", Vec: 4, Units: 2, Files: []string{"rotary_rows"}, Grid: d.Groups(rows)}
	k.Uint("WG", wg).Uint("NP", max(np, 1)).Uint("UD", ud).Uint("UH", max(uh, 1)).Uint("RP", rp).
		Bool("HALF", !interleaved).Bool("FIXED", wg%max(uh, 1) == 0)
	k.In("x", x).In("cos", cos).In("sin", sin).Out("y", x.DType, x.Shape...)
	k.U32("rows", rows).U32("s", max(S, 1)).U32("cu", cu).U32("xu", H*ud).U32("ts", ts)
	f.declare(k)
	return k.Snippet("TABLE", table).Snippet("KEEP", f.keep("v")).
		Snippet("STORE_FN", "fn store_fast(i: u32, u: PU) { "+f.store("i")+" }")
}

// RotaryTables3D builds Wan-style 3-D rotary tables for a grid of frames
// x height x width tokens (row-major, frame slowest) and head dimension
// headDim: the headDim/2 frequency pairs split into c-2(c/3), c/3 and c/3
// pairs (c = headDim/2) driven by the frame, row and column index, each
// part with frequencies theta^(-2j/partDim). It returns cos and sin
// [F*H*W, headDim/2] in dt.
func RotaryTables3D(d *gpu.Device, dt dtype.DType, frames, height, width, headDim int, theta float64) (cos, sin *gpu.Tensor, err error) {
	if frames < 1 || height < 1 || width < 1 || headDim < 2 || headDim%2 != 0 {
		return nil, nil, errorf("RotaryTables3D", "", "grid %dx%dx%d and head dimension %d: want positive sizes and an even head dimension", frames, height, width, headDim)
	}
	if !(theta > 1) || math.IsInf(theta, 0) {
		return nil, nil, errorf("RotaryTables3D", "", "theta %g must be a finite number above 1", theta)
	}
	c, s := rope.Tables3D(frames, height, width, headDim, theta)
	if cos, err = d.Upload(dt, c.Shape, c.Float32()); err != nil {
		return nil, nil, err
	}
	if sin, err = d.Upload(dt, s.Shape, s.Float32()); err != nil {
		cos.Release()
		return nil, nil, err
	}
	return cos, sin, nil
}
