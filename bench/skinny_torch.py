#!/usr/bin/env python3
"""PyTorch rows beside ops.BenchmarkSkinnyLinear (ops/bench_test.go), on
the same GPU, under the same rules: F.linear with f32 and bf16 weights
and x in the weight's dtype, M = 1, 4, 8 and 16, K = N = 4096 and 8192; "rot"
calls read the next of as many weight copies as hold 512 MiB (no call
finds its weight in L2), "same" calls read one weight. torch._scaled_mm
with E4M3 weights (M = 16, per-row scales) is there for reference.

Each row is timed next to a copy after a warm-up (torch_timing.py). With
--go FILE (the benchmark's output) it prints one table: every WebFuser
row beside PyTorch's F.linear of the same shape and mode (bf16 for the
FP8 rows: issue 14's comparison, FP8 >= 1.5x faster), and each row's
weight bandwidth against the copy timed in its own harness.

Usage: python3 bench/skinny_torch.py [--go FILE]
"""
import argparse
import re

import torch
import torch.nn.functional as F

from torch_timing import Harness, warm_text

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}
ROT_BYTES = 512 << 20


def rows(h):
    out = {}
    for kn in (4096, 8192):
        for name, dt in DTYPES.items():
            w = torch.randn(kn, kn, device="cuda", dtype=dt)
            wbytes = w.numel() * w.element_size()
            ws = [w] + [w.clone() for _ in range(max(0, -(-ROT_BYTES // wbytes) - 1))]
            for m in (1, 4, 8, 16):
                x = torch.randn(m, kn, device="cuda", dtype=dt)
                for mode in ("rot", "same"):
                    i = [0]

                    def call(x=x, ws=ws, mode=mode, i=i):
                        if mode == "rot":
                            i[0] = (i[0] + 1) % len(ws)
                        return F.linear(x, ws[i[0] if mode == "rot" else 0])
                    r = h.measure(call, trials=7, reps=10)
                    out[f"M={m}/K=N={kn}/w={name}/{mode}"] = (r["seconds"], wbytes, r["copy_gbs"])
            del ws, w
        if hasattr(torch, "_scaled_mm") and hasattr(torch, "float8_e4m3fn"):
            try:
                w8 = torch.randn(kn, kn, device="cuda").to(torch.float8_e4m3fn)
                ws8 = [w8] + [w8.clone() for _ in range(-(-ROT_BYTES // w8.numel()) - 1)]
                x8 = torch.randn(16, kn, device="cuda").to(torch.float8_e4m3fn)
                sx = torch.ones(16, 1, device="cuda")
                sw = torch.ones(1, kn, device="cuda")
                i = [0]

                def smm(i=i):
                    i[0] = (i[0] + 1) % len(ws8)
                    return torch._scaled_mm(x8, ws8[i[0]].t(), scale_a=sx, scale_b=sw, out_dtype=torch.bfloat16)
                r = h.measure(smm, trials=7, reps=10)
                out[f"M=16/K=N={kn}/w=fp8_e4m3/rot"] = (r["seconds"], w8.numel(), r["copy_gbs"])
            except Exception as e:  # noqa: BLE001 — reported, not fatal
                print(f"_scaled_mm K=N={kn}: {e}")
    return out


GO = re.compile(r"BenchmarkSkinnyLinear/(M=\d+/K=N=\d+)/w=(\S+?)/(\S+)/(rot|serial|same)-\d+\s")
METRIC = re.compile(r"([\d.e+]+) ([\w/-]+)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--go")
    a = ap.parse_args()
    h = Harness()
    print(warm_text(h.warm_up()))
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    t = rows(h)
    print("\n| PyTorch row | µs | weight GB/s | copy GB/s |\n|---|---|---|---|")
    for k, (s, nb, c) in t.items():
        print(f"| {k}{' (_scaled_mm)' if 'fp8' in k else ''} | {s * 1e6:.1f} | {nb / s / 1e9:.0f} | {c:.0f} |")
    if not a.go:
        return
    print("\n| WebFuser row | µs | weight GB/s | x copy | PyTorch F.linear (same shape and mode) µs | PyTorch / WebFuser |")
    print("|---|---|---|---|---|---|")
    for line in open(a.go):
        g = GO.search(line)
        if not g:
            continue
        shape, wdt, tile, mode = g.groups()
        mt = {unit: float(v) for v, unit in METRIC.findall(line[g.end():])}
        us, copy = mt["gpu-ns"] / 1e3, mt["copy-GB/s"]
        kn = int(shape.split("=")[-1])
        size = {"f32": 4, "bf16": 2}.get(wdt, 1)
        bw = kn * kn * size / (us * 1e-6) / 1e9
        base = "bf16" if wdt.startswith("fp8") else wdt
        tr = t.get(f"{shape}/w={base}/{'rot' if mode == 'serial' else mode}")  # one stream: serial
        ts = f"{tr[0] * 1e6:.1f} ({base})" if tr else "-"
        ratio = f"{tr[0] * 1e6 / us:.2f}" if tr else "-"
        print(f"| {shape}/w={wdt}/{tile}/{mode} | {us:.1f} | {bw:.0f} | {bw / float(copy):.2f} | {ts} | {ratio} |")


if __name__ == "__main__":
    main()
