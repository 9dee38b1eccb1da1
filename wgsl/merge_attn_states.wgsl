// Merges two partial attention states over disjoint key sets (TeleFuser's
// merge_attn_states): out = prev - w * (prev - suff) with w = sigmoid(s - p)
// and lse = log(exp(p) + exp(s)) = max(p, s) + log(1 + exp(-|p - s|)),
// p and s the states' log-sum-exps. An infinite lse (either sign) marks an
// empty state: the other passes through; both empty give prev and -inf.
// Infinities are told apart by their bits and never enter the arithmetic,
// which compilers may assume finite.
//
// One invocation per pack of V elements of out [rows, D] (DP packs a
// row). The lse output is raw words (lse_buf): the invocation at the
// start of every LPW-th row writes the word of LPW rows (1 for f32, 2 for
// 16-bit), keeping the bytes past the tensor's end (STORE_LSE).
//
// Specialised on: LPW, STORE_LSE and the dtypes and pack width of every buffer.

fn empty_lse(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) == 0x7f800000u; }

// merge_lse is the merged log-sum-exp of p and s.
fn merge_lse(p: f32, s: f32) -> f32 {
  let pe = empty_lse(p);
  let se = empty_lse(s);
  if (pe && se) { return bitcast<f32>(bitcast<u32>(p) | 0x80000000u); } // -inf, built at run time
  if (pe) { return s; }
  if (se) { return p; }
  return max(p, s) + log(1.0 + exp(-min(abs(p - s), 80.0)));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nw.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  let row = i / p.dp;
  let lp = ld_pl(row);
  let ls = ld_sl(row);
  let po = ldv_po(i);
  var o = po;
  if (empty_lse(lp)) {
    if (!empty_lse(ls)) { o = ldv_so(i); }
  } else if (!empty_lse(ls)) {
    let w = 1.0 / (1.0 + exp(clamp(lp - ls, -80.0, 80.0)));
    o = po - P(w) * (po - ldv_so(i));
  }
  stv_out(i, o);
  if (i - row * p.dp == 0u && row % LPW == 0u) {
    {{STORE_LSE}}
  }
}
