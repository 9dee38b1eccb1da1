#!/usr/bin/env python3
"""PyTorch baselines for the memory-bound kernels of `webfuser bench`, on
the same GPU and in the same device call: device copy, F.rms_norm and the
eager RMSNorm composition, F.layer_norm, eager modulate, RoPE (interleaved,
half-split and Wan's complex form), activations (gelu, gelu_tanh, silu),
gated units (geglu, geglu_tanh, swiglu) and per-token FP8 quantisation.
Each row names the webfuser bench kernel it stands beside ("kernel"),
counts bytes and nominal FLOPs as webfuser does, and is timed next to a
copy after a warm-up (torch_timing.py).

Usage: python3 bench/torch_baseline.py [--json FILE] [--dtypes f32,bf16] [B L C]
"""
import argparse
import json

import torch
import torch.nn.functional as F

from torch_timing import Harness, report, warm_text

# Nominal FLOPs per element of x, as cmd/webfuser/bench_cases.go's flopsPer.
FLOPS_PER = {"rms_norm": 4, "layer_norm": 8, "modulate": 3, "rms_norm+modulate": 7, "rotary": 3,
             "gelu": 8, "gelu_tanh": 9, "silu": 4, "quantize_fp8": 5}
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def head_dim(c):
    """The head size webfuser's rotary case uses: 128 where C allows."""
    hd = 128
    while hd >= 2 and c % hd:
        hd //= 2
    return hd


def rotary_interleaved(x, cos, sin):
    """Pairs (x[2i], x[2i+1]) rotated in f32, cast back."""
    xf = x.float().unflatten(-1, (-1, 2))
    x0, x1 = xf[..., 0], xf[..., 1]
    c, s = cos.float()[None, :, None, :], sin.float()[None, :, None, :]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2).to(x.dtype)


def rotary_half(x, cos, sin):
    """Pairs (x[i], x[i+D/2]) rotated in f32 (NeoX), cast back."""
    xf = x.float()
    x0, x1 = xf.chunk(2, dim=-1)
    c, s = cos.float()[None, :, None, :], sin.float()[None, :, None, :]
    return torch.cat((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).to(x.dtype)


def rotary_complex(x, freqs):
    """Wan's form: pairs as complex numbers times the complex table."""
    xc = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))
    return torch.view_as_real(xc * freqs[None, :, None, :]).flatten(-2).to(x.dtype)


def quantize_fp8_per_token(x):
    """scale = max(absmax, 1e-12) / 448 per row; q = fp8(clamp(x / scale))."""
    xf = x.float()
    scale = xf.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12) / 448
    return (xf / scale).clamp(-448, 448).to(torch.float8_e4m3fn), scale


