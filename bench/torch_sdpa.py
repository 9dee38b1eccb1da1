#!/usr/bin/env python3
"""PyTorch SDPA baseline for the attention benchmark: B=1, S=4096, H=24,
D=128 (BSND in WebFuser, BNSD for SDPA), f32 and f16, on the same GPU and
in the same device call as WebFuser's BenchmarkAttention.

Usage: python3 bench/torch_sdpa.py [S H D]
"""
import sys

import torch
import torch.nn.functional as F


def timeit(fn, reps=10, trials=7):
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
    S, H, D = (int(a) for a in sys.argv[1:4]) if len(sys.argv) >= 4 else (4096, 24, 128)
    flops = 4 * S * S * H * D
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, B=1 S={S} H={H} D={D}\n")
    print("| PyTorch SDPA | dtype | backend | time | TFLOP/s |")
    print("|---|---|---|---|---|")
    torch.backends.cuda.matmul.allow_tf32 = False
    for dt in (torch.float32, torch.float16):
        q, k, v = (torch.randn(1, H, S, D, device="cuda", dtype=dt) for _ in range(3))
        t = timeit(lambda: F.scaled_dot_product_attention(q, k, v))
        print(f"| default | {str(dt).replace('torch.', '')} | auto | {t*1e3:.3f} ms | {flops / t / 1e12:.1f} |")
        with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
            t = timeit(lambda: F.scaled_dot_product_attention(q, k, v), reps=3, trials=3)
        print(f"| math | {str(dt).replace('torch.', '')} | math | {t*1e3:.3f} ms | {flops / t / 1e12:.1f} |")


if __name__ == "__main__":
    main()
