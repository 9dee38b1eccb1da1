"""TeleFuser's own unit tests as golden cases (the conformance suite).

Every parametrised case of TeleFuser's tests/unit/kernel/test_rmsnorm.py,
test_rotary.py, test_scale_shift.py and tests/unit/ops/test_activations.py,
test_normalization.py becomes one golden case (a few become two or three
files, one per input the test loops over) with the test's shapes, dtypes,
seed (torch.manual_seed(42) where the test sets it; a fixed seed where the
test draws unseeded), special values and the tolerance of its assert (the
loosest where it asserts several outputs). The kernel tests draw their
inputs on CUDA: on the NVIDIA machine this script draws them there too, so
the inputs are TeleFuser's own; elsewhere it draws them on the CPU (same
shapes and seed, other values). Expected outputs come from the test's own
reference function, computed in float64 on the stored inputs and cast to
the output dtype at the end. Where a test asserts only a shape, a dtype or
"no NaN", the case checks the values against that reference (or the spec's
rule where the test file has none), a stronger check.

A case whose main input exceeds ROW_BUDGET elements keeps the first rows
of TeleFuser's own draw (see _keep), so the suite stays about 3 MB.

Cases that check a PyTorch-only property map to Go API checks in
ops/telefuser_conformance_test.go or are not applicable; both lists, with
reasons and the counts, are in testdata/telefuser_conformance.md.
"""
import math

TELEFUSER_CASES = 222  # parametrised cases in the five test files
PORTED = 168  # as golden cases here
API_MAPPED = 21  # as Go API checks (ops/telefuser_conformance_test.go)
NOT_APPLICABLE = 33


def _dev(torch):
    return "cuda" if torch.cuda.is_available() else "cpu"


# A case keeps at most this many elements of its main input. A larger
# input keeps TeleFuser's hidden size, dtype, seed and draw (the full
# tensors are drawn in the test's order, so the values are the test's own)
# and only its first rows: whole sequences while they fit, else the first
# tokens of the first sequence. Rows are independent for these ops (each
# output row reads its own input row, the per-channel vectors, its batch's
# modulation and its position's table row), so the kept rows' expected
# values are the test's. The list of cut cases is in
# testdata/telefuser_conformance.md.
ROW_BUDGET = 4096
# No tensor of a case is larger: the select cases (at most [2,32,128]),
# whose index mixes both sets by halves of the sequence, fit uncut.
MAX_TENSOR = 8192


