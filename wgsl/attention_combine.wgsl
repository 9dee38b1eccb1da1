// Merges the key splits of split-K attention (attention.wgsl with SPLIT)
// with merge_state.wgsl, the merge of the MergeAttnStates operator: each
// split's state is its accumulator normalised by its sum l and its
// natural log-sum-exp (m + log2(l)) * ln 2 (the kernel's m and l live in
// the exp2 domain), folded into the running state split by split. A
// split that saw no key (l = 0) is skipped; a row whose splits all saw
// none outputs zeros.
// Scratch layout: per (batch*head, query row, split) DP packs of
// accumulator then one pack (m, l, 0, 0).

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nw.x + wid.x) * 64u + lid;
  if (i >= p.rows * DP) { return; }
  let row = i / DP;
  let d4 = i % DP;
  var o = vec4<f32>(0.0);
  var lse = 0.0;
  var seen = false;
  for (var s = 0u; s < p.nsplit; s = s + 1u) {
    let base = (row * p.nsplit + s) * (DP + 1u);
    let ml = ldv_part(base + DP);
    if (ml.y > 0.0) {
      let ls = (ml.x + log2(ml.y)) * 0.6931471805599453;
      let so = ldv_part(base + d4) / ml.y;
      if (seen) {
        o = o - merge_weight(lse, ls) * (o - so);
        lse = merge_lse(lse, ls);
      } else {
        o = so;
        lse = ls;
        seen = true;
      }
    }
  }
  let bh = row / p.sq;
  let qi = row % p.sq;
  let b = bh / p.h;
  let h = bh % p.h;
  stv_o(b * p.o_sb + h * p.o_sh + qi * p.o_ss + d4, o);
}
