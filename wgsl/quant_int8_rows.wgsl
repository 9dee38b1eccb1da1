// Per-row symmetric int8 quantisation (ops.QuantizeInt8, and the per-token
// activations of ops.LinearW8A8), one workgroup of 256 per row of x
// [rows, K], K a multiple of 4: the row's absolute maximum (wg_absmax),
// its scale max/127 in s, and the codes round(v / scale), half to even,
// four to a word of q. Rows from p.rows to
// p.rows_pad (padding for the tensor-core tiles) get zero codes and a
// zero scale. Needs div_rn (fp8.wgsl) and wg_absmax (wg_absmax.wgsl).
// Values must be finite: a NaN or infinity gives unspecified codes.
//
// Specialised on: the dtype of x.
// quant_rne rounds v / s half to even into [-127, 127] (0 where the
// row's scale is 0) and returns its two's-complement byte.
fn quant_rne(v: f32, s: f32) -> u32 {
  if (s == 0.0) { return 0u; }
  let r = clamp(round(div_rn(v, s)), -127.0, 127.0);
  return u32(i32(r)) & 0xffu;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let r = wid.y * nw.x + wid.x;
  if (r >= p.rows_pad) { return; }
  let kw = p.k / 4u;
  if (r >= p.rows) {
    for (var w = lid; w < kw; w = w + 256u) { q_buf[r * kw + w] = 0u; }
    if (lid == 0u) { st_s(r, 0.0); }
    return;
  }
  var m = 0.0;
  for (var c = lid; c < p.k; c = c + 256u) {
    m = max(m, abs(ld_x(r * p.k + c)));
  }
  let sc = div_rn_checked(wg_absmax(lid, m), 127.0);
  if (lid == 0u) { st_s(r, sc); }
  for (var w = lid; w < kw; w = w + 256u) {
    let i = r * p.k + 4u * w;
    q_buf[r * kw + w] = quant_rne(ld_x(i), sc) | (quant_rne(ld_x(i + 1u), sc) << 8u) |
      (quant_rne(ld_x(i + 2u), sc) << 16u) | (quant_rne(ld_x(i + 3u), sc) << 24u);
  }
}
