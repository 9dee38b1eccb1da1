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
// RPW rows per workgroup (1 or 2; 2 only for RMSNorm, whose statistics
// of both rows take one vec2 reduction, and where both rows share their
// modulate operands): the weight, scale and shift units are loaded and
// decoded once for both rows, which halves that work per value.
//
// Specialised on: WG, NP, H, RPW, LAYER, MOD, SUBGROUPS, the snippets, the operands present
// and the dtypes and pack width of every buffer.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32 {{SG_PARAMS}}) {
  {{SG_INIT}}
  let row0 = (wid.y * nw.x + wid.x) * RPW;
  if (row0 >= p.rows) { return; }
  let row = row0; // the row MOD_BASES reads: the same operand rows serve all RPW rows
  {{MOD_BASES}}
  var r: array<P, RPW * NP * H>;
  var s = 0.0;
  for (var rr = 0u; rr < RPW; rr = rr + 1u) {
    let base = (row0 + rr) * p.du;
    for (var k = 0u; k < NP; k = k + 1u) {
      let j = lid + k * WG;
      var u = splat(0.0);
      if (j < p.du && row0 + rr < p.rows) { u = ldu_x(base + j); }
      for (var h = 0u; h < H; h = h + 1u) {
        r[(rr * NP + k) * H + h] = u[h];
        s = s + hsum(u[h]);
      }
    }
  }
  var mean = 0.0;
  var inv: array<f32, RPW>;
  if (LAYER) {
    // The f32 sum of a row with a large mean loses low bits. A second
    // pass over the deviations from that first estimate returns both the
    // correction of the mean and the sum of squares, in one reduction.
    // (RPW is 1 here.)
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
    inv[0] = inverseSqrt(max(t.y - t.x * t.x, 0.0) + p.eps);
  } else {
    var q = vec2<f32>(0.0);
    for (var rr = 0u; rr < RPW; rr = rr + 1u) {
      var qr = 0.0;
      for (var k = 0u; k < NP; k = k + 1u) {
        if (lid + k * WG < p.du) {
          for (var h = 0u; h < H; h = h + 1u) { qr = qr + hsum(r[(rr * NP + k) * H + h] * r[(rr * NP + k) * H + h]); }
        }
      }
      q[rr] = qr;
    }
    let v = reduce_sum2(q, lid, 0u) / f32(p.d);
    for (var rr = 0u; rr < RPW; rr = rr + 1u) { inv[rr] = inverseSqrt(v[rr] + p.eps); }
  }
  nan_sum = 0.0;
  for (var k = 0u; k < NP; k = k + 1u) {
    let j = lid + k * WG;
    if (j < p.du) {
      {{UNIT_LOADS}}
      for (var rr = 0u; rr < RPW; rr = rr + 1u) {
        for (var h = 0u; h < H; h = h + 1u) {
          var y = (r[(rr * NP + k) * H + h] - P(mean)) * inv[rr];
          {{OUTPUT_UNCHECKED}}
          r[(rr * NP + k) * H + h] = y;
        }
      }
    }
  }
  if (!nan_seen()) {
    for (var rr = 0u; rr < RPW; rr = rr + 1u) {
      let base = (row0 + rr) * p.du;
      if (row0 + rr < p.rows) {
        for (var k = 0u; k < NP; k = k + 1u) {
          let j = lid + k * WG;
          if (j < p.du) {
            var u: PU;
            for (var h = 0u; h < H; h = h + 1u) { u[h] = r[(rr * NP + k) * H + h]; }
            {{STORE_FAST}}
          }
        }
      }
    }
  } else {
    for (var rr = 0u; rr < RPW; rr = rr + 1u) {
      let base = (row0 + rr) * p.du;
      if (row0 + rr < p.rows) {
        for (var k = 0u; k < NP; k = k + 1u) {
          let j = lid + k * WG;
          if (j < p.du) {
            let xu = ldu_x(base + j);
            {{UNIT_LOADS}}
            var u: PU;
            for (var h = 0u; h < H; h = h + 1u) {
              var y = (xu[h] - P(mean)) * inv[rr];
              {{OUTPUT_CHECKED}}
              u[h] = y;
            }
            stu_y(base + j, u);
          }
        }
      }
    }
  }
}
