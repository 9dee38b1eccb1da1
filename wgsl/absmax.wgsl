// Per-row absolute maximum of x [rows, d], one workgroup of 256 per row,
// taken on the f32 bits of |x|, where a NaN is above infinity, which is
// above every number: a row with a NaN has a NaN maximum, as the float64
// reference gives it. FINAL writes the FP8 scale (fp8_scale) instead of
// the absmax itself (a per-tensor scale reduces the row maxima in a
// second dispatch over them as one row).
//
// Specialised on: FINAL and the dtype of x.
var<workgroup> redm: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nw.x + wid.x;
  if (row >= p.rows) { return; }
  var m = 0u;
  for (var j = lid; j < p.d; j = j + 256u) { m = max(m, bitcast<u32>(ld_x(row * p.d + j)) & 0x7fffffffu); }
  redm[lid] = m;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) { redm[lid] = max(redm[lid], redm[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let a = redm[0];
    if (FINAL) { st_s(row, fp8_scale(a, p.qmax)); } else { st_s(row, bitcast<f32>(a)); }
  }
}
