// Workgroup sum of one vec2<f32> per invocation, returned to every
// invocation: a subgroupAdd, then one partial per subgroup through
// workgroup memory. slot (0 or 1) picks a half of the scratch array: a
// kernel may call it at most twice, with different slots, and then needs
// no barrier between the calls. Needs: const WG, the entry point's
// SG_PARAMS and SG_INIT placeholders (which set sg_lane and sg_size). Call in
// uniform control flow.
var<workgroup> red: array<vec2<f32>, 2u * WG>;
var<private> sg_lane: u32;
var<private> sg_size: u32;

fn reduce_sum2(v: vec2<f32>, lid: u32, slot: u32) -> vec2<f32> {
  let base = slot * WG;
  let t = subgroupAdd(v);
  let nsg = (WG + sg_size - 1u) / sg_size;
  if (sg_lane == 0u) { red[base + lid / sg_size] = t; }
  workgroupBarrier();
  var total = vec2<f32>(0.0);
  for (var i = 0u; i < nsg; i = i + 1u) { total = total + red[base + i]; }
  return total;
}
