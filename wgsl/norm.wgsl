// Row normalisation: RMSNorm or LayerNorm over the last dimension, with
// optional weight and bias, optionally followed by modulate
// (y * (scale_constant + scale) + shift) with broadcast scale and shift.
// One workgroup per row; the row stays in registers (NP packs per
// invocation) between the statistics and the output pass, so x is read
// from memory once. Statistics in f32; LayerNorm corrects its mean with a second pass and
// subtracts it before squaring, which keeps rows with a large mean exact.
//
// Specialised on: WG, NP, LAYER, HAS_W, HAS_B, MOD, SCALE_VEC, SHIFT_VEC,
// SUBGROUPS, and the dtypes and pack width of every buffer.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32 {{SG_PARAMS}}) {
  {{SG_INIT}}
  let row = wid.y * nw.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.dp;
  var r: array<P, NP>;
  var s = 0.0;
  for (var k = 0u; k < NP; k = k + 1u) {
    let j = lid + k * WG;
    var v = P(0.0);
    if (j < p.dp) { v = ldv_x(base + j); }
    r[k] = v;
    s = s + hsum(v);
  }
  var mean = 0.0;
  if (LAYER) {
    // The f32 sum of a row with a large mean loses low bits; a second
    // pass over the (small) deviations from the first estimate restores them.
    let m0 = reduce_sum(s, lid) / f32(p.d);
    var e = 0.0;
    for (var k = 0u; k < NP; k = k + 1u) {
      if (lid + k * WG < p.dp) { e = e + hsum(r[k] - P(m0)); }
    }
    mean = m0 + reduce_sum(e, lid) / f32(p.d);
  }
  var q = 0.0;
  for (var k = 0u; k < NP; k = k + 1u) {
    let j = lid + k * WG;
    if (j < p.dp) {
      let c = r[k] - P(mean);
      q = q + hsum(c * c);
    }
  }
  let inv = inverseSqrt(reduce_sum(q, lid) / f32(p.d) + p.eps);
  for (var k = 0u; k < NP; k = k + 1u) {
    let j = lid + k * WG;
    if (j < p.dp) {
      var y = (r[k] - P(mean)) * inv;
      {{AFFINE}}
      if (MOD) {
        y = rnd_mid(y);
        {{MODULATE}}
      }
      stv_y(base + j, y);
    }
  }
}
