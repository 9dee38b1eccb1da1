// y[M,N] = epilogue(x[M,K] @ w[N,K]ᵀ) for few rows (M <= MR <= 16; rows
// past M repeat row M-1 and are not stored): the
// weight is read once, at memory speed, and each of its elements meets
// every row of x in registers. A workgroup of WG invocations computes NC
// output columns (all MR rows): the invocations split K and each keeps
// NC x MR accumulators (plain variables, declared by the REGS snippet).
//
//  - UNITS (K a multiple of KU, packs of 4): invocation i walks units i,
//    i + WG, ... of KU consecutive K elements; UNIT_STEP loads the unit
//    of each of the NC weight rows (16-byte accesses: ldu_/ldv_ for f32
//    and 16-bit storage, one vec4<u32> of 16 codes for an FP8 weight,
//    decoded in registers) and then, SU elements at a time, the matching
//    elements of each row of x (XSUB), and accumulates.
//  - otherwise ELEMENT_STEP walks K one element at a time (LOAD_X, LOAD_W
//    with no alignment needs).
// Weight rows past N are clamped to the last row (their results are
// never stored). The partial sums are then reduced over the workgroup
// (REDUCE: a subgroupAdd per value and one partial per subgroup where
// the device has subgroups, one partial per invocation otherwise), VC
// values at a time through workgroup memory, scaled by wscale() (an FP8
// weight's dequantisation scale), and the results go out in packs of VS
// columns with the EPILOGUE applied per element (STORE).
//
// Specialised on: WG, NC, MR, KU, SU, VC, VS, UNITS, the snippets and the
// dtypes, pack width and units of every buffer.

const NV: u32 = NC * MR;       // values per invocation
const G: u32 = WG / VC;        // invocations per value in the reduction's first level

alias XS = array<vec4<f32>, SU / 4u>;

var<private> sg_lane: u32;
var<private> sg_size: u32;
var<workgroup> red: array<f32, VC * WG>;
var<workgroup> red2: array<f32, WG>;
var<workgroup> tot: array<f32, NV>;

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

// Sums the VC values of chunk cb over the nslot partials each has in
// red, into tot[cb ..], scaled. Call in uniform control flow.
fn reduce_chunk(cb: u32, nslot: u32, n0: u32, lid: u32) {
  let v = lid / G;
  let g = lid - v * G;
  var s = 0.0;
  for (var i = g; i < nslot; i = i + G) { s = s + red[v * WG + i]; }
  red2[lid] = s;
  workgroupBarrier();
  if (lid < VC) {
    var t = 0.0;
    for (var i = 0u; i < G; i = i + 1u) { t = t + red2[lid * G + i]; }
    tot[cb + lid] = t * wscale(min(n0 + (cb + lid) % NC, p.n - 1u));
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32 {{SG_PARAMS}}) {
  {{SG_INIT}}
  let n0 = (wid.x + wid.y * nwg.x) * NC;
  {{REGS}}
  if (UNITS) {
    let nu = p.k / KU;
    for (var u = lid; u < nu; u = u + WG) {
      {{UNIT_STEP}}
    }
  } else {
    for (var k = lid; k < p.k; k = k + WG) {
      {{ELEMENT_STEP}}
    }
  }
  {{REDUCE}}
  for (var i = lid; i < MR * (NC / VS); i = i + WG) {
    let m = i / (NC / VS);
    let j = i - m * (NC / VS);
    let n = n0 + j * VS;
    let b = m * NC + j * VS;
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
