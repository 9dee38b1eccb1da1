package demo

import (
	"math"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/golden"
	"github.com/webfuser/webfuser/models/dit"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

// Sizes of the demo's tensors: a small DiT's hidden size on a short
// sequence, modest enough for a software rasteriser in CI.
const (
	batch  = 2
	tokens = 128
	hidden = 1024
)

// Ops is the demo's table: every operator the page runs, in order. To put
// a new operator on the page, add an entry here.
var Ops = []Op{
	{
		Name: "RMSNorm", Shape: "x f32[2,128,1024], weight f32[1024]",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.F32, []int{batch, tokens, hidden}, 3, 0)
			w := c.Input(dtype.F32, []int{hidden}, 1, 1)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) { return One(ops.RMSNormForward(x.G, w.G, nil, ops.RMSNormEps)) },
				CPU: func() ([]*ref.Tensor, error) { return OneRef(ref.RMSNorm(x.R, w.R, nil, ops.RMSNormEps)) },
			}
		},
	},
	{
		Name: "RMSNorm bf16", Shape: "x bf16[2,128,1024], weight bf16[1024]",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.BF16, []int{batch, tokens, hidden}, 3, 0)
			w := c.Input(dtype.BF16, []int{hidden}, 1, 1)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) { return One(ops.RMSNormForward(x.G, w.G, nil, ops.RMSNormEps)) },
				CPU: func() ([]*ref.Tensor, error) { return OneRef(ref.RMSNorm(x.R, w.R, nil, ops.RMSNormEps)) },
			}
		},
	},
	{
		Name: "LayerNorm", Shape: "x f32[2,128,1024], weight, bias f32[1024]",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.F32, []int{batch, tokens, hidden}, 2, 5)
			w := c.Input(dtype.F32, []int{hidden}, 1, 1)
			b := c.Input(dtype.F32, []int{hidden}, 1, 0)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) { return One(ops.LayerNormForward(x.G, w.G, b.G, ops.LayerNormEps)) },
				CPU: func() ([]*ref.Tensor, error) { return OneRef(ref.LayerNorm(x.R, w.R, b.R, ops.LayerNormEps)) },
			}
		},
	},
	{
		Name: "LayerNorm f16", Shape: "x f16[2,128,1024], no affine",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.F16, []int{batch, tokens, hidden}, 2, 0)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) { return One(ops.LayerNormForward(x.G, nil, nil, ops.LayerNormEps)) },
				CPU: func() ([]*ref.Tensor, error) { return OneRef(ref.LayerNorm(x.R, nil, nil, ops.LayerNormEps)) },
			}
		},
	},
	{
		Name: "NormInfer (RMS)", Shape: "x bf16[2,128,1024], weight, bias bf16[1024], rounded once",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.BF16, []int{batch, tokens, hidden}, 3, 0)
			w := c.Input(dtype.BF16, []int{hidden}, 3, 1)
			b := c.Input(dtype.BF16, []int{hidden}, 3, 0)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) {
					return One(ops.NormInfer(ops.KindRMSNorm, x.G, w.G, b.G, ops.LayerNormEps))
				},
				CPU: func() ([]*ref.Tensor, error) { return OneRef(ref.NormInfer(x.R, w.R, b.R, ops.LayerNormEps, true)) },
			}
		},
	},
	{
		Name: "FusedScaleShift", Shape: "x f32[2,128,1024], scale f32[2,1024], shift f32[2,4,1,1024] (per frame)",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.F32, []int{batch, tokens, hidden}, 1, 0)
			sc := c.Input(dtype.F32, []int{batch, hidden}, 0.5, 0)
			sh := c.Input(dtype.F32, []int{batch, 4, 1, hidden}, 1, 0)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) { return One(ops.FusedScaleShift(x.G, sc.G, sh.G, 1)) },
				CPU: func() ([]*ref.Tensor, error) { return OneRef(ref.FusedScaleShift(x.R, sc.R, sh.R, 1)) },
			}
		},
	},
	{
		Name: "Modulate", Shape: "x f32[2,128,1024], shift, scale f32[2,1,1024]",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.F32, []int{batch, tokens, hidden}, 1, 0)
			sh := c.Input(dtype.F32, []int{batch, 1, hidden}, 1, 0)
			sc := c.Input(dtype.F32, []int{batch, 1, hidden}, 0.5, 0)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) { return One(ops.Modulate(x.G, sh.G, sc.G)) },
				CPU: func() ([]*ref.Tensor, error) { return OneRef(ref.Modulate(x.R, sh.R, sc.R)) },
			}
		},
	},
	{
		Name: "RMSNorm+Modulate", Shape: "x f32[2,128,1024], weight f32[1024], scale f32[2,1024], shift f32[2,128,1024]",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.F32, []int{batch, tokens, hidden}, 2, 0.5)
			w := c.Input(dtype.F32, []int{hidden}, 1, 1)
			sc := c.Input(dtype.F32, []int{batch, hidden}, 0.3, 0)
			sh := c.Input(dtype.F32, []int{batch, tokens, hidden}, 1, 0)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) {
					return One(ops.NormModulate(ops.KindRMSNorm, x.G, w.G, nil, ops.RMSNormEps,
						ops.ModulateArgs{Scale: sc.G, Shift: sh.G, Constant: 1}))
				},
				CPU: func() ([]*ref.Tensor, error) {
					n, err := ref.RMSNorm(x.R, w.R, nil, ops.RMSNormEps)
					if err != nil {
						return nil, err
					}
					return OneRef(ref.FusedScaleShift(n, sc.R, sh.R, 1))
				},
			}
		},
	},
	{
		Name: "LayerNorm+Modulate", Shape: "x bf16[2,128,1024], scale, shift bf16[2,1,1024]",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.BF16, []int{batch, tokens, hidden}, 2, 0.5)
			sc := c.Input(dtype.BF16, []int{batch, 1, hidden}, 0.3, 0)
			sh := c.Input(dtype.BF16, []int{batch, 1, hidden}, 1, 0)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) {
					return One(ops.NormModulate(ops.KindLayerNorm, x.G, nil, nil, ops.LayerNormEps,
						ops.ModulateArgs{Scale: sc.G, Shift: sh.G, Constant: 1}))
				},
				CPU: func() ([]*ref.Tensor, error) {
					n, err := ref.LayerNorm(x.R, nil, nil, ops.LayerNormEps)
					if err != nil {
						return nil, err
					}
					return OneRef(ref.FusedScaleShift(n, sc.R, sh.R, 1))
				},
			}
		},
	},
	{
		Name: "GELU (tanh)", Shape: "x f32[2,128,1024]",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.F32, []int{batch, tokens, hidden}, 2, 0)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) { return One(ops.Activate(x.G, ops.ActGELUTanh)) },
				CPU: func() ([]*ref.Tensor, error) { return OneRef(ref.Activation(x.R, "gelu_tanh")) },
			}
		},
	},
	{
		Name: "SwiGLU gate", Shape: "x bf16[2,128,2048] → [2,128,1024]",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.BF16, []int{batch, tokens, 2 * hidden}, 2, 0)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) { return One(ops.GatedActivation(x.G, ops.ActSiLU)) },
				CPU: func() ([]*ref.Tensor, error) { return OneRef(ref.GatedActivation(x.R, "silu")) },
			}
		},
	},
	{
		Name: "RoPE", Shape: "x f32[2,128,8,128], cos, sin f32[128,64] (interleaved)",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.F32, []int{batch, tokens, 8, 128}, 1, 0)
			cos, sin := ref.New(dtype.F32, tokens, 64), ref.New(dtype.F32, tokens, 64)
			for s := 0; s < tokens; s++ {
				for i := 0; i < 64; i++ {
					a := float64(s) * math.Pow(10000, -float64(i)/64)
					cos.Data[s*64+i], sin.Data[s*64+i] = dtype.Round(dtype.F32, math.Cos(a)), dtype.Round(dtype.F32, math.Sin(a))
				}
			}
			gc, gs := c.Upload(cos), c.Upload(sin)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) { return One(ops.ApplyRotaryEmb(x.G, gc, gs, true)) },
				CPU: func() ([]*ref.Tensor, error) { return OneRef(ref.Rotary(x.R, cos, sin, true)) },
			}
		},
	},
	{
		Name: "Linear", Shape: "x f32[128,512], weight f32[512,512], bias f32[512]",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.F32, []int{tokens, 512}, 1, 0)
			w := c.Input(dtype.F32, []int{512, 512}, 0.04, 0)
			b := c.Input(dtype.F32, []int{512}, 1, 0)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) { return One(ops.LinearForward(x.G, w.G, b.G)) },
				CPU: func() ([]*ref.Tensor, error) { return OneRef(ref.Linear(x.R, w.R, b.R)) },
				Tol: dtype.DefaultTolerance(dtype.F32, true), // the spec's tolerance for matrix products
			}
		},
	},
	{
		Name: "FeedForward (SwiGLU)", Shape: "x f32[128,256], proj_in [2048,256], proj_out [256,1024]",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.F32, []int{tokens, 256}, 1, 0)
			inW := c.Input(dtype.F32, []int{2048, 256}, 0.06, 0)
			inB := c.Input(dtype.F32, []int{2048}, 0.5, 0)
			outW := c.Input(dtype.F32, []int{256, 1024}, 0.03, 0)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) {
					return One(ops.FeedForwardForward(x.G, inW.G, inB.G, outW.G, nil, "swiglu"))
				},
				CPU: func() ([]*ref.Tensor, error) {
					return OneRef(ref.FeedForward(x.R, inW.R, inB.R, outW.R, nil, "swiglu"))
				},
				Tol: dtype.DefaultTolerance(dtype.F32, true),
			}
		},
	},
	{
		Name: "AdaLayerNormContinuous", Shape: "x f32[2,128,512], cond f32[2,256], linear [1024,256]",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.F32, []int{batch, tokens, 512}, 1, 0)
			cond := c.Input(dtype.F32, []int{batch, 256}, 1, 0)
			lw := c.Input(dtype.F32, []int{1024, 256}, 0.05, 0)
			lb := c.Input(dtype.F32, []int{1024}, 0.2, 0)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) {
					return One(ops.AdaLayerNormContinuousForward(x.G, cond.G, lw.G, lb.G, nil, nil, ops.KindLayerNorm, 1e-5))
				},
				CPU: func() ([]*ref.Tensor, error) {
					return OneRef(ref.AdaLayerNormContinuous(x.R, cond.R, lw.R, lb.R, nil, nil, "layer_norm", 1e-5))
				},
				Tol: dtype.DefaultTolerance(dtype.F32, true),
			}
		},
	},
	{
		Name: "LinearFP8 (per-token)", Shape: "x f32[128,512], weight e4m3[512,512] with per-channel scales",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.F32, []int{tokens, 512}, 1, 0)
			w32 := c.Input(dtype.F32, []int{512, 512}, 0.04, 0)
			if c.err != nil {
				return Run{}
			}
			wq, ws, err := ref.QuantizeFP8(w32.R, false, dtype.FP8E4M3)
			if err != nil {
				c.err = err
				return Run{}
			}
			gq, gs := c.Upload(wq), c.Upload(ws)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) { return One(ops.LinearFP8Forward(x.G, gq, gs, nil, "per_token")) },
				CPU: func() ([]*ref.Tensor, error) { return OneRef(ref.LinearFP8(x.R, wq, ws, nil, true)) },
				Tol: dtype.DefaultTolerance(dtype.F32, true),
			}
		},
	},
	{
		Name: "ScaleShiftGateSelect", Shape: "x bf16[2,128,1024], two sets of scale, shift, gate bf16[2,1024], index u8[2,128] (first 32 tokens: set 1)",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.BF16, []int{batch, tokens, hidden}, 1, 0)
			s, sr := c.gateSelect(dtype.BF16)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) { return Two(ops.ScaleShiftGateSelect(x.G, s)) },
				CPU: func() ([]*ref.Tensor, error) { return TwoRef(ref.ScaleShiftGateSelect(x.R, sr)) },
			}
		},
	},
	{
		Name: "Residual+LayerNorm+GateSelect", Shape: "x, residual, residual_gate f32[2,128,1024], weight, bias f32[1024], sets f32[2,1024], index u8[2,128]",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.F32, []int{batch, tokens, hidden}, 1, 0)
			res := c.Input(dtype.F32, []int{batch, tokens, hidden}, 1, 0)
			rg := c.Input(dtype.F32, []int{batch, tokens, hidden}, 0.5, 0)
			w := c.Input(dtype.F32, []int{hidden}, 0.2, 1)
			b := c.Input(dtype.F32, []int{hidden}, 0.2, 0)
			s, sr := c.gateSelect(dtype.F32)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) {
					y, r, g, err := ops.ResidualLayerNormScaleShiftGateSelect(x.G, res.G, rg.G, w.G, b.G, 1e-6, s)
					if err != nil {
						return nil, err
					}
					return []*gpu.Tensor{y, r, g}, nil
				},
				CPU: func() ([]*ref.Tensor, error) {
					y, r, g, err := ref.ResidualLayerNormScaleShiftGateSelect(x.R, res.R, rg.R, w.R, b.R, 1e-6, sr)
					if err != nil {
						return nil, err
					}
					return []*ref.Tensor{y, r, g}, nil
				},
			}
		},
	},
	{
		Name: "MergeAttnStates", Shape: "prev_out, suff_out f32[2,128,8,128], prev_lse, suff_lse f32[2,128,8]",
		Prepare: func(c *Ctx) Run {
			po := c.Input(dtype.F32, []int{batch, tokens, 8, 128}, 1, 0)
			so := c.Input(dtype.F32, []int{batch, tokens, 8, 128}, 1, 0)
			pl := c.Input(dtype.F32, []int{batch, tokens, 8}, 3, 0)
			sl := c.Input(dtype.F32, []int{batch, tokens, 8}, 3, 0)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) { return Two(ops.MergeAttnStates(po.G, pl.G, so.G, sl.G)) },
				CPU: func() ([]*ref.Tensor, error) { return TwoRef(ref.MergeAttnStates(po.R, pl.R, so.R, sl.R)) },
			}
		},
	},
	{
		Name: "QuantizeInt8PerBlock", Shape: "k bf16[2,128,8,128] smoothed, blocks of 64 tokens → int8 codes (shown as i32), scales f32[2,8,2]",
		Prepare: func(c *Ctx) Run {
			k := c.Input(dtype.BF16, []int{batch, tokens, 8, 128}, 1, 0.5)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) {
					q, s, err := ops.QuantizeInt8PerBlock(k.G, ops.Int8BlockOptions{Block: 64, SmoothMean: true})
					if err != nil {
						return nil, err
					}
					qi, err := int8AsI32(c.Dev, q)
					if err != nil {
						s.Release()
					}
					return Two(qi, s, err)
				},
				CPU: func() ([]*ref.Tensor, error) { return TwoRef(ref.QuantizeInt8PerBlock(k.R, 64, 1, true, false)) },
			}
		},
	},
	{
		Name: "LinearNF4", Shape: "x f32[128,512], weight nf4[512,512] (blocks of 64, f32 absmax), bias f32[512]",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.F32, []int{tokens, 512}, 1, 0)
			w32 := c.Input(dtype.F32, []int{512, 512}, 0.04, 0)
			b := c.Input(dtype.F32, []int{512}, 1, 0)
			if c.err != nil {
				return Run{}
			}
			packed, absmax, err := ref.QuantizeNF4(w32.R, ops.NF4BlockSize)
			if err != nil {
				c.err = err
				return Run{}
			}
			gp, ga := c.Upload(packed), c.Upload(absmax)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) {
					return One(ops.LinearNF4Forward(x.G, gp, ga, b.G, 512, ops.NF4BlockSize))
				},
				CPU: func() ([]*ref.Tensor, error) {
					return OneRef(ref.LinearNF4(x.R, packed, absmax, b.R, 512, ops.NF4BlockSize))
				},
				Tol: dtype.DefaultTolerance(dtype.F32, true),
			}
		},
	},
	{
		Name: "MoE (top-2 of 8)", Shape: "x f32[128,128], logits f32[128,8], experts w1, w3 f32[8,256,128], w2 f32[8,128,256]",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.F32, []int{tokens, 128}, 1, 0)
			lg := c.Input(dtype.F32, []int{tokens, 8}, 2, 0)
			w1 := c.Input(dtype.F32, []int{8, 256, 128}, 0.09, 0)
			w3 := c.Input(dtype.F32, []int{8, 256, 128}, 0.09, 0)
			w2 := c.Input(dtype.F32, []int{8, 128, 256}, 0.06, 0)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) {
					return One(ops.MoEForward(x.G, lg.G, nil, w1.G, w2.G, w3.G, ops.MoEConfig{TopK: 2}))
				},
				CPU: func() ([]*ref.Tensor, error) {
					return OneRef(ref.MoE(x.R, lg.R, nil, w1.R, w2.R, w3.R, ref.MoERouting{TopK: 2}, "silu"))
				},
				Tol: dtype.DefaultTolerance(dtype.F32, true),
			}
		},
	},
	{
		Name: "LinearNF4 (compressed stats)", Shape: "x bf16[16,512], weight nf4[512,512], absmax double-quantised (8-bit codes, blocks of 256)",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.BF16, []int{16, 512}, 1, 0)
			w32 := c.Input(dtype.F32, []int{512, 512}, 0.04, 0)
			if c.err != nil {
				return Run{}
			}
			packed, absmax, err := ref.QuantizeNF4(w32.R, ops.NF4BlockSize)
			if err != nil {
				c.err = err
				return Run{}
			}
			st, a, err := c.nf4Stats(absmax)
			if err != nil {
				c.err = err
				return Run{}
			}
			gp := c.Upload(packed)
			return Run{
				GPU: func() ([]*gpu.Tensor, error) {
					return One(ops.LinearNF4CompressedForward(x.G, gp, st, nil, 512, ops.NF4BlockSize))
				},
				CPU: func() ([]*ref.Tensor, error) {
					return OneRef(ref.LinearNF4(x.R, packed, a, nil, 512, ops.NF4BlockSize))
				},
			}
		},
	},
	{
		Name: "MoE FP8 experts (top-2 of 8)", Shape: "x bf16[128,128], experts e4m3 with per-channel scales: w1, w3 [8,256,128], w2 [8,128,256]",
		Prepare: func(c *Ctx) Run {
			x := c.Input(dtype.BF16, []int{tokens, 128}, 1, 0)
			lg := c.Input(dtype.F32, []int{tokens, 8}, 2, 0)
			var q, s [3]*ref.Tensor
			var e [6]*gpu.Tensor
			for i, shape := range [][]int{{8, 256, 128}, {8, 128, 256}, {8, 256, 128}} {
				w := c.Input(dtype.F32, shape, 0.08, 0)
				if c.err != nil {
					return Run{}
				}
				var err error
				if q[i], s[i], err = ref.QuantizeExpertsFP8(w.R); err != nil {
					c.err = err
					return Run{}
				}
				e[i], e[3+i] = c.Upload(q[i]), c.Upload(s[i])
			}
			ex := ops.ExpertsFP8{W1: e[0], W2: e[1], W3: e[2], S1: e[3], S2: e[4], S3: e[5]}
			return Run{
				GPU: func() ([]*gpu.Tensor, error) {
					return One(ops.MoEForwardFP8(x.G, lg.G, nil, ex, ops.MoEConfig{TopK: 2}))
				},
				CPU: func() ([]*ref.Tensor, error) {
					return OneRef(ref.MoEFP8(x.R, lg.R, nil, q[0], q[1], q[2], s[0], s[1], s[2], ref.MoERouting{TopK: 2}, "silu"))
				},
			}
		},
	},
	{
		Name: "DiT block", Shape: "x f32[2,64,128], cond f32[2,128], 4 heads, GELU(tanh) MLP x4",
		Prepare: func(c *Ctx) Run {
			cfg := dit.NewConfig(128, 4)
			wr, err := dit.RandomWeights(cfg, dtype.F32, c.rng)
			if err != nil {
				c.err = err
				return Run{}
			}
			w := make(map[string]*gpu.Tensor, len(wr))
			for n, r := range wr {
				w[n] = c.Upload(r)
			}
			x := c.Input(dtype.F32, []int{batch, 64, cfg.Dim}, 1, 0)
			cond := c.Input(dtype.F32, []int{batch, cfg.Dim}, 1, 0)
			if c.err != nil {
				return Run{}
			}
			b, err := dit.New(cfg, w)
			if err != nil {
				c.err = err
				return Run{}
			}
			return Run{
				GPU: func() ([]*gpu.Tensor, error) { return One(b.Forward(x.G, cond.G)) },
				CPU: func() ([]*ref.Tensor, error) { return OneRef(golden.DiTReference(cfg, x.R, cond.R, wr)) },
				Tol: dtype.DefaultTolerance(dtype.F32, true), // the spec's dit_block tolerance (matrix products, softmax)
			}
		},
	},
}
