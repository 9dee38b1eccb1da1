// NF4 4-bit weights (bitsandbytes' blockwise NF4): element e of a row-major
// [N, K] weight is the nibble of byte e/2 of w (raw words), the high nibble
// for even e; it decodes to NF4_TABLE[code] times absmax[e / bs] (the
// block's absmax, bs the bs uniform), rounded to x's dtype (bitsandbytes
// dequantises to its compute dtype). Needs the constant NF4_TABLE and the
// bindings w, am and x.
var<private> nf4_lut: array<f32, 16> = NF4_TABLE;

fn nf4_code(e: u32) -> u32 {
  let byte = (w_buf[e >> 3u] >> (((e >> 1u) & 3u) * 8u)) & 0xffu;
  return select(byte & 15u, byte >> 4u, (e & 1u) == 0u);
}

fn nf4_weight(e: u32) -> f32 { return rnd1_x(nf4_lut[nf4_code(e)] * ld_am(e / p.bs)); }
