// Elementwise kernels over units: 16-byte units (eight 16-bit values or
// four f32) where the sizes allow, else packs of four or scalars (see
// wgsl.Vec). Each invocation loads NU units before it computes any, so
// several accesses are in flight, and it computes no index by division.
//   ROWS false: p.n units in one flat range; workgroup g takes units
//     g*WG*NU .. (g+1)*WG*NU-1, its invocations stepping by WG.
//   ROWS true: one workgroup per row of y; unit j < p.cu of row r reads
//     x at r*p.xs + j (LOAD_W may read a second operand into ws: a gated
//     unit's second half, a bias) and writes y at r*p.cu + j.
// The fast pass applies APPLY_FAST to each pack v and keeps the result
// in registers. For bf16 outputs it rounds without a per-lane NaN test
// and adds what it keeps to nan_sum; if that sum is NaN, the invocation
// stores nothing from it and recomputes its units with APPLY_CHECKED
// and the checked store stu_y (see wgsl/norm.wgsl, wgsl/round_fp.wgsl).
//
// Specialised on: WG, NU, ROWS, the snippets and the dtypes and pack
// width of every buffer.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wid.y * nw.x + wid.x;
  var xb: u32;
  var yb: u32;
  var lim: u32;
  if (ROWS) {
    if (g >= p.rows) { return; }
    xb = g * p.xs;
    yb = g * p.cu;
    lim = p.cu;
  } else {
    yb = g * (WG * NU);
    if (yb >= p.n) { return; }
    xb = yb;
    lim = min(p.n - yb, WG * NU);
  }
  // All loads first, so that every unit of the invocation is in flight
  // before any arithmetic; ws holds a second operand where LOAD_W reads
  // one (a gated unit's value half, a bias).
  var xs: array<PU, NU>;
  var ws: array<PU, NU>;
  for (var k = 0u; k < NU; k = k + 1u) {
    let j = lid + k * WG;
    if (j < lim) {
      xs[k] = ldu_x(xb + j);
      {{LOAD_W}}
    }
  }
  var r: array<P, NU * H>;
  nan_sum = 0.0;
  for (var k = 0u; k < NU; k = k + 1u) {
    let j = lid + k * WG;
    if (j < lim) {
      let wu = ws[k];
      for (var h = 0u; h < H; h = h + 1u) {
        var v = xs[k][h];
        {{APPLY_FAST}}
        r[k * H + h] = v;
      }
    }
  }
  if (!nan_seen()) {
    for (var k = 0u; k < NU; k = k + 1u) {
      let j = lid + k * WG;
      if (j < lim) {
        var u: PU;
        for (var h = 0u; h < H; h = h + 1u) { u[h] = r[k * H + h]; }
        {{STORE_FAST}}
      }
    }
  } else {
    for (var k = 0u; k < NU; k = k + 1u) {
      let j = lid + k * WG;
      if (j < lim) {
        xs[k] = ldu_x(xb + j);
        {{LOAD_W}}
        let wu = ws[k];
        var u: PU;
        for (var h = 0u; h < H; h = h + 1u) {
          var v = xs[k][h];
          {{APPLY_CHECKED}}
          u[h] = v;
        }
        stu_y(yb + j, u);
      }
    }
  }
}
