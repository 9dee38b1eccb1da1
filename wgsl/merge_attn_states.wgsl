// Merges two partial attention states over disjoint key sets (TeleFuser's
// merge_attn_states) with merge_state.wgsl's functions: an empty state
// (infinite lse) passes the other through; both empty give prev and -inf.
//
// One invocation per pack of V elements of out [rows, D] (DP packs a
// row). The lse output is raw words (lse_buf): the invocation at the
// start of every LPW-th row writes the word of LPW rows (1 for f32, 2 for
// 16-bit), keeping the bytes past the tensor's end (STORE_LSE).
//
// Specialised on: LPW, STORE_LSE and the dtypes and pack width of every buffer.

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
    let w = merge_weight(lp, ls);
    o = po - P(w) * (po - ldv_so(i));
  }
  stv_out(i, o);
  if (i - row * p.dp == 0u && row % LPW == 0u) {
    {{STORE_LSE}}
  }
}
