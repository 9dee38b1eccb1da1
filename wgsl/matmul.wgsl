// y[M,N] = epilogue(x[M,K] @ w[N,K]ᵀ), both operands K-contiguous, f32
// accumulation. A workgroup of WX*WY invocations computes a BM x BN tile
// (BM = 4*WY, BN = 4*WX); each invocation keeps a 4 x 4 block of
// accumulators in registers: rows ty + r*WY, columns 4*tx .. 4*tx+3.
// Per BK step both operand tiles are staged in workgroup memory, read
// through LOAD_A / LOAD_B (which decode any storage, FP8 included, and
// apply dequantisation scales) with zero padding past M, N and K.
// The epilogue (bias, activation, gate*y + residual: the EPILOGUE
// snippet) runs per element in epi(); rows of whole packs are stored with stv_y when V is 4, element
// by element with st_y otherwise (atomic for 16-bit storage), by
// store_row, which takes the accumulators by value.
//
// Specialised on: WX, WY, BK, LOAD_A, LOAD_B, EPILOGUE, STORE and the dtypes and
// pack width of every buffer.

const BM: u32 = 4u * WY;
const BN: u32 = 4u * WX;
const NT: u32 = WX * WY;
// Rows of the staged tiles are padded by one element (one pack) so that
// the transposing stores of neighbouring invocations fall in different banks.
const AS: u32 = BM + 1u;
const BS: u32 = WX + 1u;
var<workgroup> As: array<f32, BK * AS>;
var<workgroup> Bs: array<vec4<f32>, BK * BS>;

@compute @workgroup_size(WX, WY)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l3: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let tx = l3.x;
  let ty = l3.y;
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < p.k; k0 = k0 + BK) {
    for (var e = lid; e < BM * BK; e = e + NT) {
      let r = e / BK;
      let c = e - r * BK;
      let gm = m0 + r;
      let gk = k0 + c;
      var v = 0.0;
      if (gm < p.m && gk < p.k) { v = {{LOAD_A}}; }
      As[c * AS + r] = v;
    }
    for (var e = lid; e < BN * BK; e = e + NT) {
      let r = e / BK;
      let c = e - r * BK;
      let gn = n0 + r;
      let gk = k0 + c;
      var v = 0.0;
      if (gn < p.n && gk < p.k) { v = {{LOAD_B}}; }
      Bs[c * BS + (r >> 2u)][r & 3u] = v;
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k = k + 1u) {
      let b = Bs[k * BS + tx];
      for (var i = 0u; i < 4u; i = i + 1u) {
        acc[i] = fma(vec4<f32>(As[k * AS + ty + i * WY]), b, acc[i]);
      }
    }
    workgroupBarrier();
  }
  let n = n0 + 4u * tx;
  // Unrolled by hand: a loop here, with the epilogue inside, may stay a
  // loop, and indexing acc with its counter would move the accumulators
  // out of registers for the whole kernel.
  store_row(m0 + ty, n, acc[0]);
  store_row(m0 + ty + WY, n, acc[1]);
  store_row(m0 + ty + 2u * WY, n, acc[2]);
  store_row(m0 + ty + 3u * WY, n, acc[3]);
}

fn epi(a: f32, m: u32, n: u32) -> f32 {
  var v = a;
  {{EPILOGUE}}
  return v;
}

fn store_row(m: u32, n: u32, a: vec4<f32>) {
  if (m >= p.m || n >= p.n) { return; }
  {{STORE}}
}
