// Control for vkcoop: the same C = A * B (i8 -> i32, row-major) and the same
// 16xNN tile per 32-invocation workgroup as mm.comp, without cooperative matrices.
#version 450
#extension GL_EXT_shader_explicit_arithmetic_types : require
layout(local_size_x = 32) in;
layout(constant_id = 0) const uint D = 64;
layout(set = 0, binding = 0) readonly buffer BufA { int8_t a[]; };
layout(set = 0, binding = 1) readonly buffer BufB { int8_t b[]; };
layout(set = 0, binding = 2) buffer BufC { int c[]; };
void main() {
  uint row0 = gl_WorkGroupID.y * 16u;
  uint col0 = gl_WorkGroupID.x * NN;
  for (uint e = gl_LocalInvocationID.x; e < 16u * NN; e += 32u) {
    uint r = row0 + e / NN, col = col0 + e % NN;
    int s = 0;
    for (uint k = 0u; k < D; k++) s += int(a[r * D + k]) * int(b[k * D + col]);
    c[r * D + col] = s;
  }
}
