#!/usr/bin/env python3
"""PyTorch baselines for the memory-bound kernels, on the same GPU and in
the same device call as `webfuser bench`: device copy, F.rms_norm, the
eager RMSNorm composition, F.layer_norm and eager modulate.

Usage: python3 bench/torch_baseline.py [B L C]
"""
import sys

import torch
import torch.nn.functional as F


def timeit(fn, reps=20, trials=7):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(trials):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(reps):
            fn()
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e) / reps / 1e3)
    times.sort()
    return times[len(times) // 2]


def main():
    B, L, C = (int(a) for a in sys.argv[1:4]) if len(sys.argv) >= 4 else (8, 4096, 3072)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, shape [{B},{L},{C}]\n")
    print("| op (PyTorch) | dtype | time | GB/s |")
    print("|---|---|---|---|")
    for dt in (torch.float32, torch.bfloat16):
        x = torch.randn(B, L, C, device="cuda", dtype=dt)
        w = torch.randn(C, device="cuda", dtype=dt)
        b = torch.randn(C, device="cuda", dtype=dt)
        sc = torch.randn(B, 1, C, device="cuda", dtype=dt)
        sh = torch.randn(B, 1, C, device="cuda", dtype=dt)
        nb = x.numel() * x.element_size()

        def eager_rms():
            xf = x.float()
            return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(dt) * w

        rows = [
            ("copy (clone)", lambda: x.clone(), 2 * nb),
            ("F.rms_norm", lambda: F.rms_norm(x, (C,), w, 1e-5), 2 * nb),
            ("rms_norm eager", eager_rms, 2 * nb),
            ("F.layer_norm", lambda: F.layer_norm(x, (C,), w, b, 1e-6), 2 * nb),
            ("modulate eager [B,1,C]", lambda: x * (1 + sc) + sh, 2 * nb),
        ]
        for name, fn, nbytes in rows:
            t = timeit(fn)
            print(f"| {name} | {str(dt).replace('torch.', '')} | {t*1e6:.1f}µs | {nbytes / t / 1e9:.0f} |")


if __name__ == "__main__":
    main()
