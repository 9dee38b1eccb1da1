"""Golden cases for the operator catalog: activation, gated_activation,
linear, feed_forward, ada_layer_norm_continuous, rotary, quantize_fp8 and
linear_fp8 (shared/spec/ops.md). Every expected output is float64 math on
the stored (already rounded) inputs, each stored intermediate rounded to
its dtype the way PyTorch stores it, and the result cast at the end.
Shapes are small and odd on purpose."""
import math

DTYPES = ["f32", "f16", "bf16"]
ACTS = ["gelu", "gelu_tanh", "silu", "fp32_silu", "approx_gelu", "relu", "mish"]
FF_KINDS = ["gelu", "gelu-approximate", "geglu", "geglu-approximate", "swiglu", "linear-silu"]
FP8_MAX = 448.0


def _dt(torch, name):
    return {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[name]


def _randn(torch, shape, std=1.0, mean=0.0):
    return torch.randn(shape, dtype=torch.float64) * std + mean


def act_ref(torch, xd, fn):
    """Activation in float64 (xd already float64)."""
    F = torch.nn.functional
    if fn == "gelu":
        return F.gelu(xd)
    if fn == "gelu_tanh":
        return F.gelu(xd, approximate="tanh")
    if fn in ("silu", "fp32_silu"):
        return F.silu(xd)
    if fn == "approx_gelu":
        return xd * torch.sigmoid(1.702 * xd)
    if fn == "relu":
        return F.relu(xd)
    if fn == "mish":
        return F.mish(xd)
    raise ValueError(fn)


def gated_ref(torch, h, fn):
    """act(first half) rounded to h's dtype, times the second half."""
    g, u = h.double().chunk(2, dim=-1)
    a = act_ref(torch, g, fn).to(h.dtype).double()
    return (a * u).to(h.dtype)


def linear_ref(torch, x, w, b):
    y = x.double() @ w.double().T
    if b is not None:
        y = y + b.double()
    return y.to(x.dtype)


def ff_ref(torch, x, inw, inb, outw, outb, kind):
    h = linear_ref(torch, x, inw, inb)
    if kind == "gelu":
        h = act_ref(torch, h.double(), "gelu").to(x.dtype)
    elif kind == "gelu-approximate":
        h = act_ref(torch, h.double(), "gelu_tanh").to(x.dtype)
    elif kind == "geglu":
        h = gated_ref(torch, h, "gelu")
    elif kind == "geglu-approximate":  # TeleFuser builds ApproximateGELU: not gated
        h = act_ref(torch, h.double(), "approx_gelu").to(x.dtype)
    elif kind == "swiglu":
        h = gated_ref(torch, h, "silu")
    elif kind == "linear-silu":
        h = act_ref(torch, h.double(), "silu").to(x.dtype)
    return linear_ref(torch, h, outw, outb)


def norm_ref(torch, x, w, b, eps, norm_type):
    xd = x.double()
    if norm_type == "layer_norm":
        y = torch.nn.functional.layer_norm(
            xd, (x.shape[-1],), None if w is None else w.double(), None if b is None else b.double(), eps)
        return y.to(x.dtype)
    y = xd * torch.rsqrt(xd.pow(2).mean(-1, keepdim=True) + eps)
    if w is None:
        return y.to(x.dtype)
    if w.dtype in (torch.float16, torch.bfloat16):
        y = y.to(w.dtype).double()
    y = y * w.double()
    if b is not None:
        y = y.to(w.dtype).double() + b.double()
    return y.to(w.dtype)


def adaln_ref(torch, x, cond, lw, lb, nw, nb, eps, norm_type):
    D = x.shape[-1]
    a = torch.nn.functional.silu(cond.double()).to(cond.dtype)
    emb = linear_ref(torch, a, lw, lb)
    scale, shift = emb[:, :D].double(), emb[:, D:].double()
    n = norm_ref(torch, x, nw, nb, eps, norm_type)
    return (n.double() * (1 + scale[:, None, :]) + shift[:, None, :]).to(n.dtype)


def rotary_ref(torch, x, cos, sin, interleaved):
    D = x.shape[-1]
    xd = x.double()
    c, s = cos.double(), sin.double()
    if c.shape[-1] == D:  # full width: interleaved reads column 2i, half-split column i
        c, s = (c[..., ::2], s[..., ::2]) if interleaved else (c[..., : D // 2], s[..., : D // 2])
    c = c.reshape(1, x.shape[1], 1, D // 2)
    s = s.reshape(1, x.shape[1], 1, D // 2)
    if interleaved:
        x0, x1 = xd[..., 0::2], xd[..., 1::2]
        y = torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).flatten(-2)
    else:
        x0, x1 = xd[..., : D // 2], xd[..., D // 2:]
        y = torch.cat([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1)
    return y.to(x.dtype)


def wan_tables(torch, F, H, W, D, theta=10000.0):
    """Wan-style 3-D tables [F*H*W, D/2]: pairs split c-2(c/3), c/3, c/3."""
    c = D // 2
    parts = [c - 2 * (c // 3), c // 3, c // 3]
    f, h, w = torch.meshgrid(torch.arange(F), torch.arange(H), torch.arange(W), indexing="ij")
    pos = [f.reshape(-1).double(), h.reshape(-1).double(), w.reshape(-1).double()]
    angles = []
    for p, q in zip(parts, pos):
        freqs = theta ** (-torch.arange(p, dtype=torch.float64) / p)
        angles.append(q[:, None] * freqs[None, :])
    a = torch.cat(angles, dim=1)
    return torch.cos(a).float(), torch.sin(a).float()


def quant_ref(torch, x, per_tensor, fmax=FP8_MAX, fp8=None):
    """scale = max(absmax, 1e-12) / fmax in f32; q = fp8(clamp(x / scale))."""
    xd = x.double()
    if per_tensor:
        amax = xd.abs().amax().reshape(1, 1)
    else:
        amax = xd.abs().amax(dim=1, keepdim=True)
    scale = (amax.clamp(min=1e-12) / fmax).float()
    q = (xd / scale.double()).clamp(-fmax, fmax).float().to(fp8 or torch.float8_e4m3fn)
    return q, scale


def linear_fp8_ref(torch, x, w, ws, b, per_token):
    dw = w.double() * ws.double()
    if per_token:
        q, s = quant_ref(torch, x, False)
        xin = q.double() * s.double()
    else:
        xin = x.double()
    y = xin @ dw.T
    if b is not None:
        y = y + b.double()
    return y.to(x.dtype)


def generate(emit, torch):
    e4m3 = torch.float8_e4m3fn
    for dn in DTYPES:
        dt = _dt(torch, dn)
        # Activations: a dense ramp (tails included) and a random odd shape.
        ramp = torch.linspace(-12, 12, 603, dtype=torch.float64).reshape(3, 201).to(dt)
        rnd = _randn(torch, (2, 5, 13), 3).to(dt)
        for fn in ACTS:
            for tag, x in (("ramp", ramp), ("rand", rnd)):
                emit(f"activation_{fn}_{dn}_{tag}", "activation", {"fn": fn}, {"x": x},
                     {"y": act_ref(torch, x.double(), fn).to(dt)})
        for fn in ("gelu", "gelu_tanh", "silu"):
            for i, shape in enumerate([(3, 14), (2, 3, 16), (1, 2)]):
                x = _randn(torch, shape, 2).to(dt)
                emit(f"gated_activation_{fn}_{dn}_{i}", "gated_activation", {"fn": fn}, {"x": x},
                     {"y": gated_ref(torch, x, fn)})
        # Linear: M, N, K of 1, odd, and past a tile.
        for i, (m, n, k, bias) in enumerate([(1, 1, 1, True), (1, 77, 33, False), (77, 5, 100, True),
                                             (3, 8, 1000, True), (65, 130, 31, False), (2, 3, 4097, True)]):
            x = _randn(torch, (m, k)).to(dt)
            w = _randn(torch, (n, k), 1 / math.sqrt(k)).to(dt)
            b = _randn(torch, (n,)).to(dt) if bias else None
            emit(f"linear_{dn}_{i}", "linear", {}, {"x": x, "weight": w, "bias": b},
                 {"y": linear_ref(torch, x, w, b)})
        x3 = _randn(torch, (2, 3, 24)).to(dt)
        w3 = _randn(torch, (10, 24), 0.2).to(dt)
        emit(f"linear_{dn}_batched", "linear", {}, {"x": x3, "weight": w3}, {"y": linear_ref(torch, x3, w3, None)})
        # FeedForward: every kind, TeleFuser defaults (mult 4, bias) and an odd explicit shape.
        for kind in FF_KINDS:
            for tag, (dim, inner, dout, bias) in (("default", (16, 64, 16, True)), ("odd", (7, 9, 5, False))):
                rows = 2 * inner if kind in ("geglu", "swiglu") else inner
                x = _randn(torch, (2, 3, dim)).to(dt)
                inw = _randn(torch, (rows, dim), 1 / math.sqrt(dim)).to(dt)
                outw = _randn(torch, (dout, inner), 1 / math.sqrt(inner)).to(dt)
                inb = _randn(torch, (rows,), 0.5).to(dt) if bias else None
                outb = _randn(torch, (dout,), 0.5).to(dt) if bias else None
                emit(f"feed_forward_{kind}_{dn}_{tag}", "feed_forward", {"activation_fn": kind},
                     {"x": x, "proj_in.weight": inw, "proj_in.bias": inb, "proj_out.weight": outw, "proj_out.bias": outb},
                     {"y": ff_ref(torch, x, inw, inb, outw, outb, kind)})
        # AdaLayerNormContinuous: both norms, with and without affine norm.
        for norm_type in ("layer_norm", "rms_norm"):
            for tag, (B, S, D, E, affine) in (("plain", (2, 5, 12, 7, False)), ("affine", (1, 3, 9, 16, True))):
                x = _randn(torch, (B, S, D), 2, 0.3).to(dt)
                cond = _randn(torch, (B, E)).to(dt)
                lw = _randn(torch, (2 * D, E), 0.3).to(dt)
                lb = _randn(torch, (2 * D,), 0.2).to(dt)
                nw = _randn(torch, (D,), 0.5, 1).to(dt) if affine else None
                nb = _randn(torch, (D,), 0.5).to(dt) if affine and norm_type == "layer_norm" else None
                emit(f"ada_layer_norm_continuous_{norm_type}_{dn}_{tag}", "ada_layer_norm_continuous",
                     {"eps": 1e-5, "norm_type": norm_type},
                     {"x": x, "cond": cond, "linear.weight": lw, "linear.bias": lb, "norm.weight": nw, "norm.bias": nb},
                     {"y": adaln_ref(torch, x, cond, lw, lb, nw, nb, 1e-5, norm_type)})
        # Rotary: both layouts, half and full-width tables, odd head dims and a Wan 3-D table.
        for i, (B, S, H, D) in enumerate([(2, 5, 3, 16), (1, 7, 2, 6), (2, 4, 3, 2)]):
            x = _randn(torch, (B, S, H, D)).to(dt)
            for full in (False, True):
                a = torch.rand(S, D if full else D // 2, dtype=torch.float64) * 2 * math.pi
                cos, sin = torch.cos(a).float(), torch.sin(a).float()
                for il in (True, False):
                    emit(f"rotary_{dn}_{i}_{'full' if full else 'half'}_{'il' if il else 'split'}", "rotary",
                         {"interleaved": il}, {"x": x, "cos": cos, "sin": sin},
                         {"y": rotary_ref(torch, x, cos, sin, il)})
        cos, sin = wan_tables(torch, 2, 3, 4, 12)
        x = _randn(torch, (1, 24, 2, 12)).to(dt)
        emit(f"rotary_{dn}_wan3d", "rotary", {"interleaved": True}, {"x": x, "cos": cos, "sin": sin},
             {"y": rotary_ref(torch, x, cos, sin, True)}, note="Wan-style 3-D table (F,H,W)=(2,3,4), D=12")
        # FP8 quantisation; an fp8 output may differ by one unit in the last
        # place (E4M3: 1/8 relative, 2^-9 absolute in the subnormals).
        for gran in ("per_token", "per_tensor"):
            for i, shape in enumerate([(3, 77), (1, 1), (5, 6), (4, 300)]):
                x = _randn(torch, shape, 3).to(dt)
                if shape[0] > 1:
                    x[1] = 0  # an all-zero row: scale 1e-12/448
                q, s = quant_ref(torch, x, gran == "per_tensor")
                emit(f"quantize_fp8_{gran}_{dn}_{i}", "quantize_fp8", {"granularity": gran, "format": "e4m3"},
                     {"x": x}, {"q": q, "scale": s},
                     note="fp8 output: one unit in the last place allowed (verify applies the spec's rule)")
        # Linear FP8: weights quantised per output channel (and one per-tensor scale).
        for aq in ("per_token", "none"):
            for i, (m, n, k, per_tensor_w) in enumerate([(5, 7, 33, False), (1, 64, 16, False), (70, 12, 9, True)]):
                x = _randn(torch, (m, k)).to(dt)
                w32 = _randn(torch, (n, k), 0.2)
                wq, ws = quant_ref(torch, w32, per_tensor_w)
                b = _randn(torch, (n,)).to(dt)
                emit(f"linear_fp8_{aq}_{dn}_{i}", "linear_fp8", {"activation_quant": aq},
                     {"x": x, "weight": wq, "weight_scale": ws, "bias": b},
                     {"y": linear_fp8_ref(torch, x, wq, ws, b, aq == "per_token")})
