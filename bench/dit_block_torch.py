#!/usr/bin/env python3
"""PyTorch twin of WebFuser's DiT block (models/dit; shared/spec/ops.md,
dit_block), timed in the same device call as `webfuser bench block`:

    m = linear(silu(cond), adaln); shift1, scale1, gate1, shift2, scale2, gate2 = split(m, 6)
    h = modulate(rms_norm(x, norm1, eps), shift1, scale1)
    q, k, v = split(linear(h, qkv) reshaped [B,S,3,H,D/H])
    x = x + gate1[:,None] * linear(attention(q, k, v) flattened, proj)
    x = x + gate2[:,None] * feed_forward(modulate(rms_norm(x, norm2, eps), shift2, scale2))

with modulate(x, shift, scale) = x * (1 + scale) + shift and the
feed-forward proj_out(act(proj_in(x))), GELU-tanh by default. Random
weights with the distributions of dit.RandomWeights. Four ways: eager f32
with TF32 off, eager f32 with TF32 on, eager bf16, torch.compile bf16.

Usage:
  python3 bench/dit_block_torch.py [--size dit,wan] [--json FILE]
  python3 bench/dit_block_torch.py --dim 64 --heads 2 --seq 128   # one custom size
Prints one markdown table; --json writes the rows for `webfuser bench block --torch`.
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

from torch_timing import Harness, report, warm_text

EPS = 1e-5  # dit.DefaultEps = ops.RMSNormEps

# The presets of `webfuser bench block --size`; inner is the FFN width.
PRESETS = {
    "small": dict(dim=256, heads=4, seq=256, batch=1, inner=1024),
    "dit": dict(dim=3072, heads=24, seq=4096, batch=1, inner=12288),
    "wan": dict(dim=5120, heads=40, seq=8192, batch=1, inner=13824),
}

GATED = {"geglu", "geglu-approximate", "swiglu"}


def size_name(s):
    """The size as webfuser names it, so that --torch can match the rows."""
    return f"D={s['dim']} H={s['heads']} S={s['seq']} B={s['batch']} I={s['inner']}"


def make_weights(dim, inner, activation, dtype):
    """Weights named as in the spec, drawn like dit.RandomWeights."""
    rows_in = 2 * inner if activation in GATED else inner

    def randn(*shape, std=0.1, mean=0.0):
        return (torch.randn(*shape, device="cuda") * std + mean).to(dtype)

    D = dim
    return {
        "norm1.weight": randn(D, std=0.2, mean=1.0), "norm2.weight": randn(D, std=0.2, mean=1.0),
        "adaln.weight": randn(6 * D, D, std=0.5 / math.sqrt(D)), "adaln.bias": randn(6 * D),
        "qkv.weight": randn(3 * D, D, std=1 / math.sqrt(D)), "qkv.bias": randn(3 * D),
        "proj.weight": randn(D, D, std=1 / math.sqrt(D)), "proj.bias": randn(D),
        "ffn.proj_in.weight": randn(rows_in, D, std=1 / math.sqrt(D)), "ffn.proj_in.bias": randn(rows_in),
        "ffn.proj_out.weight": randn(D, inner, std=1 / math.sqrt(inner)), "ffn.proj_out.bias": randn(D),
    }


def activate(a, activation):
    """The feed-forward's activation; gated kinds activate the first half."""
    if activation == "gelu":
        return F.gelu(a)
    if activation == "gelu-approximate":
        return F.gelu(a, approximate="tanh")
    if activation == "linear-silu":
        return F.silu(a)
    g, u = a.chunk(2, dim=-1)
    if activation == "geglu":
        return F.gelu(g) * u
    if activation == "geglu-approximate":
        return F.gelu(g, approximate="tanh") * u
    if activation == "swiglu":
        return F.silu(g) * u
    raise ValueError(f"unknown activation {activation}")


