// Flash-style attention: one workgroup computes BQ query rows of one
// (batch, head). Each row is owned by T invocations (T = 1, or 4 with
// subgroups, the four lanes of a row reducing their partial dot products
// with subgroup shuffles); each invocation keeps DPT packs of the scaled
// query row and of its f32 accumulator in registers. K and V tiles of BK
// keys are staged in workgroup memory; the softmax is online (running
// max m and sum l, in the exp2 domain: the scale carries log2(e)), so the
// score matrix is never stored.
//
// Key ranges: dense work walks [ks, ke) (a split of the keys when SPLIT,
// cut at the causal limit of the tile's last row). Block-sparse work
// walks only the live key blocks of the query block (CSR lists from the
// host: the RANGES and BLOCK placeholders), so dead blocks cost nothing.
// With SPLIT the unnormalised accumulator and (m, l) go to a scratch
// buffer that attention_combine.wgsl merges.
//
// Specialised on: D (via DP), T, DPT, BQ, BK, WG, CAUSAL, SPLIT, the
// placeholders and every buffer's dtype. Strides are in packs of 4.

var<workgroup> kt: array<vec4<f32>, BK * DP>;
var<workgroup> vt: array<vec4<f32>, BK * DP>;
// Scores of the tile, one row per query row. Kept in workgroup memory
// rather than a private array: lavapipe's compile time grew steeply
// with a private BK-array.
var<workgroup> sc: array<f32, BQ * BK>;
var<private> sg_lane: u32;
var<private> sg_size: u32;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32 {{SG_PARAMS}}) {
  {{SG_INIT}}
  let tile = p.tile0 + wid.x;
  let bh = wid.y;
  let b = bh / p.h;
  let h = bh % p.h;
  let hk = h / p.hdiv;
  let r = lid / T;
  let part = lid % T;
  let qi = tile * BQ + r;
  let live = qi < p.sq;
  let qrow = min(qi, p.sq - 1u);
  let qtok = {{QTOK}};
  let qbase = b * p.q_sb + h * p.q_sh + qtok * p.q_ss;
  var q: array<vec4<f32>, DPT>;
  var acc: array<vec4<f32>, DPT>;
  for (var c = 0u; c < DPT; c = c + 1u) {
    q[c] = ldv_q(qbase + part + c * T) * p.scale;
    acc[c] = vec4<f32>(0.0);
  }
  var m = -1e30;
  var l = 0.0;
  let kbase = b * p.k_sb + hk * p.k_sh;
  let vbase = b * p.v_sb + hk * p.v_sh;
  // Causal: key j is visible to row i when j <= i + off (off = Sk - Sq).
  let qlim = i32(qi) + p.off;
  var ks = 0u;
  var ke = p.sk;
  if (SPLIT) {
    ks = min(wid.z * p.split_len, p.sk);
    ke = min(ks + p.split_len, p.sk);
  }
  if (CAUSAL) {
    let last = i32(min(tile * BQ + BQ - 1u, p.sq - 1u)) + p.off + 1;
    ke = u32(clamp(last, 0, i32(ke)));
  }
  var nr = 1u;
  var e0 = 0u;
  {{RANGES}}
  for (var e = 0u; e < nr; e = e + 1u) {
    var s0 = ks;
    var s1 = ke;
    {{BLOCK}}
    for (var k0 = s0; k0 < s1; k0 = k0 + BK) {
      workgroupBarrier();
      for (var i = lid; i < BK * DP; i = i + WG) {
        let j = i / DP;
        let d4 = i % DP;
        let key = k0 + j;
        var kv = vec4<f32>(0.0);
        var vv = vec4<f32>(0.0);
        if (key < s1) {
          let ktok = {{KTOK}};
          kv = ldv_k(kbase + ktok * p.k_ss + d4);
          vv = ldv_v(vbase + ktok * p.v_ss + d4);
        }
        kt[i] = kv;
        vt[i] = vv;
      }
      workgroupBarrier();
      var tmax = -1e30;
      for (var j = 0u; j < BK; j = j + 1u) {
        var d = 0.0;
        for (var c = 0u; c < DPT; c = c + 1u) {
          d = d + dot(q[c], kt[j * DP + part + c * T]);
        }
        d = row_sum(d);
        let key = k0 + j;
        let ok = key < s1 && (!CAUSAL || i32(key) <= qlim);
        d = select(-1e30, d, ok);
        if (part == 0u) { sc[r * BK + j] = d; }
        tmax = max(tmax, d);
      }
      workgroupBarrier();
      let mn = max(m, tmax);
      let corr = exp2(m - mn);
      l = l * corr;
      for (var c = 0u; c < DPT; c = c + 1u) { acc[c] = acc[c] * corr; }
      for (var j = 0u; j < BK; j = j + 1u) {
        let sj = sc[r * BK + j];
        let pj = select(0.0, exp2(sj - mn), sj > -5e29);
        l = l + pj;
        for (var c = 0u; c < DPT; c = c + 1u) {
          acc[c] = acc[c] + pj * vt[j * DP + part + c * T];
        }
      }
      m = mn;
    }
  }
  if (live) {
    {{STORE}}
  }
}
