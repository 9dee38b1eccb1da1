// C[D][D] (i32) = A[D][D] (i8) * B[D][D] (i8), all row-major, one 16xNN tile of C
// per subgroup of 32, through GL_NV_cooperative_matrix (glslang 12 has no
// GL_KHR_cooperative_matrix; nv2khr.py rewrites the SPIR-V to the KHR form, the
// one Dawn/Tint emits). NN (8 or 16) comes from -DNN=; D is specialization constant 0.
#version 450
#extension GL_NV_cooperative_matrix : require
#extension GL_NV_integer_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types : require
layout(local_size_x = 32) in;
layout(constant_id = 0) const uint D = 64;
layout(set = 0, binding = 0) readonly buffer BufA { int8_t a[]; };
layout(set = 0, binding = 1) readonly buffer BufB { int8_t b[]; };
layout(set = 0, binding = 2) buffer BufC { int c[]; };
void main() {
  uint row0 = gl_WorkGroupID.y * 16u;
  uint col0 = gl_WorkGroupID.x * NN;
  icoopmatNV<32, gl_ScopeSubgroup, 16, NN> acc = icoopmatNV<32, gl_ScopeSubgroup, 16, NN>(0);
  for (uint k = 0u; k < D; k += 32u) {
    icoopmatNV<8, gl_ScopeSubgroup, 16, 32> ma;
    icoopmatNV<8, gl_ScopeSubgroup, 32, NN> mb;
    coopMatLoadNV(ma, a, row0 * D + k, D, false);
    coopMatLoadNV(mb, b, k * D + col0, D, false);
    acc = coopMatMulAddNV(ma, mb, acc);
  }
  coopMatStoreNV(acc, c, row0 * D + col0, D, false);
}
