#!/usr/bin/env python3
"""Train WebFuser's small class-conditional video DiT with flow matching.

The model is the PyTorch twin of models/videodit (Go): the same modules,
the same parameter names, the same host-side conditioning, so the state
dict this script saves binds in Go as it is. The data are procedurally
generated clips: 8 frames of 32x32 RGB, one shape (square, circle,
triangle) of one colour (red, green, blue, yellow) moving in one
direction (right, left, down, up) and bouncing off the borders. The class
is shape x colour x direction: class = (shape*4 + colour)*4 + direction,
48 classes, and class 48 is the null class of classifier-free guidance.

Training is split into calls: each call trains for --minutes, keeps a
checkpoint at --ckpt (default out/videodit_ckpt.pt, relative to the
repository root: a git-ignored path that stays on a warm device machine
between calls) and exports everything under --out; a call finds the
checkpoint and resumes from it (--fresh starts over). The learning-rate
schedule runs on training time, over --total-minutes, so split calls
follow one schedule.

Outputs, under --out, laid out as in the repository:
  testdata/models/videodit.safetensors            the weights (f32, config in __metadata__)
  testdata/models/videodit_reference.safetensors  noise, first guided velocity and frames of
                                                  a reference clip (float64 sampler on CPU)
  testdata/models/videodit_loss.svg               the loss curve
  testdata/models/videodit_train.json             command, date, steps, time, losses
  testdata/models/videodit_preview.png            sampled clips of a few classes, frame by frame

  python3 models/train/train.py --out $OUT --minutes 4.5                      # one call
  python3 models/train/train.py --out $OUT --minutes 3 --total-minutes 6      # two calls of one
  python3 models/train/train.py --out $OUT --minutes 3 --total-minutes 6      #   schedule
  python3 models/train/train.py --smoke --out /tmp/smoke     # 20 CPU steps of a tiny model, seconds
"""

import argparse
import contextlib
import datetime
import json
import math
import os
import struct
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SHAPES = ["square", "circle", "triangle"]
COLORS = [("red", (1.0, 0.15, 0.15)), ("green", (0.2, 0.9, 0.2)), ("blue", (0.25, 0.45, 1.0)), ("yellow", (1.0, 0.9, 0.1))]
DIRECTIONS = [("right", (1.0, 0.0)), ("left", (-1.0, 0.0)), ("down", (0.0, 1.0)), ("up", (0.0, -1.0))]

# The model's configuration, stored as JSON in the weights' __metadata__["config"].
CONFIG = dict(frames=8, height=32, width=32, channels=3, patch=[2, 4, 4], dim=256, ffn_dim=1024,
              num_heads=4, layers=4, freq_dim=256, shapes=len(SHAPES), colors=len(COLORS),
              directions=len(DIRECTIONS), eps=1e-6, rope_theta=10000.0)
SMOKE_CONFIG = dict(CONFIG, dim=32, ffn_dim=64, num_heads=2, layers=2, freq_dim=32)

# The reference clip the Go test compares against.
# Five steps keep the Go test of the full model short on a CPU Vulkan driver.
REFERENCE = dict(seed=1234, cls=(1 * 4 + 0) * 4 + 0, steps=5, cfg=3.0, shift=1.0)  # red circle moving right


def class_name(c, cfg=CONFIG):
    nd, ncol = cfg["directions"], cfg["colors"]
    if c >= cfg["shapes"] * ncol * nd:
        return "null"
    return f"{COLORS[(c // nd) % ncol][0]} {SHAPES[c // (nd * ncol)]} moving {DIRECTIONS[c % nd][0]}"


# ---------------------------------------------------------------- model

