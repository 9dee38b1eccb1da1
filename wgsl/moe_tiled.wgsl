// Grouped expert GEMM of a MoE on matmul_tiled.wgsl (which it follows in
// the kernel's files): the rows of the product are the (token, expert)
// assignments sorted by expert (moe_sort.wgsl's perm, p.m of them), tile
// row mt of the grid is entry mt of moe_sort's table (expert, first
// sorted row, rows), and ORIGIN calls moe_origin. A tile's rows past its
// count belong to the next expert or are clamped to the last row: they
// are computed and never stored (stores test moe_end). Column gn of B is
// row moe_wrow(gn) of the experts' weights [E*rows, K]: with DUAL (the
// gated product) each group of TN columns holds HT rows of w and then the
// same HT rows of w3, so that an invocation's accumulators pair gate and
// up columns (moe_gated.wgsl stores them); p.ni is the expert weight's
// rows (the output width with DUAL, p.n without).
// Specialised on: DUAL and matmul_tiled.wgsl's constants.
const NONE: u32 = 0xffffffffu;
const HT: u32 = TN / 2u;
var<workgroup> moe_info: vec4<u32>;
var<private> moe_e: u32;   // the tile's expert
var<private> moe_end: u32; // the first sorted row past the tile

// moe_origin reads tile mt's entry (uniformly) and returns its first
// sorted row, NONE past the table's count.
fn moe_origin(mt: u32, lid: u32) -> u32 {
  if (lid == 0u) {
    moe_info = vec4<u32>(u32(tiles_buf[0]), u32(tiles_buf[1u + 3u * mt]), u32(tiles_buf[2u + 3u * mt]), u32(tiles_buf[3u + 3u * mt]));
  }
  let info = workgroupUniformLoad(&moe_info);
  moe_e = info.y;
  moe_end = info.z + info.w;
  return select(NONE, info.z, mt < info.x);
}

// moe_tok is the token (row of x) of sorted row m.
fn moe_tok(m: u32) -> u32 {
  return u32(perm_buf[m]) / p.topk;
}

// moe_wrow is the row of the experts' weights that column gn reads.
fn moe_wrow(gn: u32) -> u32 {
  if (!DUAL) { return moe_e * p.n + gn; }
  let q = gn % TN;
  return moe_e * p.ni + min((gn / TN) * HT + q % HT, p.ni - 1u);
}

// moe_up reports whether column gn reads w3 (the up projection).
fn moe_up(gn: u32) -> bool {
  return DUAL && gn % TN >= HT;
}

// moe_b is element (gn, gk) of B: LOAD_B of the element path.
fn moe_b(gn: u32, gk: u32) -> f32 {
  let row = moe_wrow(gn);
  {{MOE_B}}
}
