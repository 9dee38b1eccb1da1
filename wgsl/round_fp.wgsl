// bf16 rounding on the float pipe, for values that feed more arithmetic
// on the fast path of memory-bound kernels (integer operations issue at
// half the float rate on an H200; this costs two of them and three
// float operations, the integer rounding four). For |v| below 2^112,
// adding m = ±1.5 * 2^(e+16), where 2^e is v's binade and ± its sign,
// puts the sum's last bit where bf16's last bit is, so the f32 addition
// rounds v to bf16 with ties to even, and subtracting m again is exact.
// The sum passes through an integer XOR with zero, a uniform the
// compiler cannot see, so that no compiler may fold (v + m) - m into v
// (Vulkan lets drivers reassociate; lavapipe does). Zeros and f32
// subnormals pass through or flush to zero, -0 becomes +0; infinities,
// NaN and |v| >= 2^112 give NaN, or an infinity where the driver fuses
// the product m into the additions as an fma (NVIDIA: the exact product
// does not overflow there). Either reaches the kernel's output and its
// sum (nan_seen tests for both), and the kernel recomputes with the
// checked rounding.
fn bf16x4_round_fp(v: vec4<f32>, zero: u32) -> vec4<f32> {
  let m = bitcast<vec4<f32>>(bitcast<vec4<u32>>(v) & vec4<u32>(0xff800000u)) * 98304.0;
  let s = bitcast<vec4<f32>>(bitcast<vec4<u32>>(v + m) ^ vec4<u32>(zero));
  return s - m;
}
// bf16x4_round_fma rounds as bf16x4_round_fp does, with two changes that
// make it a candidate for the stores of the fast path too (benchmark
// variants round=fma and store=fma, ops/stream.go): m's binade is at
// least the smallest normal one, so f32 subnormals round to bf16's
// subnormal grid with ties to even like every other value (m's sign
// does not matter: m = 1.5 * 2^(e+16) keeps v + m in m's binade for
// either sign of v, and m is an even multiple of the quantum), and m
// comes off again as an fma, s - m * one, with one a uniform 1.0 the
// compiler cannot see, where bf16x4_round_fp passes the sum through an
// integer XOR: one integer operation fewer for the same float count
// (an fma for the sum, v * one + m, is not enough: lavapipe's compiler
// turns fma(v, one, m) - m into v * one). Zeros
// give +0; infinities, NaN and |v| >= 2^112 give NaN (inf - inf), which
// a kernel must add to its nan_sum after rounding. The result's low 16
// bits are zero for every finite result, so a store packs it without
// rounding again (bf16x4_pack_rounded).
fn bf16x4_round_fma(v: vec4<f32>, one: f32) -> vec4<f32> {
  let m = max(bitcast<vec4<f32>>(bitcast<vec4<u32>>(v) & vec4<u32>(0x7f800000u)), vec4<f32>(1.17549435e-38)) * 98304.0;
  return fma(-m, vec4<f32>(one), v + m);
}
// bf16x4_pack_rounded packs four values whose low 16 bits are zero (see
// bf16x4_round_fma) into two words of bf16 pairs, lane 0 low.
fn bf16x4_pack_rounded(v: vec4<f32>) -> vec2<u32> {
  let b = bitcast<vec4<u32>>(v);
  return vec2<u32>((b.x >> 16u) | b.y, (b.z >> 16u) | b.w);
}
