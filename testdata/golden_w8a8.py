"""Golden cases for the W8A8 linear (GitHub issue 13): quantize_int8 (a
weight [N,K] quantised per output channel, SmoothQuant's
quantize_weight_per_channel_absmax) and linear_w8a8 (activations
quantised per token the same way, exact integer products with the weight
codes, dequantised, then bias, activation and gate+residual).

The quantiser's own f32 steps are done in float32 exactly as the rule
states them: scale = max|row| / 127 (f32), code = round(v / scale) half
to even (torch.round, one f32 division), clamped to [-127, 127], 0 for a
zero row. The integer sums are exact (int64); the dequantisation, bias,
activation and gate+residual are float64, with each stored intermediate
rounded to x's dtype as PyTorch stores it (the linear output before the
activation; gate * h before the residual add), and the result cast to x's
dtype. Codes are stored as int32 (in.wq, out.q), scales as f32.
Shapes are small and odd on purpose.
"""

DTYPES = ["f32", "bf16", "f16"]


def _dt(torch, name):
    return {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[name]


def _randn(torch, shape, std=1.0, mean=0.0):
    return torch.randn(shape, dtype=torch.float64) * std + mean


def quant_rows(torch, x):
    """Per-row symmetric int8 of x [..., K]: int32 codes (x's shape) and f32 scales [rows]."""
    k = x.shape[-1]
    v = x.float().reshape(-1, k)
    scale = v.abs().amax(dim=1) / torch.tensor(127.0, dtype=torch.float32)
    safe = torch.where(scale == 0, torch.ones_like(scale), scale)
    q = torch.round(v / safe[:, None]).clamp(-127, 127)
    q = torch.where(scale[:, None] == 0, torch.zeros_like(q), q)
    return q.to(torch.int32).reshape(x.shape), scale


def act_ref(torch, h, fn):
    F = torch.nn.functional
    if fn == "gelu":
        return F.gelu(h)
    if fn == "gelu_tanh":
        return F.gelu(h, approximate="tanh")
    if fn == "silu":
        return F.silu(h)
    if fn == "relu":
        return F.relu(h)
    raise ValueError(fn)


def linear_w8a8_ref(torch, x, wq, ws, b, act, gate, residual):
    """y in x's dtype: act(h) or residual + gate * h, h = acc * sx * sw + b."""
    dt = x.dtype
    xq, sx = quant_rows(torch, x)
    k = x.shape[-1]
    acc = xq.reshape(-1, k).long() @ wq.long().t()  # exact
    h = acc.double() * sx.double()[:, None] * ws.double()[None, :]
    if b is not None:
        h = h + b.double()
    h = h.reshape(*x.shape[:-1], wq.shape[0])
    if act:
        return act_ref(torch, h.to(dt).double(), act).to(dt)
    if gate is not None:
        hr = h.to(dt).double()
        g = gate.double()
        if g.dim() == 2 and hr.dim() == 3:  # [B,N]: per batch
            g = g[:, None, :]
        gh = (g * hr).to(dt).double()
        return (residual.double() + gh).to(dt)
    return h.to(dt)


def generate(emit, torch):
    # quantize_int8: weights of every float dtype, a zero row, exact ties.
    for dn in DTYPES:
        dt = _dt(torch, dn)
        for i, (n, k) in enumerate([(1, 4), (5, 12), (7, 36), (33, 260), (64, 96)]):
            w = _randn(torch, (n, k), 0.05).to(dt)
            if i == 2:
                w[3] = 0
            q, s = quant_rows(torch, w)
            emit(f"quantize_int8_{dn}_{n}x{k}", "quantize_int8", {}, {"w": w}, {"q": q, "scale": s},
                 note="q: int8 codes stored as int32")
    ties = torch.tensor([[127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5]], dtype=torch.float32)
    q, s = quant_rows(torch, ties)
    emit("quantize_int8_f32_ties", "quantize_int8", {}, {"w": ties}, {"q": q, "scale": s},
         note="scale 1: the halves round to even")

    # linear_w8a8: x [B,S,K] or [M,K], weight codes of a random weight.
    shapes = [((3, 8), 5), ((2, 3, 36), 7), ((17, 64), 16), ((2, 33, 96), 48), ((1, 70, 128), 64)]
    for dn in ["f32", "bf16"]:
        dt = _dt(torch, dn)
        for i, (xs, n) in enumerate(shapes):
            k = xs[-1]
            x = _randn(torch, xs).to(dt)
            wq, ws = quant_rows(torch, _randn(torch, (n, k), 0.05).float())
            b = _randn(torch, (n,), 0.5).to(dt)
            out = (*xs[:-1], n)
            variants = [("plain", None, None, None, None), ("bias", b, None, None, None),
                        ("gelu_tanh", b, "gelu_tanh", None, None), ("silu", None, "silu", None, None)]
            gshape = {1: (xs[0], n), 3: out, 4: (xs[0], 1, n)}.get(i, (n,))
            variants.append(("gate", b, None, _randn(torch, gshape, 0.7).to(dt), _randn(torch, out).to(dt)))
            for name, bias, act, gate, res in variants:
                attrs = {"activation": act} if act else {}
                ins = {"x": x, "wq": wq, "wscale": ws, "bias": bias, "gate": gate, "residual": res}
                y = linear_w8a8_ref(torch, x, wq, ws, bias, act, gate, res)
                emit(f"linear_w8a8_{dn}_{i}_{name}", "linear_w8a8", attrs, ins, {"y": y},
                     note="wq: int8 codes stored as int32")
