"""PyTorch beside BenchmarkW8A8 (`bash bench/device.sh w8a8`): torch._int_mm
(int8 x int8 -> int32, cuBLASLt on the tensor cores) at 4096^3 and bf16
F.linear at 4096^3 and at the DiT block's linears (M=4096 tokens, D=3072:
QKV, attention output, MLP up and down), plus a W8A8 linear in eager
PyTorch (per-token absmax quantisation, _int_mm, dequantisation) for the
same shapes. Each is warmed up, then the median of 5 trials of 20 calls
timed with CUDA events; TOP/s counts two operations per multiply-add."""
import torch
import torch.nn.functional as F


def timed(f, reps=20, trials=5):
    for _ in range(10):
        f()
    ts = []
    for _ in range(trials):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(reps):
            f()
        e.record()
        torch.cuda.synchronize()
        ts.append(s.elapsed_time(e) / 1e3 / reps)
    return sorted(ts)[len(ts) // 2]


def w8a8(x, wq_t, ws):
    # per-token symmetric int8, as ops.LinearW8A8: scale = absmax/127, round half to even
    sx = x.abs().amax(dim=-1, keepdim=True).float() / 127
    xq = torch.where(sx > 0, x.float() / sx, torch.zeros_like(x, dtype=torch.float)).round().clamp(-127, 127).to(torch.int8)
    return torch._int_mm(xq, wq_t).float() * sx * ws


def main():
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    print("| op | shape (MxNxK) | ms | TOP/s |")
    print("|---|---|---|---|")
    shapes = [(4096, 4096, 4096), (4096, 9216, 3072), (4096, 3072, 3072), (4096, 12288, 3072), (4096, 3072, 12288)]
    for m, n, k in shapes:
        ops = 2 * m * n * k
        a = torch.randint(-127, 128, (m, k), dtype=torch.int8, device="cuda")
        b = torch.randint(-127, 128, (k, n), dtype=torch.int8, device="cuda")
        rows = []
        try:
            rows.append(("torch._int_mm int8->int32", timed(lambda: torch._int_mm(a, b))))
        except RuntimeError as e:  # older cuBLASLt or shapes it refuses
            print(f"| torch._int_mm | {m}x{n}x{k} | error: {e} | |")
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)
        rows.append(("F.linear bf16", timed(lambda: F.linear(x, w))))
        ws = (w.abs().amax(dim=1).float() / 127)
        wq_t = (w.float() / ws[:, None]).round().clamp(-127, 127).to(torch.int8).t().contiguous()
        try:
            rows.append(("W8A8 eager (quantise + _int_mm + dequantise)", timed(lambda: w8a8(x, wq_t, ws))))
        except RuntimeError as e:
            print(f"| W8A8 eager | {m}x{n}x{k} | error: {e} | |")
        for name, t in rows:
            print(f"| {name} | {m}x{n}x{k} | {t * 1e3:.3f} | {ops / t / 1e12:.1f} |")
        del a, b, x, w, wq_t


if __name__ == "__main__":
    main()
