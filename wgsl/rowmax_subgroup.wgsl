// Workgroup maximum of one u32 per invocation, returned to every
// invocation: a subgroupMax, then one partial per subgroup through
// workgroup memory. Needs: const WG, the entry point's SG_PARAMS and
// SG_INIT placeholders (which set sg_lane and sg_size). Call once per
// kernel, in uniform control flow.
var<workgroup> redu: array<u32, WG>;
var<private> sg_lane: u32;
var<private> sg_size: u32;

fn reduce_max_u32(v: u32, lid: u32) -> u32 {
  let t = subgroupMax(v);
  let nsg = (WG + sg_size - 1u) / sg_size;
  if (sg_lane == 0u) { redu[lid / sg_size] = t; }
  workgroupBarrier();
  var m = 0u;
  for (var i = 0u; i < nsg; i = i + 1u) { m = max(m, redu[i]); }
  return m;
}
