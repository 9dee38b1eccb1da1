"""Golden cases for dit_block, the spec's reference DiT block
(shared/spec/ops.md, "Reference DiT block"):

    m = linear(silu(cond), adaln) ; shift1, scale1, gate1, shift2, scale2, gate2 = split(m, 6)
    h = modulate(rms_norm(x, norm1, eps), shift1, scale1)
    q, k, v = split(linear(h, qkv) reshaped [B,S,3,H,D/H])
    x = x + gate1[:,None] * linear(attention(q, k, v) flattened, proj)
    x = x + gate2[:,None] * feed_forward(modulate(rms_norm(x, norm2, eps), shift2, scale2))

Every expected output is float64 math on the stored (already rounded)
inputs, each stored intermediate rounded to the block's dtype the way
PyTorch stores it (silu(cond), m, the norms, the modulated rows, qkv, the
attention output, each projection, each gate product and each residual
sum), as ops/ref/dit.go does. The feed-forward and linear helpers are
golden_catalog.py's, loaded from beside this file. Shapes are small (about
400 KB of cases in all)."""
import importlib.util
import math
import os

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("golden_catalog_for_dit", os.path.join(_here, "golden_catalog.py"))
_cat = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_cat)

WEIGHTS = ["norm1.weight", "norm2.weight", "adaln.weight", "adaln.bias", "qkv.weight", "qkv.bias",
           "proj.weight", "proj.bias", "ffn.proj_in.weight", "ffn.proj_in.bias", "ffn.proj_out.weight", "ffn.proj_out.bias"]

# (name, dtype, B, S, D, heads, mlp_ratio, activation_fn, eps, biases)
CASES = [
    ("f32_s5_d32_h2_gelu_tanh", "f32", 2, 5, 32, 2, 4.0, "gelu-approximate", 1e-6, True),
    ("f32_s16_d48_h4_swiglu", "f32", 2, 16, 48, 4, 2.0, "swiglu", 1e-5, True),
    ("f32_s5_d32_h4_linear_silu_nobias", "f32", 2, 5, 32, 4, 2.5, "linear-silu", 1e-5, False),
    ("bf16_s16_d32_h4_geglu", "bf16", 2, 16, 32, 4, 4.0, "geglu", 1e-5, True),
    ("bf16_s5_d48_h3_gelu", "bf16", 2, 5, 48, 3, 2.0, "gelu", 1e-6, True),
]


def shapes(D, ratio, kind):
    inner = int(D * ratio)
    rows = 2 * inner if kind in ("geglu", "swiglu") else inner
    return {
        "norm1.weight": (D,), "norm2.weight": (D,),
        "adaln.weight": (6 * D, D), "adaln.bias": (6 * D,),
        "qkv.weight": (3 * D, D), "qkv.bias": (3 * D,),
        "proj.weight": (D, D), "proj.bias": (D,),
        "ffn.proj_in.weight": (rows, D), "ffn.proj_in.bias": (rows,),
        "ffn.proj_out.weight": (D, inner), "ffn.proj_out.bias": (D,),
    }


def attention_bsnd(torch, q, k, v):
    """softmax(q k^T / sqrt(Dh)) v per head in float64; q, k, v [B,S,H,Dh]."""
    qd, kd, vd = (t.double().permute(0, 2, 1, 3) for t in (q, k, v))
    s = (qd @ kd.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    o = torch.softmax(s, dim=-1) @ vd
    return o.permute(0, 2, 1, 3).contiguous().to(q.dtype)


def modulate(n, shift, scale):
    """n * (1 + scale) + shift in float64, rounded to n's dtype once;
    shift and scale are [B,D] rows broadcast over the sequence."""
    return (n.double() * (1 + scale.double()[:, None, :]) + shift.double()[:, None, :]).to(n.dtype)


def gate_residual(res, gate, y):
    """res + round(gate * y), each step rounded to y's dtype."""
    g = (gate.double()[:, None, :] * y.double()).to(y.dtype)
    return (res.double() + g.double()).to(y.dtype)


def dit_ref(torch, x, cond, w, heads, kind, eps):
    B, S, D = x.shape
    a = torch.nn.functional.silu(cond.double()).to(cond.dtype)
    m = _cat.linear_ref(torch, a, w["adaln.weight"], w.get("adaln.bias"))
    shift1, scale1, gate1, shift2, scale2, gate2 = m.chunk(6, dim=-1)
    n1 = _cat.norm_ref(torch, x, w["norm1.weight"], None, eps, "rms_norm")
    h = modulate(n1, shift1, scale1)
    qkv = _cat.linear_ref(torch, h, w["qkv.weight"], w.get("qkv.bias"))
    q, k, v = qkv.reshape(B, S, 3, heads, D // heads).unbind(2)
    o = attention_bsnd(torch, q, k, v).reshape(B, S, D)
    p = _cat.linear_ref(torch, o, w["proj.weight"], w.get("proj.bias"))
    x1 = gate_residual(x, gate1, p)
    n2 = _cat.norm_ref(torch, x1, w["norm2.weight"], None, eps, "rms_norm")
    h2 = modulate(n2, shift2, scale2)
    f = _cat.ff_ref(torch, h2, w["ffn.proj_in.weight"], w.get("ffn.proj_in.bias"),
                    w["ffn.proj_out.weight"], w.get("ffn.proj_out.bias"), kind)
    return gate_residual(x1, gate2, f)


def generate(emit, torch):
    for name, dn, B, S, D, H, ratio, kind, eps, biases in CASES:
        dt = _cat._dt(torch, dn)
        w = {}
        for n, shape in shapes(D, ratio, kind).items():
            if n.endswith(".bias") and not biases:
                continue
            if n.startswith("norm"):
                t = _cat._randn(torch, shape, 0.2, 1.0)
            elif n == "adaln.weight":  # shifts, scales and gates of order 0.5
                t = _cat._randn(torch, shape, 0.5 / math.sqrt(shape[1]))
            elif len(shape) == 2:
                t = _cat._randn(torch, shape, 1 / math.sqrt(shape[1]))
            else:
                t = _cat._randn(torch, shape, 0.1)
            w[n] = t.to(dt)
        x = _cat._randn(torch, (B, S, D)).to(dt)
        cond = _cat._randn(torch, (B, D)).to(dt)
        y = dit_ref(torch, x, cond, w, H, kind, eps)
        inputs = {"x": x, "cond": cond}
        inputs.update(w)
        emit(f"dit_block_{name}", "dit_block",
             {"num_heads": H, "mlp_ratio": ratio, "activation_fn": kind, "eps": eps},
             inputs, {"y": y},
             note=f"B={B} S={S} D={D} H={H} mlp_ratio={ratio} {kind}" + ("" if biases else ", no biases"))
