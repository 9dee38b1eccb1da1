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
fn fp8_finite(v: f32) -> bool { return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u; }
// x / s for quantisation: div_rn for a finite scale; an infinite or NaN
// scale divides plainly, as the reference does (div_rn's correction
// would turn x / inf = 0 into NaN).
fn fp8_div(x: f32, s: f32) -> f32 { return select(x / s, div_rn(x, s), fp8_finite(s)); }
// The FP8 scale of a row (or tensor) whose absolute maximum has the f32
// bits a (a NaN among them when the row holds one): max(absmax, 1e-12) /
// fmax, and for an infinite or NaN absmax that value itself, as the
// float64 reference gives it.
fn fp8_scale(a: u32, fmax: f32) -> f32 {
  if (a >= 0x7f800000u) { return bitcast<f32>(a); }
  return div_rn(max(bitcast<f32>(a), 1e-12), fmax);
}
// fp8_encode for a finite q, rounded on the float pipe: the magnitude is
// clamped to fmax, then adding m = 1.5 * 2^(e+23-man), where 2^e is
// q's binade (or the smallest normal binade, for subnormal codes), puts
// the sum's last bit on the code's last bit, so the f32 addition rounds
// to the code with ties to even, and the sum's bits count quanta from m:
// the code is that count plus the binade's first code.
fn fp8_encode_finite(q: f32, man: u32, bias: u32, fmax: f32, magic: f32) -> u32 {
  let a = min(abs(q), fmax);
  let e = max(bitcast<f32>(bitcast<u32>(a) & 0x7f800000u), bitcast<f32>((128u - bias) << 23u));
  let m = e * magic;
  let n = bitcast<u32>(a + m) - bitcast<u32>(m);
  return (n + (bitcast<u32>(e) >> (23u - man)) - ((128u - bias) << man)) | ((bitcast<u32>(q) >> 24u) & 0x80u);
}
fn e4m3_encode_finite(q: f32) -> u32 { return fp8_encode_finite(q, 3u, 7u, 448.0, 1572864.0); }
fn e5m2_encode_finite(q: f32) -> u32 { return fp8_encode_finite(q, 2u, 15u, 57344.0, 3145728.0); }
