// W8A8 linear (ops.LinearW8A8): the epilogue both variants share. It dequantises
// an exact i32 sum of code products, acc * sx[m] * sw[n] in f32, then runs
// EPILOGUE on y (row m, column n): the exact linear's bias, activation and
// gate+residual with its roundings to the output dtype.
//
// Specialised on: EPILOGUE.

fn w8a8_out(acc: i32, m: u32, n: u32) -> f32 {
  var y = f32(acc) * ld_sx(m) * ld_sw(n);
  {{EPILOGUE}}
  return y;
}
