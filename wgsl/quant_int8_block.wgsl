// Per-block int8 quantisation, one workgroup of 256 per block of BLK
// tokens of one (b, h): the block's absolute maximum (wg_absmax), its
// scale max/127 in s [B,H,nblk], then, with WRITE, the
// block's codes, four to a word of q (WRITE_CODES: rows of D elements
// start on whole words, D being a multiple of 4 in that variant). Without
// it only the scale is written; an elementwise pass writes the codes.
//
// Specialised on: BLK, WRITE_CODES, VALUE and the dtype of x.
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wid.y * nw.x + wid.x;
  if (g >= p.groups) { return; }
  let blk = g % p.nblk;
  let bh = g / p.nblk; // b * H + h
  let base = (bh / p.h) * p.sb + (bh % p.h) * p.sh;
  let l0 = blk * BLK;
  let rows = min(BLK, p.l - l0);
  let count = rows * p.d;
  var m = 0.0;
  for (var e = lid; e < count; e = e + 256u) {
    let r = e / p.d;
    let c = e - r * p.d;
    m = max(m, abs(value(base + (l0 + r) * p.sl + c, bh * p.d + c)));
  }
  let sc = div_rn_checked(wg_absmax(lid, m), 127.0);
  if (lid == 0u) { st_s(g, sc); }
  {{WRITE_CODES}}
}