def cases(B, L, C, dt):
    """(name, webfuser kernel, call, bytes, FLOPs) for one dtype."""
    x = torch.randn(B, L, C, device="cuda", dtype=dt)
    w = torch.randn(C, device="cuda", dtype=dt)
    b = torch.randn(C, device="cuda", dtype=dt)
    sc, sh = torch.randn(B, 1, C, device="cuda", dtype=dt), torch.randn(B, 1, C, device="cuda", dtype=dt)
    scl, shl = torch.randn(B, L, C, device="cuda", dtype=dt), torch.randn(B, L, C, device="cuda", dtype=dt)
    hd = head_dim(C)
    xr = x.view(B, L, C // hd, hd)
    cos, sin = torch.randn(L, hd // 2, device="cuda", dtype=dt), torch.randn(L, hd // 2, device="cuda", dtype=dt)
    freqs = torch.polar(torch.ones(L, hd // 2, device="cuda"), torch.randn(L, hd // 2, device="cuda"))
    n = x.numel()
    nb = n * x.element_size()
    tables = 2 * L * (hd // 2) * x.element_size()

    def eager_rms():
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(dt) * w

    def gated(act):
        def f():
            g, u = x.chunk(2, dim=-1)
            return act(g) * u
        return f

    def tanh_gelu(t):
        return F.gelu(t, approximate="tanh")

    def fl(kind, elems=n):
        return FLOPS_PER[kind] * elems

    return [
        ("copy (clone)", "copy", lambda: x.clone(), 2 * nb, 0),
        ("F.rms_norm", "rms_norm", lambda: F.rms_norm(x, (C,), w, 1e-5), 2 * nb, fl("rms_norm")),
        ("rms_norm eager", "rms_norm", eager_rms, 2 * nb, fl("rms_norm")),
        ("F.layer_norm", "layer_norm", lambda: F.layer_norm(x, (C,), w, b, 1e-6), 2 * nb, fl("layer_norm")),
        ("modulate eager [B,1,C]", "modulate [B,C]", lambda: x * (1 + sc) + sh, 2 * nb, fl("modulate")),
        ("modulate eager [B,L,C]", "modulate [B,L,C]", lambda: x * (1 + scl) + shl, 4 * nb, fl("modulate")),
        ("F.rms_norm then modulate", "rms_norm+modulate", lambda: F.rms_norm(x, (C,), w, 1e-6) * (1 + sc) + sh,
         2 * nb, fl("rms_norm+modulate")),
        ("rotary interleaved eager", "rotary", lambda: rotary_interleaved(xr, cos, sin), 2 * nb + tables, fl("rotary")),
        ("rotary half-split eager", "rotary_half", lambda: rotary_half(xr, cos, sin), 2 * nb + tables, fl("rotary")),
        ("rotary complex (Wan)", "rotary_3d", lambda: rotary_complex(xr, freqs), 2 * nb + tables, fl("rotary")),
        ("F.gelu", "gelu", lambda: F.gelu(x), 2 * nb, fl("gelu")),
        ("F.gelu tanh", "gelu_tanh", lambda: tanh_gelu(x), 2 * nb, fl("gelu_tanh")),
        ("F.silu", "silu", lambda: F.silu(x), 2 * nb, fl("silu")),
        ("geglu eager", "geglu", gated(F.gelu), 1.5 * nb, (FLOPS_PER["gelu"] + 1) * n // 2),
        ("geglu tanh eager", "geglu_tanh", gated(tanh_gelu), 1.5 * nb, (FLOPS_PER["gelu_tanh"] + 1) * n // 2),
        ("swiglu eager", "swiglu", gated(F.silu), 1.5 * nb, (FLOPS_PER["silu"] + 1) * n // 2),
        ("quantize fp8 per-token eager", "quantize_fp8", lambda: quantize_fp8_per_token(x.view(B * L, C)),
         nb + n + 4 * B * L, fl("quantize_fp8")),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shape", nargs="*", type=int, help="B L C (default 8 4096 3072)")
    ap.add_argument("--dtypes", default="f32,bf16")
    ap.add_argument("--trials", type=int, default=7)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=float, default=30.0, help="most seconds a warm-up may take")
    ap.add_argument("--json", help="write the rows as JSON here")
    a = ap.parse_args()
    B, L, C = a.shape if len(a.shape) == 3 else (8, 4096, 3072)

    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, shape [{B},{L},{C}], median of "
          f"{a.trials} trials x {a.reps} calls, a 256 MB copy timed before each trial\n")
    h = Harness(cap=a.warmup)
    rows, warmups = [], []
    for dn in a.dtypes.split(","):
        dt = DTYPES[dn]
        warm = h.warm_up()
        warmups.append(warm)
        print(f"{dn}: {warm_text(warm)}\n")
        print("| op (PyTorch) | webfuser kernel | dtype | time | GB/s | copy GB/s beside it | vs copy | repeated trials |")
        print("|---|---|---|---|---|---|---|---|")
        for name, kernel, fn, nbytes, flops in cases(B, L, C, dt):
            m = h.measure(fn, a.trials, a.reps)
            t = m["seconds"]
            gbs = nbytes / t / 1e9
            row = {"source": "pytorch", "name": name, "kernel": kernel, "dtype": dn, "shape": [B, L, C],
                   "bytes": nbytes, "flops": flops, "vs_copy": gbs / m["copy_gbs"], **m}
            rows.append(row)
            print(f"| {name} | {kernel} | {dn} | {t * 1e6:.1f}µs | {gbs:.0f} | {m['copy_gbs']:.0f} | "
                  f"{row['vs_copy']:.2f}x | {m['repeats']} |", flush=True)
        print()
        torch.cuda.empty_cache()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report("torch_baseline.py", warmups, rows), f, indent=2)


if __name__ == "__main__":
    main()
