// The stores of the gated grouped GEMM (moe_tiled.wgsl with DUAL): the
// WRITE snippet hands store_gated the gate accumulators g and the up
// accumulators u of sorted row m, output columns c .. c+3; GATED turns
// each pair (g, u) of column n into the value v stored in h [p.m, p.ni]
// at sorted row m, by STORE_H (from o, packs of 4 or element by element).
// Specialised on: GATED, STORE_H.
fn store_gated(m: u32, c: u32, g: vec4<f32>, u: vec4<f32>) {
  if (m >= moe_end || c >= p.ni) { return; }
  var o: vec4<f32>;
  for (var j = 0u; j < 4u; j = j + 1u) {
    let n = c + j;
    let gj = g[j];
    let uj = u[j];
    var v = 0.0;
    {{GATED}}
    o[j] = v;
  }
  {{STORE_H}}
}
