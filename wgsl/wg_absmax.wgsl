// The largest of the 256 values m of a workgroup's invocations (a tree in
// workgroup memory), for the int8 quantisers: every invocation of the
// workgroup calls wg_absmax(lid, m) in uniform control flow and gets the
// maximum.
var<workgroup> redm: array<f32, 256>;

fn wg_absmax(lid: u32, m: f32) -> f32 {
  redm[lid] = m;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) { redm[lid] = max(redm[lid], redm[lid + s]); }
    workgroupBarrier();
  }
  return redm[0];
}
