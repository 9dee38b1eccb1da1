// Workgroup sum of one vec2<f32> per invocation, returned to every
// invocation, by a tree in workgroup memory (the portable twin of
// reduce_subgroup.wgsl). slot (0 or 1) picks a half of the scratch array:
// a kernel may call it at most twice, with different slots, and then
// needs no barrier between the calls. Needs: const WG (a power of two).
// Call in uniform control flow.
var<workgroup> red: array<vec2<f32>, 2u * WG>;

fn reduce_sum2(v: vec2<f32>, lid: u32, slot: u32) -> vec2<f32> {
  let base = slot * WG;
  red[base + lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[base + lid] = red[base + lid] + red[base + lid + s]; }
    workgroupBarrier();
  }
  return red[base];
}
