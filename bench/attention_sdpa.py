#!/usr/bin/env python3
"""PyTorch SDPA baseline for BenchmarkAttention and BenchmarkSage
(ops/attention): S=4096, D=128, H=24, batch 1, f32, f16 and bf16, timed
with CUDA events. Run it in the
same device call as the Go benchmark:

  WEBFUSER_BENCH_ATTENTION=1 ./bin/attention.test -test.run '^$' -test.bench BenchmarkAttention -test.benchtime 1x
  python3 bench/attention_sdpa.py
"""
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


if __name__ == "__main__":
    main()
