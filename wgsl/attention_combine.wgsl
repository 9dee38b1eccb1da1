// Merges the key splits of split-K attention (attention.wgsl with SPLIT):
// for each output pack, rescales every split's unnormalised accumulator
// by exp2(m_s - M) with M the largest running max, and divides by the
// merged sum. A row whose splits saw no key outputs zeros.
// Scratch layout: per (batch*head, query row, split) DP packs of
// accumulator then one pack (m, l, 0, 0).

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nw.x + wid.x) * 64u + lid;
  if (i >= p.rows * DP) { return; }
  let row = i / DP;
  let d4 = i % DP;
  var mx = -1e30;
  for (var s = 0u; s < p.nsplit; s = s + 1u) {
    mx = max(mx, ldv_part((row * p.nsplit + s) * (DP + 1u) + DP).x);
  }
  var l = 0.0;
  var a = vec4<f32>(0.0);
  for (var s = 0u; s < p.nsplit; s = s + 1u) {
    let base = (row * p.nsplit + s) * (DP + 1u);
    let ml = ldv_part(base + DP);
    let w = exp2(ml.x - mx);
    l = l + ml.y * w;
    a = a + ldv_part(base + d4) * w;
  }
  let bh = row / p.sq;
  let qi = row % p.sq;
  let b = bh / p.h;
  let h = bh % p.h;
  let o = select(vec4<f32>(0.0), a / l, l > 0.0);
  stv_o(b * p.o_sb + h * p.o_sh + qi * p.o_ss + d4, o);
}
