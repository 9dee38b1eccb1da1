// Register-blocked flash attention: one workgroup computes BQ query rows
// of one (batch, head) against key tiles of BK keys, with the online
// softmax in the exp2 domain (the scale carries log2(e)). Both products
// of a tile are matmuls with register blocks:
//
//  S = Q Kᵀ:  invocation (tx, ty) keeps the TM x TN scores of rows
//             ty + NTY*i and keys tx + NTX*j (i < TM, j < TN) in
//             registers, summed over D in stages of DCP packs: each stage
//             holds those packs of the BQ query rows and the BK keys in
//             workgroup memory (rows padded to an odd number of packs, so
//             the lanes' reads of different rows fall in different banks).
//  O += P V:  the same invocation keeps the accumulators of its TM rows
//             for packs tx + NTX*j (j < DJ) of D; P goes through
//             workgroup memory (ps, one padded row of BK/4 packs per query
//             row) and V streams through the same stage buffers, KC keys
//             per stage.
//
// Stages form one stream per workgroup (query and key chunks of a tile,
// then its value chunks, then the next tile's first chunk): each
// invocation fetches its units of the next stage into registers (16-byte
// global loads, 16-bit storage converted here) before computing on the
// current one and stores them after it, so global latency hides behind
// the arithmetic. With NBUF = 2 one barrier per stage suffices; with one
// buffer, two. The row maxima of a tile are reduced through the small
// array red (NTX partial maxima per row), written before the last query
// stage's barrier, so the softmax costs one extra barrier per tile. The
// row sums stay partial per invocation until the end.
//
// Key ranges are those of attention.wgsl: dense work walks [ks, ke) (cut
// at the causal limit of the tile's last row); block-sparse work walks
// only the live key blocks of the query block (the RANGES and BLOCK
// snippets); QTOK and KTOK map rows and keys to tokens (local sparse).
// Rows past Sq load the last row and are never stored; keys past the
// range are zero in K and V and masked in S.
//
// The register blocks are unrolled in generated snippets (ops/attention,
// tiled.go): ODECL, SDECL, FREGS, FETCH, STASH, QK, SOFTMAX1, SOFTMAX2,
// PV and STORE, OFN, the output's pack store, PSDECL (P's array ps,
// none with Union, where P is the stage's first BQ * PS packs), REDDECL
// and RED (the reduction array: red, ps itself with Fold, the stage from
// pack REDB with Union), and RAW: the unit type
// RU of the fetch registers, the loads rlu_q/k/v and the conversions
// cvt_q/k/v to f32 packs (raw 16-bit words converted when stashed with
// Late, else ldu_x and no conversion), the stage's pack type SW with
// SPU (H of them) and stage_v(i), pack i of a value stage in f32:
// vec4<f32> and PU here, while Sage's variant (ops/attention,
// sage_tiled.go) stages its int8 code words as vec4<u32>, QP packs of 16
// codes to a query or key row, and keeps i32 dots beside its scores. No
// subgroups: the kernel runs wherever workgroup memory and invocations
// allow it.
//
// Specialised on: DP, QP (packs of a staged q or k row), BQ, BK, NTX,
// NTY, WG, DCP, RS, UPC, NC, KC, NV, VS, UPV, PS, STG, NBUF, REDP,
// STAGEP (packs of the stage array), REDB and VB (where the reduction
// and the value stages start in their arrays: 0 but with Union), CAUSAL, H (16-byte units when 2), the snippets and every buffer's
// dtype. Strides are in packs of 4.

var<workgroup> stage: array<SW, STAGEP>;
{{PSDECL}}
{{REDDECL}}

// What a workgroup reads, set once per invocation.
var<private> g_tile: u32;
var<private> qhead: u32;  // pack offset of (b, h) in q
var<private> khead: u32;  // pack offset of (b, hk) in k
var<private> vhead: u32;  // pack offset of (b, hk) in v

// Stage kinds.
const KNONE: u32 = 0u;
const KQK: u32 = 1u;
const KV: u32 = 2u;

fn qtok_of(qrow: u32) -> u32 { return {{QTOK}}; }
// store_o(pack, value): the output's pack store (generated per dtype).
{{OFN}}
fn ktok_of(key: u32) -> u32 { return {{KTOK}}; }
{{RAW}}

// Unit e (H packs) of stage (kind, c) of the tile at key k0, keys below
// s1 valid: zero where it falls past D, past the range or past the stage.
fn fetch(kind: u32, e: u32, c: u32, k0: u32, s1: u32) -> RU {
  var u = RU();
  if (kind == KQK) {
    if (e < BQ * UPC) {
      let r = e / UPC;
      let pk = c * DCP + (e % UPC) * H;
      if (pk < QP) {
        let qrow = min(g_tile * BQ + r, p.sq - 1u);
        u = rlu_q((qhead + qtok_of(qrow) * p.q_ss + pk) / H);
      }
    } else if (e < (BQ + BK) * UPC) {
      let e2 = e - BQ * UPC;
      let key = k0 + e2 / UPC;
      let pk = c * DCP + (e2 % UPC) * H;
      if (pk < QP && key < s1) {
        u = rlu_k((khead + ktok_of(key) * p.k_ss + pk) / H);
      }
    }
  } else if (kind == KV) {
    if (e < KC * UPV) {
      let key = k0 + c * KC + e / UPV;
      if (key < s1) {
        u = rlu_v((vhead + ktok_of(key) * p.v_ss + (e % UPV) * H) / H);
      }
    }
  }
  return u;
}