def rope_tables(cfg):
    """Wan's 3-D rotary tables [L, hd/2] of the token grid: c = hd/2 pairs
    split into c-2(c//3), c//3, c//3 driven by frame, row and column; pair j
    of a part of p pairs turns at theta^(-j/p). float64, stored as f32."""
    pt, ph, pw = cfg["patch"]
    f, h, w = cfg["frames"] // pt, cfg["height"] // ph, cfg["width"] // pw
    hd = cfg["dim"] // cfg["num_heads"]
    c = hd // 2
    parts = [c - 2 * (c // 3), c // 3, c // 3]
    idx = torch.arange(f * h * w, dtype=torch.float64)
    pos = [torch.div(idx, h * w, rounding_mode="floor"), torch.div(idx, w, rounding_mode="floor") % h, idx % w]
    angles = []
    for k, p in enumerate(parts):
        freq = cfg["rope_theta"] ** (-torch.arange(p, dtype=torch.float64) / p)
        angles.append(torch.outer(pos[k], freq))
    a = torch.cat(angles, dim=1)
    return torch.cos(a).float(), torch.sin(a).float()


def apply_rope(x, cos, sin):
    """Interleaved pairs (x[2i], x[2i+1]) of x [B,L,H,hd] rotated by the tables."""
    c, s = cos[None, :, None, :].to(x.dtype), sin[None, :, None, :].to(x.dtype)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).flatten(-2)


def attention(q, k, v):
    """softmax(q k^T / sqrt(d)) v per head; q [B,L,H,d], k and v [B,T,H,d]."""
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    if hasattr(F, "scaled_dot_product_attention") and q.dtype != torch.float64:
        o = F.scaled_dot_product_attention(q, k, v)
    else:
        o = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1) @ v
    return o.transpose(1, 2)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return y.to(x.dtype) * self.weight.to(x.dtype)


def layer_norm(x, eps):
    return F.layer_norm(x, (x.shape[-1],), eps=eps)


