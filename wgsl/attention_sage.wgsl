// SageAttention-style attention (ops/attention, Sage): QKᵀ on int8 codes,
// softmax in the exp2 domain and PV in f32. One workgroup computes BQ
// query rows of one (batch, head) against key tiles of BK keys:
//
//  1. stage the tile's key codes (KST words a row, four codes a word),
//     their scales and the values (converted to f32) in workgroup memory;
//  2. QK (a snippet): ts[r * TSS + j] = the exact i32 dot of query row r's
//     codes and key j's, by dot4I8Packed or by i8 subgroup matrices;
//  3. one invocation per row turns its dots into base-2 logits,
//     (f32(dot) * qsc[r]) * ksc[j] in that order, masks keys past the
//     range (and, CAUSAL, keys j > i + off), and updates the row's
//     running max m and sum l online: p = exp2(s - m), the old sum and
//     accumulators scaled by exp2(m_old - m_new) (corr);
//  4. every invocation updates the accumulators of its row r and packs
//     t + TPR * jj of D: acc = acc * corr[r] + sum_j p[r][j] * v[j].
//
// The query codes and scales are staged once. Rows past Sq read the last
// row and are never stored; keys past the range are zero codes and zero
// values and masked logits. The output is acc / l (zeros where l is 0).
// Strides are in words of four codes, which are packs of four values of
// v and o; qs is [B,H,ceil(Sq/QBLK)] and ks [B,Hk,ceil(Sk/KBLK)].
//
// Specialised on: DP, BQ, BK, WG, TPR (= WG/BQ), DJ (= ceil(DP/TPR)), KST, TSS,
// QBLK, KBLK, CAUSAL, the QK snippet (and SID, the subgroup_id parameter
// of its subgroup-matrix form) and the dtypes of v and o.

var<workgroup> tq: array<i32, BQ * DP>;
var<workgroup> tk: array<i32, BK * KST>;
var<workgroup> tv: array<vec4<f32>, BK * DP>;
var<workgroup> ts: array<i32, BQ * TSS>; // i32 dots, then f32 probabilities (bits); rows TSS apart
var<workgroup> qsc: array<f32, BQ>;
var<workgroup> ksc: array<f32, BK>;
var<workgroup> corr: array<f32, BQ>;
var<workgroup> lsum: array<f32, BQ>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32{{SID}}) {
  let tile = p.tile0 + wid.x;
  let bh = wid.y;
  let b = bh / p.h;
  let h = bh % p.h;
  let hk = h / p.hdiv;
  let q0 = tile * BQ;
  let qhead = b * p.q_sb + h * p.q_sh;
  let khead = b * p.k_sb + hk * p.k_sh;
  let vhead = b * p.v_sb + hk * p.v_sh;
  for (var e = lid; e < BQ * DP; e = e + WG) {
    let row = min(q0 + e / DP, p.sq - 1u);
    tq[e] = bitcast<i32>(qc_buf[qhead + row * p.q_ss + e % DP]);
  }
  for (var e = lid; e < BQ; e = e + WG) {
    qsc[e] = ld_qs((b * p.h + h) * p.nqb + min(q0 + e, p.sq - 1u) / QBLK);
  }
  var ke = p.sk;
  if (CAUSAL) {
    let last = i32(min(q0 + BQ - 1u, p.sq - 1u)) + p.off + 1;
    ke = u32(clamp(last, 0, i32(ke)));
  }
  let r = lid / TPR;
  let t = lid % TPR;
  var acc: array<vec4<f32>, DJ>;
  for (var jj = 0u; jj < DJ; jj = jj + 1u) { acc[jj] = vec4<f32>(0.0); }
  var m = -1e30;
  var l = 0.0;
  for (var k0 = 0u; k0 < ke; k0 = k0 + BK) {
    workgroupBarrier();
    for (var e = lid; e < BK * DP; e = e + WG) {
      let j = e / DP;
      let c = e % DP;
      let key = k0 + j;
      var w = 0i;
      var x = vec4<f32>(0.0);
      if (key < ke) {
        w = bitcast<i32>(kc_buf[khead + key * p.k_ss + c]);
        x = ldv_v(vhead + key * p.v_ss + c);
      }
      tk[j * KST + c] = w;
      tv[e] = x;
    }
    for (var e = lid; e < BK; e = e + WG) {
      let key = min(k0 + e, ke - 1u);
      ksc[e] = ld_ks((b * p.hk + hk) * p.nkb + key / KBLK);
    }
    workgroupBarrier();
    {{QK}}
    workgroupBarrier();
    if (lid < BQ) {
      // Row lid's keys in the order lid, lid + 1, ...: the rows' threads
      // then read different banks even where rows are BK words apart.
      let qr = i32(q0 + lid) + p.off;
      let row = lid * TSS;
      var mx = -1e30;
      for (var jj = 0u; jj < BK; jj = jj + 1u) {
        let j = (jj + lid) % BK;
        var ok = k0 + j < ke;
        if (CAUSAL) { ok = ok && i32(k0 + j) <= qr; }
        var s = -1e30;
        if (ok) { s = (f32(ts[row + j]) * qsc[lid]) * ksc[j]; }
        ts[row + j] = bitcast<i32>(s);
        mx = max(mx, s);
      }
      let mn = max(m, mx);
      let cr = exp2(m - mn);
      m = mn;
      var sum = 0.0;
      for (var jj = 0u; jj < BK; jj = jj + 1u) {
        let j = (jj + lid) % BK;
        let s = bitcast<f32>(ts[row + j]);
        let pj = select(0.0, exp2(s - mn), s > -5e29);
        ts[row + j] = bitcast<i32>(pj);
        sum = sum + pj;
      }
      l = l * cr + sum;
      corr[lid] = cr;
    }
    workgroupBarrier();
    let cr = corr[r];
    for (var jj = 0u; jj < DJ; jj = jj + 1u) { acc[jj] = acc[jj] * cr; }
    for (var j = 0u; j < BK; j = j + 1u) {
      let pj = vec4<f32>(bitcast<f32>(ts[r * TSS + j]));
      for (var jj = 0u; jj < DJ; jj = jj + 1u) {
        let c = t + TPR * jj;
        if (c < DP) { acc[jj] = fma(pj, tv[j * DP + c], acc[jj]); }
      }
    }
  }
  if (lid < BQ) { lsum[lid] = l; }
  workgroupBarrier();
  let qi = q0 + r;
  if (qi < p.sq) {
    let ls = lsum[r];
    let inv = select(0.0, 1.0 / ls, ls > 0.0);
    let ob = b * p.o_sb + h * p.o_sh + qi * p.o_ss;
    for (var jj = 0u; jj < DJ; jj = jj + 1u) {
      let c = t + TPR * jj;
      if (c < DP) { stv_o(ob + c, acc[jj] * inv); }
    }
  }
}
