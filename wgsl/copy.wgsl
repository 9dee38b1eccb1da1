// y = x, sixteen bytes per invocation: the bandwidth bound that the
// memory-bound kernels are measured against. x and y are raw words.
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nw.x + wid.x) * 256u + lid;
  if (i < p.n) { y_buf[i] = x_buf[i]; }
}
