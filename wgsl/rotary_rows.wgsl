// Rotary embedding over rows: one workgroup per token (b, s) of x
// [B,S,H,D], that is H*D values, moved in units of eight (two packs; one
// 16-byte access for 16-bit storage). The table row t = row % S is found
// once per invocation. A unit's head hh and column c within the head
// come from its index by the constant UH; where the workgroup size is a
// multiple of UH (FIXED) c is the same for every unit of an invocation,
// and the invocation loads its cos and sin once.
//   HALF false, interleaved: a unit holds pairs (x[2i], x[2i+1]) for
//     i = 4c .. 4c+3 of a head; TABLE sets cq and sq, packs of their
//     four cosines and sines.
//   HALF true, half-split: a work unit is unit c of a head's first half
//     and unit c of its second half, eight pairs; TABLE sets cu8 and su8,
//     units of their cosines and sines.
// UD is x's units per head, UH the work units per head, p.cu the work
// units of a token, p.xu its x units, p.ts the table row stride in the
// units (or packs) TABLE reads. The fast pass and its NaN fallback are
// as in units.wgsl.
//
// Specialised on: WG, NP, UD, UH, HALF, FIXED, TABLE, STORE_FN and the
// dtypes of every buffer.

{{STORE_FN}}

fn rot_pairs(a: P, c: vec2<f32>, s: vec2<f32>) -> P {
  return a * vec4<f32>(c.x, c.x, c.y, c.y) + vec4<f32>(-a.y, a.x, -a.w, a.z) * vec4<f32>(s.x, s.x, s.y, s.y);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nw.x + wid.x;
  if (row >= p.rows) { return; }
  let t = row % p.s;
  let xrow = row * p.xu;
  var cq = P(0.0);
  var sq = P(0.0);
  var cu8 = splat(0.0);
  var su8 = splat(0.0);
  if (FIXED) {
    let c = lid % UH;
    {{TABLE}}
  }
  var r: array<P, NP * RP>;
  nan_sum = 0.0;
  for (var k = 0u; k < NP; k = k + 1u) {
    let j = lid + k * WG;
    if (j < p.cu) {
      let hh = j / UH;
      let c = j - hh * UH;
      if (!FIXED) {
        {{TABLE}}
      }
      let a = ldu_x(xrow + hh * UD + c);
      if (HALF) {
        let b = ldu_x(xrow + hh * UD + UD / 2u + c);
        for (var h = 0u; h < 2u; h = h + 1u) {
          var v = a[h] * cu8[h] - b[h] * su8[h];
          {{KEEP}}
          r[k * RP + h] = v;
          v = a[h] * su8[h] + b[h] * cu8[h];
          {{KEEP}}
          r[k * RP + 2u + h] = v;
        }
      } else {
        var v = rot_pairs(a[0], cq.xy, sq.xy);
        {{KEEP}}
        r[k * RP] = v;
        v = rot_pairs(a[1], cq.zw, sq.zw);
        {{KEEP}}
        r[k * RP + 1u] = v;
      }
    }
  }
  if (!nan_seen()) {
    for (var k = 0u; k < NP; k = k + 1u) {
      let j = lid + k * WG;
      if (j < p.cu) {
        let hh = j / UH;
        let i = xrow + hh * UD + j - hh * UH;
        store_fast(i, PU(r[k * RP], r[k * RP + 1u]));
        if (HALF) { store_fast(i + UD / 2u, PU(r[k * RP + 2u], r[k * RP + 3u])); }
      }
    }
  } else {
    for (var k = 0u; k < NP; k = k + 1u) {
      let j = lid + k * WG;
      if (j < p.cu) {
        let hh = j / UH;
        let c = j - hh * UH;
        {{TABLE}}
        let i = xrow + hh * UD + c;
        let a = ldu_x(i);
        if (HALF) {
          let b = ldu_x(i + UD / 2u);
          stu_y(i, PU(a[0] * cu8[0] - b[0] * su8[0], a[1] * cu8[1] - b[1] * su8[1]));
          stu_y(i + UD / 2u, PU(a[0] * su8[0] + b[0] * cu8[0], a[1] * su8[1] + b[1] * cu8[1]));
        } else {
          stu_y(i, PU(rot_pairs(a[0], cq.xy, sq.xy), rot_pairs(a[1], cq.zw, sq.zw)));
        }
      }
    }
  }
}
