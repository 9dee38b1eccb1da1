// y = x * (scale_constant + scale) + shift, elementwise over packs of x
// [rows, C] (rows = B*L), with scale and shift broadcast by strides:
// element (b, l, c) reads index b*sb + (l/ldiv)*sl + c*sc. One pack per
// invocation; dispatched as a 2-D grid when there are many.
//
// Specialised on: SCALE_VEC, SHIFT_VEC (pack loads, or one scalar splat
// when the operand is a scalar) and the dtypes and pack width of buffers.

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nw.x + wid.x) * 256u + lid;
  if (i >= p.packs) { return; }
  let row = i / p.cp;
  let c = (i - row * p.cp) * V;
  {{LOAD_OPERANDS}}
  stv_y(i, ldv_x(i) * (P(p.scale_const) + sc) + sh);
}
