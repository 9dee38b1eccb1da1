"""Golden cases for sage_attention (attention.Sage, TeleFuser's
SAGE_ATTN_2_8_8 / 2_8_16 / 2_8_8_SM90 backends; internal/golden/attention.go
runs them).

The reference follows ops/attention/RATIONALE.md's Sage section in PyTorch:
q quantised per block of 128 tokens with the factor f32(scale*log2(e)), k
per block of 64 after removing its mean over the sequence (the per-block
quantiser of golden_parity.py, TeleFuser's per_block_int8); the integer
QK^T exactly in float64; base-2 logits as two f32 products,
(f32(dot) * qscale) * kscale; then softmax with exp2 and PV exactly in
float64, cast to q's dtype at the end.
"""
import importlib.util
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("golden_parity_for_sage", os.path.join(HERE, "golden_parity.py"))
_parity = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_parity)

DTYPES = _parity.DTYPES
LOG2E = _parity.LOG2E


def sage_ref(torch, q, k, v, causal=False, scale=None):
    """q [B,Sq,H,D], k, v [B,Sk,Hk,D] (BSND); scale None means 1/sqrt(D),
    else the f32 value the case stores."""
    B, Sq, H, D = q.shape
    Sk, Hk = k.shape[1], k.shape[2]
    g = H // Hk
    if scale is None:
        scale = 1.0 / math.sqrt(D)
    qc, qs = _parity.quant_int8_ref(torch, q, 128, scale * LOG2E, False, False)
    kc, ks = _parity.quant_int8_ref(torch, k, 64, 1.0, True, False)
    qd = qc.transpose(1, 2).double()
    kd = kc.transpose(1, 2).double().repeat_interleave(g, dim=1)
    vd = v.transpose(1, 2).double().repeat_interleave(g, dim=1)
    dot = qd @ kd.transpose(-1, -2)  # exact: |dot| <= 127^2 * D
    qsr = qs.repeat_interleave(128, dim=2)[:, :, :Sq]
    ksr = ks.repeat_interleave(64, dim=2)[:, :, :Sk].repeat_interleave(g, dim=1)
    s = ((dot.float() * qsr[:, :, :, None]) * ksr[:, :, None, :]).double()
    if causal:
        i = torch.arange(Sq).view(-1, 1)
        j = torch.arange(Sk).view(1, -1)
        s = s.masked_fill(~(j <= i + (Sk - Sq)), float("-inf"))
    p = torch.exp2(s - s.amax(dim=-1, keepdim=True))
    o = (p @ vd) / p.sum(dim=-1, keepdim=True)
    return o.transpose(1, 2).to(q.dtype).contiguous()


def generate(emit, torch):
    cases = [  # (B, Sq, Sk, H, Hk, D, causal, scale, layout)
        (1, 1, 1, 1, 1, 4, False, None, "BSND"),
        (1, 77, 77, 2, 2, 64, False, None, "BSND"),
        (2, 130, 200, 4, 2, 32, False, None, "BNSD"),
        (1, 200, 200, 2, 1, 128, True, None, "BSND"),
        (1, 65, 129, 3, 3, 80, True, 0.3, "BNSD"),
        (1, 9, 33, 1, 1, 12, False, 0.2, "BSND"),
    ]
    for dn in DTYPES:
        dt = _parity._dt(torch, dn)
        for i, (B, Sq, Sk, H, Hk, D, causal, scale, layout) in enumerate(cases):
            q = _parity._randn(torch, (B, Sq, H, D)).to(dt)
            # A per-channel offset on k, as real models have: the smoothing removes it.
            k = (_parity._randn(torch, (B, Sk, Hk, D)) + 3 * torch.randn(D, dtype=torch.float64)).to(dt)
            v = _parity._randn(torch, (B, Sk, Hk, D)).to(dt)
            attrs = {"causal": causal, "input_layout": layout, "output_layout": layout}
            sc = None
            if scale is not None:
                sc = float(torch.tensor(scale, dtype=torch.float32))  # the f32 scale the runner reads
                attrs["scale"] = sc
            o = sage_ref(torch, q, k, v, causal, sc)
            if layout == "BNSD":
                q, k, v, o = (x.transpose(1, 2).contiguous() for x in (q, k, v, o))
            # The GPU's mean of k (compensated f32) may differ from this float64
            # mean in its last bit, which can move a code by one at a rounding
            # tie and a logit by up to |q code| * qscale * kscale: 1e-2 covers
            # that for f32 (the 16-bit defaults already do); other errors are
            # O(1). ops/attention's tests check the kernel exactly on the GPU's codes.
            tol = 1e-2 if dn == "f32" else None
            emit(f"sage_attention_{dn}_{i}", "sage_attention", attrs, {"q": q, "k": k, "v": v}, {"o": o},
                 atol=tol, rtol=tol, note="int8 QK^T per block (q 128, smoothed k 64), exp2 softmax, f32 PV")
