// Activation functions in f32 (no bindings). erf_f32 follows a
// piecewise minimax form (|x| <= 0.9277: odd polynomial in x; above:
// 1 - exp(poly)), within about one f32 ulp of erf when exp is exact;
// erfc_big returns 1 - erf for arguments above 0.9277 without cancellation.
fn erf_poly_big(t: f32) -> f32 {
  let s = t * t;
  var r = fma(-1.72853470e-5, t, 3.83197126e-4);
  let u = fma(-3.88396438e-3, t, 2.42546219e-2);
  r = fma(r, s, u);
  r = fma(r, t, -1.06777877e-1);
  r = fma(r, t, -6.34846687e-1);
  r = fma(r, t, -1.28717512e-1);
  r = fma(r, t, -t);
  return r;
}
fn erf_f32(a: f32) -> f32 {
  let t = abs(a);
  if (t > 0.927734375) {
    let e = 1.0 - exp(erf_poly_big(min(t, 10.0)));
    return select(e, -e, a < 0.0);
  }
  let s = a * a;
  var r = -5.96761703e-4;
  r = fma(r, s, 4.99119423e-3);
  r = fma(r, s, -2.67681349e-2);
  r = fma(r, s, 1.12819925e-1);
  r = fma(r, s, -3.76125336e-1);
  r = fma(r, s, 1.28379166e-1);
  return fma(r, a, a);
}
// erfc of a non-negative argument.
fn erfc_pos(t: f32) -> f32 {
  if (t > 0.927734375) { return exp(erf_poly_big(min(t, 10.0))); }
  return 1.0 - erf_f32(t);
}
fn act_gelu(x: f32) -> f32 {
  if (x < 0.0) { return 0.5 * x * erfc_pos(-x * 0.70710678118654752); }
  return 0.5 * x * (1.0 + erf_f32(x * 0.70710678118654752));
}
fn act_gelu_tanh(x: f32) -> f32 {
  let u = clamp(0.79788456080286536 * (x + 0.044715 * x * x * x), -15.0, 15.0);
  return 0.5 * x * (1.0 + tanh(u));
}
fn act_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn act_silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }
fn act_fp32_silu(x: f32) -> f32 { return act_silu(x); }
fn act_approx_gelu(x: f32) -> f32 { return x * act_sigmoid(1.702 * x); }
fn act_relu(x: f32) -> f32 { return select(x, 0.0, x < 0.0); }
fn act_mish(x: f32) -> f32 {
  // tanh(softplus(x)) = n(n+2) / (n(n+2) + 2) with n = e^x; 1 past x = 20.
  if (x > 20.0) { return x; }
  let n = exp(x);
  let q = n * (n + 2.0);
  return x * q / (q + 2.0);
}
fn act_none(x: f32) -> f32 { return x; }
