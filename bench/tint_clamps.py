#!/usr/bin/env python3
"""Counts the bounds clamps in the SPIR-V Dawn dumps (toggles dump_shaders,
disable_symbol_renaming; WEBFUSER_DAWN_FLAGS) for each shader in a log:
per function, the UMin instructions (Tint's robustness clamps indices with
min; a kernel's own min calls count too), those that index the Blocked
matmul's workgroup tiles As/Bs, and OpArrayLength (runtime-sized storage
arrays clamped in the shader rather than left to robustBufferAccess2);
for a matmul_tiled shader also the UMin in the inner k loop's body.

    python3 bench/tint_clamps.py dump.txt
"""
import re
import sys


def functions(spirv):
    funcs, cur = {}, None
    for line in spirv.split("\n"):
        m = re.match(r"\s*%(\S+) = OpFunction ", line)
        if m:
            cur = m.group(1)
            funcs[cur] = []
        elif cur:
            funcs[cur].append(line)
            if "OpFunctionEnd" in line:
                cur = None
    return funcs


def count(lines):
    umin = [l for l in lines if " UMin " in l]
    ids = {re.match(r"\s*%(\S+) =", l).group(1) for l in umin}
    tiles = 0
    for l in lines:
        m = re.search(r"OpAccessChain %_ptr_Workgroup\S* %(?:As|Bs) (.*)", l)
        if m:
            tiles += sum(1 for t in m.group(1).split() if t.lstrip("%") in ids)
    return len(umin), tiles, sum(1 for l in lines if "OpArrayLength" in l)


def main(path):
    text = open(path, errors="replace").read()
    dumps = text.split("/* Dumped SPIRV disassembly */")[1:]
    if not dumps:
        sys.exit(f"{path}: no SPIR-V dump (run with enable-dawn-features=dump_shaders)")
    for n, d in enumerate(dumps):
        d = d.split("// Dumped WGSL:")[0]
        funcs = functions(d)
        print(f"shader {n}: {'function':16} {'UMin':>5} {'As/Bs':>6} {'arrayLength':>12}")
        for f, lines in funcs.items():
            u, t, a = count(lines)
            if u or a:
                print(f"          {f:16} {u:5d} {t:6d} {a:12d}")
        body = funcs.get("main_inner", [])
        start = [i for i, l in enumerate(body) if re.match(r"\s*%ai = ", l)]
        if start:
            end = next((i for i in range(start[0], len(body)) if "OpStore %kk" in body[i]), len(body))
            u, t, _ = count(body[start[0] : end])
            fmas = sum(1 for l in body[start[0] : end] if " Fma " in l)
            print(f"          inner k loop: {u} UMin ({t} on As/Bs) for {fmas} vec4 FMAs")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