def _keep(B, S, row):
    """How many batches and positions of a [B, S, row...] input a case
    keeps under ROW_BUDGET, and the note that says so ('' when uncut)."""
    if B * S * row <= ROW_BUDGET:
        return B, S, ""
    r = max(1, ROW_BUDGET // row)
    nb, ns = (r // S, S) if r >= S else (1, r)
    return nb, ns, (f"cut: TeleFuser's input has {B * S} rows of {row} ([{B},{S}]); this case keeps the first "
                    f"{nb * ns} ([{nb},{ns}]) of the same draw; rows are independent for this op")


def _join(*notes):
    return "; ".join(n for n in notes if n)


def _tol(atol, rtol=1e-5):
    """torch.allclose's tolerance (rtol defaults to 1e-5 there)."""
    return {"atol": atol, "rtol": rtol}


# ---------------------------------------------------------------------------
# The tests' reference functions, in float64
# ---------------------------------------------------------------------------

def rms_ref(torch, x, w, b, eps):
    """test_rmsnorm.torch_rms_norm / torch_norm_infer(is_rms_norm=True)."""
    xd = x.double()
    y = xd * torch.rsqrt(xd.pow(2).mean(dim=-1, keepdim=True) + eps)
    if w is not None:
        y = y * w.double()
    if b is not None:
        y = y + b.double()
    return y


def ln_ref(torch, x, w, b, eps):
    """test_rmsnorm.torch_norm_infer(is_rms_norm=False)."""
    xd = x.double()
    mean = xd.mean(dim=-1, keepdim=True)
    var = xd.var(dim=-1, unbiased=False, keepdim=True)
    y = (xd - mean) / torch.sqrt(var + eps)
    if w is not None:
        y = y * w.double()
    if b is not None:
        y = y + b.double()
    return y


def rotary_ref(torch, x, cos, sin):
    """test_rotary.torch_apply_rotary_embedding (interleaved pairs, the only
    pairing TeleFuser's kernel has); a full-width table is read at its even
    columns, as apply_rotary_embedding(interleaved=True) slices it."""
    D = x.shape[-1]
    c, s = cos.double(), sin.double()
    if c.shape[-1] == D:
        c, s = c[..., ::2], s[..., ::2]
    xd = x.double()
    x1, x2 = xd[..., 0::2], xd[..., 1::2]
    c, s = c.unsqueeze(0).unsqueeze(2), s.unsqueeze(0).unsqueeze(2)
    o1 = x1 * c - x2 * s
    o2 = x2 * c + x1 * s
    return torch.stack([o1, o2], dim=-1).flatten(-2)


def scale_shift_ref(torch, x, scale, shift, k=1.0):
    """test_scale_shift.torch_fused_scale_shift with [B,C] broadcast over L."""
    s, h = scale.double(), shift.double()
    if s.dim() == 2:
        s = s[:, None, :]
    if h.dim() == 2:
        h = h[:, None, :]
    return x.double() * (k + s) + h


def select_ref(torch, xhat, sets, index):
    """The select of test_scale_shift's torch_*_gate_select references."""
    pick = index.bool()[:, :, None]
    s0, h0, g0, s1, h1, g1 = [t.double()[:, None, :] for t in sets]
    scale = torch.where(pick, s1, s0)
    shift = torch.where(pick, h1, h0)
    gate = torch.where(pick, g1, g0).expand(xhat.shape)
    return xhat * (1.0 + scale) + shift, gate


# ---------------------------------------------------------------------------
# tests/unit/kernel/test_rmsnorm.py
# ---------------------------------------------------------------------------

def gen_rmsnorm(emit, torch, dev):
    f16, bf16 = torch.float16, torch.bfloat16
    dn = {f16: "f16", bf16: "bf16"}
    # TestRMSNorm::test_rms_norm_correctness: 2*2*3*2 cases
    for B in (1, 4):
        for S in (16, 128):
            for H in (64, 256, 1024):
                for dt in (f16, bf16):
                    torch.manual_seed(42)
                    x = torch.randn(B, S, H, dtype=dt, device=dev)
                    w = torch.randn(H, dtype=dt, device=dev)
                    nb, ns, cut = _keep(B, S, H)
                    x = x[:nb, :ns]
                    emit(f"rmsnorm__rms_norm_correctness__{B}_{S}_{H}_{dn[dt]}", "rms_norm", {"eps": 1e-6},
                         {"x": x, "weight": w}, {"y": rms_ref(torch, x, w, None, 1e-6).to(dt)}, **_tol(1e-2, 1e-2),
                         note=cut)
    # test_rms_norm_all_ones: the output must equal the all-ones input.
    x = torch.ones(2, 10, 64, dtype=bf16, device=dev)
    w = torch.ones(64, dtype=bf16, device=dev)
    emit("rmsnorm__rms_norm_all_ones", "rms_norm", {"eps": 1e-6}, {"x": x, "weight": w}, {"y": x}, **_tol(1e-3))
    # test_rms_norm_all_zeros: no NaN; the reference gives zeros.
    x = torch.zeros(2, 10, 64, dtype=bf16, device=dev)
    emit("rmsnorm__rms_norm_all_zeros", "rms_norm", {"eps": 1e-6}, {"x": x, "weight": w},
         {"y": rms_ref(torch, x, w, None, 1e-6).to(bf16)}, **_tol(1e-2, 1e-2), note="TeleFuser asserts no NaN")
    # TestOnePassRMSNorm::test_one_pass_rms_norm_correctness: 2*2*2 cases
    for B in (1, 4):
        for S in (64, 256):
            for H in (512, 2048):
                torch.manual_seed(42)
                x = torch.randn(B, S, H, dtype=bf16, device=dev)
                w = torch.randn(H, dtype=bf16, device=dev)
                nb, ns, cut = _keep(B, S, H)
                x = x[:nb, :ns]
                emit(f"rmsnorm__one_pass_rms_norm_correctness__{B}_{S}_{H}", "rms_norm", {"eps": 1e-6},
                     {"x": x, "weight": w}, {"y": rms_ref(torch, x, w, None, 1e-6).to(bf16)}, **_tol(1e-2, 1e-2),
                     note=cut)
    # TestRMSNormAgainstTorch::test_against_nn_rmsnorm (unseeded there)
    torch.manual_seed(42)
    x = torch.randn(2, 10, 64, dtype=bf16, device=dev)
    w = torch.ones(64, dtype=bf16, device=dev)  # nn.RMSNorm's initial weight
    if hasattr(torch.nn, "RMSNorm"):
        ref = torch.nn.RMSNorm(64, eps=1e-6).double()(x.cpu().double())
    else:  # PyTorch before 2.4: the same formula
        ref = rms_ref(torch, x, None, None, 1e-6)
    emit("rmsnorm__against_nn_rmsnorm", "rms_norm", {"eps": 1e-6}, {"x": x, "weight": w}, {"y": ref.to(bf16)},
         **_tol(1e-2, 1e-2), note="expected: torch.nn.RMSNorm(64, eps=1e-6) in float64")
    # TestNormInfer::test_norm_infer_correctness: 2*2*3*2 cases. The op is
    # norm_infer (one rounding at the end, as the kernel and the test's
    # torch_norm_infer compute in f32), not rms_norm (forward_native's
    # roundings, which RMSNorm with a bias runs even on CUDA).
    for B in (1, 4):
        for S in (16, 128):
            for H in (64, 256, 1024):
                for rms in (True, False):
                    torch.manual_seed(42)
                    x = torch.randn(B, S, H, dtype=bf16, device=dev)
                    w = torch.randn(H, dtype=bf16, device=dev)
                    b = torch.randn(H, dtype=bf16, device=dev)
                    nb, ns, cut = _keep(B, S, H)
                    x = x[:nb, :ns]
                    ref = (rms_ref if rms else ln_ref)(torch, x, w, b, 1e-6)
                    emit(f"rmsnorm__norm_infer_correctness__{B}_{S}_{H}_{'rms' if rms else 'ln'}",
                         "norm_infer", {"eps": 1e-6, "is_rms_norm": rms},
                         {"x": x, "weight": w, "bias": b}, {"y": ref.to(bf16)}, **_tol(1e-2, 1e-2), note=cut)
    # TestNormInfer::test_norm_infer_no_weight (asserts the RMS of the output)
    torch.manual_seed(42)
    x = torch.randn(2, 16, 64, dtype=bf16, device=dev)
    emit("rmsnorm__norm_infer_no_weight", "norm_infer", {"eps": 1e-6, "is_rms_norm": True}, {"x": x},
         {"y": rms_ref(torch, x, None, None, 1e-6).to(bf16)}, **_tol(1e-2, 1e-2),
         note="TeleFuser asserts RMS(y) = 1 within 1e-5; here every element against the reference")


# ---------------------------------------------------------------------------
# tests/unit/kernel/test_rotary.py
# ---------------------------------------------------------------------------

def gen_rotary(emit, torch, dev):
    f16, bf16 = torch.float16, torch.bfloat16
    dn = {f16: "f16", bf16: "bf16"}

    def case(name, x, cos, sin, tol, note=""):
        B, S, H, D = x.shape
        nb, ns, cut = _keep(B, S, H * D)
        x, cos, sin = x[:nb, :ns], cos[:ns], sin[:ns]
        note = _join(note, cut)
        emit(name, "rotary", {"interleaved": True}, {"x": x, "cos": cos, "sin": sin},
             {"y": rotary_ref(torch, x, cos, sin).to(x.dtype)}, note=note, **tol)

    # TestRotaryEmbedding::test_apply_rotary_embedding_correctness: 2*2*2*2*2 cases
    for B in (1, 4):
        for S in (16, 64):
            for H in (8, 16):
                for D in (64, 128):
                    for dt in (f16, bf16):
                        torch.manual_seed(42)
                        x = torch.randn(B, S, H, D, dtype=dt, device=dev)
                        cos = torch.randn(S, D // 2, dtype=dt, device=dev)
                        sin = torch.randn(S, D // 2, dtype=dt, device=dev)
                        case(f"rotary__correctness__{B}_{S}_{H}_{D}_{dn[dt]}", x, cos, sin, _tol(1e-2, 1e-2))
    # test_rotary_embedding_identity: cos = 1, sin = 0 give x back.
    torch.manual_seed(42)
    x = torch.randn(2, 8, 4, 64, dtype=bf16, device=dev)
    emit("rotary__identity", "rotary", {"interleaved": True},
         {"x": x, "cos": torch.ones(8, 32, dtype=bf16, device=dev), "sin": torch.zeros(8, 32, dtype=bf16, device=dev)},
         {"y": x}, **_tol(1e-5))
    # TestRotaryEmbeddingInterleaved: interleaved=True passes full-width tables.
    for il in (False, True):
        torch.manual_seed(42)
        x = torch.randn(2, 8, 4, 64, dtype=bf16, device=dev)
        w = 64 if il else 32
        cos = torch.randn(8, w, dtype=bf16, device=dev)
        sin = torch.randn(8, w, dtype=bf16, device=dev)
        case(f"rotary__interleaved__{il}", x, cos, sin, _tol(1e-2, 1e-2),
             note="TeleFuser asserts shape and no NaN; interleaved only selects the table width")
    # TestRotaryEmbeddingEdgeCases (shape-only asserts there)
    torch.manual_seed(42)
    x = torch.randn(2, 8, 4, 32, dtype=bf16, device=dev)
    case("rotary__small_head_size", x, torch.randn(8, 16, dtype=bf16, device=dev),
         torch.randn(8, 16, dtype=bf16, device=dev), _tol(1e-2, 1e-2), note="TeleFuser asserts the shape")
    torch.manual_seed(42)
    x = torch.randn(32, 16, 8, 64, dtype=bf16, device=dev)
    case("rotary__large_batch", x, torch.randn(16, 32, dtype=bf16, device=dev),
         torch.randn(16, 32, dtype=bf16, device=dev), _tol(1e-2, 1e-2), note="TeleFuser asserts the shape")


# ---------------------------------------------------------------------------
# tests/unit/kernel/test_scale_shift.py
# ---------------------------------------------------------------------------

def gen_scale_shift(emit, torch, dev):
    f16, bf16 = torch.float16, torch.bfloat16
    dn = {f16: "f16", bf16: "bf16"}
    loose = _tol(1e-2, 1e-2)

    def fss(name, x, scale, shift, k=1.0, note=""):
        if x.dim() == 3:
            B, L, C = x.shape
            nb, ns, cut = _keep(B, L, C)
            x = x[:nb, :ns]
            scale, shift = [t if t.dim() < 2 else t[:nb] if t.dim() == 2 else t[:nb, :ns] for t in (scale, shift)]
            note = _join(note, cut)
        emit(name, "fused_scale_shift", {"scale_constant": k}, {"x": x, "scale": scale, "shift": shift},
             {"y": scale_shift_ref(torch, x, scale, shift, k).to(x.dtype)}, note=note, **loose)

    # TestFusedScaleShift::test_fused_scale_shift_2d_scale: 2*2*3*2 cases
    for B in (1, 4):
        for L in (16, 64):
            for C in (64, 256, 512):
                for dt in (f16, bf16):
                    torch.manual_seed(42)
                    x = torch.randn(B, L, C, dtype=dt, device=dev)
                    scale = torch.randn(B, C, dtype=dt, device=dev)
                    shift = torch.randn(B, C, dtype=dt, device=dev)
                    fss(f"scale_shift__2d_scale__{B}_{L}_{C}_{dn[dt]}", x, scale, shift)
    # test_fused_scale_shift_3d_scale: 2*2*2 cases
    for B in (1, 4):
        for L in (64, 128):
            for C in (256, 512):
                torch.manual_seed(42)
                x = torch.randn(B, L, C, dtype=bf16, device=dev)
                scale = torch.randn(B, L, C, dtype=bf16, device=dev)
                shift = torch.randn(B, L, C, dtype=bf16, device=dev)
                fss(f"scale_shift__3d_scale__{B}_{L}_{C}", x, scale, shift)
    # test_fused_scale_shift_scalar and test_fused_scale_shift_with_scale_constant (unseeded there)
    torch.manual_seed(42)
    x = torch.randn(2, 16, 64, dtype=bf16, device=dev)
    fss("scale_shift__scalar", x, torch.tensor(0.5, dtype=bf16, device=dev), torch.tensor(0.1, dtype=bf16, device=dev))
    torch.manual_seed(42)
    x = torch.randn(2, 16, 64, dtype=bf16, device=dev)
    scale = torch.randn(2, 64, dtype=bf16, device=dev)
    shift = torch.randn(2, 64, dtype=bf16, device=dev)
    fss("scale_shift__with_scale_constant", x, scale, shift, k=0.0)

    names = ("scale0", "shift0", "gate0", "scale1", "shift1", "gate1")

    def sel(name, op, x, sets, index, extra=None, xhat=None, outs=None, tol=loose, note=""):
        y, g = select_ref(torch, x.double() if xhat is None else xhat, sets, index)
        ins = dict(zip(names, sets), x=x, index=index.to(torch.uint8))
        ins.update(extra or {})
        out = {"y": y.to(x.dtype), "gate": g.to(x.dtype)}
        out.update(outs or {})
        emit(name, op, {"eps": 1e-6} if op != "scale_shift_gate_select" else {}, ins, out, note=note, **tol)

    def randsets(B, C):
        return tuple(torch.randn(B, C, dtype=bf16, device=dev) for _ in range(6))

    # TestFusedScaleShiftGateSelect
    B, L, C = 2, 16, 64
    for name, idx_fill in (("basic", 0), ("select1", 1)):
        torch.manual_seed(42)
        x = torch.randn(B, L, C, dtype=bf16, device=dev)
        sets = randsets(B, C)
        index = torch.full((B, L), idx_fill, dtype=torch.bool, device=dev)
        sel(f"scale_shift__gate_select_{name}", "scale_shift_gate_select", x, sets, index,
            note="basic: TeleFuser asserts the shapes" if name == "basic" else "")
    torch.manual_seed(42)
    x = torch.randn(B, L, C, dtype=bf16, device=dev)
    z, o = torch.zeros(B, C, dtype=bf16, device=dev), torch.ones(B, C, dtype=bf16, device=dev)
    index = torch.zeros(B, L, dtype=torch.bool, device=dev)
    index[:, L // 2:] = True
    sel("scale_shift__gate_select_mixed", "scale_shift_gate_select", x, (z, z, z, o, o, o), index,
        note="TeleFuser asserts the first half at atol 1e-5, the second at 1e-2; one tolerance here")
    # TestFusedScaleShiftEdgeCases (shape or contiguity asserts there; unseeded)
    for name, (B2, L2, C2) in (("small_tensors", (1, 4, 16)), ("large_hidden_size", (1, 16, 4096)), ("contiguity", (2, 16, 64))):
        torch.manual_seed(42)
        x = torch.randn(B2, L2, C2, dtype=bf16, device=dev)
        scale = torch.randn(B2, C2, dtype=bf16, device=dev)
        shift = torch.randn(B2, C2, dtype=bf16, device=dev)
        fss(f"scale_shift__{name}", x, scale, shift, note="TeleFuser asserts the shape (or contiguity: WebFuser tensors are always dense)")

    # TestFusedLayerNormScaleShiftGateSelect01
    def lnsel(name, x, w, b, sets, index, tol=loose, note=""):
        xhat = ln_ref(torch, x, w, b, 1e-6)
        extra = {k: v for k, v in (("weight", w), ("bias", b)) if v is not None}
        sel(name, "layer_norm_scale_shift_gate_select", x, sets, index, extra=extra, xhat=xhat, tol=tol, note=note)

    for B in (1, 2):
        for L in (16, 32):
            for C in (64, 128):
                torch.manual_seed(42)
                x = torch.randn(B, L, C, dtype=bf16, device=dev)
                sets = randsets(B, C)
                index = torch.zeros(B, L, dtype=torch.bool, device=dev)
                index[:, L // 2:] = True
                lnsel(f"scale_shift__ln_gate_select_basic__{B}_{L}_{C}", x, None, None, sets, index)
    torch.manual_seed(42)
    x = torch.randn(2, 16, 64, dtype=bf16, device=dev)
    w = torch.randn(64, dtype=bf16, device=dev)
    b = torch.randn(64, dtype=bf16, device=dev)
    sets = randsets(2, 64)
    lnsel("scale_shift__ln_gate_select_with_weight_and_bias", x, w, b, sets, torch.zeros(2, 16, dtype=torch.bool, device=dev))
    torch.manual_seed(42)
    x = torch.randn(2, 16, 64, dtype=bf16, device=dev)
    z, o = torch.zeros(2, 64, dtype=bf16, device=dev), torch.ones(2, 64, dtype=bf16, device=dev)
    lnsel("scale_shift__ln_gate_select_set0", x, None, None, (o, z, o, z, o, z), torch.zeros(2, 16, dtype=torch.bool, device=dev),
          note="TeleFuser asserts the gate at atol 1e-3; y is checked too, at 1e-2")

    # TestFusedResidualLayerNormScaleShiftGateSelect01
    def ressel(name, x, res, rg, w, b, sets, index, note=""):
        r = res.double() + rg.double() * x.double()
        xhat = ln_ref(torch, r, w, b, 1e-6)
        extra = {k: v for k, v in (("weight", w), ("bias", b)) if v is not None}
        extra.update(residual=res, residual_gate=rg)
        y, g = select_ref(torch, xhat, sets, index)
        ins = dict(zip(names, sets), x=x, index=index.to(torch.uint8))
        ins.update(extra)
        emit(name, "residual_layer_norm_scale_shift_gate_select", {"eps": 1e-6}, ins,
             {"y": y.to(x.dtype), "residual_out": r.to(x.dtype), "gate": g.to(x.dtype)}, note=note, **loose)

    for B in (1, 2):
        for L in (16, 32):
            for C in (64, 128):
                torch.manual_seed(42)
                x = torch.randn(B, L, C, dtype=bf16, device=dev)
                res = torch.randn(B, L, C, dtype=bf16, device=dev)
                rg = torch.randn(B, L, C, dtype=bf16, device=dev)
                sets = randsets(B, C)
                index = torch.zeros(B, L, dtype=torch.bool, device=dev)
                index[:, L // 2:] = True
                ressel(f"scale_shift__res_ln_gate_select_basic__{B}_{L}_{C}", x, res, rg, None, None, sets, index)
    torch.manual_seed(42)
    x = torch.randn(2, 16, 64, dtype=bf16, device=dev)
    res = torch.randn(2, 16, 64, dtype=bf16, device=dev)
    rg = torch.randn(2, 16, 64, dtype=bf16, device=dev)
    w = torch.randn(64, dtype=bf16, device=dev)
    b = torch.randn(64, dtype=bf16, device=dev)
    sets = randsets(2, 64)
    ressel("scale_shift__res_ln_gate_select_with_weight_and_bias", x, res, rg, w, b, sets, torch.zeros(2, 16, dtype=torch.bool, device=dev))
    z = torch.zeros(2, 64, dtype=bf16, device=dev)
    ressel("scale_shift__res_ln_gate_select_gated_residual", torch.ones(2, 16, 64, dtype=bf16, device=dev),
           torch.zeros(2, 16, 64, dtype=bf16, device=dev), torch.ones(2, 16, 64, dtype=bf16, device=dev), None, None,
           (z, z, z, z, z, z), torch.zeros(2, 16, dtype=torch.bool, device=dev),
           note="TeleFuser asserts residual_out = 1 at atol 1e-3; a constant row normalises to 0")


# ---------------------------------------------------------------------------
# tests/unit/ops/test_activations.py (the others map to Go API checks)
# ---------------------------------------------------------------------------

def gen_activations(emit, torch):
    silu = torch.nn.functional.silu
    # TestFP32SiLU::test_forward_dtype_preservation: one file per dtype it loops over.
    for dt, dn in ((torch.float32, "f32"), (torch.float16, "f16"), (torch.bfloat16, "bf16")):
        torch.manual_seed(0)
        x = torch.randn(2, 10, 64, dtype=dt)
        emit(f"activations__fp32_silu_dtype_preservation__{dn}", "activation", {"fn": "fp32_silu"}, {"x": x},
             {"y": silu(x.double()).to(dt)}, note="TeleFuser asserts shape and dtype")
    # TestFP32SiLU::test_forward_computation
    x = torch.tensor([0.0, 1.0, -1.0, 2.0, -2.0])
    emit("activations__fp32_silu_forward_computation", "activation", {"fn": "fp32_silu"}, {"x": x},
         {"y": (x.double() * torch.sigmoid(x.double())).float()}, **_tol(1e-5))
    # TestApproximateGELU::test_approximation_formula: an identity projection
    # without bias, so the module's output is the activation of x.
    x = torch.tensor([[0.0, 1.0, -1.0, 2.0, -2.0]])
    emit("activations__approximate_gelu_formula", "activation", {"fn": "approx_gelu"}, {"x": x},
         {"y": (x.double() * torch.sigmoid(1.702 * x.double())).float()}, **_tol(1e-5),
         note="TeleFuser's module projects with an identity weight and zero bias first")


# ---------------------------------------------------------------------------
# tests/unit/ops/test_normalization.py
# ---------------------------------------------------------------------------

def adaln_ref(torch, x, cond, lw, lb, nw, nb, eps):
    """AdaLayerNormContinuous.forward (layer_norm) in float64."""
    emb = torch.nn.functional.silu(cond.double()) @ lw.double().T
    if lb is not None:
        emb = emb + lb.double()
    D = x.shape[-1]
    scale, shift = emb[:, :D], emb[:, D:]
    n = torch.nn.functional.layer_norm(x.double(), (D,), None if nw is None else nw.double(),
                                       None if nb is None else nb.double(), eps)
    return n * (1 + scale)[:, None, :] + shift[:, None, :]


def gen_normalization(emit, torch):
    f32 = torch.float32
    # TestRMSNorm::test_forward_shape_preservation: RMSNorm(64, eps=1e-6), weight ones.
    torch.manual_seed(0)
    for name, shape in (("3d", (2, 10, 64)), ("2d", (4, 64)), ("4d", (1, 2, 3, 64))):
        x = torch.randn(*shape)
        w = torch.ones(64)
        emit(f"normalization__rmsnorm_shape_preservation__{name}", "rms_norm", {"eps": 1e-6}, {"x": x, "weight": w},
             {"y": rms_ref(torch, x, w, None, 1e-6).float()}, note="TeleFuser asserts the shape")
    # test_forward_normalization_effect: no affine, inputs of magnitude 10.
    torch.manual_seed(0)
    x = torch.randn(2, 10, 64) * 10.0
    emit("normalization__rmsnorm_normalization_effect", "rms_norm", {"eps": 1e-6}, {"x": x},
         {"y": rms_ref(torch, x, None, None, 1e-6).float()}, note="TeleFuser asserts RMS(y) = 1 within 1e-5")
    # test_dtype_handling[float32 input, float16 weight]: the output takes the weight's dtype.
    torch.manual_seed(0)
    x = torch.randn(2, 10, 64, dtype=f32)
    w = torch.ones(64, dtype=torch.float16)
    y = (x.double() * torch.rsqrt(x.double().pow(2).mean(-1, keepdim=True) + 1e-6)).to(torch.float16).double() * w.double()
    emit("normalization__rmsnorm_dtype_handling__f32_f16", "rms_norm", {"eps": 1e-6}, {"x": x, "weight": w},
         {"y": y.to(torch.float16)}, note="RMSNorm.forward_native: cast to the half weight's dtype, then scale")
    # test_edge_cases: all ones give ones (atol 1e-5), zeros give no NaN.
    x = torch.ones(2, 10, 64)
    emit("normalization__rmsnorm_edge_cases__ones", "rms_norm", {"eps": 1e-6}, {"x": x}, {"y": x}, **_tol(1e-5))
    x = torch.zeros(2, 10, 64)
    emit("normalization__rmsnorm_edge_cases__zeros", "rms_norm", {"eps": 1e-6}, {"x": x}, {"y": x},
         note="TeleFuser asserts no NaN; the reference gives zeros")

    # TestAdaLayerNormContinuous: embedding 64, conditioning 32, layer_norm,
    # eps 1e-5, norm weight ones and (with bias) bias zeros, nn.Linear's own
    # initialisation drawn after the seed, as the module's constructor draws it.
    def adaln(name, bias, conds, note):
        torch.manual_seed(0)
        lin = torch.nn.Linear(32, 128, bias=bias)
        nw = torch.ones(64)
        nb = torch.zeros(64) if bias else None
        x = torch.randn(2, 10, 64)
        for i in range(conds):
            cond = torch.randn(2, 32)
            lb = lin.bias.detach() if bias else None
            emit(f"{name}{'' if conds == 1 else f'__cond{i + 1}'}", "ada_layer_norm_continuous",
                 {"eps": 1e-5, "norm_type": "layer_norm"},
                 {"x": x, "cond": cond, "linear.weight": lin.weight.detach(), "linear.bias": lb, "norm.weight": nw, "norm.bias": nb},
                 {"y": adaln_ref(torch, x, cond, lin.weight.detach(), lb, nw, nb, 1e-5).float()}, note=note)

    adaln("normalization__adaln_forward_shape_preservation", True, 1, "TeleFuser asserts the shape")
    adaln("normalization__adaln_forward_modulation_effect", True, 2, "TeleFuser asserts that two conditionings differ")
    adaln("normalization__adaln_bias_configuration__True", True, 1, "TeleFuser asserts the shape")
    adaln("normalization__adaln_bias_configuration__False", False, 1, "TeleFuser asserts the shape")


def generate(write, torch):
    dev = _dev(torch)

    def emit(name, op, attrs, inputs, outputs, **kw):
        # Every tensor within MAX_TENSOR keeps the committed suite small.
        for k, t in list(inputs.items()) + list(outputs.items()):
            if t is not None and t.numel() > MAX_TENSOR:
                raise ValueError(f"{name}: {k} has {t.numel()} elements, over MAX_TENSOR")
        write(name, op, attrs, inputs, outputs, **kw)
    gen_rmsnorm(emit, torch, dev)
    gen_rotary(emit, torch, dev)
    gen_scale_shift(emit, torch, dev)
    gen_activations(emit, torch)
    gen_normalization(emit, torch)
