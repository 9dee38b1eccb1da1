// Row variant of modulate.wgsl: one workgroup per row of x [B*L, C], its
// invocations taking NP units of the row each (a unit is one 16-byte
// access for 16-bit storage). The row's batch and frame indices are
// computed once per invocation instead of once per element, which keeps
// integer division out of the memory-bound loop.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nw.x + wid.x;
  if (row >= p.rows) { return; }
  {{MOD_BASES}}
  let base = row * p.cu;
  for (var k = 0u; k < NP; k = k + 1u) {
    let j = lid + k * WG;
    if (j < p.cu) {
      let xu = ldu_x(base + j);
      {{LOAD_OPERANDS}}
      var u: PU;
      for (var h = 0u; h < H; h = h + 1u) { u[h] = xu[h] * (P(p.scale_const) + scu[h]) + shu[h]; }
      stu_y(base + j, u);
    }
  }
}
