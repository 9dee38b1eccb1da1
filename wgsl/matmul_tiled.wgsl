// y[M,N] = epilogue(x[M,K] @ w[N,K]ᵀ), both operands K-contiguous, f32
// accumulation, register-blocked. A workgroup of WG = (BM/TM)*(BN/TN)
// invocations computes a BM x BN output tile; invocation (tx, ty) keeps a
// TM x TN block of accumulators in registers: rows ty*TM .. ty*TM+TM-1,
// columns tx*TN .. tx*TN+TN-1 of the tile (TN/4 vec4 per row).
//
// Staging. Per BK step the A tile (BM x BK) and the B tile (BN x BK) are
// copied into workgroup memory transposed, k-major (As[k][m], Bs[k][n],
// rows of vec4 padded by one vec4 so that the transposing stores of
// neighbouring invocations fall in different banks), so the inner loop
// reads TM/4 vec4 of an A column and TN/4 vec4 of a B column per k and
// does TM*TN/4 vec4 FMAs with them.
//  - UNITS (K a multiple of the unit, packs of 4): each invocation
//    moves whole units of KU = 4*H consecutive K elements, one 16-byte
//    global access each (UNIT_A/UNIT_B; 16-bit storage stays raw words
//    until the staging step decodes it to f32 (DEC_A/DEC_B), once per
//    element and workgroup).
//    Rows past M or N are clamped to the last row (their results are
//    never stored), units past K are zero: no other bounds tests. The
//    units of step t+1 are fetched into registers before step t's
//    products and stashed after them (FETCH, STASH), so global latency
//    hides behind the arithmetic. With DOUBLE the two steps live in two
//    buffers and one barrier per step suffices; without, one buffer and
//    two barriers.
//  - otherwise every element is loaded on its own through LOAD_A and
//    LOAD_B with bounds tests and zero fill (the matmul.wgsl contract:
//    they see gm, gn, gk and decode any storage, FP8 and scales included).
//
// Invocation layout. When the invocation grid allows, each group of 32
// consecutive invocations (a subgroup on NVIDIA) covers 8 columns x 4
// rows of invocations, so one vec4 read of As or Bs serves 8 or 4 lanes'
// worth of distinct addresses and the workgroup-memory traffic per k stays
// well under the FMA rate.
//
// The register block is unrolled by hand in generated snippets (REGS,
// MMA, WRITE, FETCH, STASH; ops/matmul_blocked.go): acc registers are plain
// variables, never an array indexed by a loop counter, which could move
// them to memory. The epilogue (EPILOGUE: bias, activation, gate*y +
// residual) runs per element in epi(); stores go out as packs of 4
// (STORE4: stv_y) or units of 8 (STORE8: stu_y, 16-bit storage with H = 2),
// or element by element with bounds tests when N is not a multiple of 4.
//
// Browser robustness. Tint (Dawn: Chrome, node) clamps each dynamic
// index into a workgroup array or vector with min() unless its integer
// range analysis proves the index in range; the analysis knows
// constants, local_invocation_index, for-loop counters with constant
// bounds, lets, + - * / % << >> and min/max, but not vars assigned
// later, select, & or ^, nor the parameters of helper functions. So
// the inner loop's workgroup indices are such expressions: tx and ty one
// expression of lid, buffers t % NBUF. Tint then emits no clamp in the
// inner loop (bench/results/2026-11-29-tint-robustness.md); on the H200
// that took the kernel under Dawn's robustness from 19.5 to 22.3 TFLOP/s
// (bench/results/2026-11-29-h200-matmul-robustness.md).
//
// f16 products (an opt-in precision, ops/linear.go's halfMath): SS, the
// scalar type of the staged tiles, is f16 instead of f32 (operands are
// rounded to f16 once, in the staging step), MMA accumulates each BK step
// in f16 registers and CHUNK, after the step, adds them to the f32
// accumulators and clears them: products and sums of BK terms in f16,
// the sum over K in f32. With f32 products SS is f32 and CHUNK is empty.
//
// Specialised on: BM, BN, BK, TM, TN, DOUBLE, UNITS, GROUP (tile rows
// per raster group; 1 keeps the grid's own order), SS, RAW_A, RAW_B, the snippets and
// the dtypes, pack width and units of every buffer.

