"""Golden cases for attention, block_sparse_attention, radial_mask and
local_sparse_attention (ops/golden/attention.go runs them).

References compute in float64 from the stored inputs and cast to the
output dtype at the end. The radial mask is a line-by-line PyTorch port of
TeleFuser's gen_log_mask_shrinked (telefuser/ops/attention/sparse_patterns.py),
with one deliberate difference: where the shrunk mask of a frame pair
reaches past the final mask (TeleFuser raises a shape error there) only the
overlap is ORed in. Local sparse attention is a port of TeleFuser's
local_sparse_attention without the KV cache (generate_draft_block_mask
path, batch 1).
"""
import math

DT = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}


def _dt(torch, name):
    return getattr(torch, DT[name])


def _rand(torch, shape, dt, std=1.0):
    return (torch.randn(shape, dtype=torch.float64) * std).to(dt)


def attention_ref(torch, q, k, v, causal=False, scale=None, allowed=None):
    """q [B,Sq,H,D], k, v [B,Sk,Hk,D] (BSND); allowed: bool [B or 1, H or 1, Sq, Sk] or None.
    A query row that sees no key outputs zeros."""
    B, Sq, H, D = q.shape
    Sk, Hk = k.shape[1], k.shape[2]
    if scale is None:
        scale = 1.0 / math.sqrt(D)
    qd = q.double().transpose(1, 2)
    kd = k.double().transpose(1, 2).repeat_interleave(H // Hk, dim=1)
    vd = v.double().transpose(1, 2).repeat_interleave(H // Hk, dim=1)
    s = (qd @ kd.transpose(-1, -2)) * scale
    ok = torch.ones(1, 1, Sq, Sk, dtype=torch.bool)
    if causal:
        i = torch.arange(Sq).view(-1, 1)
        j = torch.arange(Sk).view(1, -1)
        ok = ok & (j <= i + (Sk - Sq))
    if allowed is not None:
        ok = ok & allowed
    s = s.masked_fill(~ok, float("-inf"))
    p = torch.softmax(s, dim=-1)
    p = torch.where(torch.isnan(p), torch.zeros_like(p), p)
    o = (p @ vd).transpose(1, 2)
    return o.to(q.dtype).contiguous()


def expand_block_mask(torch, mask, bq, bk, Sq, Sk):
    """[nqb,nkb] / [H,nqb,nkb] / [B,H,nqb,nkb] block mask -> bool [B|1, H|1, Sq, Sk]."""
    m = mask.bool()
    while m.dim() < 4:
        m = m.unsqueeze(0)
    m = m.repeat_interleave(bq, dim=2)[:, :, :Sq].repeat_interleave(bk, dim=3)[:, :, :, :Sk]
    return m


# ---- radial mask: port of TeleFuser's sparse_patterns.py ----

def shrink_mask_strict(torch, mask, block_size=128):
    seqlen = mask.shape[0]
    block_num = seqlen // block_size
    mask = mask[: block_num * block_size, : block_num * block_size]
    mask = mask.reshape(block_num, block_size, block_num, block_size)
    col_densities = mask.sum(dim=1) / block_size
    non_zero_densities = col_densities > 0
    high_density_cols = col_densities > 1 / 3
    frac_high = high_density_cols.sum(dim=-1) / (non_zero_densities.sum(dim=-1) + 1e-9)
    block_mask = frac_high > 0.6
    block_mask[0] = True
    block_mask[-1] = True
    return block_mask


def get_diagonal_split_mask(torch, i, j, token_per_frame):
    dist = abs(i - j)
    group = dist.bit_length()
    threshold = 128
    decay_length = 2 ** token_per_frame.bit_length() / 2 ** group
    if decay_length >= threshold:
        return torch.ones((token_per_frame, token_per_frame), dtype=torch.bool)
    split_factor = int(threshold / decay_length)
    if dist % split_factor == 0:
        return torch.ones((token_per_frame, token_per_frame), dtype=torch.bool)
    return torch.zeros((token_per_frame, token_per_frame), dtype=torch.bool)


def get_window_width(i, j, token_per_frame, decay_factor, block_size):
    dist = abs(i - j)
    if dist <= 1:
        return token_per_frame
    group = dist.bit_length()
    decay_length = 2 ** token_per_frame.bit_length() / 2 ** group * decay_factor
    return max(decay_length, block_size)


def radial_mask(torch, s, video_token_num, num_frame, block_size=128, decay_factor=1.0, model_type="wan"):
    final_mask = torch.zeros((s // block_size, s // block_size), dtype=torch.bool)
    token_per_frame = video_token_num // num_frame
    video_blocks = video_token_num // block_size
    final_mask[video_blocks:] = True
    final_mask[:, video_blocks:] = True
    col_idx = torch.arange(0, token_per_frame).view(1, -1)
    row_idx = torch.arange(0, token_per_frame).view(-1, 1)
    for i in range(num_frame):
        for j in range(num_frame):
            if j == 0 and model_type == "wan":
                local_mask = torch.ones((token_per_frame, token_per_frame), dtype=torch.bool)
            else:
                window = get_window_width(i, j, token_per_frame, decay_factor, block_size)
                local_mask = torch.abs(col_idx - row_idx) <= window
                local_mask = torch.logical_and(local_mask, get_diagonal_split_mask(torch, i, j, token_per_frame))
            row_offset = (i * token_per_frame) % block_size
            col_offset = (j * token_per_frame) % block_size
            pad_h = row_offset + ((token_per_frame - 1) // block_size + 1) * block_size
            pad_w = col_offset + ((token_per_frame - 1) // block_size + 1) * block_size
            padded = torch.zeros((pad_h, pad_w), dtype=torch.bool)
            padded[row_offset: row_offset + token_per_frame, col_offset: col_offset + token_per_frame] = local_mask
            block_mask = shrink_mask_strict(torch, padded, block_size=block_size)
            row_start = (i * token_per_frame) // block_size
            col_start = (j * token_per_frame) // block_size
            # Clip to the final mask (TeleFuser raises where this matters).
            nr = min(block_mask.shape[0], final_mask.shape[0] - row_start)
            nc = min(block_mask.shape[1], final_mask.shape[1] - col_start)
            if nr <= 0 or nc <= 0:
                continue
            region = final_mask[row_start: row_start + nr, col_start: col_start + nc]
            final_mask[row_start: row_start + nr, col_start: col_start + nc] = torch.logical_or(region, block_mask[:nr, :nc])
    return final_mask


def radial_attention_mask(torch, S, video, frames, bs, decay, model):
    """The mask WebFuser's radial attention uses: radial_mask extended to
    ceil(S/bs) blocks with the partial last block row and column on."""
    m = radial_mask(torch, S, video, frames, bs, decay, model)
    if S % bs:
        n = m.shape[0]
        e = torch.ones((n + 1, n + 1), dtype=torch.bool)
        e[:n, :n] = m
        m = e
    return m


# ---- local sparse attention: port of TeleFuser's local_sparse_attn.py ----

def build_local_block_mask(torch, block_h, block_w, win_h, win_w):
    r = torch.arange(block_h)
    c = torch.arange(block_w)
    YY, XX = torch.meshgrid(r, c, indexing="ij")
    r_all = YY.reshape(-1)
    c_all = XX.reshape(-1)
    r_half, c_half = win_h // 2, win_w // 2
    start_r, end_r = r_all - r_half, r_all - r_half + win_h - 1
    start_c, end_c = c_all - c_half, c_all - c_half + win_w - 1
    in_row = (r_all[None, :] >= start_r[:, None]) & (r_all[None, :] <= end_r[:, None])
    in_col = (c_all[None, :] >= start_c[:, None]) & (c_all[None, :] <= end_c[:, None])
    return in_row & in_col


def window_partition(x, win):
    B, F, H, W, C = x.shape
    wf, wh, ww = win
    x = x.view(B, F // wf, wf, H // wh, wh, W // ww, ww, C)
    x = x.permute(0, 1, 3, 5, 2, 4, 6, 7).contiguous()
    return x.view(-1, wf * wh * ww, C)


def window_reverse(windows, win, orig):
    F, H, W = orig
    wf, wh, ww = win
    nf, nh, nw = F // wf, H // wh, W // ww
    B = windows.size(0) // (nf * nh * nw)
    x = windows.view(B, nf, nh, nw, wf, wh, ww, -1)
    x = x.permute(0, 1, 4, 2, 5, 3, 6, 7).contiguous()
    return x.view(B, F, H, W, -1)


def draft_block_mask(torch, nheads, seqlen, q_w, k_w, topk, local_attn_mask, check_margin=False):
    """generate_draft_block_mask in float64 (batch 1). Returns [H, nb, nb]
    and, with check_margin, the smallest relative gap at the top-k cut."""
    avgpool_q = q_w.mean(dim=1).reshape(q_w.shape[0], nheads, -1)
    q_heads = avgpool_q.permute(1, 0, 2)
    D = avgpool_q.shape[-1]
    avgpool_k = k_w.mean(dim=1).reshape(k_w.shape[0], nheads, -1)
    k_heads = avgpool_k.permute(1, 0, 2)
    scores = torch.einsum("hld,hmd->hlm", q_heads, k_heads) / math.sqrt(D)
    repeat_len = scores.shape[1] // local_attn_mask.shape[0]
    repeat_num = scores.shape[2] // local_attn_mask.shape[1]
    local_mask = local_attn_mask.unsqueeze(1).unsqueeze(0).repeat(repeat_len, 1, repeat_num, 1)
    a, b = local_attn_mask.shape
    local_mask = local_mask.reshape(repeat_len * a, repeat_num * b)
    scores = scores.masked_fill(~local_mask.unsqueeze(0), float("-inf"))
    attn_map = torch.softmax(scores, dim=-1)
    h, L, M = attn_map.shape
    attn_map = attn_map.reshape(h * seqlen, L // seqlen, M)
    loop_num, s1, s2 = attn_map.shape
    flat = attn_map.reshape(loop_num, -1)
    apply_topk = min(flat.shape[1] - 1, topk)
    top = torch.topk(flat, k=apply_topk + 1, dim=1, largest=True).values
    thresholds = top[:, -1:]
    mask = (flat > thresholds).reshape(loop_num, s1, s2).reshape(h, L, M)
    gap = 1.0
    if check_margin and apply_topk >= 1:
        hi, lo = top[:, -2], top[:, -1]
        rel = ((hi - lo) / hi.abs().clamp_min(1e-300))
        rel = torch.where(hi == lo, torch.ones_like(rel), rel)  # exact ties behave the same everywhere
        gap = float(rel.min())
    return mask, gap


def local_sparse_ref(torch, q, k, v, f, h, w, topk, local_range, win=(2, 8, 8)):
    """q, k, v [1,S,H,D] BSND; returns (o [1,S,H,D], mask [1,H,nb,nb] u8)."""
    B, S, H, D = q.shape
    assert B == 1
    qd, kd, vd = (t.double().reshape(B, f, h, w, H * D) for t in (q, k, v))
    q_w, k_w, v_w = (window_partition(t, win) for t in (qd, kd, vd))
    seqlen = f // win[0]
    local = build_local_block_mask(torch, h // win[1], w // win[2], local_range, local_range)
    mask, gap = draft_block_mask(torch, H, seqlen, q_w, k_w, topk, local, check_margin=True)
    bs = win[0] * win[1] * win[2]
    rq, rk, rv = (t.reshape(B, -1, H, D) for t in (q_w, k_w, v_w))  # windowed token order
    allowed = expand_block_mask(torch, mask.unsqueeze(0), bs, bs, S, S)
    o = attention_ref(torch, rq, rk, rv, allowed=allowed).double()
    o = window_reverse(o.reshape(-1, bs, H * D), win, (f, h, w)).reshape(B, S, H, D)
    return o.to(q.dtype), mask.unsqueeze(0).to(torch.uint8), gap


def generate(emit, torch):
    # ---- dense attention ----
    # (B, Sq, Sk, H, Hk, D, causal, dtype, layout, scale)
    dense = [
        (1, 1, 1, 2, 2, 64, False, "f32", "BSND", None),
        (1, 1, 77, 2, 1, 80, False, "f16", "BSND", None),
        (1, 77, 77, 2, 2, 96, False, "bf16", "BNSD", None),
        (1, 77, 77, 3, 1, 128, True, "f16", "BSND", None),
        (1, 77, 77, 2, 2, 64, False, "f32", "BSND", 0.2),
        (1, 300, 300, 1, 1, 64, False, "bf16", "BSND", None),
        (1, 300, 300, 2, 1, 80, True, "f16", "BSND", None),
        (1, 300, 77, 2, 2, 96, False, "bf16", "BNSD", None),
        (1, 77, 300, 2, 2, 64, True, "bf16", "BSND", None),
        (2, 77, 77, 1, 1, 128, False, "f32", "BSND", None),
        (1, 1000, 1000, 1, 1, 64, False, "f16", "BSND", None),
        (1, 1, 1000, 1, 1, 64, False, "bf16", "BSND", None),
        (1, 4096, 4096, 1, 1, 32, False, "f16", "BSND", None),
    ]
    for B, Sq, Sk, H, Hk, D, causal, dn, layout, scale in dense:
        dt = _dt(torch, dn)
        q = _rand(torch, (B, Sq, H, D), dt)
        k = _rand(torch, (B, Sk, Hk, D), dt)
        v = _rand(torch, (B, Sk, Hk, D), dt)
        o = attention_ref(torch, q, k, v, causal=causal, scale=scale)
        attrs = {"causal": causal, "input_layout": layout, "output_layout": layout}
        if scale is not None:
            attrs["scale"] = scale
        ins = {"q": q, "k": k, "v": v}
        if layout == "BNSD":
            ins = {n: t.transpose(1, 2).contiguous() for n, t in ins.items()}
            o = o.transpose(1, 2).contiguous()
        name = f"attention_{dn}_B{B}_Sq{Sq}_Sk{Sk}_H{H}_Hk{Hk}_D{D}" + ("_causal" if causal else "") + \
            (f"_{layout}" if layout != "BSND" else "") + ("_scaled" if scale is not None else "")
        emit(name, "attention", attrs, ins, {"o": o})

    # ---- block-sparse attention ----
    # (S, H, Hk, D, bs, rank, density, dtype, causal)
    sparse = [
        (300, 2, 2, 32, 128, 3, 0.5, "f16", False),
        (256, 2, 1, 64, 64, 2, 0.5, "bf16", False),
        (200, 1, 1, 96, 64, 4, 0.6, "f32", True),
    ]
    for S, H, Hk, D, bs, rank, density, dn, causal in sparse:
        dt = _dt(torch, dn)
        q = _rand(torch, (1, S, H, D), dt)
        k = _rand(torch, (1, S, Hk, D), dt)
        v = _rand(torch, (1, S, Hk, D), dt)
        n = (S + bs - 1) // bs
        shape = {2: (n, n), 3: (H, n, n), 4: (1, H, n, n)}[rank]
        mask = (torch.rand(shape) < density)
        mask.view(-1, n, n)[0, 1, :] = False  # a query block with no live block: zeros
        allowed = expand_block_mask(torch, mask, bs, bs, S, S)
        o = attention_ref(torch, q, k, v, causal=causal, allowed=allowed)
        emit(f"block_sparse_{dn}_S{S}_H{H}_Hk{Hk}_D{D}_bs{bs}_rank{rank}" + ("_causal" if causal else ""),
             "block_sparse_attention", {"block_q": bs, "block_k": bs, "causal": causal},
             {"q": q, "k": k, "v": v, "block_mask": mask.to(torch.uint8)}, {"o": o})

    # ---- radial masks: both model types, frame counts, token counts not divisible by 128 ----
    radial = [
        (1000, 1000, 4, 128, 1.0, "wan"),
        (1000, 900, 3, 128, 1.0, "hunyuan"),
        (2100, 2000, 8, 128, 0.5, "wan"),
        (2100, 2000, 8, 64, 1.0, "hunyuan"),
        (4096, 3840, 16, 128, 1.0, "wan"),
        (5000, 4680, 12, 128, 1.0, "hunyuan"),
        (3300, 3120, 13, 128, 2.0, "wan"),
        (700, 600, 12, 64, 1.0, "wan"),
        (8320, 8190, 21, 128, 1.0, "wan"),
        (12800, 12480, 8, 128, 1.0, "wan"),
        (6500, 6240, 16, 64, 1.0, "hunyuan"),
        (33272, 32760, 21, 128, 1.0, "wan"),  # Wan 480p: 21 frames of 1560 tokens plus text
        (16900, 16380, 21, 128, 0.5, "hunyuan"),
    ]
    for S, video, frames, bs, decay, model in radial:
        m = radial_mask(torch, S, video, frames, bs, decay, model)
        emit(f"radial_mask_{model}_S{S}_V{video}_F{frames}_bs{bs}_d{decay}", "radial_mask",
             {"seq_len": S, "video_tokens": video, "num_frames": frames, "block_size": bs,
              "decay_factor": decay, "model_type": model},
             {}, {"block_mask": m.to(torch.uint8)})

    # ---- block-sparse attention with radial masks ----
    for S, video, frames, bs, model, dn, D in [(1000, 960, 8, 128, "wan", "f16", 32), (1100, 1024, 16, 64, "hunyuan", "bf16", 16),
                                               (1700, 1664, 4, 128, "wan", "f16", 16)]:
        dt = _dt(torch, dn)
        H = 1
        q = _rand(torch, (1, S, H, D), dt)
        k = _rand(torch, (1, S, H, D), dt)
        v = _rand(torch, (1, S, H, D), dt)
        mask = radial_attention_mask(torch, S, video, frames, bs, 1.0, model)
        allowed = expand_block_mask(torch, mask, bs, bs, S, S)
        o = attention_ref(torch, q, k, v, allowed=allowed)
        emit(f"block_sparse_radial_{model}_{dn}_S{S}_F{frames}_bs{bs}", "block_sparse_attention",
             {"block_q": bs, "block_k": bs}, {"q": q, "k": k, "v": v, "block_mask": mask.to(torch.uint8)}, {"o": o},
             note="radial mask (extended to ceil(S/bs) blocks, partial last block on)")

    # ---- local sparse attention ----
    # (f, h, w, H, D, topk, local_range, dtype)
    local = [
        (2, 16, 16, 1, 32, 3, 2, "f32"),
        (4, 16, 16, 1, 32, 10, 3, "bf16"),
        (4, 16, 24, 2, 16, 6, 6, "f16"),
    ]
    for f, h, w, H, D, topk, lr, dn in local:
        dt = _dt(torch, dn)
        S = f * h * w
        for attempt in range(20):
            q = _rand(torch, (1, S, H, D), dt, std=2.0)
            k = _rand(torch, (1, S, H, D), dt, std=2.0)
            v = _rand(torch, (1, S, H, D), dt)
            o, mask, gap = local_sparse_ref(torch, q, k, v, f, h, w, topk, lr)
            if gap > 1e-6:
                break
        else:
            raise RuntimeError("local sparse case without a clear top-k margin")
        emit(f"local_sparse_{dn}_F{f}_H{h}_W{w}_heads{H}_D{D}_top{topk}_lr{lr}", "local_sparse_attention",
             {"frames": f, "height": h, "width": w, "topk": topk, "local_range": lr, "window": [2, 8, 8]},
             {"q": q, "k": k, "v": v}, {"o": o, "block_mask": mask},
             note="TeleFuser local_sparse_attention without KV cache; mask in windowed block order")
