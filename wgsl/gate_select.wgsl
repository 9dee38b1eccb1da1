// Per-token modulation select (TeleFuser's fused_scale_shift_gate_select
// and its LayerNorm and residual variants), one workgroup per token row
// of x [B*L, C], NP units of H packs per invocation.
//
// The six [B,C] modulation operands arrive packed in one f32 tensor m,
// set-major: [set 0: scale, shift, gate][set 1: scale, shift, gate], each
// [B,C], then the LayerNorm weight and bias where present (at the unit
// offsets the w_off and b_off uniforms give). Index [B,L] picks the set
// of each token (INDEX reads it for row `row`); the workgroup loads only
// the set it picked.
//
// RESID: r = residual + residual_gate * x, stored to ro (rounded to its
// dtype) and normalised unrounded. NORM: LayerNorm over the row (biased
// variance, f32 statistics, two reductions: the mean, then the squared
// deviations from it), then AFFINE (weight, bias) unrounded. Then y =
// h * (1 + scale) + shift, rounded once at the store, and the picked gate
// stored to gate in x's dtype.
//
// Specialised on: WG, NP, H, NORM, RESID, AFFINE, INDEX, SUBGROUPS and the
// dtypes and pack width of every buffer.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32 {{SG_PARAMS}}) {
  {{SG_INIT}}
  let row = wid.y * nw.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.cu;
  let b = row / p.l;
  let pick = {{INDEX}};
  // Unit offsets of the picked set's scale, shift and gate rows.
  let sc_base = select(0u, 3u, pick) * p.bcu + b * p.cu;
  let sh_base = sc_base + p.bcu;
  let g_base = sh_base + p.bcu;
  var r: array<P, NP * H>;
  var s = 0.0;
  for (var k = 0u; k < NP; k = k + 1u) {
    let j = lid + k * WG;
    var u = splat(0.0);
    if (j < p.cu) {
      u = ldu_x(base + j);
      {{RESIDUAL}}
    }
    for (var h = 0u; h < H; h = h + 1u) {
      r[k * H + h] = u[h];
      s = s + hsum(u[h]);
    }
  }
  var mean = 0.0;
  var inv = 1.0;
  if (NORM) {
    mean = reduce_sum2(vec2<f32>(s, 0.0), lid, 0u).x / f32(p.c);
    var q = 0.0;
    for (var k = 0u; k < NP; k = k + 1u) {
      if (lid + k * WG < p.cu) {
        for (var h = 0u; h < H; h = h + 1u) {
          let dv = r[k * H + h] - P(mean);
          q = q + hsum(dv * dv);
        }
      }
    }
    inv = inverseSqrt(reduce_sum2(vec2<f32>(q, 0.0), lid, 1u).x / f32(p.c) + p.eps);
  }
  for (var k = 0u; k < NP; k = k + 1u) {
    let j = lid + k * WG;
    if (j < p.cu) {
      let scu = ldu_m(sc_base + j);
      let shu = ldu_m(sh_base + j);
      {{AFFINE_LOADS}}
      var yu: PU;
      for (var h = 0u; h < H; h = h + 1u) {
        var v = r[k * H + h];
        if (NORM) {
          v = (v - P(mean)) * inv;
          {{AFFINE}}
        }
        yu[h] = v * (P(1.0) + scu[h]) + shu[h];
      }
      stu_y(base + j, yu);
      stu_gate(base + j, ldu_m(g_base + j));
    }
  }
}
