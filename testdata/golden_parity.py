"""Golden cases for the operators beyond TeleFuser's docs (shared/spec/ops.md,
"Operators beyond TeleFuser's docs"): scale_shift_gate_select,
layer_norm_scale_shift_gate_select, residual_layer_norm_scale_shift_gate_select,
merge_attn_states, quantize_int8_per_block, linear_nf4, linear_nf4_compressed, moe
and moe_fp8.

Semantics are TeleFuser's code (telefuser/kernel/triton/scale_shift.py,
merge_attn_states.py, quant_per_block.py, telefuser/ops/bnb_nf4_linear.py,
telefuser/ops/moe.py). Expected outputs are float64 math on the stored
inputs, cast to the output dtype at the end, except where TeleFuser's kernel
itself decides a result by an f32 operation (the int8 quantiser's scale and
quotient): those steps are done in float32 exactly as the kernel does them.
Shapes are small and odd on purpose. Index tensors are stored as uint8
(safetensors' BOOL is not in the spec's dtype list), int8 codes as int32.
"""
import math

DTYPES = ["f32", "f16", "bf16"]
LOG2E = 1.44269504  # TeleFuser's per_block_int8 constant


def _dt(torch, name):
    return {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[name]


def _randn(torch, shape, std=1.0, mean=0.0):
    return torch.randn(shape, dtype=torch.float64) * std + mean


# ---------------------------------------------------------------------------
# Per-token modulation select (scale_shift.py)
# ---------------------------------------------------------------------------

def layer_norm64(torch, r, w, b, eps):
    """LayerNorm over the last dim in float64, biased variance, affine unrounded."""
    mean = r.mean(dim=-1, keepdim=True)
    var = ((r - mean) ** 2).mean(dim=-1, keepdim=True)
    h = (r - mean) / torch.sqrt(var + eps)
    if w is not None:
        h = h * w.double()
    if b is not None:
        h = h + b.double()
    return h


def select_ref(torch, h, sets, index, out_dtype):
    """y = h*(1+scale)+shift and the gate, with the set index picks per token.

    h is float64 [B,L,C]; sets is (scale0, shift0, gate0, scale1, shift1, gate1),
    each [B,C]; index [B,L] (nonzero picks set 1)."""
    pick = (index != 0)[:, :, None]
    s0, h0, g0, s1, h1, g1 = [t.double()[:, None, :] for t in sets]
    scale = torch.where(pick, s1, s0)
    shift = torch.where(pick, h1, h0)
    gate = torch.where(pick, g1, g0).expand(h.shape)
    return (h * (1.0 + scale) + shift).to(out_dtype), gate.to(out_dtype)


def _index(torch, B, L, kind):
    if kind == "zeros":
        return torch.zeros(B, L, dtype=torch.uint8)
    if kind == "ones":
        return torch.ones(B, L, dtype=torch.uint8)
    if kind == "half":  # TeleFuser's tests: first half 0, second half 1
        i = torch.zeros(B, L, dtype=torch.uint8)
        i[:, L // 2:] = 1
        return i
    return torch.randint(0, 2, (B, L), dtype=torch.uint8)


def gen_select(emit, torch):
    shapes = [(1, 1, 1, "ones"), (2, 7, 5, "random"), (2, 16, 64, "half"), (3, 5, 12, "zeros"), (1, 3, 520, "random")]
    for dn in DTYPES:
        dt = _dt(torch, dn)
        for i, (B, L, C, kind) in enumerate(shapes):
            x = _randn(torch, (B, L, C), 2, 0.5).to(dt)
            sets = tuple(_randn(torch, (B, C)).to(dt) for _ in range(6))
            index = _index(torch, B, L, kind)
            names = ("scale0", "shift0", "gate0", "scale1", "shift1", "gate1")
            ins = dict(zip(names, sets))
            ins["index"] = index
            y, g = select_ref(torch, x.double(), sets, index, dt)
            emit(f"scale_shift_gate_select_{dn}_{i}", "scale_shift_gate_select", {},
                 dict(ins, x=x), {"y": y, "gate": g}, note=f"index {kind}")
            for affine in ("none", "weight", "weight_bias"):
                w = _randn(torch, (C,), 0.5, 1).to(dt) if affine != "none" else None
                b = _randn(torch, (C,), 0.5).to(dt) if affine == "weight_bias" else None
                eps = 1e-6 if i % 2 == 0 else 1e-5
                y, g = select_ref(torch, layer_norm64(torch, x.double(), w, b, eps), sets, index, dt)
                emit(f"layer_norm_scale_shift_gate_select_{dn}_{i}_{affine}", "layer_norm_scale_shift_gate_select",
                     {"eps": eps}, dict(ins, x=x, weight=w, bias=b), {"y": y, "gate": g}, note=f"index {kind}")
                res = _randn(torch, (B, L, C)).to(dt)
                rg = _randn(torch, (B, L, C)).to(dt)
                r = res.double() + rg.double() * x.double()
                y, g = select_ref(torch, layer_norm64(torch, r, w, b, eps), sets, index, dt)
                emit(f"residual_layer_norm_scale_shift_gate_select_{dn}_{i}_{affine}",
                     "residual_layer_norm_scale_shift_gate_select", {"eps": eps},
                     dict(ins, x=x, residual=res, residual_gate=rg, weight=w, bias=b),
                     {"y": y, "residual_out": r.to(dt), "gate": g}, note=f"index {kind}")
    # TeleFuser's test_gated_residual: x = 1, residual = 0, gate = 1 -> a
    # constant row, whose LayerNorm is 0; sets of zeros and ones, mixed index.
    B, L, C = 2, 16, 64
    bf = torch.bfloat16
    x = torch.ones(B, L, C, dtype=bf)
    zeros, ones = torch.zeros(B, C, dtype=bf), torch.ones(B, C, dtype=bf)
    sets = (zeros, zeros, zeros, ones, ones, ones)
    index = _index(torch, B, L, "half")
    ins = dict(zip(("scale0", "shift0", "gate0", "scale1", "shift1", "gate1"), sets))
    r = torch.zeros(B, L, C, dtype=torch.float64) + 1.0 * x.double()
    y, g = select_ref(torch, layer_norm64(torch, r, None, None, 1e-6), sets, index, bf)
    emit("residual_layer_norm_scale_shift_gate_select_constant_row", "residual_layer_norm_scale_shift_gate_select",
         {"eps": 1e-6}, dict(ins, x=x, residual=torch.zeros(B, L, C, dtype=bf), residual_gate=torch.ones(B, L, C, dtype=bf), index=index),
         {"y": y, "residual_out": r.to(bf), "gate": g}, note="TeleFuser test_gated_residual: constant row")


# ---------------------------------------------------------------------------
# merge_attn_states (merge_attn_states.py)
# ---------------------------------------------------------------------------

def merge_ref(torch, po, pl, so, sl):
    """TeleFuser's merge: w = sigmoid(s - p), out = po - w*(po - so),
    lse = p - log(sigmoid(p - s)) = max(p,s) + log1p(exp(-|p-s|)).
    An infinite lse (either sign) is an empty state: the other passes
    through; both empty give po and -inf (TeleFuser's formula gives NaN)."""
    p = pl.double().reshape(-1)
    s = sl.double().reshape(-1)
    pe, se = torch.isinf(p), torch.isinf(s)
    pf = torch.where(pe | se, torch.zeros_like(p), p)  # finite stand-ins keep NaN out of unused branches
    sf = torch.where(pe | se, torch.zeros_like(s), s)
    w = torch.sigmoid(sf - pf)
    lse = torch.maximum(pf, sf) + torch.log1p(torch.exp(-(pf - sf).abs()))
    w = torch.where(pe, torch.ones_like(w), w)
    w = torch.where(se, torch.zeros_like(w), w)  # both empty: weight 0, out = prev
    lse = torch.where(pe, s, lse)
    lse = torch.where(se, p, lse)
    lse = torch.where(pe & se, torch.full_like(lse, -math.inf), lse)
    D = so.shape[-1]
    pod, sod = po.double().reshape(-1, D), so.double().reshape(-1, D)
    wr = w[:, None]
    out = torch.where(wr == 1, sod, torch.where(wr == 0, pod, pod - wr * (pod - sod)))
    return out.reshape(so.shape).to(so.dtype), lse.reshape(sl.shape).to(sl.dtype)


def gen_merge(emit, torch):
    for dn in DTYPES:
        dt = _dt(torch, dn)
        for i, (B, N, H, D) in enumerate([(1, 1, 1, 1), (2, 3, 5, 7), (1, 5, 3, 16), (2, 4, 2, 128)]):
            for ln in ("f32", dn) if dn != "f32" else ("f32",):
                ldt = _dt(torch, ln)
                po = _randn(torch, (B, N, H, D)).to(dt)
                so = _randn(torch, (B, N, H, D)).to(dt)
                pl = _randn(torch, (B, N, H, 1), 3, 2).to(ldt)
                sl = _randn(torch, (B, N, H, 1), 3, 2).to(ldt)
                if pl.numel() >= 4:  # empty states: prev, suffix, both, and +inf (read as empty)
                    pl.view(-1)[0] = -math.inf
                    sl.view(-1)[1] = -math.inf
                    pl.view(-1)[2] = -math.inf
                    sl.view(-1)[2] = -math.inf
                    sl.view(-1)[3] = math.inf
                o, l = merge_ref(torch, po, pl, so, sl)
                emit(f"merge_attn_states_{dn}_lse_{ln}_{i}", "merge_attn_states", {},
                     {"prev_out": po, "prev_lse": pl, "suff_out": so, "suff_lse": sl}, {"out": o, "lse": l},
                     note="infinite lse = empty state (rows 0-3 when there are four)")


# ---------------------------------------------------------------------------
# quantize_int8_per_block (quant_per_block.py)
# ---------------------------------------------------------------------------

def quant_int8_ref(torch, x, block, sm_scale, smooth, hnd):
    """TeleFuser's quant_per_block_int8_kernel (+ per_block_int8's K smoothing).

    The kernel's own f32 steps are mirrored in float32: v = x.f32 * sm_scale,
    scale = max|v| / 127, t = v / scale, q = trunc(t + 0.5*sign(t)), sign(0)=+1;
    a block whose scale is 0 gets codes 0."""
    xs = x if hnd else x.transpose(1, 2)  # [B,H,L,D]
    if smooth:  # km = k.mean(seq) and k - km, each in k's dtype
        km = xs.double().mean(dim=2, keepdim=True).to(x.dtype)
        xs = (xs.double() - km.double()).to(x.dtype)
    v = xs.float() * torch.tensor(sm_scale, dtype=torch.float32)
    B, H, L, D = v.shape
    nblk = (L + block - 1) // block
    scale = torch.zeros(B, H, nblk, dtype=torch.float32)
    q = torch.zeros(B, H, L, D, dtype=torch.int32)
    c127 = torch.tensor(127.0, dtype=torch.float32)
    for k in range(nblk):
        blk = v[:, :, k * block:(k + 1) * block, :]
        s = blk.abs().amax(dim=(2, 3)) / c127
        scale[:, :, k] = s
        sb = s[:, :, None, None]
        safe = torch.where(sb == 0, torch.ones_like(sb), sb)
        t = torch.where(sb == 0, torch.zeros_like(blk), blk / safe)
        half = torch.where(t >= 0, torch.full_like(t, 0.5), torch.full_like(t, -0.5))
        r = torch.trunc(t + half).clamp(-127, 127)
        q[:, :, k * block:(k + 1) * block, :] = r.to(torch.int32)
    if not hnd:
        q = q.transpose(1, 2)
    return q.contiguous(), scale


def gen_quant_int8(emit, torch):
    cases = [  # (shape as stored, block, q-style sm_scale?, smooth, layout)
        ((1, 1, 1, 4), 128, True, False, "NHD"),
        ((2, 7, 3, 4), 4, False, True, "NHD"),
        ((1, 5, 2, 3), 2, True, False, "NHD"),
        ((2, 13, 3, 5), 64, False, True, "NHD"),
        ((1, 130, 2, 16), 128, True, False, "NHD"),  # TeleFuser's Q: BLKQ 128, sm_scale*log2e
        ((1, 70, 2, 16), 64, False, True, "NHD"),  # TeleFuser's K: BLKK 64, smoothed by its mean
        ((1, 2, 67, 8), 64, False, True, "HND"),
        ((2, 3, 9, 6), 4, True, False, "HND"),
    ]
    for dn in DTYPES:
        dt = _dt(torch, dn)
        for i, (shape, block, qstyle, smooth, layout) in enumerate(cases):
            x = _randn(torch, shape, 2, 0.7).to(dt)
            if i == 3:  # an all-zero block (tokens 0-63 of batch 0): scale 0, codes 0
                x[0] = 0
            D = shape[3]
            sm = D ** -0.5 * LOG2E if qstyle else 1.0
            q, s = quant_int8_ref(torch, x, block, sm, smooth, layout == "HND")
            emit(f"quantize_int8_per_block_{dn}_{i}", "quantize_int8_per_block",
                 {"block_size": block, "sm_scale": sm, "smooth_k": smooth, "tensor_layout": layout},
                 {"x": x}, {"q": q, "scale": s}, note="q: int8 codes stored as int32")


# ---------------------------------------------------------------------------
# linear_nf4 (bnb_nf4_linear.py: bitsandbytes Linear4bit, quant_type="nf4")
# ---------------------------------------------------------------------------

NF4 = [  # bitsandbytes' NF4 codebook (float32 values)
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]


def nf4_quantize(torch, w, blocksize):
    """bitsandbytes' blockwise NF4 of the flattened w: absmax per block (f32),
    v = w * (1/absmax) in f32, code = number of midpoints (f64 midpoints of
    neighbouring codes, rounded to f32) that v exceeds strictly; two codes a
    byte, first element in the high nibble. Returns (packed u8, absmax f32)."""
    flat = w.float().reshape(-1)
    n = flat.numel()
    nb = (n + blocksize - 1) // blocksize
    pad = torch.zeros(nb * blocksize, dtype=torch.float32)
    pad[:n] = flat
    blocks = pad.reshape(nb, blocksize)
    absmax = blocks.abs().amax(dim=1)
    one = torch.tensor(1.0, dtype=torch.float32)
    inv = torch.where(absmax == 0, torch.zeros_like(absmax), one / torch.where(absmax == 0, torch.ones_like(absmax), absmax))
    v = blocks * inv[:, None]
    mids = torch.tensor([(NF4[i] + NF4[i + 1]) / 2 for i in range(15)], dtype=torch.float64).float()
    codes = (v[..., None] > mids).sum(dim=-1)
    codes = torch.where(absmax[:, None] == 0, torch.full_like(codes, 7), codes).reshape(-1)[:n]
    if n % 2:
        codes = torch.cat([codes, torch.zeros(1, dtype=codes.dtype)])
    packed = (codes[0::2] << 4) | codes[1::2]
    return packed.to(torch.uint8), absmax


def nf4_dequantize(torch, packed, absmax, n, blocksize, dtype):
    """NF4[code] * absmax in f32, cast to dtype (bitsandbytes dequantises to
    its compute dtype, here x's)."""
    p = packed.to(torch.int64)
    codes = torch.stack([p >> 4, p & 15], dim=1).reshape(-1)[:n]
    lut = torch.tensor(NF4, dtype=torch.float32)
    scale = absmax.repeat_interleave(blocksize)[:n]
    return (lut[codes] * scale).to(dtype)


def gen_nf4(emit, torch):
    shapes = [((1, 64), 1, True), ((1, 64), 77, False), ((3, 72), 8, True), ((8, 128), 64, False),
              ((9, 64), 13, True), ((33, 100), 5, False), ((2, 7), 3, True), ((2, 3, 64), 24, True)]
    for dn in DTYPES:
        dt = _dt(torch, dn)
        for i, (xshape, N, bias) in enumerate(shapes):
            K = xshape[-1]
            x = _randn(torch, xshape).to(dt)
            w = _randn(torch, (N, K), 1 / math.sqrt(K))
            packed, absmax = nf4_quantize(torch, w, 64)
            if i == 3:  # an all-zero block: absmax 0, every code 0.0
                wz = w.clone()
                wz.view(-1)[:64] = 0
                packed, absmax = nf4_quantize(torch, wz, 64)
            wd = nf4_dequantize(torch, packed, absmax, N * K, 64, dt).reshape(N, K)
            b = _randn(torch, (N,)).to(dt) if bias else None
            y = x.double() @ wd.double().T
            if b is not None:
                y = y + b.double()
            tol = {"atol": 2e-3, "rtol": 2e-3} if dn == "f32" else {}  # products: the spec's f32 bound
            emit(f"linear_nf4_{dn}_{i}", "linear_nf4", {"out_features": N, "blocksize": 64},
                 {"x": x, "weight": packed, "absmax": absmax, "bias": b}, {"y": y.to(dt)},
                 note="weight: packed NF4 codes, flat [ceil(N*K/2)]", **tol)


def dynamic_map(torch):
    """bitsandbytes' create_dynamic_map() (signed, 7 exponent bits, 8 bits):
    for i = 0..6 the midpoints of linspace(0.1, 1, 2^i + 1) (f32) times
    10^(i-6), both signs, then 0 and 1, sorted (f32 [256])."""
    data = []
    for i in range(7):
        b = torch.linspace(0.1, 1, 2 ** i + 1, dtype=torch.float32)
        means = (b[:-1] + b[1:]) / 2.0
        data += ((10 ** (i - 6)) * means).tolist()
        data += (-(10 ** (i - 6)) * means).tolist()
    data += [0, 1.0]
    return torch.tensor(sorted(data), dtype=torch.float32)


def nf4_compress_stats(torch, absmax):
    """compress_statistics=True as bitsandbytes' default backend does it:
    offset = mean(absmax) (f32), then absmax - offset in blocks of 256:
    scale = max|v| (floored at 1e-38), v * (1/scale) clamped to [-1, 1],
    code = bucketize against the map's midpoints. Returns (codes u8, scale
    f32, code f32 [256], offset f32, expanded absmax f32)."""
    code = dynamic_map(torch)
    offset = absmax.mean()
    a = absmax - offset
    n = a.numel()
    nb = (n + 255) // 256
    codes = torch.zeros(n, dtype=torch.int32)
    scale = torch.zeros(nb, dtype=torch.float32)
    bounds = (code[:-1] + code[1:]) / 2
    for b in range(nb):
        blk = a[b * 256:(b + 1) * 256]
        m = blk.abs().max().clamp(min=1e-38)
        scale[b] = m
        v = torch.clamp(blk * (1.0 / m), -1, 1)
        codes[b * 256:(b + 1) * 256] = torch.bucketize(v, bounds, out_int32=True)
    expanded = code[codes.long()] * scale.repeat_interleave(256)[:n] + offset
    return codes.to(torch.uint8), scale, code, offset, expanded


def gen_nf4_compressed(emit, torch):
    shapes = [((1, 64), 5, True), ((3, 512), 40, False), ((33, 100), 70, True), ((8, 64), 600, False)]
    for dn in DTYPES:
        dt = _dt(torch, dn)
        for i, (xshape, N, bias) in enumerate(shapes):
            K = xshape[-1]
            x = _randn(torch, xshape).to(dt)
            w = _randn(torch, (N, K), 1 / math.sqrt(K))
            w = w * (1 + (torch.arange(N * K) // 64 % 7)).reshape(N, K)  # absmax varying over the blocks
            packed, absmax = nf4_quantize(torch, w, 64)
            codes, scale, code, offset, expanded = nf4_compress_stats(torch, absmax)
            wd = nf4_dequantize(torch, packed, expanded, N * K, 64, dt).reshape(N, K)
            b = _randn(torch, (N,)).to(dt) if bias else None
            y = x.double() @ wd.double().T
            if b is not None:
                y = y + b.double()
            tol = {"atol": 2e-3, "rtol": 2e-3} if dn == "f32" else {}
            emit(f"linear_nf4_compressed_{dn}_{i}", "linear_nf4_compressed",
                 {"out_features": N, "blocksize": 64, "offset": float(offset)},
                 {"x": x, "weight": packed, "absmax_codes": codes, "absmax_scale": scale, "absmax_code": code, "bias": b},
                 {"y": y.to(dt)}, note="NF4 with double-quantised statistics (compress_statistics=True)", **tol)


# ---------------------------------------------------------------------------
# moe (ops/moe.py: route_topk + grouped_expert_forward)
# ---------------------------------------------------------------------------

def route_ref(torch, logits, bias, top_k, groups, top_k_groups, scale):
    """route_topk: scores = sigmoid(logits) in the logits' dtype (f32 here),
    sel = scores + bias (f32), group score = sum of its top min(2, E/G) sel,
    the top_k_groups best groups stay, their top_k largest sel are chosen;
    weights = scores / max(sum, eps) * scale, rounded to f32 at each step.
    Returns (indices [T,k], weights [T,k] f64 of f32 values, margin): margin
    is the smallest gap at a decision, so that callers can refuse near-ties."""
    T, E = logits.shape
    epg = E // groups
    scores = torch.sigmoid(logits.double()).float()
    sel = scores + (bias.float() if bias is not None else 0.0)
    idx = torch.zeros(T, top_k, dtype=torch.int32)
    wts = torch.zeros(T, top_k, dtype=torch.float32)
    margin = math.inf
    eps = torch.finfo(torch.float32).eps
    for t in range(T):
        gv = []
        for g in range(groups):
            v = sorted(sel[t, g * epg:(g + 1) * epg].tolist(), reverse=True)
            gv.append(float(torch.tensor(v[0] + v[1] if epg > 1 else v[0], dtype=torch.float32)))
        order = sorted(range(groups), key=lambda g: (-gv[g], g))
        if top_k_groups < groups:
            margin = min(margin, gv[order[top_k_groups - 1]] - gv[order[top_k_groups]])
        cand = [e for e in range(E) if e // epg in order[:top_k_groups]]
        cand.sort(key=lambda e: (-float(sel[t, e]), e))
        if top_k < len(cand):
            margin = min(margin, float(sel[t, cand[top_k - 1]]) - float(sel[t, cand[top_k]]))
        chosen = cand[:top_k]
        s = scores[t, chosen].double()
        den = max(float(s.sum().float()), eps)
        w = (s / den).float().double() * scale
        idx[t] = torch.tensor(chosen, dtype=torch.int32)
        wts[t] = w.float()
    return idx, wts, margin


def act64(torch, x, fn):
    F = torch.nn.functional
    return {"silu": F.silu, "gelu": F.gelu, "gelu_tanh": lambda v: F.gelu(v, approximate="tanh")}[fn](x)


def expert_pairs(idx, wts):
    """(token, expert, weight) of every routed pair whose weight is not 0."""
    for t in range(idx.shape[0]):
        for k in range(idx.shape[1]):
            w = float(wts[t, k])
            if w != 0:
                yield t, int(idx[t, k]), w


def experts_ref(torch, x, idx, wts, w1, w2, w3, fn):
    """grouped_expert_forward with every stored intermediate in x's dtype."""
    dt = x.dtype
    T, D = x.shape
    y = torch.zeros(T, D, dtype=torch.float64)
    for t, e, w in expert_pairs(idx, wts):
        xr = x[t].double()
        g = (w1[e].double() @ xr).to(dt).double()
        u = (w3[e].double() @ xr).to(dt).double()
        a = act64(torch, g, fn).to(dt).double()
        h = (a * u).to(dt).double()
        o = (w2[e].double() @ h).to(dt).double()
        y[t] += w * o
    return y.to(dt)


MOE_CASES = [  # T, D, I, E, top_k, groups, top_k_groups, bias, activation
    (1, 8, 6, 4, 1, 1, 1, False, "silu"),
    (5, 13, 16, 8, 2, 2, 1, True, "silu"),
    (37, 8, 6, 12, 3, 4, 2, True, "gelu_tanh"),
    (3, 12, 5, 2, 2, 1, 1, False, "silu"),
    (70, 16, 24, 8, 2, 1, 1, True, "silu"),
    (90, 36, 40, 2, 1, 1, 1, False, "silu"),
]


def routed(torch, T, E, k, G, TG, has_bias, scale):
    """A correction bias (or None) and f32 router logits drawn with no
    near-tie at any decision; returns (bias, logits, indices, weights)."""
    bias = (_randn(torch, (E,), 0.1)).float() if has_bias else None
    for _ in range(100):
        logits = _randn(torch, (T, E), 2).float()
        idx, wts, margin = route_ref(torch, logits, bias, k, G, TG, scale)
        if margin > 1e-4:
            return bias, logits, idx, wts
    raise RuntimeError("no tie-free router logits")


def gen_moe(emit, torch):
    for dn in DTYPES:
        dt = _dt(torch, dn)
        for i, (T, D, I, E, k, G, TG, has_bias, fn) in enumerate(MOE_CASES):
            bias, logits, idx, wts = routed(torch, T, E, k, G, TG, has_bias, 1.5)
            x = _randn(torch, (T, D)).to(dt)
            w1 = _randn(torch, (E, I, D), 0.4).to(dt)
            w3 = _randn(torch, (E, I, D), 0.4).to(dt)
            w2 = _randn(torch, (E, D, I), 0.4).to(dt)
            y = experts_ref(torch, x, idx, wts, w1, w2, w3, fn)
            tol = {"atol": 2e-3, "rtol": 2e-3} if dn == "f32" else {}
            emit(f"moe_{dn}_{i}", "moe",
                 {"top_k": k, "num_expert_groups": G, "top_k_groups": TG, "routing_scale": 1.5, "activation": fn},
                 {"x": x, "logits": logits, "correction_bias": bias, "w1": w1, "w2": w2, "w3": w3}, {"y": y},
                 note="router logits f32, drawn with no near-tie; expert intermediates in x's dtype", **tol)


# moe_fp8 (ops/moe.py: quantize_expert_weight_fp8 + fp8_expert_forward)
# ---------------------------------------------------------------------------

FP8_MAX = 448.0


def fp8_rows(torch, v):
    """_quantize_rows_fp8: scale = max(amax, tiny) / 448 in f32, q =
    fp8(clamp(f32(v / scale))); returns the decoded codes (f64) and scales."""
    vf = v.float()
    scale = vf.abs().amax(dim=-1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny) / FP8_MAX
    q = (vf / scale).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
    return q, scale


def fp8_experts_ref(torch, x, idx, wts, w1, w2, w3, s1, s2, s3, fn):
    """fp8_expert_forward with torch._scaled_mm's bf16 outputs, the sums in
    float64: gate = bf16(x_q w1_q * s_x * s1), up likewise, h =
    bf16(bf16(act(gate)) * up) quantised per row, o = bf16(h_q w2_q * s_h * s2)
    in x's dtype, y = sum of weight * o."""
    bf = torch.bfloat16
    dt = x.dtype
    T, D = x.shape
    xq, sx = fp8_rows(torch, x)
    y = torch.zeros(T, D, dtype=torch.float64)
    for t, e, w in expert_pairs(idx, wts):
        xr = xq[t].double()
        sa = float(sx[t, 0])
        g = ((w1[e].double() @ xr) * sa * s1[e].double()).to(bf).double()
        u = ((w3[e].double() @ xr) * sa * s3[e].double()).to(bf).double()
        h = (act64(torch, g, fn).to(bf).double() * u).to(bf)
        hq, sh = fp8_rows(torch, h.reshape(1, -1))
        o = ((w2[e].double() @ hq[0].double()) * float(sh[0, 0]) * s2[e].double()).to(bf).to(dt).double()
        y[t] += w * o
    return y.to(dt)


def gen_moe_fp8(emit, torch):
    for dn in DTYPES:
        dt = _dt(torch, dn)
        for i, (T, D, I, E, k, G, TG, has_bias, fn) in enumerate(MOE_CASES):
            bias, logits, idx, wts = routed(torch, T, E, k, G, TG, has_bias, 1.0)
            x = _randn(torch, (T, D)).to(dt)
            ws = {}
            for name, shape in (("1", (E, I, D)), ("2", (E, D, I)), ("3", (E, I, D))):
                w = _randn(torch, shape, 0.4).to(dt)
                q, sc = fp8_rows(torch, w.reshape(-1, shape[2]))  # quantize_expert_weight_fp8: per output channel
                ws["w" + name], ws["s" + name] = q.reshape(shape), sc.reshape(shape[0], shape[1])
            y = fp8_experts_ref(torch, x, idx, wts, ws["w1"], ws["w2"], ws["w3"], ws["s1"], ws["s2"], ws["s3"], fn)
            emit(f"moe_fp8_{dn}_{i}", "moe_fp8",
                 {"top_k": k, "num_expert_groups": G, "top_k_groups": TG, "activation": fn},
                 {"x": x, "logits": logits, "correction_bias": bias, **ws}, {"y": y},
                 note="E4M3 experts with per-channel f32 scales, activations quantised per row, bf16 intermediates "
                      "(torch._scaled_mm's output); router logits f32 with no near-tie", atol=3e-2, rtol=3e-2)


def generate(emit, torch):
    gen_select(emit, torch)
    gen_merge(emit, torch)
    gen_quant_int8(emit, torch)
    gen_nf4(emit, torch)
    gen_moe(emit, torch)
    # After the cases above, so that their random draws stay as committed.
    gen_moe_fp8(emit, torch)
    gen_nf4_compressed(emit, torch)