const TX: u32 = BN / TN;
const TY: u32 = BM / TM;
const WG: u32 = TX * TY;
const KU: u32 = 4u * H;          // K elements per unit
const UPR: u32 = BK / KU;        // units per staged row
const NA: u32 = BM * UPR;        // units of an A tile
const NB: u32 = BN * UPR;        // units of a B tile
const ASV: u32 = BM / 4u + 1u;   // vec4 per staged k-row of A, padded
const BSV: u32 = BN / 4u + 1u;
const NBUF: u32 = select(1u, 2u, DOUBLE);
const ATILE: u32 = BK * ASV;
const BTILE: u32 = BK * BSV;
// 8 x 4 invocations per group of 32 where the grid allows it: groups
// of LG invocations, LX of them across, GX groups across the tile.
const LANES8X4: bool = TX % 8u == 0u && TY % 4u == 0u;
const LG: u32 = select(WG, 32u, LANES8X4);
const LX: u32 = select(TX, 8u, LANES8X4);
const GX: u32 = select(1u, TX / 8u, LANES8X4);

alias UV = array<vec4<f32>, H>;
alias SS = {{SS}};
// What a prefetch register holds between FETCH and STASH: UV for f32
// and FP8 storage, the raw words of 16-bit storage (vec2<u32> or
// vec4<u32>), decoded in the staging step (dec_a, dec_b) so that the
// products between fetch and stash never wait on the load.
alias RA = {{RAW_A}};
alias RB = {{RAW_B}};

var<workgroup> As: array<vec4<SS>, NBUF * ATILE>;
var<workgroup> Bs: array<vec4<SS>, NBUF * BTILE>;

// One unit of row gm (gn) at K offset gk, as fetched: in bounds and
// unit-aligned.
fn unit_a(gm: u32, gk: u32) -> RA {
  {{UNIT_A}}
}
fn unit_b(gn: u32, gk: u32) -> RB {
  {{UNIT_B}}
}

// A fetched unit decoded to f32 (zero words decode to zeros).
fn dec_a(r: RA) -> UV {
  {{DEC_A}}
}
fn dec_b(r: RB) -> UV {
  {{DEC_B}}
}

// Unit e of the A tile at K offset k0: zero past K or past the tile's units.
fn fetch_a(m0: u32, k0: u32, e: u32) -> RA {
  let r = e / UPR;
  let gk = k0 + (e - r * UPR) * KU;
  if (e >= NA || gk >= p.k) { return RA(); }
  return unit_a(min(m0 + r, p.m - 1u), gk);
}
fn fetch_b(n0: u32, k0: u32, e: u32) -> RB {
  let r = e / UPR;
  let gk = k0 + (e - r * UPR) * KU;
  if (e >= NB || gk >= p.k) { return RB(); }
  return unit_b(min(n0 + r, p.n - 1u), gk);
}

// Decodes fetched unit e and stores it transposed into buffer buf. Tint
// clamps these indices (a helper's parameters are out of its range
// analysis' reach): indices it could prove in range (e capped by min, buf
// modulo NBUF) gave it no speed under robustness on the H200 and cost
// the kernel 31% without it (33.6 -> 23.1 TFLOP/s) and naga 4%
// (bench/results/2026-11-29-h200-matmul-robustness.md).
fn stash_a(buf: u32, e: u32, raw: RA) {
  if (e >= NA) { return; }
  let u = dec_a(raw);
  let r = e / UPR;
  let c = (e - r * UPR) * KU;
  let i = buf * ATILE + c * ASV + (r >> 2u);
  let q = r & 3u;
  As[i][q] = SS(u[0].x);
  As[i + ASV][q] = SS(u[0].y);
  As[i + 2u * ASV][q] = SS(u[0].z);
  As[i + 3u * ASV][q] = SS(u[0].w);
  if (H == 2u) {
    let i2 = i + (KU - 4u) * ASV;
    As[i2][q] = SS(u[H - 1u].x);
    As[i2 + ASV][q] = SS(u[H - 1u].y);
    As[i2 + 2u * ASV][q] = SS(u[H - 1u].z);
    As[i2 + 3u * ASV][q] = SS(u[H - 1u].w);
  }
}
fn stash_b(buf: u32, e: u32, raw: RB) {
  if (e >= NB) { return; }
  let u = dec_b(raw);
  let r = e / UPR;
  let c = (e - r * UPR) * KU;
  let i = buf * BTILE + c * BSV + (r >> 2u);
  let q = r & 3u;
  Bs[i][q] = SS(u[0].x);
  Bs[i + BSV][q] = SS(u[0].y);
  Bs[i + 2u * BSV][q] = SS(u[0].z);
  Bs[i + 3u * BSV][q] = SS(u[0].w);
  if (H == 2u) {
    let i2 = i + (KU - 4u) * BSV;
    Bs[i2][q] = SS(u[H - 1u].x);
    Bs[i2 + BSV][q] = SS(u[H - 1u].y);
    Bs[i2 + 2u * BSV][q] = SS(u[H - 1u].z);
    Bs[i2 + 3u * BSV][q] = SS(u[H - 1u].w);
  }
}

