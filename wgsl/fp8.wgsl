// OCP FP8 conversions (E4M3FN and E5M2) in f32, exact decode and
// round-to-nearest-even encode that saturates to the largest finite value
// and keeps NaN, bit for bit as internal/dtype does. Codes are the low 8 bits.
fn fp8_decode(c: u32, man: u32, bias: i32, maxcode: u32) -> f32 {
  let m = c & 0x7fu;
  let sign = (c & 0x80u) << 24u;
  if (m > maxcode) {
    if (man == 2u && m == 0x7cu) { return bitcast<f32>(sign | 0x7f800000u); }
    return bitcast<f32>(0x7fc00000u | sign); // runtime operand: Tint rejects a constant NaN
  }
  let e = m >> man;
  let f = m & ((1u << man) - 1u);
  if (e == 0u) {
    let v = ldexp(f32(f), 1 - bias - i32(man));
    return select(v, -v, sign != 0u);
  }
  return bitcast<f32>(sign | (u32(i32(e) - bias + 127) << 23u) | (f << (23u - man)));
}
fn fp8_encode(x: f32, man: u32, bias: i32, maxcode: u32, nancode: u32) -> u32 {
  let b = bitcast<u32>(x);
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) { return nancode; }
  let sign = (b >> 24u) & 0x80u;
  let maxbits = bitcast<u32>(fp8_decode(maxcode, man, bias, maxcode));
  if (a >= maxbits) { return sign | maxcode; }
  let e = i32(a >> 23u) - 127;
  if (e < 1 - bias) {
    // Subnormal range: count quanta of 2^(1-bias-man); scaling is exact.
    let n = u32(round(ldexp(bitcast<f32>(a), i32(man) - 1 + bias)));
    return sign | n;
  }
  let sh = 23u - man;
  let r = (a + (1u << (sh - 1u)) - 1u + ((a >> sh) & 1u)) >> sh;
  let code = r - (u32(127 - bias) << man);
  return sign | min(code, maxcode);
}
fn e4m3_decode(c: u32) -> f32 { return fp8_decode(c, 3u, 7, 0x7eu); }
fn e5m2_decode(c: u32) -> f32 { return fp8_decode(c, 2u, 15, 0x7bu); }
fn e4m3_encode(x: f32) -> u32 { return fp8_encode(x, 3u, 7, 0x7eu, 0x7fu); }
fn e5m2_encode(x: f32) -> u32 { return fp8_encode(x, 2u, 15, 0x7bu, 0x7eu); }
// a / b rounded as a correctly rounded division would be in all but rare
// cases (one residual correction on top of WGSL's 2.5-ulp division).
fn div_rn(a: f32, b: f32) -> f32 {
  let q = a / b;
  let r = fma(-q, b, a);
  return q + r / b;
}
