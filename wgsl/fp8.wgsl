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
// x * y for 24-bit x and y as 64 bits (low word, high word), from 16-bit halves.
fn mul_u64(x: u32, y: u32) -> vec2<u32> {
  let x0 = x & 0xffffu;
  let x1 = x >> 16u;
  let y0 = y & 0xffffu;
  let y1 = y >> 16u;
  let p00 = x0 * y0;
  let p01 = x0 * y1;
  let p10 = x1 * y0;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2<u32>((p00 & 0xffffu) | (mid << 16u), x1 * y1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}
// div_step says which way, if any, the normal f32 magnitude with bits q
// must move by one ulp to be |a| / |b| rounded to nearest (a, b: the
// normal magnitudes' bits). It compares |a| with q*|b| exactly, in
// integers: with significands ma, mb, mq, D = (|a| - q*|b|) / 2^(EQ+EB-1)
// = ma * 2^s - 2 * mq * mb, and the quotient lies above q's upper
// midpoint when D > mb, below its lower one when D < -mb (-mb/2 when q
// is a power of two). A quotient of f32 values is never a midpoint, so
// no tie arises.
fn div_step(a: u32, b: u32, q: u32) -> i32 {
  let ma = (a & 0x7fffffu) | 0x800000u;
  let mb = (b & 0x7fffffu) | 0x800000u;
  let mq = (q & 0x7fffffu) | 0x800000u;
  let s = i32(a >> 23u) - i32(q >> 23u) - i32(b >> 23u) + 151; // 23 to 26 when q is within a few ulps
  if (s < 0) { return -1; }
  if (s > 40) { return 1; }
  // X = ma << s, Y = 2 * mq * mb, D = X - Y, all 64 bits.
  var x = vec2<u32>(ma << u32(s), ma >> u32(32 - s));
  if (s == 0) { x = vec2<u32>(ma, 0u); }
  if (s >= 32) { x = vec2<u32>(0u, ma << u32(s - 32)); }
  let pr = mul_u64(mq, mb);
  let y = vec2<u32>(pr.x << 1u, (pr.y << 1u) | (pr.x >> 31u));
  let lo = x.x - y.x;
  let hi = x.y - y.y - select(0u, 1u, x.x < y.x);
  if (hi != 0u && hi != 0xffffffffu) { return select(1, -1, (hi & 0x80000000u) != 0u); }
  if ((hi == 0u) != (lo < 0x80000000u)) { return select(1, -1, hi != 0u); }
  let d = bitcast<i32>(lo);
  let m = i32(mb);
  if (d > m) { return 1; }
  if (d < -m || (mq == 0x800000u && 2 * d < -m)) { return -1; }
  return 0;
}
fn f32_normal(u: u32) -> bool { return u >= 0x00800000u && u < 0x7f800000u; }
// a / b correctly rounded (to nearest even), as float64 division rounded
// to f32 gives it, for |b| < 2^126 (past it, devices that divide by a
// reciprocal flush it to zero). Where fma is fused (FUSED_FMA, set per
// device: GPUs) a refined reciprocal and two fma corrections give it;
// elsewhere WGSL's division (2.5 ulp) and one residual correction come
// within an ulp or so, then integer
// comparisons of |a| with the candidate's midpoints times |b| (div_step)
// move it to the correctly rounded quotient. The integer steps cost an
// H200 0.75x -> 0.44x of a copy in FP8 quantisation, so GPUs skip them. A zero,
// infinite or NaN quotient is returned as the division gives it;
// subnormals, in or out, keep the corrected quotient (devices may flush
// them). lavapipe's fma is not fused, and the correction alone left
// about one quotient in ten near a midpoint one ulp off
// (ops.TestDivRNCorrectlyRounded).
fn div_rn(a: f32, b: f32) -> f32 {
  let q0 = a / b;
  // The correction would make NaN of an overflow and +0 of -0.
  if ((bitcast<u32>(q0) & 0x7f800000u) == 0x7f800000u || (bitcast<u32>(q0) & 0x7fffffffu) == 0u) { return q0; }
  if (FUSED_FMA) {
    // One Newton step on the reciprocal, then the quotient corrected
    // twice with exact (fused) residuals: the sequence correctly rounded
    // divisions use on GPUs. One correction through a second division
    // (the form before) left quotients near midpoints one ulp off on the
    // H200 (ops.TestDivRNCorrectlyRounded).
    // Below 2^-100 the residuals would be subnormal, which GPUs flush
    // to zero: divide 2^64 a and scale the quotient back (exact while
    // it stays normal).
    let tiny = abs(a) < 0x1p-100f;
    let an = select(a, a * 0x1p64f, tiny);
    let y0 = 1.0 / b;
    let y = fma(fma(-b, y0, 1.0), y0, y0);
    var qf = an * y;
    qf = fma(fma(-b, qf, an), y, qf);
    qf = fma(fma(-b, qf, an), y, qf);
    return select(qf, qf * 0x1p-64f, tiny);
  }
  return div_rn_checked(a, b);
}
// div_rn_checked is div_rn with the integer steps on every device: for
// values computed once per row or block (scales), where its cost does not
// matter and the result must not depend on how a driver folds constant
// divisors (a fused-path scale amax/448 came out one ulp off on the H200,
// 2026-11-28).
fn div_rn_checked(a: f32, b: f32) -> f32 {
  let q0 = a / b;
  // The correction would make NaN of an overflow and +0 of -0.
  if ((bitcast<u32>(q0) & 0x7f800000u) == 0x7f800000u || (bitcast<u32>(q0) & 0x7fffffffu) == 0u) { return q0; }
  let q = q0 + fma(-q0, b, a) / b;
  let ua = bitcast<u32>(a) & 0x7fffffffu;
  let ub = bitcast<u32>(b) & 0x7fffffffu;
  var uq = bitcast<u32>(q) & 0x7fffffffu;
  if (!f32_normal(ua) || !f32_normal(ub) || !f32_normal(uq)) { return q; }
  for (var i = 0; i < 3; i = i + 1) {
    let st = div_step(ua, ub, uq);
    if (st == 0) { break; }
    uq = u32(i32(uq) + st);
    if (!f32_normal(uq)) { break; }
  }
  return bitcast<f32>(uq | ((bitcast<u32>(a) ^ bitcast<u32>(b)) & 0x80000000u));
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
  return div_rn_checked(max(bitcast<f32>(a), 1e-12), fmax);
}
// fp8_scale_fma is fp8_scale with the division on div_rn's fused path
// where the device fuses fma (div_rn_checked's integer steps elsewhere),
// for a divisor fmax the kernel reads at run time: a constant divisor
// may be folded by the driver into a product that is not correctly
// rounded (see div_rn_checked), a uniform cannot be.
fn fp8_scale_fma(a: u32, fmax: f32) -> f32 {
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
// The codes of four finite values, lane 0 in the low byte.
fn e4m3x4_encode_finite(q: vec4<f32>) -> u32 {
  return e4m3_encode_finite(q.x) | (e4m3_encode_finite(q.y) << 8u) | (e4m3_encode_finite(q.z) << 16u) | (e4m3_encode_finite(q.w) << 24u);
}
fn e5m2x4_encode_finite(q: vec4<f32>) -> u32 {
  return e5m2_encode_finite(q.x) | (e5m2_encode_finite(q.y) << 8u) | (e5m2_encode_finite(q.z) << 16u) | (e5m2_encode_finite(q.w) << 24u);
}
