// Row normalisation: RMSNorm or LayerNorm over the last dimension, with
// optional weight and bias, optionally followed by modulate
// (y * (scale_constant + scale) + shift) with broadcast scale and shift.
// One workgroup per row; the row stays in registers (NP packs per
// invocation) between the statistics and the output pass, so x is read
// from memory once. Statistics in f32 with one barrier-light reduction for RMSNorm and two
// for LayerNorm, whose second pass works on deviations from a first mean
// estimate, which keeps rows with a large mean exact.
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
  {{MOD_BASES}}
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
  var variance = 0.0;
  if (LAYER) {
    // The f32 sum of a row with a large mean loses low bits. A second
    // pass over the deviations from that first estimate returns both the
    // correction of the mean and the sum of squares, in one reduction.
    let m0 = reduce_sum2(vec2<f32>(s, 0.0), lid, 0u).x / f32(p.d);
    var e = vec2<f32>(0.0);
    for (var k = 0u; k < NP; k = k + 1u) {
      if (lid + k * WG < p.dp) {
        let c = r[k] - P(m0);
        e = e + vec2<f32>(hsum(c), hsum(c * c));
      }
    }
    let t = reduce_sum2(e, lid, 1u) / f32(p.d);
    mean = m0 + t.x;
    variance = max(t.y - t.x * t.x, 0.0);
  } else {
    var q = 0.0;
    for (var k = 0u; k < NP; k = k + 1u) {
      if (lid + k * WG < p.dp) { q = q + hsum(r[k] * r[k]); }
    }
    variance = reduce_sum2(vec2<f32>(q, 0.0), lid, 0u).x / f32(p.d);
  }
  let inv = inverseSqrt(variance + p.eps);
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
