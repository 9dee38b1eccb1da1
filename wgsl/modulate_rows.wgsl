// Row variant of modulate.wgsl: one workgroup per row of x [B*L, C], its
// invocations striding over the row's packs. The row's batch and frame
// indices are computed once per invocation instead of once per element,
// which keeps integer division out of the memory-bound loop.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nw.x + wid.x;
  if (row >= p.packs / p.cp) { return; }
  {{MOD_BASES}}
  let base = row * p.cp;
  for (var j = lid; j < p.cp; j = j + WG) {
    {{LOAD_OPERANDS}}
    stv_y(base + j, ldv_x(base + j) * (P(p.scale_const) + sc) + sh);
  }
}
