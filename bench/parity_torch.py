#!/usr/bin/env python3
"""PyTorch rows beside ops.BenchmarkParity (ops/bench_parity_test.go), on
the same GPU, under the same names and shapes:

- scale_shift_gate_select and its LayerNorm and residual forms: the
  reference compositions of TeleFuser's tests/unit/kernel/test_scale_shift.py
  (torch.where over the two sets, x * (1 + scale) + shift), x [8,4096,3072];
- merge_attn_states: out = prev - sigmoid(s - p) * (prev - suff) in f32,
  lse = logaddexp(p, s), states [1,4096,24,128];
- quantize_int8_per_block/q and /k_smooth: Sage's per-block int8 (blocks
  of 128 tokens times a scale, of 64 tokens after subtracting the mean
  over the sequence), rounding half away from zero;
- moe: sigmoid top-2 routing of 8 experts and a loop over the experts
  (gated SiLU MLPs 3072 -> 8192 -> 3072, 4096 tokens); moe_fp8: the same
  loop with E4M3 experts, rows quantised to FP8 and torch._scaled_mm, as
  TeleFuser's fp8_expert_forward;
- linear: F.linear at full width; linear_nf4 and linear_nf4_compressed
  (double-quantised absmax): bitsandbytes' matmul_4bit where bitsandbytes
  imports, else NF4 dequantised by indexing the codebook, then F.linear
  (the note column says which).

Each row is timed next to a copy after a warm-up (torch_timing.py).
With --go FILE (the benchmark's output), prints one table joining both
sides, and for every linear_nf4 row WebFuser's NF4 beside PyTorch's
full-width F.linear.

Usage: python3 bench/parity_torch.py [--dtypes f32,bf16] [--go FILE]
"""
import argparse
import re

import torch
import torch.nn.functional as F

from torch_timing import Harness, warm_text

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}
# bitsandbytes' NF4 codebook (QLoRA), as ops/nf4.go's nf4Table.
NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
       -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
       0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
       0.7229568362236023, 1.0]


