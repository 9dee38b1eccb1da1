// Workgroup maximum of one u32 per invocation, returned to every
// invocation, by a tree in workgroup memory (the portable twin of
// rowmax_subgroup.wgsl). Needs: const WG (a power of two). Call once per
// kernel, in uniform control flow.
var<workgroup> redu: array<u32, WG>;

fn reduce_max_u32(v: u32, lid: u32) -> u32 {
  redu[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { redu[lid] = max(redu[lid], redu[lid + s]); }
    workgroupBarrier();
  }
  return redu[0];
}
