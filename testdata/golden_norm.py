"""Golden cases for rms_norm, layer_norm and fused_scale_shift."""

DTYPES = ["f32", "f16", "bf16"]


def _dt(torch, name):
    return {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[name]


def rms_norm_ref(torch, x, w, b, eps):
    """TeleFuser/diffusers RMSNorm in float64 with the spec's rounding."""
    xd = x.double()
    y = xd * torch.rsqrt(xd.pow(2).mean(-1, keepdim=True) + eps)
    if w is None:
        return y.to(x.dtype)
    half = w.dtype in (torch.float16, torch.bfloat16)
    if half:
        y = y.to(w.dtype).double()
    y = y * w.double()
    if b is not None:
        y = y.to(w.dtype).double() + b.double()
    return y.to(w.dtype)


def layer_norm_ref(torch, x, w, b, eps):
    xd = x.double()
    y = torch.nn.functional.layer_norm(
        xd, (x.shape[-1],), None if w is None else w.double(), None if b is None else b.double(), eps)
    return y.to(x.dtype)


def scale_shift_ref(torch, x, scale, shift, k):
    B, L, C = x.shape

    def expand(t):
        t = t.double()
        if t.dim() == 4:  # [B, F, 1, C]: token l uses frame l // (L // F)
            F = t.shape[1]
            return t.reshape(B, F, C).repeat_interleave(L // F, dim=1)
        if t.dim() == 2:  # [B, C]
            return t[:, None, :]
        return t

    y = x.double() * (k + expand(scale)) + expand(shift)
    return y.to(x.dtype)


def generate(emit, torch):
    shapes = [(2, 3, 64), (4, 77), (1, 5, 1000), (3, 3072), (2, 1), (1, 7, 130)]
    for dn in DTYPES:
        dt = _dt(torch, dn)
        for i, shape in enumerate(shapes):
            D = shape[-1]
            x = (torch.randn(shape, dtype=torch.float64) * 3).to(dt)
            w = (1 + 0.5 * torch.randn(D, dtype=torch.float64)).to(dt)
            b = (0.5 * torch.randn(D, dtype=torch.float64)).to(dt)
            for variant, (ww, bb) in {"plain": (None, None), "w": (w, None), "wb": (w, b)}.items():
                emit(f"rms_norm_{dn}_{i}_{variant}", "rms_norm", {"eps": 1e-5},
                     {"x": x, "weight": ww, "bias": bb}, {"y": rms_norm_ref(torch, x, ww, bb, 1e-5)})
                emit(f"layer_norm_{dn}_{i}_{variant}", "layer_norm", {"eps": 1e-6},
                     {"x": x, "weight": ww, "bias": bb}, {"y": layer_norm_ref(torch, x, ww, bb, 1e-6)})
            # Large magnitude: a big mean for layer_norm, big values for rms_norm.
            xl = (1000 + torch.randn(shape, dtype=torch.float64)).to(dt)
            emit(f"layer_norm_{dn}_{i}_bigmean", "layer_norm", {"eps": 1e-6},
                 {"x": xl, "weight": w, "bias": b}, {"y": layer_norm_ref(torch, xl, w, b, 1e-6)},
                 note="large mean: needs a stable variance")
            xb = (torch.randn(shape, dtype=torch.float64) * 3e3).to(dt)
            emit(f"rms_norm_{dn}_{i}_big", "rms_norm", {"eps": 1e-5},
                 {"x": xb, "weight": w}, {"y": rms_norm_ref(torch, xb, w, None, 1e-5)})
        # fused_scale_shift in every broadcast form, two channel counts.
        for C in (64, 77):
            B, L, F = 2, 6, 3
            forms = {"scalar": (), "c": (C,), "bc": (B, C), "b1c": (B, 1, C), "blc": (B, L, C), "bf1c": (B, F, 1, C)}
            x = (torch.randn(B, L, C, dtype=torch.float64) * 2).to(dt)
            for fname, fshape in forms.items():
                scale = (0.3 * torch.randn(fshape, dtype=torch.float64)).to(dt)
                shift = torch.randn(forms["bc"] if fname == "scalar" else fshape, dtype=torch.float64).to(dt)
                for k in (1.0, 0.0):
                    emit(f"fused_scale_shift_{dn}_C{C}_{fname}_k{int(k)}", "fused_scale_shift",
                         {"scale_constant": k}, {"x": x, "scale": scale, "shift": shift},
                         {"y": scale_shift_ref(torch, x, scale, shift, k)})
        # Rows of 1024 channels or more take the row kernel; 1027 is not a
        # multiple of four, so it also takes the scalar path.
        for C in (1028, 1027):
            B, L, F = 2, 6, 3
            x = torch.randn(B, L, C, dtype=torch.float64).to(dt)
            for fname, fshape in {"bc": (B, C), "bf1c": (B, F, 1, C)}.items():
                scale = (0.3 * torch.randn(fshape, dtype=torch.float64)).to(dt)
                shift = torch.randn(fshape, dtype=torch.float64).to(dt)
                emit(f"fused_scale_shift_{dn}_C{C}_{fname}_rows", "fused_scale_shift",
                     {"scale_constant": 1.0}, {"x": x, "scale": scale, "shift": shift},
                     {"y": scale_shift_ref(torch, x, scale, shift, 1.0)})
        # f32 scale and shift on a half x, as TeleFuser passes them.
        x = torch.randn(2, 8, 32, dtype=torch.float64).to(dt)
        scale = 0.2 * torch.randn(2, 1, 32)
        shift = torch.randn(2, 32)
        emit(f"fused_scale_shift_{dn}_mixed", "fused_scale_shift", {"scale_constant": 1.0},
             {"x": x, "scale": scale, "shift": shift}, {"y": scale_shift_ref(torch, x, scale, shift, 1.0)})
