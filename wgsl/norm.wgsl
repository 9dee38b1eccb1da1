// Row normalisation: RMSNorm or LayerNorm over the last dimension, with
// optional weight and bias, optionally followed by modulate
// (y * (scale_constant + scale) + shift) with broadcast scale and shift.
// One workgroup per row, NP units of H packs per invocation (a unit is
// one 16-byte access for 16-bit storage). The row stays in registers
// between the statistics and the output pass, so x is read from memory
// once. Statistics in f32 with one barrier-light reduction for RMSNorm
// and two for LayerNorm, whose second pass works on deviations from a
// first mean estimate, which keeps rows with a large mean exact.
//
// The output pass rounds without the per-lane NaN test (the integer work
// of bf16 rounding bounds these kernels on a fast GPU) and sums what it
// rounded; if that sum is NaN, the invocation recomputes its outputs
// from x with the checked rounding before it stores anything. The fused
// norm+modulate may round its intermediate values on the float pipe
// instead (round_fp.wgsl, ops/stream.go).
//
// Specialised on: WG, NP, H, LAYER, MOD, SUBGROUPS, the snippets, the operands present
// and the dtypes and pack width of every buffer.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32 {{SG_PARAMS}}) {
  {{SG_INIT}}
  let row = wid.y * nw.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.du;
  {{MOD_BASES}}
  var r: array<P, NP * H>;
  var s = 0.0;
  for (var k = 0u; k < NP; k = k + 1u) {
    let j = lid + k * WG;
    var u = splat(0.0);
    if (j < p.du) { u = ldu_x(base + j); }
    for (var h = 0u; h < H; h = h + 1u) {
      r[k * H + h] = u[h];
      s = s + hsum(u[h]);
    }
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
      if (lid + k * WG < p.du) {
        for (var h = 0u; h < H; h = h + 1u) {
          let c = r[k * H + h] - P(m0);
          e = e + vec2<f32>(hsum(c), hsum(c * c));
        }
      }
    }
    let t = reduce_sum2(e, lid, 1u) / f32(p.d);
    mean = m0 + t.x;
    variance = max(t.y - t.x * t.x, 0.0);
  } else {
    var q = 0.0;
    for (var k = 0u; k < NP; k = k + 1u) {
      if (lid + k * WG < p.du) {
        for (var h = 0u; h < H; h = h + 1u) { q = q + hsum(r[k * H + h] * r[k * H + h]); }
      }
    }
    variance = reduce_sum2(vec2<f32>(q, 0.0), lid, 0u).x / f32(p.d);
  }
  let inv = inverseSqrt(variance + p.eps);
  nan_sum = 0.0;
  for (var k = 0u; k < NP; k = k + 1u) {
    let j = lid + k * WG;
    if (j < p.du) {
      {{UNIT_LOADS}}
      for (var h = 0u; h < H; h = h + 1u) {
        var y = (r[k * H + h] - P(mean)) * inv;
        {{OUTPUT_UNCHECKED}}
        r[k * H + h] = y;
      }
    }
  }
  if (!nan_seen()) {
    for (var k = 0u; k < NP; k = k + 1u) {
      let j = lid + k * WG;
      if (j < p.du) {
        var u: PU;
        for (var h = 0u; h < H; h = h + 1u) { u[h] = r[k * H + h]; }
        {{STORE_FAST}}
      }
    }
  } else {
    for (var k = 0u; k < NP; k = k + 1u) {
      let j = lid + k * WG;
      if (j < p.du) {
        let xu = ldu_x(base + j);
        {{UNIT_LOADS}}
        var u: PU;
        for (var h = 0u; h < H; h = h + 1u) {
          var y = (xu[h] - P(mean)) * inv;
          {{OUTPUT_CHECKED}}
          u[h] = y;
        }
        stu_y(base + j, u);
      }
    }
  }
}
