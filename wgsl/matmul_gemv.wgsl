// y[M,N] = epilogue(x[M,K] @ w[N,K]ᵀ) for few rows (M <= MR <= 16; rows
// past M repeat row M-1 and are not stored): the
// weight is read once, at memory speed, and each of its elements meets
// every row of x in registers. A workgroup of WG invocations computes
// BN = CG * NC output columns (all MR rows) in CG column groups of
// KS = WG / CG invocations: group cg (invocations cg * KS ..) computes
// columns cg * NC .. cg * NC + NC - 1, its invocations split K, and each
// keeps NC x MR accumulators (plain variables, declared by the REGS
// snippet). With CG > 1 the groups read the same elements of x at about
// the same time, so a workgroup fetches x from L2 once for BN columns
// rather than once for NC.
//
//  - UNITS (K a multiple of KU, packs of 4): lane kl of a group walks
//    units kl, kl + KS, ... of KU consecutive K elements; UNIT_STEP
//    loads the unit of each of its group's NC weight rows (16-byte
//    accesses: ldu_/ldv_ for f32 and 16-bit storage, one vec4<u32> of
//    16 codes for an FP8 weight, decoded in registers) and then, SU
//    elements at a time, the matching elements of each row of x (XSUB),
//    and accumulates.
//  - otherwise ELEMENT_STEP walks K one element at a time (LOAD_X, LOAD_W
//    with no alignment needs).
// Weight rows past N are clamped to the last row (their results are
// never stored). The partial sums are then reduced over each group
// (REDUCE: one partial per invocation and value), VC values of every
// group at a time through workgroup memory (no subgroupAdd: slower at
// every row count on the H200, ops/matmul_gemv.go), scaled by wscale()
// (an FP8 weight's dequantisation scale), and the results go out in
// packs of VS columns with the EPILOGUE applied per element (STORE).
//
// Specialised on: WG, NC, CG, MR, KU, SU, VC, VS, UNITS, the snippets
// and the dtypes, pack width and units of every buffer.

const NV: u32 = NC * MR;       // values per invocation
const KS: u32 = WG / CG;       // invocations per column group
const BN: u32 = NC * CG;       // columns per workgroup
const G: u32 = WG / (VC * CG); // invocations per value in the reduction's first level

alias XS = array<vec4<f32>, SU / 4u>;

var<workgroup> red: array<f32, VC * WG>;
var<workgroup> red2: array<f32, WG>;
var<workgroup> tot: array<f32, NV * CG>;

// SU elements of row m of x from element e (a multiple of SU).
fn xsub(m: u32, e: u32) -> XS {
  {{XSUB}}
}

// SU elements of the weight from element e (a multiple of SU).
fn wsub(e: u32) -> XS {
  {{WSUB}}
}

// The factor of output column n (an FP8 weight's scale).
fn wscale(n: u32) -> f32 {
  {{WSCALE}}
}

// Sums the VC values of chunk cb of every group over the KS partials
// each has in red (a group's values, v < VC: red[v * WG + cg * KS ..]),
// into tot[cg * NV + cb ..], scaled. Call in uniform control flow.
fn reduce_chunk(cb: u32, n0: u32, lid: u32) {
  let pr = lid / G;              // the pair (group, value) summed
  let g = lid - pr * G;
  let cg = pr / VC;
  let v = pr - cg * VC;
  var s = 0.0;
  for (var i = g; i < KS; i = i + G) { s = s + red[v * WG + cg * KS + i]; }
  red2[lid] = s;
  workgroupBarrier();
  if (lid < VC * CG) {
    var t = 0.0;
    for (var i = 0u; i < G; i = i + 1u) { t = t + red2[lid * G + i]; }
    let tg = lid / VC;
    let tv = lid - tg * VC;
    tot[tg * NV + cb + tv] = t * wscale(min(n0 + tg * NC + (cb + tv) % NC, p.n - 1u));
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let n0 = (wid.x + wid.y * nwg.x) * BN;
  let cg = lid / KS;              // the invocation's column group
  let kl = lid - cg * KS;        // and its lane in it
  let nc0 = n0 + cg * NC;        // the group's first column
  {{REGS}}
  if (UNITS) {
    let nu = p.k / KU;
    for (var u = kl; u < nu; u = u + KS) {
      {{UNIT_STEP}}
    }
  } else {
    for (var k = kl; k < p.k; k = k + KS) {
      {{ELEMENT_STEP}}
    }
  }
  {{REDUCE}}
  for (var i = lid; i < MR * (BN / VS); i = i + WG) {
    let m = i / (BN / VS);
    let c = (i - m * (BN / VS)) * VS; // column in the workgroup's tile
    let n = n0 + c;
    let b = (c / NC) * NV + m * NC + c % NC;
    if (m < p.m && n < p.n) {
      {{STORE}}
    }
  }
}

fn epi(a: f32, m: u32, n: u32) -> f32 {
  var v = a;
  {{EPILOGUE}}
  return v;
}
