"""The driver's statistics of every kernel dumped by gpu.DumpEnv
(WEBFUSER_DUMP_WGSL): each NNNN-KEY.wgsl in DIR is translated to SPIR-V by
naga (bin/naga, else naga on PATH) and compiled by bin/pipestats
(bench/pipestats.c), and one markdown row is printed per kernel: file,
the tile constants its WGSL declares, then each statistic the driver
reports (on NVIDIA: registers, shared memory, local memory, ...).

    python3 bench/pipestats.py DIR
"""
import os
import re
import shutil
import subprocess
import sys

CONSTS = ["WG", "NP", "UP", "NU", "BM", "BN", "BK", "TM", "TN", "NC", "CG", "MR", "KU", "SU", "QT", "KT", "DC", "DOUBLE"]


def main(d):
    naga = "bin/naga" if os.path.exists("bin/naga") else shutil.which("naga")
    rows, args = {}, []
    for f in sorted(os.listdir(d)):
        if not f.endswith(".wgsl"):
            continue
        path = os.path.join(d, f)
        src = open(path).read()
        kinds = src.split("\n", 1)[0].replace("// bindings: ", "").strip()
        consts = dict(re.findall(r"^const (\w+)\s*(?::\s*\w+)?\s*=\s*([^;]+);", src, re.M))
        tile = " ".join(f"{c}={consts[c].rstrip('u')}" for c in CONSTS if c in consts and re.fullmatch(r"\w+", consts[c]))
        spv = path[:-5] + ".spv"
        rows[spv] = (f[:-5], tile, {})
        r = subprocess.run([naga, path, spv], capture_output=True, text=True)
        if r.returncode != 0:
            rows[spv][2]["error"] = "naga: " + (r.stderr.strip().splitlines() or ["?"])[-1][:80]
            continue
        args += [spv, kinds]
    names = []
    if args:
        r = subprocess.run(["bin/pipestats"] + args, capture_output=True, text=True)
        cur = None
        for line in r.stdout.splitlines():
            if line.startswith("== "):
                cur = rows[line[3:]][2]
                continue
            k, _, v = line.partition("\t")
            cur[k] = v
            if k not in names:
                names.append(k)
        if r.returncode != 0:
            print("pipestats:", r.stderr.strip(), file=sys.stderr)
    cols = [n for n in names if n != "error"] + (["error"] if any("error" in s for _, _, s in rows.values()) else [])
    print("| kernel | constants | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for name, tile, s in rows.values():
        print(f"| {name} | {tile} | " + " | ".join(s.get(c, "") for c in cols) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
