// Workgroup sum of one vec2<f32> per invocation, returned to every
// invocation. slot (0 or 1) picks a half of the scratch array: a kernel
// may call it at most twice, with different slots, and then needs no
// barrier between the calls. Needs: const WG (a power of two), const
// SUBGROUPS, and the private sg_lane and sg_size. Call in uniform control flow.
var<workgroup> red: array<vec2<f32>, 2u * WG>;
var<private> sg_lane: u32;
var<private> sg_size: u32;

fn reduce_sum2(v: vec2<f32>, lid: u32, slot: u32) -> vec2<f32> {
  let base = slot * WG;
  var total = vec2<f32>(0.0);
  if (SUBGROUPS) {
    {{SG_REDUCE}}
  } else {
    red[base + lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
      if (lid < s) { red[base + lid] = red[base + lid] + red[base + lid + s]; }
      workgroupBarrier();
    }
    total = red[base];
  }
  return total;
}
