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
