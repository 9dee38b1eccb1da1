// Groups the T*TOPK (token, expert) assignments of a MoE by expert in one
// workgroup: counts per expert (atomics in workgroup memory), offsets,
// then the scatter of every assignment id a = t*TOPK + k into perm (within
// an expert, in any order: each row is computed independently). Invocation
// 0 also cuts every expert's run into tiles of at most BM rows for the
// grouped GEMMs: tiles[0] is their count, tiles[1 + 3j ..] = expert,
// first position in perm, rows.
// An index past the experts counts as the last expert: the kernel stays
// in bounds whatever indices it is given.
// Specialised on: NE, BM.
var<workgroup> cnt: array<atomic<u32>, NE>;
var<workgroup> off: array<u32, NE>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  for (var e = lid; e < NE; e = e + 256u) { atomicStore(&cnt[e], 0u); }
  workgroupBarrier();
  for (var a = lid; a < p.n; a = a + 256u) { atomicAdd(&cnt[min(idx_buf[a], NE - 1u)], 1u); }
  workgroupBarrier();
  if (lid == 0u) {
    var s = 0u;
    var nt = 0u;
    for (var e = 0u; e < NE; e = e + 1u) {
      let c = atomicLoad(&cnt[e]);
      off[e] = s;
      for (var r = 0u; r < c; r = r + BM) {
        tiles_buf[1u + 3u * nt] = e;
        tiles_buf[2u + 3u * nt] = s + r;
        tiles_buf[3u + 3u * nt] = min(BM, c - r);
        nt = nt + 1u;
      }
      s = s + c;
    }
    tiles_buf[0] = nt;
  }
  workgroupBarrier();
  for (var e = lid; e < NE; e = e + 256u) { atomicStore(&cnt[e], off[e]); }
  workgroupBarrier();
  for (var a = lid; a < p.n; a = a + 256u) {
    let pos = atomicAdd(&cnt[min(idx_buf[a], NE - 1u)], 1u);
    perm_buf[pos] = a;
  }
}
