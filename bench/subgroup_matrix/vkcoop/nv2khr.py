#!/usr/bin/env python3
"""Rewrites a SPIR-V module from SPV_NV_cooperative_matrix to SPV_KHR_cooperative_matrix.

glslang 12 (Debian 12) compiles GL_NV_cooperative_matrix but not the KHR GLSL
extension, and spirv-as 2023.1 does not know the KHR opcodes; Dawn/Tint emits the
KHR form, so the raw-Vulkan test needs it. Only what mm.comp uses is handled:
  OpCapability CooperativeMatrixNV        -> CooperativeMatrixKHR
  OpExtension "SPV_NV_cooperative_matrix" -> "SPV_KHR_cooperative_matrix"
  OpTypeCooperativeMatrixNV T S R C       -> OpTypeCooperativeMatrixKHR T S R C Use
      (Use: 8-bit component, 16 rows -> MatrixA; 8-bit, 32 rows -> MatrixB; else Accumulator)
  OpCooperativeMatrixLoadNV  RT R P Stride ColMajor [MA] -> LoadKHR  RT R P Layout Stride [MA]
  OpCooperativeMatrixStoreNV P O Stride ColMajor [MA]    -> StoreKHR P O Layout Stride [MA]
  OpCooperativeMatrixMulAddNV RT R A B C                 -> MulAddKHR RT R A B C <signed flags>
ColMajor must be the constant false (row-major). Usage: nv2khr.py IN.spv OUT.spv [--unsigned]
"""
import struct
import sys

OP_CAPABILITY, OP_EXTENSION, OP_TYPE_INT, OP_CONSTANT = 17, 10, 21, 43
OP_CONSTANT_FALSE, OP_CONSTANT_TRUE = 42, 41
NV_CAP, KHR_CAP = 5357, 6022
NV_TYPE, NV_LOAD, NV_STORE, NV_MULADD, NV_LENGTH = 5358, 5359, 5360, 5361, 5362
KHR_TYPE, KHR_LOAD, KHR_STORE, KHR_MULADD, KHR_LENGTH = 4456, 4457, 4458, 4459, 4460
USE_A, USE_B, USE_ACC = 0, 1, 2
ROW_MAJOR = 0


def string_words(s):
    b = s.encode() + b'\0'
    b += b'\0' * (-len(b) % 4)
    return list(struct.unpack('<%dI' % (len(b) // 4), b))


def inst(op, operands):
    return [((len(operands) + 1) << 16) | op] + operands


def convert(words, signed=True):
    assert words[0] == 0x07230203, 'not a SPIR-V module (or big-endian)'
    header, body = words[:5], words[5:]
    insts = []
    i = 0
    while i < len(body):
        wc, op = body[i] >> 16, body[i] & 0xffff
        insts.append((op, body[i + 1:i + wc]))
        i += wc
    int_width = {}   # type id -> width
    const_val = {}   # constant id -> value
    false_ids = set()
    uint_type = None
    for op, ops in insts:
        if op == OP_TYPE_INT:
            int_width[ops[0]] = ops[1]
            if ops[1] == 32 and ops[2] == 0:
                uint_type = ops[0]
        elif op == OP_CONSTANT:
            const_val[ops[1]] = ops[2]
        elif op == OP_CONSTANT_FALSE:
            false_ids.add(ops[1])
    assert uint_type is not None, 'no 32-bit unsigned int type to hang the Use/Layout constants on'
    bound = header[3]
    c = {v: bound + v for v in (0, 1, 2)}  # new uint constants 0, 1, 2
    header[3] = bound + 3
    flags = 0xF if signed else 0  # Matrix{A,B,C,Result}SignedComponentsKHR
    out = []
    for op, ops in insts:
        if op == OP_CAPABILITY and ops[0] == NV_CAP:
            out += inst(OP_CAPABILITY, [KHR_CAP])
        elif op == OP_EXTENSION and ops == string_words('SPV_NV_cooperative_matrix'):
            out += inst(OP_EXTENSION, string_words('SPV_KHR_cooperative_matrix'))
        elif op == NV_TYPE:
            res, comp, scope, rows, cols = ops
            width = int_width.get(comp, 32)
            r = const_val[rows]
            use = USE_ACC if width != 8 else (USE_A if r == 16 else USE_B)
            out += inst(KHR_TYPE, [res, comp, scope, rows, cols, c[use]])
        elif op == NV_LOAD:
            rt, res, ptr, stride, colmajor, *ma = ops
            assert colmajor in false_ids, 'only row-major loads are handled'
            out += inst(KHR_LOAD, [rt, res, ptr, c[ROW_MAJOR], stride] + ma)
        elif op == NV_STORE:
            ptr, obj, stride, colmajor, *ma = ops
            assert colmajor in false_ids, 'only row-major stores are handled'
            out += inst(KHR_STORE, [ptr, obj, c[ROW_MAJOR], stride] + ma)
        elif op == NV_MULADD:
            out += inst(KHR_MULADD, list(ops) + [flags])
        elif op == NV_LENGTH:
            out += inst(KHR_LENGTH, list(ops))
        else:
            out += inst(op, list(ops))
        if op == OP_TYPE_INT and ops[0] == uint_type:
            for v in (0, 1, 2):
                out += inst(OP_CONSTANT, [uint_type, c[v], v])
    return header + out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    signed = '--unsigned' not in sys.argv
    if len(args) != 2:
        sys.exit(__doc__)
    data = open(args[0], 'rb').read()
    words = list(struct.unpack('<%dI' % (len(data) // 4), data))
    new = convert(words, signed)
    open(args[1], 'wb').write(struct.pack('<%dI' % len(new), *new))


if __name__ == '__main__':
    main()