// The element path: step k0 into buffer buf, each element bounds-tested.
// Element e = lid + i * WG, capped at the tile's last (a repeat of it
// is skipped), so that its staged index is provably in range.
fn stage_elements(buf: u32, m0: u32, n0: u32, k0: u32, lid: u32) {
  for (var i = 0u; i < (BM * BK + WG - 1u) / WG; i = i + 1u) {
    let e = min(lid + i * WG, BM * BK - 1u);
    let r = e / BK;
    let c = e % BK;
    let gm = m0 + r;
    let gk = k0 + c;
    var v = 0.0;
    if (gm < p.m && gk < p.k) { v = {{LOAD_A}}; }
    if (lid + i * WG < BM * BK) { As[(buf % NBUF) * ATILE + c * ASV + r / 4u][r % 4u] = SS(v); }
  }
  for (var i = 0u; i < (BN * BK + WG - 1u) / WG; i = i + 1u) {
    let e = min(lid + i * WG, BN * BK - 1u);
    let r = e / BK;
    let c = e % BK;
    let gn = n0 + r;
    let gk = k0 + c;
    var v = 0.0;
    if (gn < p.n && gk < p.k) { v = {{LOAD_B}}; }
    if (lid + i * WG < BN * BK) { Bs[(buf % NBUF) * BTILE + c * BSV + r / 4u][r % 4u] = SS(v); }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  // Raster order: workgroups are numbered x first, and consecutive
  // numbers take GROUP tile rows at a time, column by column, so the
  // workgroups resident together share A and B panels in L2.
  let tiles_m = nwg.y;
  let tiles_n = nwg.x;
  let pid = wid.x + wid.y * tiles_n;
  let per_group = GROUP * tiles_n;
  let first = (pid / per_group) * GROUP;
  let rows = min(tiles_m - first, GROUP);
  let q = pid - (pid / per_group) * per_group;
  let mt = first + q % rows;
  let n0 = (q / rows) * BN;
  // ORIGIN sets m0, the first row of tile row mt (mt * BM for a plain
  // product; a grouped product looks it up and may return, uniformly).
  {{ORIGIN}}
  // Invocation lid is lane l of group g (LG invocations, LX lanes
  // wide, GX groups across; one group of all WG without LANES8X4). One
  // expression of lid for both layouts, so that Tint's range analysis
  // bounds tx < TX and ty < TY and leaves the inner loop's workgroup
  // reads unclamped.
  let g = lid / LG;
  let l = lid % LG;
  let tx = (g % GX) * LX + l % LX;
  let ty = (g / GX) * (LG / LX) + l / LX;
  {{REGS}}
  let nt = (p.k + BK - 1u) / BK;
  var k1 = 0u;
  var nb = 0u;
  if (UNITS) {
    {{FETCH}}
    {{STASH}}
  } else {
    stage_elements(0u, m0, n0, 0u, lid);
  }
  workgroupBarrier();
  for (var t = 0u; t < nt; t = t + 1u) {
    let cur = t % NBUF;
    nb = (t + 1u) % NBUF;
    let more = t + 1u < nt;
    k1 = (t + 1u) * BK;
    if (UNITS && more) {
      {{FETCH}}
    }
    let abase = cur * ATILE + ty * (TM / 4u);
    let bbase = cur * BTILE + tx * (TN / 4u);
    for (var kk = 0u; kk < BK; kk = kk + 1u) {
      let ai = abase + kk * ASV;
      let bi = bbase + kk * BSV;
      {{MMA}}
    }
    {{CHUNK}}
    if (!DOUBLE) { workgroupBarrier(); }
    if (more) {
      if (UNITS) {
        {{STASH}}
      } else {
        stage_elements(nb, m0, n0, k1, lid);
      }
    }
    workgroupBarrier();
  }
  let m = m0 + ty * TM;
  let n = n0 + tx * TN;
  {{WRITE}}
}

fn epi(a: f32, m: u32, n: u32) -> f32 {
  var v = a;
  {{EPILOGUE}}
  return v;
}

// Four outputs of row m from column n (n a multiple of 4 when V is 4).
fn store4(m: u32, n: u32, a: vec4<f32>) {
  if (m >= p.m || n >= p.n) { return; }
  {{STORE4}}
}

// Eight outputs of row m from column n (a multiple of 8; only with H = 2).
fn store8(m: u32, n: u32, a: vec4<f32>, b: vec4<f32>) {
  if (m >= p.m || n >= p.n) { return; }
  {{STORE8}}
}