class WanAttention(nn.Module):
    """q, k, v, o projections; q and k RMS-normalised over the whole width."""

    def __init__(self, dim, heads, eps):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q, self.norm_k = RMSNorm(dim, eps), RMSNorm(dim, eps)

    def forward(self, x, kv, cos=None, sin=None):
        B, L, D = x.shape
        T, H = kv.shape[1], self.heads
        q = self.norm_q(self.q(x)).view(B, L, H, D // H)
        k = self.norm_k(self.k(kv)).view(B, T, H, D // H)
        v = self.v(kv).view(B, T, H, D // H)
        if cos is not None:
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        return self.o(attention(q, k, v).reshape(B, L, D))


class WanBlock(nn.Module):
    """models/wan.Block: modulation + e0 -> shift1, scale1, gate1, shift2, scale2, gate2."""

    def __init__(self, dim, ffn_dim, heads, eps):
        super().__init__()
        self.eps = eps
        self.self_attn = WanAttention(dim, heads, eps)
        self.norm3 = nn.LayerNorm(dim, eps=eps, elementwise_affine=True)
        self.cross_attn = WanAttention(dim, heads, eps)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(ffn_dim, dim))
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim ** 0.5)

    def forward(self, x, e0, ctx, cos, sin):
        e = (self.modulation.to(e0.dtype) + e0).chunk(6, dim=1)  # each [B,1,D]
        h = layer_norm(x, self.eps) * (1 + e[1]) + e[0]
        x = x + self.self_attn(h, h, cos, sin) * e[2]
        x = x + self.cross_attn(self.norm3(x), ctx)
        h = layer_norm(x, self.eps) * (1 + e[4]) + e[3]
        return x + self.ffn(h) * e[5]


class Head(nn.Module):
    def __init__(self, dim, out, eps):
        super().__init__()
        self.eps = eps
        self.head = nn.Linear(dim, out)
        self.modulation = nn.Parameter(torch.randn(1, 2, dim) / dim ** 0.5)

    def forward(self, x, e):
        shift, scale = (self.modulation.to(e.dtype) + e[:, None]).chunk(2, dim=1)
        return self.head(layer_norm(x, self.eps) * (1 + scale) + shift)


def num_classes(cfg):
    return cfg["shapes"] * cfg["colors"] * cfg["directions"]


def patch_dim(cfg):
    pt, ph, pw = cfg["patch"]
    return pt * ph * pw * cfg["channels"]


def sinusoid(dim, position):
    """Wan's sinusoidal_embedding_1d in float64: [cos | sin] of position * 10000^(-i/half)."""
    half = dim // 2
    position = position.to(torch.float64)
    a = torch.outer(position, torch.pow(10000.0, -torch.arange(half, dtype=torch.float64, device=position.device) / half))
    return torch.cat([torch.cos(a), torch.sin(a)], dim=1)


def context_onehot(y, cfg, dtype):
    """Three context tokens: one-hot shape, colour and direction in a vocabulary
    of shapes+colors+directions+1; the null class uses the last entry thrice."""
    S, C, Dn = cfg["shapes"], cfg["colors"], cfg["directions"]
    V = S + C + Dn + 1
    null = y >= num_classes(cfg)
    yc = torch.where(null, torch.zeros_like(y), y)
    idx = torch.stack([yc // (Dn * C), S + (yc // Dn) % C, S + C + yc % Dn], dim=1)
    idx = torch.where(null[:, None], torch.full_like(idx, V - 1), idx)
    return F.one_hot(idx, V).to(dtype)


class VideoDiT(nn.Module):
    """models/videodit.Model: tokens [B,L,P] at flow time t in [0,1] for class y -> velocity."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        D, P = cfg["dim"], patch_dim(cfg)
        V = cfg["shapes"] + cfg["colors"] + cfg["directions"] + 1
        self.patch_embedding = nn.Linear(P, D)
        self.time_embedding = nn.Sequential(nn.Linear(cfg["freq_dim"], D), nn.SiLU(), nn.Linear(D, D))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))
        self.class_embedding = nn.Linear(num_classes(cfg) + 1, D, bias=False)
        self.context_embedding = nn.Sequential(nn.Linear(V, D), nn.GELU(approximate="tanh"), nn.Linear(D, D))
        self.blocks = nn.ModuleList(WanBlock(D, cfg["ffn_dim"], cfg["num_heads"], cfg["eps"]) for _ in range(cfg["layers"]))
        self.head = Head(D, P, cfg["eps"])
        cos, sin = rope_tables(cfg)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        # Start as an identity-free velocity field: no output, small modulation.
        nn.init.zeros_(self.head.head.weight)
        nn.init.zeros_(self.head.head.bias)
        nn.init.zeros_(self.time_projection[1].weight)
        nn.init.zeros_(self.time_projection[1].bias)

    def forward(self, x, t, y):
        cfg, D = self.cfg, self.cfg["dim"]
        dt = self.patch_embedding.weight.dtype
        e = self.time_embedding(sinusoid(cfg["freq_dim"], 1000 * t).to(dt))
        e = e + self.class_embedding(F.one_hot(y, num_classes(cfg) + 1).to(dt))
        e0 = self.time_projection(e).unflatten(1, (6, D))
        ctx = self.context_embedding(context_onehot(y, cfg, dt))
        h = self.patch_embedding(x)
        if h.dtype != dt:
            h = h.to(dt)  # under autocast: keep the residual stream in the weights' dtype
        cos, sin = self.rope_cos.to(dt), self.rope_sin.to(dt)
        for b in self.blocks:
            h = b(h, e0, ctx, cos, sin)
        return self.head(h, e)


# ---------------------------------------------------------------- data

def patchify(v, cfg):
    """[B,F,H,W,C] -> tokens [B, (F/pt)(H/ph)(W/pw), pt*ph*pw*C], tokens frame-major,
    features in (pt, ph, pw, c) order."""
    B, Fr, H, W, C = v.shape
    pt, ph, pw = cfg["patch"]
    v = v.reshape(B, Fr // pt, pt, H // ph, ph, W // pw, pw, C).permute(0, 1, 3, 5, 2, 4, 6, 7)
    return v.reshape(B, (Fr // pt) * (H // ph) * (W // pw), pt * ph * pw * C)


def unpatchify(x, cfg):
    """The inverse of patchify: tokens [B,L,P] -> [B,F,H,W,C]."""
    B = x.shape[0]
    pt, ph, pw = cfg["patch"]
    f, h, w = cfg["frames"] // pt, cfg["height"] // ph, cfg["width"] // pw
    x = x.reshape(B, f, h, w, pt, ph, pw, cfg["channels"]).permute(0, 1, 4, 2, 5, 3, 6, 7)
    return x.reshape(B, cfg["frames"], cfg["height"], cfg["width"], cfg["channels"])


def make_clips(y, cfg, device):
    """Clips [B,F,H,W,3] in [-1,1] for classes y: the shape, of half-size 4.5-7
    px, moves 2-3.5 px a frame in its direction, from a start that leaves
    room for three moves before it bounces off a border; soft edges; black
    background."""
    B, Fr, H, W = y.shape[0], cfg["frames"], cfg["height"], cfg["width"]
    nd, ncol = cfg["directions"], cfg["colors"]
    shape, col, dirn = y // (nd * ncol), (y // nd) % ncol, y % nd
    r = torch.empty(B, device=device).uniform_(4.5, 7.0)
    speed = torch.empty(B, device=device).uniform_(2.0, 3.5)
    dvec = torch.tensor([d for _, d in DIRECTIONS], device=device)[dirn]  # [B,2]
    rgb = torch.tensor([c for _, c in COLORS], device=device)[col]  # [B,3]
    # Start where the first three moves go the class's way: bounces come later.
    lead = 3 * speed[:, None] * dvec.abs()
    room = torch.tensor([W, H], device=device) - 2 * r[:, None] - lead
    p0 = r[:, None] + torch.rand(B, 2, device=device) * room + lead * (dvec < 0)
    t = torch.arange(Fr, device=device, dtype=torch.float32)
    p = p0[:, None, :] + (speed[:, None, None] * dvec[:, None, :]) * t[None, :, None]  # [B,F,2]
    span = (torch.tensor([W, H], device=device) - 2 * r[:, None])[:, None, :]
    q = torch.remainder(p - r[:, None, None], 2 * span)
    p = r[:, None, None] + torch.where(q <= span, q, 2 * span - q)  # bounced
    xs = torch.arange(W, device=device, dtype=torch.float32) + 0.5
    ys = torch.arange(H, device=device, dtype=torch.float32) + 0.5
    dx = xs[None, None, None, :] - p[:, :, 0, None, None]
    dy = ys[None, None, :, None] - p[:, :, 1, None, None]
    rr = r[:, None, None, None]
    d_sq = torch.maximum(dx.abs(), dy.abs()) - rr
    d_ci = torch.sqrt(dx * dx + dy * dy) - rr
    d_tr = torch.maximum(dy - rr, (dx.abs() - (dy + rr) / 2) / math.sqrt(1.25))
    d_tr = torch.maximum(d_tr, -rr - dy)
    s = shape[:, None, None, None]
    d = torch.where(s == 0, d_sq, torch.where(s == 1, d_ci, d_tr))
    alpha = torch.clamp(0.5 - d, 0.0, 1.0)
    return alpha[..., None] * rgb[:, None, None, None, :] * 2 - 1


# ---------------------------------------------------------------- sampling

def portable_noise(seed, n):
    """N(0,1) noise that Go's videodit.Noise reproduces: splitmix64 outputs
    mix(seed + i*0x9E3779B97F4A7C15), i = 1, 2, ..., to uniforms
    ((z >> 11) + 0.5) / 2^53, two per value through Box-Muller
    sqrt(-2 ln u1) cos(2 pi u2), rounded to f32."""
    g = np.uint64(0x9E3779B97F4A7C15)
    i = np.arange(1, 2 * n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + i * g
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = ((z >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0 ** 53
    u1, u2 = u[0::2], u[1::2]
    return (np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)).astype(np.float32)


def sigmas(steps, shift):
    """Flow times from 1 to 0: u = 1 - i/steps, shifted as shift*u / (1 + (shift-1)*u)."""
    u = [1 - i / steps for i in range(steps + 1)]
    return [shift * s / (1 + (shift - 1) * s) for s in u]


@torch.no_grad()
def sample(model, noise, cls, steps, cfg_scale, shift=1.0, on_step=None):
    """Euler steps of the flow x' = x + (s_next - s) v, v = vu + g (vc - vu),
    the conditional and null branches in one batch (one without guidance)."""
    x = noise
    B = x.shape[0]
    nullc = num_classes(model.cfg)
    sg = sigmas(steps, shift)
    for i in range(steps):
        t = torch.full((B,), sg[i], dtype=torch.float64, device=x.device)
        if cfg_scale == 1:
            v = model(x, t, cls)
        else:
            out = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cls, torch.full_like(cls, nullc)]))
            vc, vu = out[:B], out[B:]
            v = vu + cfg_scale * (vc - vu)
        if on_step:
            on_step(i, x, v)
        x = x + (sg[i + 1] - sg[i]) * v
    return x


@torch.no_grad()
def evaluate(model, cfg, device, seeds=4, steps=20, cfg_scale=4.0):
    """How often sampled clips show their class: for every class and seeds
    noises, the centroid of the lit pixels over the first four frames
    (before any bounce) must move along the class's direction, and the mean
    colour of the lit pixels must be nearest the class's colour. Returns
    (direction accuracy, colour accuracy, per-class direction hits)."""
    model.eval()
    nc, nd, ncol = num_classes(cfg), cfg["directions"], cfg["colors"]
    L = (cfg["frames"] // cfg["patch"][0]) * (cfg["height"] // cfg["patch"][1]) * (cfg["width"] // cfg["patch"][2])
    cls = torch.arange(nc, device=device).repeat(seeds)
    gen = torch.Generator(device="cpu").manual_seed(11)
    nz = torch.randn(cls.shape[0], L, patch_dim(cfg), generator=gen).to(device)
    clips = (unpatchify(sample(model, nz, cls, steps, cfg_scale), cfg).float() + 1) / 2  # [B,F,H,W,3] in [0,1]
    model.train()
    lit = clips.amax(dim=-1).clamp(0, 1)  # [B,F,H,W]
    lit = torch.where(lit > 0.3, lit, torch.zeros_like(lit))
    H, W = cfg["height"], cfg["width"]
    ys = torch.arange(H, device=device, dtype=torch.float32)[None, None, :, None]
    xs = torch.arange(W, device=device, dtype=torch.float32)[None, None, None, :]
    mass = lit.sum(dim=(2, 3)).clamp_min(1e-6)
    cx, cy = (lit * xs).sum(dim=(2, 3)) / mass, (lit * ys).sum(dim=(2, 3)) / mass  # [B,F]
    move = torch.stack([cx[:, 3] - cx[:, 0], cy[:, 3] - cy[:, 0]], dim=-1)  # [B,2]
    dvec = torch.tensor([d for _, d in DIRECTIONS], device=device)[cls % nd]
    along = (move * dvec).sum(-1)
    across = (move * dvec.flip(-1)).sum(-1).abs()
    hit = (along > 1.0) & (along > across)
    rgb = (clips * lit[..., None]).sum(dim=(1, 2, 3)) / lit.sum(dim=(1, 2, 3)).clamp_min(1e-6)[:, None]
    ref = torch.tensor([c for _, c in COLORS], device=device)
    col_hit = torch.cdist(rgb, ref).argmin(-1) == (cls // nd) % ncol
    per_class = hit.view(seeds, nc).float().mean(0)
    return hit.float().mean().item(), col_hit.float().mean().item(), per_class.tolist()


# ---------------------------------------------------------------- files

def save_safetensors(path, tensors, metadata):
    """safetensors.torch.save_file where the package exists; the same format
    written by hand otherwise."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    try:
        from safetensors.torch import save_file
        save_file(tensors, path, metadata=metadata)
        return "safetensors.torch.save_file"
    except ImportError:
        pass
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.uint8: "U8", torch.int32: "I32"}
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for k in sorted(tensors):
        t = tensors[k]
        b = t.view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    return "own writer"


def read_f32_safetensors(path):
    """The __metadata__ map and the F32 tensors of a safetensors file (the
    files export() writes), without the safetensors package."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if e["dtype"] != "F32":
            sys.exit(f"train.py: {path}: {name} is {e['dtype']}, not F32")
        a, b = e["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").copy().reshape(e["shape"]))
    return header.get("__metadata__", {}), tensors


def write_png(path, rgb):
    """An 8-bit RGB PNG from an array [H,W,3] of uint8."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[i].tobytes() for i in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def to_uint8(frames):
    return ((frames.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


def write_svg(path, history, title):
    """The loss curve: every logged loss (light) and its running mean (dark), log scale."""
    if not history:
        return
    W, H, L, R, T, Bm = 640, 360, 60, 20, 40, 40
    steps = [s for s, _ in history]
    losses = [max(l, 1e-6) for _, l in history]
    k = 5  # the running mean: a centred window of 2k+1 logged losses
    smooth = [sum(losses[max(0, i - k):i + k + 1]) / len(losses[max(0, i - k):i + k + 1]) for i in range(len(losses))]
    lo, hi = math.log10(min(losses)), math.log10(max(losses))
    if hi - lo < 1e-3:
        hi = lo + 1
    s0, s1 = min(steps), max(max(steps), min(steps) + 1)

    def xy(s, l):
        return (L + (s - s0) / (s1 - s0) * (W - L - R), T + (hi - math.log10(max(l, 1e-6))) / (hi - lo) * (H - T - Bm))

    def poly(vals, colour, width):
        pts = " ".join("%.1f,%.1f" % xy(s, l) for s, l in zip(steps, vals))
        return f'<polyline fill="none" stroke="{colour}" stroke-width="{width}" points="{pts}"/>'

    ticks = []
    for e in range(math.floor(lo), math.ceil(hi) + 1):
        for mnt in (1, 2, 5):
            v = mnt * 10 ** e
            if lo <= math.log10(v) <= hi:
                _, y = xy(s0, v)
                ticks.append(f'<line x1="{L}" x2="{W - R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                             f'<text x="{L - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{v:g}</text>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif">'
           f'<rect width="{W}" height="{H}" fill="white"/>'
           f'<text x="{W / 2}" y="22" font-size="14" text-anchor="middle">{title}</text>' + "".join(ticks) +
           poly(losses, "#9ecae1", 1) + poly(smooth, "#08519c", 2) +
           f'<line x1="{L}" x2="{W - R}" y1="{H - Bm}" y2="{H - Bm}" stroke="black"/>'
           f'<line x1="{L}" x2="{L}" y1="{T}" y2="{H - Bm}" stroke="black"/>'
           f'<text x="{L}" y="{H - Bm + 16}" font-size="11">{s0}</text>'
           f'<text x="{W - R}" y="{H - Bm + 16}" font-size="11" text-anchor="end">{s1}</text>'
           f'<text x="{(W + L) / 2}" y="{H - 8}" font-size="12" text-anchor="middle">step</text>'
           f'<text x="14" y="{H / 2}" font-size="12" transform="rotate(-90 14 {H / 2})" text-anchor="middle">flow-matching MSE (log)</text>'
           '</svg>')
    with open(path, "w") as f:
        f.write(svg)


# ---------------------------------------------------------------- training

def lr_at(progress, step, base, warmup):
    """Linear warm-up over the first steps, then cosine from base to base/20
    over the training time (progress in [0,1])."""
    w = min(1.0, (step + 1) / warmup)
    p = min(max(progress, 0.0), 1.0)
    return base * w * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


def export(model, cfg, args, state, device):
    """Weights, reference clip, loss curve, preview and the training record."""
    out = os.path.join(args.out, "testdata", "models")
    os.makedirs(out, exist_ok=True)
    prefix = "videodit_smoke" if args.smoke else "videodit"
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    meta = {"format": "pt", "config": json.dumps(cfg, sort_keys=True), "steps": str(state["step"]),
            "train_seconds": "%.0f" % state["seconds"], "date": date, "command": " ".join(sys.argv)}
    sd = {k: v.float() for k, v in model.state_dict().items()}
    writer = save_safetensors(os.path.join(out, prefix + ".safetensors"), sd, meta)
    nbytes = sum(v.numel() * 4 for v in sd.values())

    # The reference clip: the float64 sampler on the CPU from portable noise.
    ref = VideoDiT(cfg).double()
    ref.load_state_dict({k: v.double() for k, v in sd.items()})
    ref.eval()
    R = REFERENCE
    L = (cfg["frames"] // cfg["patch"][0]) * (cfg["height"] // cfg["patch"][1]) * (cfg["width"] // cfg["patch"][2])
    noise = torch.from_numpy(portable_noise(R["seed"], L * patch_dim(cfg))).reshape(1, L, patch_dim(cfg))
    first = {}

    def grab(i, x, v):
        if i == 0:
            first["v"] = v.float()

    t0 = time.time()
    x = sample(ref, noise.double(), torch.tensor([R["cls"]]), R["steps"], R["cfg"], R["shift"], grab)
    frames = unpatchify(x, cfg)[0].float()
    ref_seconds = time.time() - t0
    save_safetensors(os.path.join(out, prefix + "_reference.safetensors"),
                     {"noise": noise, "velocity0": first["v"], "frames": frames},
                     {"seed": str(R["seed"]), "class": str(R["cls"]), "steps": str(R["steps"]), "cfg": str(R["cfg"]),
                      "shift": str(R["shift"]), "description": class_name(R["cls"], cfg),
                      "note": "float64 PyTorch sampler on CPU; noise from portable_noise(seed); frames [F,H,W,C] in [-1,1]"})

    # A preview of a few classes sampled on the training device.
    model.eval()
    classes = [0, 5, 10, 15, 16 + 1, 16 + 6, 32 + 3, 32 + 14] if not args.smoke else [0, 21]
    gen = torch.Generator(device="cpu").manual_seed(7)
    nz = torch.randn(len(classes), L, patch_dim(cfg), generator=gen).to(device)
    with torch.no_grad():
        clips = unpatchify(sample(model, nz, torch.tensor(classes, device=device), 20, 4.0), cfg)
    model.train()
    rows = []
    for c in range(len(classes)):
        fr = to_uint8(clips[c])  # [F,H,W,3]
        row = np.concatenate([np.pad(f, ((1, 1), (1, 1), (0, 0)), constant_values=128) for f in fr], axis=1)
        rows.append(row)
    grid = np.concatenate(rows, axis=0)
    grid = grid.repeat(3, axis=0).repeat(3, axis=1)
    write_png(os.path.join(out, prefix + "_preview.png"), grid)

    direction, colour, per_class = evaluate(model, cfg, device, seeds=1 if args.smoke else 4)
    print(f"sampled clips (20 steps, cfg 4): direction right {direction:.1%}, colour right {colour:.1%}", flush=True)
    write_svg(os.path.join(out, prefix + "_loss.svg"), state["history"],
              f"videodit flow matching, {state['step']} steps, {state['seconds'] / 60:.1f} min, {date}")
    record = {"command": " ".join(sys.argv), "date": date, "steps": state["step"], "train_seconds": round(state["seconds"], 1),
              "batch": args.batch, "lr": args.lr, "config": cfg, "weights_bytes": nbytes, "writer": writer,
              "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu", "torch": torch.__version__,
              "reference": dict(R, description=class_name(R["cls"], cfg), seconds=round(ref_seconds, 1)),
              "preview_classes": [class_name(c, cfg) for c in classes],
              "evaluation": {"note": "evaluate(): 4 noises per class, 20 steps, cfg 4; direction from the centroid over frames 0-3",
                             "direction_accuracy": round(direction, 4), "colour_accuracy": round(colour, 4),
                             "direction_per_class": {class_name(c, cfg): round(v, 2) for c, v in enumerate(per_class)}},
              "final_loss": (sum(l for _, l in state["history"][-20:]) / max(1, len(state["history"][-20:]))) if state["history"] else None}
    with open(os.path.join(out, prefix + "_train.json"), "w") as f:
        json.dump(record, f, indent=1)
    print(f"exported {prefix}: {nbytes / 1e6:.1f} MB of weights ({writer}), reference in {ref_seconds:.1f} s, to {out}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.environ.get("OUT", "out/train"), help="output folder (default $OUT)")
    ap.add_argument("--ckpt", help="checkpoint path, resumed from when it exists (default out/videodit_ckpt.pt; "
                    "with --smoke, --out/videodit_smoke_ckpt.pt)")
    ap.add_argument("--fresh", action="store_true", help="start over even if --ckpt exists")
    ap.add_argument("--init", help="start from these weights (a safetensors file this script exported) with a fresh optimiser")
    ap.add_argument("--eval-only", action="store_true", help="with --init: evaluate and export, no training")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (costs a minute of compiling)")
    ap.add_argument("--minutes", type=float, default=4.5, help="training time of this call")
    ap.add_argument("--total-minutes", type=float, default=None, help="training time of the whole schedule (default: --minutes)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps in this call (0: time only)")
    ap.add_argument("--ckpt-every", type=int, default=2000, help="checkpoint every N steps (and at the end)")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="20 steps of a tiny model on the CPU, then every export")
    args = ap.parse_args()
    if args.smoke:
        args.batch, args.steps, args.warmup, args.log_every, args.ckpt_every = 8, args.steps or 20, 5, 5, 10
        args.minutes = 5
    total = (args.total_minutes or args.minutes) * 60

    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    torch.manual_seed(args.seed)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    cfg = SMOKE_CONFIG if args.smoke else CONFIG
    model = VideoDiT(cfg).to(device)
    try:
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0, fused=device.type == "cuda")
    except (TypeError, RuntimeError):
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    state = {"step": 0, "seconds": 0.0, "history": []}
    ckpt = args.ckpt or (os.path.join(args.out, "videodit_smoke_ckpt.pt") if args.smoke else os.path.join("out", "videodit_ckpt.pt"))
    if os.path.exists(ckpt) and not args.fresh:
        try:
            ck = torch.load(ckpt, map_location=device, weights_only=False)
        except TypeError:
            ck = torch.load(ckpt, map_location=device)
        if ck["config"] != cfg:
            sys.exit(f"train.py: {ckpt} was trained with another config (--fresh starts over)")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        torch.manual_seed(args.seed + state["step"])
        print(f"resumed at step {state['step']} after {state['seconds'] / 60:.1f} min of training", flush=True)
    elif args.init:
        meta, tensors = read_f32_safetensors(args.init)
        if json.loads(meta.get("config", "null")) not in (None, cfg):
            sys.exit(f"train.py: {args.init} has another config")
        model.load_state_dict({k: v.to(device) for k, v in tensors.items()})
        print(f"initialised from {args.init}", flush=True)
    if args.eval_only:
        args.minutes = 0
    nparams = sum(p.numel() for p in model.parameters())
    print(f"videodit: {nparams / 1e6:.2f} M parameters ({nparams * 4 / 1e6:.1f} MB in f32), {num_classes(cfg)} classes, "
          f"{len(model.blocks)} blocks of dim {cfg['dim']}, on {device}", flush=True)

    os.makedirs(os.path.dirname(ckpt) or ".", exist_ok=True)

    def checkpoint():
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state, "config": cfg}, ckpt + ".tmp")
        os.replace(ckpt + ".tmp", ckpt)

    nullc = num_classes(cfg)
    amp = device.type == "cuda"
    start, last_log, acc, nacc = time.time(), time.time(), 0.0, 0
    seconds0, step0 = state["seconds"], state["step"]
    fwd = torch.compile(model) if args.compile else model
    model.train()
    while True:
        elapsed = time.time() - start
        state["seconds"] = seconds0 + elapsed
        if elapsed >= args.minutes * 60 or (args.steps and state["step"] - step0 >= args.steps):
            break
        step = state["step"]
        lr = lr_at(state["seconds"] / total, step, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.no_grad():
            y = torch.randint(0, nullc, (args.batch,), device=device)
            x0 = patchify(make_clips(y, cfg, device), cfg)
            noise = torch.randn_like(x0)
            s = torch.sigmoid(torch.randn(args.batch, device=device))  # logit-normal flow times
            xt = (1 - s[:, None, None]) * x0 + s[:, None, None] * noise
            target = noise - x0
            yin = torch.where(torch.rand(args.batch, device=device) < 0.1, torch.full_like(y, nullc), y)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext():
            pred = fwd(xt, s, yin)
        loss = F.mse_loss(pred.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        state["step"] = step + 1
        acc, nacc = acc + loss.item() if step % 10 == 0 or args.smoke else acc, nacc + (1 if step % 10 == 0 or args.smoke else 0)
        if state["step"] % args.log_every == 0 and nacc:
            mean = acc / nacc
            state["history"].append((state["step"], mean))
            now = time.time()
            print(f"step {state['step']:6d}  loss {mean:.4f}  lr {lr:.2e}  {args.log_every / (now - last_log):.1f} steps/s  "
                  f"{state['seconds'] / 60:.2f} min", flush=True)
            acc, nacc, last_log = 0.0, 0, now
        if state["step"] % args.ckpt_every == 0:
            checkpoint()
    checkpoint()
    print(f"checkpoint: {ckpt}", flush=True)
    print(f"trained {state['step']} steps in all, {state['seconds'] / 60:.2f} min; exporting", flush=True)
    export(model, cfg, args, state, device)


if __name__ == "__main__":
    main()
