// Activation functions in f32 (no bindings). erf_f32 follows a
// piecewise minimax form (|x| <= 0.9277: odd polynomial in x; above:
// 1 - exp(poly)), within about one f32 ulp of erf when exp is exact.
// Every function is branch-free: the memory-bound kernels apply them to
// eight values per invocation, and a branch whose lanes disagree (as
// they do on any real activation) runs both sides anyway, plus the
// branching; selects keep each side's cost to one pass.
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
// erf for |a| <= 0.927734375.
fn erf_poly_small(a: f32) -> f32 {
  let s = a * a;
  var r = -5.96761703e-4;
  r = fma(r, s, 4.99119423e-3);
  r = fma(r, s, -2.67681349e-2);
  r = fma(r, s, 1.12819925e-1);
  r = fma(r, s, -3.76125336e-1);
  r = fma(r, s, 1.28379166e-1);
  return fma(r, a, a);
}
fn erf_f32(a: f32) -> f32 {
  let t = abs(a);
  let e = 1.0 - exp(erf_poly_big(min(t, 10.0)));
  return select(erf_poly_small(a), select(e, -e, a < 0.0), t > 0.927734375);
}
// GELU as x * Φ(x): Φ = 0.5 + 0.5 erf(x/√2) where the small polynomial
// holds, else from erfc(|x|/√2) = exp(poly): 1 - erfc/2 above zero and
// erfc/2 below it, which keeps the negative tail free of cancellation.
fn act_gelu(x: f32) -> f32 {
  let a = x * 0.70710678118654752;
  let t = abs(a);
  let e = 0.5 * exp(erf_poly_big(min(t, 10.0)));
  let big = select(1.0 - e, e, x < 0.0);
  return x * select(fma(0.5, erf_poly_small(a), 0.5), big, t > 0.927734375);
}
// GELU with erfc in one form over the whole line (Numerical Recipes'
// erfcc: relative error below 1.2e-7 for every z >= 0): erfc(z) =
// t exp(-z² + P(t)), t = 1 / (1 + z/2), z = |x|/√2, then Φ = erfc/2
// below zero and 1 - erfc/2 above it, as act_gelu does for its tail. One
// division, one exp and ten fma, where act_gelu evaluates both of its
// polynomials (seven and nine steps) for every value. A benchmark
// variant (erf=erfc, internal/launch.GELUErfc).
fn act_gelu_erfc(x: f32) -> f32 {
  let z = abs(x) * 0.70710678118654752;
  let t = 1.0 / fma(0.5, z, 1.0);
  var r = fma(t, 0.17087277, -0.82215223);
  r = fma(r, t, 1.48851587);
  r = fma(r, t, -1.13520398);
  r = fma(r, t, 0.27886807);
  r = fma(r, t, -0.18628806);
  r = fma(r, t, 0.09678418);
  r = fma(r, t, 0.37409196);
  r = fma(r, t, 1.00002368);
  r = fma(r, t, -1.26551223);
  let e = 0.5 * t * exp(fma(-x, 0.5 * x, r)); // -z² = -x²/2 with one rounding
  return x * select(1.0 - e, e, x < 0.0);
}
// 0.5 x (1 + tanh(u)) = x * sigmoid(2u) = x / (1 + exp(-2u)), with
// u = sqrt(2/π) (x + 0.044715 x³): one exp and one division, and no
// cancellation in the negative tail. The infinities come out as
// PyTorch's formula gives them: +inf at +inf, NaN at -inf.
fn act_gelu_tanh(x: f32) -> f32 {
  let u2 = x * fma(x * x, -0.07135481627260025, -1.5957691216057308); // -2u
  return x / (1.0 + exp(u2));
}
fn act_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn act_silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }
fn act_fp32_silu(x: f32) -> f32 { return act_silu(x); }
fn act_approx_gelu(x: f32) -> f32 { return x / (1.0 + exp(-1.702 * x)); }
// ReLU tests the bits: a compiler that assumes no NaN (Vulkan allows it;
// NVIDIA's does) turns a float comparison into max(x, 0), which gives 0
// for NaN where PyTorch gives NaN.
fn act_relu(x: f32) -> f32 { let b = bitcast<u32>(x); return select(x, 0.0, b > 0x80000000u && b <= 0xff800000u); }
fn act_mish(x: f32) -> f32 {
  // tanh(softplus(x)) = n(n+2) / (n(n+2) + 2) with n = e^x; 1 past x = 20.
  let n = exp(min(x, 20.0));
  let q = n * (n + 2.0);
  return select(x * q / (q + 2.0), x, x > 20.0);
}
fn act_none(x: f32) -> f32 { return x; }
