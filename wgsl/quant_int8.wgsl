// Per-block int8 quantisation (TeleFuser's quant_per_block.py, after
// SageAttention): the shared functions. x is [B,L,H,D] or [B,H,L,D]; the
// element of (b, l, h, d) is at b*sb + h*sh + l*sl + d (uniforms). VALUE
// reads element i, whose mean over the sequence is km[kidx], as the
// quantiser sees it: after the smoothing of K by its mean where asked,
// times the scale uniform. Needs div_rn (fp8.wgsl).

fn value(i: u32, kidx: u32) -> f32 {
  {{VALUE}}
}

// quant_i8 rounds v / s half away from zero into [-127, 127] (0 where the
// block's scale is 0) and returns its two's-complement byte.
fn quant_i8(v: f32, s: f32) -> u32 {
  if (s == 0.0) { return 0u; }
  let t = div_rn(v, s);
  let r = clamp(trunc(t + select(-0.5, 0.5, t >= 0.0)), -127.0, 127.0);
  return u32(i32(r)) & 0xffu;
}
