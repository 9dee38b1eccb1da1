// W8A8 linear (ops.LinearW8A8): the epilogue both variants share. It dequantises
// an exact i32 sum of code products: acc * sx[m] * sw[n] (+ bias[n],
// BIAS), in f32.
//
// Specialised on: BIAS.

fn w8a8_out(acc: i32, m: u32, n: u32) -> f32 {
  var y = f32(acc) * ld_sx(m) * ld_sw(n);
  {{BIAS}}
  return y;
}