// Stores unit e of a stage of the given kind into stage buffer buf.
fn stash(kind: u32, buf: u32, e: u32, r: RU) {
  if (kind == KQK) {
    if (e < (BQ + BK) * UPC) {
      var u: SPU;
      if (e < BQ * UPC) { u = cvt_q(r); } else { u = cvt_k(r); }
      let i = buf * STG + (e / UPC) * RS + (e % UPC) * H;
      stage[i] = u[0];
      if (H == 2u) { stage[i + 1u] = u[H - 1u]; }
    }
  } else if (kind == KV) {
    if (e < KC * UPV) {
      let u = cvt_v(r);
      let i = VB + buf * STG + (e / UPV) * VS + (e % UPV) * H;
      stage[i] = u[0];
      if (H == 2u) { stage[i + 1u] = u[H - 1u]; }
    }
  }
}

fn red_max(row: u32) -> f32 {
  var m = -1e30;
  for (var x = 0u; x < NTX / 4u; x = x + 1u) {
    let v = {{RED}}[REDB + row * (NTX / 4u) + x];
    m = max(m, max(max(v.x, v.y), max(v.z, v.w)));
  }
  return m;
}

fn red_sum(row: u32) -> f32 {
  var s = 0.0;
  for (var x = 0u; x < NTX / 4u; x = x + 1u) {
    let v = {{RED}}[REDB + row * (NTX / 4u) + x];
    s = s + (v.x + v.y) + (v.z + v.w);
  }
  return s;
}

// The first non-empty key range at or after e: (e, start, end), e = nr
// when there is none.
fn next_range(e_in: u32, nr: u32, e0: u32, ks: u32, ke: u32) -> vec3<u32> {
  var e = e_in;
  loop {
    if (e >= nr) { break; }
    var s0 = ks;
    var s1 = ke;
    {{BLOCK}}
    if (s0 < s1) { return vec3<u32>(e, s0, s1); }
    e = e + 1u;
  }
  return vec3<u32>(nr, 0u, 0u);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var tile = p.tile0 + wid.x;
  if (CAUSAL) {
    // The longest rows first: less idle tail.
    tile = p.nqt - 1u - tile;
  }
  g_tile = tile;
  let bh = wid.y;
  let b = bh / p.h;
  let h = bh % p.h;
  let hk = h / p.hdiv;
  qhead = b * p.q_sb + h * p.q_sh;
  khead = b * p.k_sb + hk * p.k_sh;
  vhead = b * p.v_sb + hk * p.v_sh;
  let tx = lid % NTX;
  let ty = lid / NTX;
  var ks = 0u;
  var ke = p.sk;
  if (CAUSAL) {
    let last = i32(min(tile * BQ + BQ - 1u, p.sq - 1u)) + p.off + 1;
    ke = u32(clamp(last, 0, i32(ke)));
  }
  var nr = 1u;
  var e0 = 0u;
  {{RANGES}}
  {{ODECL}}
  var cur = 0u;
  let first = next_range(0u, nr, e0, ks, ke);
  var e = first.x;
  var k0 = first.y;
  var s1 = first.z;
  {{FREGS}}
  if (e < nr) {
    let fkind = KQK;
    let fc = 0u;
    let fk0 = k0;
    let fs1 = s1;
    {{FETCH}}
    let nbuf = 0u;
    {{STASH}}
  }
  workgroupBarrier();
  loop {
    if (e >= nr) { break; }
    // The tile after this one, whose first stage the last value stage fetches.
    var ne = e;
    var nk0 = k0 + BK;
    var ns1 = s1;
    if (nk0 >= s1) {
      let r = next_range(e + 1u, nr, e0, ks, ke);
      ne = r.x;
      nk0 = r.y;
      ns1 = r.z;
    }
    {{SDECL}}
    for (var c = 0u; c < NC; c = c + 1u) {
      let last = c + 1u == NC;
      let fkind = select(KQK, KV, last);
      let fc = select(c + 1u, 0u, last);
      let fk0 = k0;
      let fs1 = s1;
      {{FETCH}}
      let base = cur * STG;
      for (var d4 = 0u; d4 < DCP; d4 = d4 + 1u) {
        {{QK}}
      }
      if (last) {
        {{SOFTMAX1}}
      }
      if (NBUF == 1u) { workgroupBarrier(); }
      let nbuf = (cur + 1u) % NBUF;
      {{STASH}}
      workgroupBarrier();
      cur = nbuf;
    }
    {{SOFTMAX2}}
    workgroupBarrier();
    for (var c = 0u; c < NV; c = c + 1u) {
      let last = c + 1u == NV;
      var fkind = KV;
      var fc = c + 1u;
      var fk0 = k0;
      var fs1 = s1;
      if (last) {
        fkind = select(KNONE, KQK, ne < nr);
        fc = 0u;
        fk0 = nk0;
        fs1 = ns1;
      }
      {{FETCH}}
      let base = VB + cur * STG;
      for (var k4 = 0u; k4 < KC / 4u; k4 = k4 + 1u) {
        {{PV}}
      }
      if (NBUF == 1u) { workgroupBarrier(); }
      let nbuf = (cur + 1u) % NBUF;
      {{STASH}}
      workgroupBarrier();
      cur = nbuf;
    }
    e = ne;
    k0 = nk0;
    s1 = ns1;
  }
  {{STORE}}
}
