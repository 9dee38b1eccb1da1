// y[M,N] = epilogue(x[M,K] @ W[N,K]ᵀ) for a small M (MR rows, all of them
// in every workgroup) and an NF4 weight read at 4 bits: each workgroup
// computes NR consecutive outputs n of every row. Its invocations stride
// through the words of those NR weight rows (eight codes a word; K is a
// multiple of 8, so a row starts on a word and a word never straddles an
// absmax block), decode them through a table in workgroup memory, round
// them to x's dtype (ROUND_W) and multiply them with the eight x values of
// each row (LOAD_X), which they load once for all NR outputs. A tree in
// workgroup memory sums the partial products; the first MR*NR invocations
// finish one output each (STORE, with the EPILOGUE of epi()).
//
// Specialised on: WG, MR, NR, LOAD_X, ROUND_W, EPILOGUE, STORE and the
// dtypes and pack width of every buffer.
var<workgroup> lut: array<f32, 16>;
var<workgroup> red: array<f32, WG * MR * NR>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wid.y * nw.x + wid.x;
  let n0 = g * NR;
  if (lid == 0u) { lut = NF4_TABLE; }
  workgroupBarrier();
  var acc: array<f32, MR * NR>;
  let kw = p.k / 8u;
  if (n0 < p.n) {
    for (var w = lid; w < kw; w = w + WG) {
      var xa: array<vec4<f32>, MR>;
      var xb: array<vec4<f32>, MR>;
      for (var m = 0u; m < MR; m = m + 1u) {
        let xi = m * p.k + 8u * w;
        {{LOAD_X}}
      }
      for (var r = 0u; r < NR; r = r + 1u) {
        let n = n0 + r;
        if (n < p.n) {
          let e = n * p.k + 8u * w;
          let word = w_buf[e >> 3u];
          let a = ld_am(e / p.bs);
          var wa = vec4<f32>(lut[(word >> 4u) & 15u], lut[word & 15u], lut[(word >> 12u) & 15u], lut[(word >> 8u) & 15u]) * a;
          var wb = vec4<f32>(lut[(word >> 20u) & 15u], lut[(word >> 16u) & 15u], lut[(word >> 28u) & 15u], lut[(word >> 24u) & 15u]) * a;
          {{ROUND_W}}
          for (var m = 0u; m < MR; m = m + 1u) {
            // One fma chain from the accumulator (a + dot() + dot() costs a
            // multiply and an add more per four products).
            let i = m * NR + r;
            acc[i] = fma(xb[m].w, wb.w, fma(xb[m].z, wb.z, fma(xb[m].y, wb.y, fma(xb[m].x, wb.x,
                     fma(xa[m].w, wa.w, fma(xa[m].z, wa.z, fma(xa[m].y, wa.y, fma(xa[m].x, wa.x, acc[i]))))))));
          }
        }
      }
    }
  }
  for (var i = 0u; i < MR * NR; i = i + 1u) { red[i * WG + lid] = acc[i]; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      for (var i = 0u; i < MR * NR; i = i + 1u) { red[i * WG + lid] = red[i * WG + lid] + red[i * WG + lid + s]; }
    }
    workgroupBarrier();
  }
  if (n0 >= p.n) { return; }
  {{STORE}}
}

fn epi(a: f32, m: u32, n: u32) -> f32 {
  var v = a;
  {{EPILOGUE}}
  return v;
}
