// Per-row absolute maximum of x [rows, d], one workgroup of 256 per row.
// FINAL writes the FP8 scale max(absmax, 1e-12) / p.qmax instead of the
// absmax itself (a per-tensor scale reduces the row maxima in a second
// dispatch over them as one row).
//
// Specialised on: FINAL and the dtype of x.
var<workgroup> redm: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nw.x + wid.x;
  if (row >= p.rows) { return; }
  var m = 0.0;
  for (var j = lid; j < p.d; j = j + 256u) { m = max(m, abs(ld_x(row * p.d + j))); }
  redm[lid] = m;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) { redm[lid] = max(redm[lid], redm[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let a = redm[0];
    if (FINAL) { st_s(row, div_rn(max(a, 1e-12), p.qmax)); } else { st_s(row, a); }
  }
}
