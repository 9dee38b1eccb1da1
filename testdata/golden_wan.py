"""Golden cases for wan_block, the Wan-style block of models/wan, and
video_dit, the whole class-conditional video DiT of models/videodit.

The reference is models/train/train.py, the PyTorch twin of the Go model
(the same modules, parameter names and host-side conditioning), loaded
from there and run in float64 on the stored f32 inputs; the output is
cast to f32 at the end. Its formulas:

    wan_block:  e = modulation + e0 ([B,6,D]); shift1, scale1, gate1, shift2, scale2, gate2 = e
                h = layer_norm(x) * (1 + scale1) + shift1
                x = x + gate1 * self_attn.o(attention(rope(rms_norm(q(h))), rope(rms_norm(k(h))), v(h)))
                x = x + cross_attn.o(attention(rms_norm(q(norm3(x))), rms_norm(k(ctx)), v(ctx)))
                y = x + gate2 * ffn.2(gelu_tanh(ffn.0(layer_norm(x) * (1 + scale2) + shift2)))
    video_dit:  e = time_embedding(sinusoid(1000 t)) + class_embedding(onehot(class))
                e0 = time_projection(e); ctx = context_embedding(onehot(shape, colour, direction))
                h = blocks(patch_embedding(x), e0, ctx); v = head(h, e)

The rotary tables are Wan's 3-D ones for the token grid (attrs grid and
rope_theta of wan_block; the config's clip and patch for video_dit).
Weights are random: norm weights near 1, modulations N(0, 0.3^2), linear
weights N(0, 1/fan_in), other biases N(0, 0.1^2), as
models/videodit.RandomWeights draws them. Shapes are small (about 250 KB
of cases in all)."""
import importlib.util
import math
import os

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("videodit_train", os.path.join(_here, "..", "models", "train", "train.py"))
_train = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_train)

# wan_block: (name, B, (f, h, w), T context tokens, D, ffn_dim, heads, eps, rope_theta)
BLOCKS = [
    ("f32_b2_grid2x3x2_t3_d32_h2", 2, (2, 3, 2), 3, 32, 64, 2, 1e-6, 10000.0),
    ("f32_b1_grid3x1x5_t1_d48_h4", 1, (3, 1, 5), 1, 48, 72, 4, 1e-5, 500.0),
]

# video_dit: (name, batch of (t, class) with None for the null class, train.py config)
MODELS = [
    ("f32_2x8x12_p1x4x4_d16_h2_l2", [(1.0, 0), (0.375, "last"), (0.0, None)],
     dict(frames=2, height=8, width=12, channels=3, patch=[1, 4, 4], dim=16, ffn_dim=32, num_heads=2, layers=2,
          freq_dim=16, shapes=3, colors=2, directions=2, eps=1e-6, rope_theta=10000.0)),
    ("f32_4x8x8_p2x4x4_d24_h2_l1", [(0.8125, 5), (0.8125, None)],
     dict(frames=4, height=8, width=8, channels=3, patch=[2, 4, 4], dim=24, ffn_dim=40, num_heads=2, layers=1,
          freq_dim=8, shapes=2, colors=2, directions=2, eps=1e-6, rope_theta=10000.0)),
]


def random_weights(torch, module):
    """f32 weights for every persistent tensor of module, by module path."""
    w = {}
    for name, p in module.state_dict().items():
        shape = tuple(p.shape)
        if "norm" in name:
            t = torch.randn(shape, dtype=torch.float64) * 0.2 + 1
        elif name.endswith("modulation"):
            t = torch.randn(shape, dtype=torch.float64) * 0.3
        elif len(shape) == 2:
            t = torch.randn(shape, dtype=torch.float64) / math.sqrt(shape[1])
        else:
            t = torch.randn(shape, dtype=torch.float64) * 0.1
        w[name] = t.float()
    return w


def in_float64(module, w):
    """module in float64 with the f32 weights w, exactly widened."""
    module = module.double()
    module.load_state_dict({k: v.double() for k, v in w.items()})
    return module


def generate(emit, torch):
    with torch.no_grad():
        for name, B, grid, T, D, F, H, eps, theta in BLOCKS:
            blk = _train.WanBlock(D, F, H, eps)
            w = random_weights(torch, blk)
            blk = in_float64(blk, w)
            f, h, wd = grid
            L = f * h * wd
            cos, sin = _train.rope_tables(dict(frames=f, height=h, width=wd, patch=[1, 1, 1], dim=D, num_heads=H, rope_theta=theta))
            x = torch.randn(B, L, D, dtype=torch.float64).float()
            e0 = (torch.randn(B, 6, D, dtype=torch.float64) * 0.5).float()
            ctx = torch.randn(B, T, D, dtype=torch.float64).float()
            y = blk(x.double(), e0.double(), ctx.double(), cos.double(), sin.double()).float()
            inputs = {"x": x, "e0": e0, "context": ctx}
            inputs.update(w)
            emit(f"wan_block_{name}", "wan_block", {"num_heads": H, "eps": eps, "grid": list(grid), "rope_theta": theta},
                 inputs, {"y": y}, note=f"B={B} grid={f}x{h}x{wd} T={T} D={D} ffn={F} H={H}")

        for name, batch, cfg in MODELS:
            model = _train.VideoDiT(cfg)
            w = random_weights(torch, model)
            model = in_float64(model, w)
            nc = _train.num_classes(cfg)
            pt, ph, pw = cfg["patch"]
            L = (cfg["frames"] // pt) * (cfg["height"] // ph) * (cfg["width"] // pw)
            x = torch.randn(len(batch), L, _train.patch_dim(cfg), dtype=torch.float64).float()
            t = torch.tensor([tb for tb, _ in batch], dtype=torch.float32)
            cls = torch.tensor([nc if c is None else nc - 1 if c == "last" else c for _, c in batch], dtype=torch.int32)
            v = model(x.double(), t.double(), cls.long()).float()
            inputs = {"x": x, "t": t, "class": cls}
            inputs.update(w)
            emit(f"video_dit_{name}", "video_dit", cfg, inputs, {"v": v},
                 note=f"B={len(batch)} L={L} classes {cls.tolist()} (null {nc}) at t {t.tolist()}")