def dit_block(x, cond, w, heads, activation):
    """The spec's dit_block, term for term."""
    B, S, D = x.shape
    m = F.linear(F.silu(cond), w["adaln.weight"], w["adaln.bias"])
    shift1, scale1, gate1, shift2, scale2, gate2 = (c[:, None, :] for c in m.chunk(6, dim=-1))
    h = F.rms_norm(x, (D,), w["norm1.weight"], EPS) * (1 + scale1) + shift1
    q, k, v = F.linear(h, w["qkv.weight"], w["qkv.bias"]).view(B, S, 3, heads, D // heads).unbind(2)
    o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    o = o.transpose(1, 2).reshape(B, S, D)
    x = x + gate1 * F.linear(o, w["proj.weight"], w["proj.bias"])
    h2 = F.rms_norm(x, (D,), w["norm2.weight"], EPS) * (1 + scale2) + shift2
    f = F.linear(activate(F.linear(h2, w["ffn.proj_in.weight"], w["ffn.proj_in.bias"]), activation),
                 w["ffn.proj_out.weight"], w["ffn.proj_out.bias"])
    return x + gate2 * f


def block_flops(s, activation):
    """FLOPs of the linears and the attention, as webfuser counts them."""
    B, S, D, inner = s["batch"], s["seq"], s["dim"], s["inner"]
    rows_in = 2 * inner if activation in GATED else inner
    M = B * S
    matmul = 2 * B * D * 6 * D + 2 * M * (D * 3 * D + D * D + D * rows_in + inner * D)
    return matmul + 4 * B * S * S * D


# (mode, storage dtype, TF32, compiled)
MODES = [
    ("eager_f32", torch.float32, False, False),
    ("eager_tf32", torch.float32, True, False),
    ("eager_bf16", torch.bfloat16, False, False),
    ("compile_bf16", torch.bfloat16, False, True),
]
DTYPE_NAMES = {torch.float32: "f32", torch.bfloat16: "bf16"}


def set_tf32(on):
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on
    torch.set_float32_matmul_precision("high" if on else "highest")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="dit,wan", help="comma-separated presets: " + ", ".join(PRESETS))
    ap.add_argument("--dim", type=int, help="hidden size D: one custom size (with --heads, --seq)")
    ap.add_argument("--heads", type=int)
    ap.add_argument("--seq", type=int)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--mlp-ratio", type=float, default=4.0, help="custom size: FFN width int(D * ratio)")
    ap.add_argument("--activation", default="gelu-approximate",
                    choices=["gelu", "gelu-approximate", "geglu", "geglu-approximate", "swiglu", "linear-silu"])
    ap.add_argument("--modes", default=",".join(m[0] for m in MODES), help="comma-separated subset of the four ways")
    ap.add_argument("--trials", type=int, default=7)
    ap.add_argument("--reps", type=int, default=3, help="blocks per timed trial")
    ap.add_argument("--warmup", type=float, default=30.0, help="most seconds a warm-up may take")
    ap.add_argument("--json", help="write the rows as JSON here")
    a = ap.parse_args()

    if a.dim is not None:
        if not (a.heads and a.seq and a.dim > 0 and a.dim % a.heads == 0):
            sys.exit("--dim needs --heads and --seq, with dim a multiple of heads")
        sizes = [("custom", dict(dim=a.dim, heads=a.heads, seq=a.seq, batch=a.batch, inner=int(a.dim * a.mlp_ratio)))]
    else:
        sizes = [(n, PRESETS[n]) for n in a.size.split(",")]
    modes = [m for m in MODES if m[0] in a.modes.split(",")]

    print(f"PyTorch {torch.__version__}, {torch.cuda.get_device_name()}, activation {a.activation}, "
          f"median of {a.trials} trials x {a.reps} blocks, a copy timed before each trial\n")
    h = Harness(cap=a.warmup)
    rows, warmups = [], []
    for name, s in sizes:
        flops = block_flops(s, a.activation)
        base = None  # eager f32 without TF32, the ratio's reference
        for mode, dt, tf32, compiled in modes:
            torch.manual_seed(1)
            w = make_weights(s["dim"], s["inner"], a.activation, dt)
            x = torch.randn(s["batch"], s["seq"], s["dim"], device="cuda").to(dt)
            cond = torch.randn(s["batch"], s["dim"], device="cuda").to(dt)
            nbytes = sum(t.numel() * t.element_size() for t in w.values()) + 2 * x.numel() * x.element_size() \
                + cond.numel() * cond.element_size()
            row = {"source": "pytorch", "name": "dit_block", "mode": mode, "size": size_name(s),
                   "dtype": DTYPE_NAMES[dt], "seconds": 0.0, "flops": flops, "bytes": nbytes}
            set_tf32(tf32)
            fn = dit_block
            note = ""
            try:
                if compiled:
                    start = time.monotonic()
                    fn = torch.compile(dit_block)
                    with torch.no_grad():
                        fn(x, cond, w, s["heads"], a.activation)  # compiles
                    torch.cuda.synchronize()
                    note = f"compiled in {time.monotonic() - start:.0f}s"
                warm = h.warm_up()
                warmups.append(warm)
                with torch.no_grad():
                    m = h.measure(lambda: fn(x, cond, w, s["heads"], a.activation), a.trials, a.reps)
                row.update(m)
            except Exception as e:  # torch.compile failures are reported, not fatal
                note = f"failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
                warm = None
            finally:
                set_tf32(False)
            if note:
                row["note"] = note
            if mode == "eager_f32" and row["seconds"] > 0:
                base = row["seconds"]
            row["vs_eager_f32"] = base / row["seconds"] if base and row["seconds"] > 0 else 0
            rows.append(row)
            print(f"{size_name(s)} {mode}: " + (warm_text(warm) if warm else "no warm-up") +
                  (f"; {note}" if note else ""), flush=True)
            del w, x, cond
            torch.cuda.empty_cache()

    print("\n| size | PyTorch | dtype | ms per block | TFLOP/s | speed vs eager f32 (TF32 off) | copy GB/s beside it | repeated trials | note |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        t = r["seconds"]
        ms = f"{t * 1e3:.2f}" if t > 0 else "-"
        tf = f"{r['flops'] / t / 1e12:.1f}" if t > 0 else "-"
        vs = f"{r['vs_eager_f32']:.2f}x" if r["vs_eager_f32"] else "-"
        print(f"| {r['size']} | {r['mode']} | {r['dtype']} | {ms} | {tf} | {vs} | {r.get('copy_gbs', 0):.0f} | "
              f"{r.get('repeats', 0)} | {r.get('note', '')} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report("dit_block_torch.py", warmups, rows), f, indent=2)


if __name__ == "__main__":
    main()