def gate_select_rows(dt):
    """The three gate-select compositions at x [8,4096,3072]."""
    B, L, C = 8, 4096, 3072
    x, res, rg = (torch.randn(B, L, C, device="cuda", dtype=dt) for _ in range(3))
    w = torch.randn(C, device="cuda", dtype=dt)
    sets = [torch.randn(B, C, device="cuda", dtype=dt) for _ in range(6)]
    index = torch.zeros(B, L, dtype=torch.bool, device="cuda")
    index[:, : L // 4] = True  # the first frame's tokens take set 1

    def modulate(h):
        s0, h0, g0, s1, h1, g1 = (t[:, None, :] for t in sets)
        ix = index[:, :, None]
        scale, shift, gate = torch.where(ix, s1, s0), torch.where(ix, h1, h0), torch.where(ix, g1, g0)
        return h * (1.0 + scale) + shift, gate

    def layer_norm(r):
        mean = r.mean(dim=-1, keepdim=True)
        var = r.var(dim=-1, unbiased=False, keepdim=True)
        return (r - mean) / torch.sqrt(var + 1e-6) * w + w

    nb = x.numel() * x.element_size()
    return [("scale_shift_gate_select", lambda: modulate(x), 3 * nb),
            ("layer_norm_scale_shift_gate_select", lambda: modulate(layer_norm(x)), 3 * nb),
            ("residual_layer_norm_scale_shift_gate_select", lambda: modulate(layer_norm(res + rg * x)), 6 * nb)]


def int8_per_block(x, block, scale, smooth):
    """x [B,L,H,D]: codes int8 and scales [B,H,blocks]."""
    B, L, H, D = x.shape
    if smooth:
        x = x - x.mean(dim=1, keepdim=True)
    v = x.float() * scale
    nb = -(-L // block)
    v = F.pad(v, (0, 0, 0, 0, 0, nb * block - L)).view(B, nb, block, H, D)
    s = v.abs().amax(dim=(2, 4), keepdim=True) / 127
    q = torch.where(s > 0, v / s, torch.zeros_like(v))
    q = torch.trunc(q + 0.5 * torch.where(q >= 0, 1.0, -1.0)).to(torch.int8)
    return q.view(B, nb * block, H, D)[:, :L], s.view(B, nb, H).transpose(1, 2)


def state_rows(dt):
    """merge_attn_states and the per-block int8 quantisers on [1,4096,24,128]."""
    st = (1, 4096, 24, 128)
    po, so = torch.randn(*st, device="cuda", dtype=dt), torch.randn(*st, device="cuda", dtype=dt)
    pl, sl = torch.randn(*st[:3], 1, device="cuda"), torch.randn(*st[:3], 1, device="cuda")

    def merge():
        w = torch.sigmoid(sl - pl)
        p = po.float()
        return (p - w * (p - so.float())).to(dt), torch.logaddexp(pl, sl)

    nbs = po.numel() * po.element_size()
    return [("merge_attn_states", merge, 3 * nbs),
            ("quantize_int8_per_block/q", lambda: int8_per_block(po, 128, 0.1275, False), nbs + po.numel()),
            ("quantize_int8_per_block/k_smooth", lambda: int8_per_block(po, 64, 1.0, True), nbs + po.numel())]


def moe_rows(dt):
    """Sigmoid top-2 of 8 experts, then a loop over the experts, with bf16
    weights and with E4M3 weights (per-channel scales) as TeleFuser's FP8
    expert path runs them."""
    T, D, I, E = 4096, 3072, 8192, 8
    x = torch.randn(T, D, device="cuda", dtype=dt)
    logits = torch.randn(T, E, device="cuda")
    w1, w3 = torch.randn(E, I, D, device="cuda", dtype=dt), torch.randn(E, I, D, device="cuda", dtype=dt)
    w2 = torch.randn(E, D, I, device="cuda", dtype=dt)

    def loop(expert):
        """Sigmoid top-2 routing, then y += weight * expert(e, tokens) per expert."""
        scores = logits.sigmoid()
        idx = scores.topk(2, dim=-1).indices
        wts = scores.gather(-1, idx)
        wts = wts / wts.sum(dim=-1, keepdim=True)
        y = torch.zeros(T, D, device="cuda")
        for e in range(E):
            tok, k = (idx == e).nonzero(as_tuple=True)
            y.index_add_(0, tok, expert(e, x[tok]).float() * wts[tok, k, None])
        return y.to(dt)

    def moe():
        return loop(lambda e, xe: (F.silu(xe @ w1[e].T) * (xe @ w3[e].T)) @ w2[e].T)

    def rows_fp8(t):
        """_quantize_rows_fp8: per-row E4M3 codes and f32 scales [rows, 1]."""
        s = (t.float().abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny) / 448).contiguous()
        return (t.float() / s).clamp(-448, 448).to(torch.float8_e4m3fn), s

    fp8 = [rows_fp8(w.reshape(-1, w.shape[2])) for w in (w1, w2, w3)]
    (q1, s1), (q2, s2), (q3, s3) = [(q.view(E, -1, q.shape[1]), s.view(E, -1)) for q, s in fp8]

    def smm(a, sa, w, sw):
        return torch._scaled_mm(a, w.t(), scale_a=sa, scale_b=sw.unsqueeze(0).contiguous(), out_dtype=torch.bfloat16)

    def fp8_expert(e, xe):
        """fp8_expert_forward's expert: tokens and h quantised per row, torch._scaled_mm."""
        xq, sx = rows_fp8(xe)
        h = F.silu(smm(xq, sx, q1[e], s1[e])) * smm(xq, sx, q3[e], s3[e])
        hq, sh = rows_fp8(h)
        return smm(hq, sh, q2[e], s2[e])

    def moe_fp8():
        return loop(fp8_expert)

    flops = 2 * 3 * 2 * T * D * I
    return [(f"moe/T={T}/D={D}/I={I}/E={E}/top2", moe, -flops, "loop over experts"),
            (f"moe_fp8/T={T}/D={D}/I={I}/E={E}/top2", moe_fp8, -flops, "loop over experts, torch._scaled_mm (fp8_expert_forward)")]


def linear_rows(dt):
    """F.linear at full width and NF4 (bitsandbytes or dequantise + F.linear)."""
    rows, note = [], ""
    try:
        import bitsandbytes as bnb
        import bitsandbytes.functional as bnbf
    except ImportError:
        bnb = None
        note = "bitsandbytes absent: NF4 dequantised by indexing, then F.linear"
    table = torch.tensor(NF4, device="cuda")
    for n in (4096, 8192):
        k = n
        w = torch.randn(n, k, device="cuda", dtype=dt)
        blocks = n * k // 64
        if bnb is not None:
            wq, state = bnbf.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=False)
            wqc, statec = bnbf.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
        else:
            wf = w.float().view(-1, 64)
            absmax = wf.abs().amax(dim=1)
            codes = (wf / absmax[:, None]).unsqueeze(-1).sub(table).abs().argmin(dim=-1).to(torch.uint8).view(-1)
            packed = (codes[0::2] << 4) | codes[1::2]
            # compress_statistics: absmax - mean in blocks of 256, 8-bit codes of a 256-entry table
            offset = absmax.mean()
            st = (absmax - offset).view(-1, 256)
            scale2 = st.abs().amax(dim=1)
            dyn = torch.linspace(-1, 1, 256, device="cuda")  # stand-in table: the timing does not depend on its values
            qst = torch.bucketize(st / scale2[:, None], (dyn[:-1] + dyn[1:]) / 2).to(torch.uint8).view(-1)
        for m in (1, 16):
            x = torch.randn(m, k, device="cuda", dtype=dt)
            if bnb is not None:
                nf4 = lambda x=x, wq=wq, state=state: bnb.matmul_4bit(x, wq.t(), quant_state=state)
                nf4c = lambda x=x, wq=wqc, state=statec: bnb.matmul_4bit(x, wq.t(), quant_state=state)
                impl = implc = "bitsandbytes.matmul_4bit"
            else:
                def nf4(x=x, packed=packed, absmax=absmax, n=n, k=k):  # n, k bound now: the rows run after the loop
                    codes = torch.stack((packed >> 4, packed & 15), dim=-1).view(-1, 64).long()
                    return F.linear(x, (table[codes] * absmax[:, None]).view(n, k).to(dt))

                def nf4c(x=x, packed=packed, qst=qst, scale2=scale2, offset=offset, n=n, k=k):
                    am = (dyn[qst.long()].view(-1, 256) * scale2[:, None]).view(-1) + offset
                    codes = torch.stack((packed >> 4, packed & 15), dim=-1).view(-1, 64).long()
                    return F.linear(x, (table[codes] * am[:, None]).view(n, k).to(dt))
                impl, implc = note, note + ", stats expanded first"
            rows.append((f"linear/M={m}/N={n}/K={k}", lambda x=x, w=w: F.linear(x, w), n * k * w.element_size(), "F.linear"))
            rows.append((f"linear_nf4/M={m}/N={n}/K={k}", nf4, n * k // 2 + blocks * 4, impl))
            rows.append((f"linear_nf4_compressed/M={m}/N={n}/K={k}", nf4c, n * k // 2 + blocks + blocks // 256 * 4 + 1024, implc))
    return rows


def read_go(path):
    """gpu-ns per BenchmarkParity row name (dtype/name, suffix -N dropped)."""
    out = {}
    for line in open(path):
        f = line.split()
        if not f or not f[0].startswith("BenchmarkParity/") or "gpu-ns" not in f:
            continue
        name = re.sub(r"-\d+$", "", f[0][len("BenchmarkParity/"):])
        out[name] = float(f[f.index("gpu-ns") - 1])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtypes", default="f32,bf16")
    ap.add_argument("--go", help="ops.test -test.bench BenchmarkParity output to join")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=float, default=30.0)
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    h = Harness(cap=a.warmup)
    print(f"# PyTorch {torch.__version__} on {torch.cuda.get_device_name()}\n")
    print(warm_text(h.warm_up()) + "\n")
    torch_ns, notes = {}, {}
    print("| row | PyTorch µs | GB/s or TFLOP/s | PyTorch code |\n|---|---:|---:|---|")
    for dn in a.dtypes.split(","):
        dt = DTYPES[dn]
        cases = [(n, f, b, "reference composition") for n, f, b in gate_select_rows(dt) + state_rows(dt)]
        cases += linear_rows(dt)
        cases += moe_rows(dt)
        for name, fn, amount, note in cases:
            try:
                m = h.measure(fn, a.trials, a.reps)
            except RuntimeError as e:  # e.g. torch._scaled_mm absent or refusing a shape
                print(f"| {dn}/{name} | - | - | failed: {str(e).splitlines()[0]} |", flush=True)
                continue
            s = m["seconds"]
            rate = f"{amount / s / 1e9:.0f} GB/s" if amount > 0 else f"{-amount / s / 1e12:.1f} TFLOP/s"
            key = f"{dn}/{name}"
            torch_ns[key], notes[key] = s * 1e9, note
            print(f"| {key} | {s * 1e6:.1f} | {rate} | {note} |", flush=True)
            torch.cuda.empty_cache()
    if not a.go:
        return
    go = read_go(a.go)
    print("\n## WebFuser beside PyTorch (µs; ratio > 1: WebFuser faster)\n")
    print("| row | WebFuser µs | PyTorch µs | PyTorch / WebFuser |\n|---|---:|---:|---:|")
    for key, t in torch_ns.items():
        g = go.get(key)
        cell = f"{g / 1e3:.1f} | {t / 1e3:.1f} | {t / g:.2f}" if g else f"missing | {t / 1e3:.1f} | -"
        print(f"| {key} | {cell} |")
    print("\n## MoE: the tiled expert GEMMs beside moe_gemm.wgsl (the _simple rows)\n")
    print("| row | tiled µs | moe_gemm µs | PyTorch µs | moe_gemm / tiled |\n|---|---:|---:|---:|---:|")
    for key, t in torch_ns.items():
        if "/moe" not in key:
            continue
        name = key.split("/")[1]
        g, o = go.get(key), go.get(key.replace(f"/{name}/", f"/{name}_simple/"))
        if g and o:
            print(f"| {key} | {g / 1e3:.1f} | {o / 1e3:.1f} | {t / 1e3:.1f} | {o / g:.2f} |")
    print("\n## NF4 (WebFuser) beside full-width F.linear (PyTorch)\n")
    print("| shape | WebFuser NF4 µs | PyTorch F.linear µs | F.linear / NF4 |\n|---|---:|---:|---:|")
    for key, t in torch_ns.items():
        if "/linear/" not in "/" + key:
            continue
        g = go.get(key.replace("/linear/", "/linear_nf4/"))
        if g:
            print(f"| {key} | {g / 1e3:.1f} | {t / 1e3:.1f} | {t / g:.2f} |")


if __name__ == "__main__":
    main()
