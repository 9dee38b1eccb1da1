// FP8 quantisation over rows of x [M,K], x read as raw 16-byte words
// (four f32 or eight 16-bit values: UP packs of four, decoded by
// decode_unit), q written as words of four codes (lane 0 in the low
// byte). Each invocation holds NP units of a row in registers.
//   FUSED: the row fits (WG*NP >= p.cu): a workgroup takes RPW rows one
//     after another and loads each row's units while it reduces and
//     encodes the row before (nxt), so that its loads stay in flight
//     through the reduction's barriers. The absolute maximum is reduced
//     over the workgroup as f32 bits (so a NaN wins, then an infinity);
//     invocation 0 turns it into the scale (SCALE 0: div_rn's fused path
//     with fmax read at run time, p.qmax) and hands it to the others
//     through workgroup memory; the scale is written to s and the row
//     encoded from the registers: x is read once. SCALE 1 (the form
//     before, one row per workgroup) has every invocation divide by
//     div_rn_checked; SCALE 2 is a probe without reduction or division.
//   not FUSED: one row per workgroup; the scale comes from sin (per
//     tensor: its element 0), and the row is walked in chunks of WG*NP
//     units.
// Fast path: x / scale by a refined reciprocal with one residual
// correction where fma is fused (FUSED_FMA), div_rn per value elsewhere
// (as exact as div_rn; without EXACT, a benchmark variant, the product
// alone, whose codes may be one unit off near ties), then the
// float-pipe encoder (ENCODE4: four codes a word). It needs a finite
// scale and finite values: an invocation that holds a NaN or an
// infinity (its sum of x is not finite) or meets a non-finite scale
// encodes with fp8_encode instead.
//
// STORE_UNIT stores the UP code words qw of unit j: as UP 4-byte stores
// at word (xb + j) * UP + h, or, where q is declared in 8-byte words
// (UP = 2, benchmark variant store=pairs), as one 8-byte store per
// unit, so that neighbouring invocations write neighbouring bytes.
//
// Specialised on: WG, RPW, NP, UP, FUSED, SCALE, EXACT, QMAX, the
// snippets (the format's encoders, x's decoding, where the scale goes or
// comes from, the unit store, a probe's helpers) and SUBGROUPS.

{{LOAD_UNIT}}
{{HELPERS}}
var<workgroup> row_s: f32;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32 {{SG_PARAMS}}) {
  {{SG_INIT}}
  let row0 = (wid.y * nw.x + wid.x) * RPW;
  if (row0 >= p.rows) { return; }
  // FUSED: the row's units as loaded, fetched one row ahead.
  var nxt: array<vec4<u32>, NP>;
  if (FUSED) {
    for (var k = 0u; k < NP; k = k + 1u) {
      let j = lid + k * WG;
      if (j < p.cu) { nxt[k] = x_buf[row0 * p.cu + j]; }
    }
  }
  for (var rr = 0u; rr < RPW; rr = rr + 1u) {
    let row = row0 + rr;
    if (row >= p.rows) { break; }
    let xb = row * p.cu;
    for (var c0 = 0u; c0 < p.cu; c0 = c0 + WG * NP) {
      var r: array<vec4<f32>, NP * UP>;
      var m = vec4<f32>(0.0);
      var acc = vec4<f32>(0.0);
      for (var k = 0u; k < NP; k = k + 1u) {
        let j = c0 + lid + k * WG;
        var u: array<vec4<f32>, UP>;
        if (j < p.cu) {
          if (FUSED) { u = decode_unit(nxt[k]); } else { u = load_unit(xb + j); }
        }
        for (var h = 0u; h < UP; h = h + 1u) {
          r[k * UP + h] = u[h];
          m = max(m, abs(u[h]));
          acc = acc + u[h];
        }
      }
      if (FUSED && rr + 1u < RPW && row + 1u < p.rows) {
        for (var k = 0u; k < NP; k = k + 1u) {
          let j = lid + k * WG;
          if (j < p.cu) { nxt[k] = x_buf[xb + p.cu + j]; }
        }
      }
      let clean = fp8_finite(acc.x + acc.y + acc.z + acc.w);
      var s: f32;
      if (FUSED) {
        var mb = bitcast<u32>(max(max(m.x, m.y), max(m.z, m.w)));
        if (!clean) {
          // A NaN or an infinity here: the maximum on the bits, where a NaN
          // is above infinity, which is above every number.
          mb = 0u;
          for (var i = 0u; i < NP * UP; i = i + 1u) {
            let b = bitcast<vec4<u32>>(r[i]) & vec4<u32>(0x7fffffffu);
            mb = max(mb, max(max(b.x, b.y), max(b.z, b.w)));
          }
        }
        if (SCALE == 2u) {
          s = p.qmax; // a probe: no reduction, no division
        } else {
          let a = reduce_max_u32(mb, lid);
          if (SCALE == 1u) {
            s = fp8_scale(a, QMAX); // every invocation divides (the form before; one row per workgroup)
          } else {
            // Invocation 0 divides, the others wait at one more barrier:
            // it also keeps the next row's reduction from overwriting
            // partials an invocation has yet to read.
            if (lid == 0u) { row_s = fp8_scale_fma(a, p.qmax); }
            workgroupBarrier();
            s = row_s;
          }
        }
        {{SCALE_OUT}}
      } else {
        {{SCALE_IN}}
      }
      if (clean && fp8_finite(s)) {
        var inv = 1.0 / s;
        inv = fma(fma(-s, inv, 1.0), inv, inv);
        for (var k = 0u; k < NP; k = k + 1u) {
          let j = c0 + lid + k * WG;
          if (j < p.cu) {
            var qw: array<u32, UP>;
            for (var h = 0u; h < UP; h = h + 1u) {
              let x = r[k * UP + h];
              var q = x * inv;
              if (EXACT) {
                if (FUSED_FMA) {
                  q = fma(fma(-q, vec4<f32>(s), x), vec4<f32>(inv), q);
                } else { // an fma rounded twice cannot correct q: divide (lavapipe)
                  q = vec4<f32>(div_rn(x.x, s), div_rn(x.y, s), div_rn(x.z, s), div_rn(x.w, s));
                }
              }
              qw[h] = {{ENCODE4}}(q);
            }
            {{STORE_UNIT}}
          }
        }
      } else {
        for (var k = 0u; k < NP; k = k + 1u) {
          let j = c0 + lid + k * WG;
          if (j < p.cu) {
            var qw: array<u32, UP>;
            for (var h = 0u; h < UP; h = h + 1u) {
              let x = r[k * UP + h];
              var w = 0u;
              for (var l = 0u; l < 4u; l = l + 1u) {
                w = w | ({{ENCODE}}(fp8_div(x[l], s)) << (8u * l));
              }
              qw[h] = w;
            }
            {{STORE_UNIT}}
          }
        }
      }
    }
  }
}
