// FP8 words for the matmul kernels: four codes per u32, code i in byte i.
// Needs fp8.wgsl.

// The four codes of w decoded exactly (fp8.wgsl's decoders).
fn e4m3x4(w: u32) -> vec4<f32> {
  return vec4<f32>(e4m3_decode(w & 0xffu), e4m3_decode((w >> 8u) & 0xffu),
                   e4m3_decode((w >> 16u) & 0xffu), e4m3_decode(w >> 24u));
}
fn e5m2x4(w: u32) -> vec4<f32> {
  return vec4<f32>(e5m2_decode(w & 0xffu), e5m2_decode((w >> 8u) & 0xffu),
                   e5m2_decode((w >> 16u) & 0xffu), e5m2_decode(w >> 24u));
}

// The four codes of w through two f16 pairs, a few integer operations
// per code instead of a branchy decoder each. An E5M2 code is the high
// byte of the f16 with the same value, so e5m2x4_fast is exact for every
// code, infinities and NaN included. An E4M3 code's magnitude bits
// shifted right by one are an f16 whose value is 1/256 of the code's
// (normal and subnormal alike: the exponent biases differ by 8), so
// e4m3x4_fast returns the values divided by 256; its NaN codes (0x7f,
// 0xff) come out finite, and e4m3x4_nan is non-zero exactly when w holds
// one of them.
fn e5m2x4_fast(w: u32) -> vec4<f32> {
  let lo = unpack2x16float((w << 8u) & 0xff00ff00u); // codes 0 and 2
  let hi = unpack2x16float(w & 0xff00ff00u);         // codes 1 and 3
  return vec4<f32>(lo.x, hi.x, lo.y, hi.y);
}
fn e4m3x4_fast(w: u32) -> vec4<f32> {
  let mag = w & 0x7f7f7f7fu;
  let sgn = w ^ mag;
  let lo = unpack2x16float(((mag << 7u) & 0x3f803f80u) | ((sgn << 8u) & 0x80008000u));
  let hi = unpack2x16float(((mag >> 1u) & 0x3f803f80u) | (sgn & 0x80008000u));
  return vec4<f32>(lo.x, hi.x, lo.y, hi.y);
}
fn e4m3x4_nan(w: u32) -> u32 { return ((w & 0x7f7f7f7fu) + 0x01010101u) & 0x80808080u; }
