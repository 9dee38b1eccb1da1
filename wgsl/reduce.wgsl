// Workgroup sum of one f32 per invocation, returned to every invocation.
// Needs: const WG (a power of two), const SUBGROUPS, var<private> sg_lane
// and sg_size. Must be called in uniform control flow.
var<workgroup> red: array<f32, WG>;
var<private> sg_lane: u32;
var<private> sg_size: u32;

fn reduce_sum(v: f32, lid: u32) -> f32 {
  var total = 0.0;
  if (SUBGROUPS) {
    {{SG_REDUCE}}
  } else {
    red[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
      if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
      workgroupBarrier();
    }
    total = red[0];
  }
  workgroupBarrier();
  return total;
}
