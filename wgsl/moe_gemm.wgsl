// Grouped GEMM of a MoE: workgroup (x, y) computes columns x*BN.. of tile
// y of the sort (moe_sort.wgsl): up to BM rows that share one expert.
// Row r of the tile is assignment a = perm[start + r]; LOAD_A reads its
// element gk of the A operand, LOAD_B (and LOAD_C when DUAL: the second
// weight of the gated product) element (gn, gk) of the expert's weight
// [N, K] at ex = expert * N * K. Staging in workgroup memory and the 4 x 4
// register blocks follow matmul.wgsl; EPILOGUE turns the accumulators g
// (and u) into the value v stored for (a, n).
// Specialised on: WX, WY, BK, DUAL, LOAD_A, LOAD_B, LOAD_C, EPILOGUE and
// the dtypes of every buffer.
const BM: u32 = 4u * WY;
const BN: u32 = 4u * WX;
const NT: u32 = WX * WY;
const AS: u32 = BM + 1u;
const BS: u32 = WX + 1u;
const NONE: u32 = 0xffffffffu;
var<workgroup> As: array<f32, BK * AS>;
var<workgroup> Bs: array<vec4<f32>, BK * BS>;
var<workgroup> Cs: array<vec4<f32>, BK * BS>;
var<workgroup> rows: array<u32, BM>;
var<workgroup> tinfo: vec4<u32>;
var<private> tile_n0: u32;

@compute @workgroup_size(WX, WY)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l3: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let tile = wid.y; // below the grid's bound on the tile count, so the entry is in the buffer
  if (lid == 0u) {
    tinfo = vec4<u32>(tiles_buf[0], tiles_buf[1u + 3u * tile], tiles_buf[2u + 3u * tile], tiles_buf[3u + 3u * tile]);
  }
  let info = workgroupUniformLoad(&tinfo);
  if (tile >= info.x) { return; }
  let start = info.z;
  let count = info.w;
  let ex = info.y * p.n * p.k;
  let n0 = wid.x * BN;
  tile_n0 = n0;
  for (var r = lid; r < BM; r = r + NT) { rows[r] = select(NONE, perm_buf[start + r], r < count); }
  workgroupBarrier();
  let tx = l3.x;
  let ty = l3.y;
  var acc: array<vec4<f32>, 4>;
  var acc2: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < p.k; k0 = k0 + BK) {
    for (var e = lid; e < BM * BK; e = e + NT) {
      let r = e / BK;
      let c = e - r * BK;
      let a = rows[r];
      let gk = k0 + c;
      var v = 0.0;
      if (a != NONE && gk < p.k) { v = {{LOAD_A}}; }
      As[c * AS + r] = v;
    }
    for (var e = lid; e < BN * BK; e = e + NT) {
      let r = e / BK;
      let c = e - r * BK;
      let gn = n0 + r;
      let gk = k0 + c;
      var v = 0.0;
      var v2 = 0.0;
      if (gn < p.n && gk < p.k) {
        v = {{LOAD_B}};
        if (DUAL) { v2 = {{LOAD_C}}; }
      }
      Bs[c * BS + (r >> 2u)][r & 3u] = v;
      if (DUAL) { Cs[c * BS + (r >> 2u)][r & 3u] = v2; }
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k = k + 1u) {
      let b = Bs[k * BS + tx];
      for (var i = 0u; i < 4u; i = i + 1u) { acc[i] = fma(vec4<f32>(As[k * AS + ty + i * WY]), b, acc[i]); }
      if (DUAL) {
        let b2 = Cs[k * BS + tx];
        for (var i = 0u; i < 4u; i = i + 1u) { acc2[i] = fma(vec4<f32>(As[k * AS + ty + i * WY]), b2, acc2[i]); }
      }
    }
    workgroupBarrier();
  }
  // Unrolled by hand, as in matmul.wgsl: indexing the accumulators with a
  // loop counter here could move them out of registers for the whole kernel.
  store_row(rows[ty], 4u * tx, acc[0], acc2[0]);
  store_row(rows[ty + WY], 4u * tx, acc[1], acc2[1]);
  store_row(rows[ty + 2u * WY], 4u * tx, acc[2], acc2[2]);
  store_row(rows[ty + 3u * WY], 4u * tx, acc[3], acc2[3]);
}

// store_row writes the four outputs of assignment a (NONE: a padding row)
// at columns n0 + c .. n0 + c + 3 of the workgroup's tile.
fn store_row(a: u32, c: u32, ga: vec4<f32>, ua: vec4<f32>) {
  if (a == NONE) { return; }
  for (var j = 0u; j < 4u; j = j + 1u) {
    let n = tile_n0 + c + j;
    if (n < p.n) {
      let g = ga[j];
      let u = ua[j];
      var v = 0.0;
      {{EPILOGUE}}
      st_out(a * p.n + n, v);
    }
  }
}
