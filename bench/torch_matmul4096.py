"""PyTorch's f32 F.linear at 4096^3 (TF32 off), the baseline beside
BenchmarkMatmulLimits in `bash bench/device.sh limits`: warmed up, then
the median of 5 trials of 20 calls timed with CUDA events."""
import torch
import torch.nn.functional as F

torch.backends.cuda.matmul.allow_tf32 = False
x = torch.randn(4096, 4096, device="cuda")
w = torch.randn(4096, 4096, device="cuda")
for _ in range(50):
    F.linear(x, w)
ts = []
for _ in range(5):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(20):
        F.linear(x, w)
    e.record()
    torch.cuda.synchronize()
    ts.append(s.elapsed_time(e) / 1e3 / 20)
t = sorted(ts)[len(ts) // 2]
print(f"torch F.linear 4096x4096x4096 f32 (TF32 off): {2 * 4096**3 / t / 1e12:.1f} TFLOP/s, {t * 1e3:.3f} ms")
