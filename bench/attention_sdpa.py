#!/usr/bin/env python3
"""PyTorch SDPA baseline for BenchmarkAttention, BenchmarkAttentionSweep
and BenchmarkSage (ops/attention): D=128, H=24, batch 1, f32, f16 and
bf16, timed with CUDA events. The first lines are S=4096 dense; with
--sweep, the sweep's other cases follow (S=4096 causal and grouped, Hk=8;
S=16384 dense and causal), named as the sweep names them, TFLOP/s
counted as it counts them (causal: the S(S+1)/2 visible pairs). Run it
in the same device call as the Go benchmark:

  WEBFUSER_BENCH_ATTENTION=1 ./bin/attention.test -test.run '^$' -test.bench BenchmarkAttention -test.benchtime 1x
  python3 bench/attention_sdpa.py [--sweep]
"""
import sys

import torch
import torch.nn.functional as F

S, H, D = 4096, 24, 128


def timeit(fn, reps=10, trials=7):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(trials):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(reps):
            fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) / reps / 1e3)
    times.sort()
    return times[len(times) // 2]


def main():
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"# PyTorch {torch.__version__} SDPA on {torch.cuda.get_device_name()}")
    for dt in (torch.float32, torch.float16, torch.bfloat16):
        q, k, v = (torch.randn(1, H, S, D, device="cuda", dtype=dt) for _ in range(3))
        t = timeit(lambda: F.scaled_dot_product_attention(q, k, v))
        flops = 4 * S * S * H * D
        print(f"sdpa S={S} H={H} D={D} {dt}: {t * 1e3:.3f} ms, {flops / t / 1e12:.2f} TFLOP/s")
        del q, k, v
    if "--sweep" not in sys.argv:
        return
    names = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
    for dt in (torch.float32, torch.bfloat16, torch.float16):
        for name, s, hk, causal in (("causal", 4096, H, True), ("gqa", 4096, 8, False),
                                    ("dense", 16384, H, False), ("causal", 16384, H, True)):
            q = torch.randn(1, H, s, D, device="cuda", dtype=dt)
            k, v = (torch.randn(1, hk, s, D, device="cuda", dtype=dt) for _ in range(2))
            t = timeit(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=hk != H), reps=3, trials=5)
            pairs = s * (s + 1) / 2 if causal else s * s
            flops = 4 * pairs * H * D
            print(f"sdpa {names[dt]}/{name}/S{s}/H{H}_Hk{hk}: {t * 1e3:.3f} ms, {flops / t / 1e12:.2f} TFLOP/s")
            del q, k, v


if __name__ == "__main__":
    main()
