package attention

import (
	"fmt"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// sageTiledKernel declares the Sage variant of the register-blocked
// kernel (wgsl/attention_tiled.wgsl) for tile c on the codes and scales
// of q (qc, qs) and k (kc, ks), writing a new output: the query and key
// stages hold the codes (bound as 16-byte words, 16 codes each), the
// scores are i32 dots of dot4I8Packed turned into base-2 logits as the
// row kernel does, and softmax and PV are the dense kernel's.
func (l *call) sageTiledKernel(c launch.AttentionTile, qc, qs, kc, ks *gpu.Tensor) *kernel.Kernel {
	t := c.SageLayout(l.d)
	k := &kernel.Kernel{Name: "attention_sage_tiled", Vec: 4, Units: t.H, Files: []string{"attention_tiled"}}
	tiledConsts(k, t, l.causal)
	k.Uint("QBLK", sageQBlock).Uint("KBLK", sageKBlock)
	k.In("q", qc).Words().In("k", kc).Words().In("v", l.v).In("qs", qs).In("ks", ks)
	qsb, qsh, qss := strides(l.in, l.sq, l.h, t.QP)
	ksb, ksh, kss := strides(l.in, l.sk, l.hk, t.QP)
	vsb, vsh, vss := strides(l.in, l.sk, l.hk, t.DP)
	osb, osh, oss := strides(l.out, l.sq, l.h, t.DP)
	k.U32("sq", l.sq).U32("sk", l.sk).U32("h", l.h).U32("hk", l.hk).U32("hdiv", l.h/l.hk).
		U32("q_sb", qsb).U32("q_sh", qsh).U32("q_ss", qss).
		U32("k_sb", ksb).U32("k_sh", ksh).U32("k_ss", kss).
		U32("v_sb", vsb).U32("v_sh", vsh).U32("v_ss", vss).
		U32("nqb", ceilDiv(l.sq, sageQBlock)).U32("nkb", ceilDiv(l.sk, sageKBlock)).
		I32("off", l.sk-l.sq).U32("tile0", 0).
		U32("o_sb", osb).U32("o_sh", osh).U32("o_ss", oss).U32("nqt", ceilDiv(l.sq, t.BQ))
	k.Out("o", l.q.DType, l.outShape()...)
	k.Snippet("RANGES", "").Snippet("BLOCK", "").Snippet("QTOK", "qrow").Snippet("KTOK", "key")
	sn := tiledSnippets(t, l.causal, l.q.DType, [3]dtype.DType{l.q.DType, l.k.DType, l.v.DType})
	for name, src := range sageTiledSnippets(t, l.causal, sn["RED"], l.v.DType) {
		sn[name] = src
	}
	for _, name := range tiledSnippetNames {
		k.Snippet(name, sn[name])
	}
	k.Grid = gpu.Grid{uint32(ceilDiv(l.sq, t.BQ)), uint32(l.b * l.h), 1}
	return k
}

// sageTiledSnippets returns the snippets in which the Sage variant
// differs from tiledSnippets' (for layout t, H = 1): RAW (the stage
// holds vec4<u32> words, codes as they are, values as f32 bits; 16-bit
// values of dtype vdt stay raw words in the fetch registers and are
// decoded in the stash, so the products between never wait on the
// load), SDECL
// (i32 dots a_i_j beside the f32 logits s_i_j), QK (four dot4I8Packed a
// staged pack of 16 codes) and SOFTMAX1 (the logits
// (f32(a) * qscale[row / QBLK]) * kscale[key / KBLK], masked as the dense
// kernel masks, their row maxima into red).
func sageTiledSnippets(t launch.AttentionLayout, causal bool, red string, vdt dtype.DType) map[string]string {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	take := func() string { s := b.String(); b.Reset(); return s }
	sn := map[string]string{}
	sn["RAW"] = `alias SW = vec4<u32>;
alias SPU = array<vec4<u32>, 1>;
alias RU = vec4<u32>;
fn stage_v(i: u32) -> vec4<f32> { return bitcast<vec4<f32>>(stage[i]); }
fn rlu_q(i: u32) -> RU { return q_buf[i]; }
fn cvt_q(u: RU) -> SPU { return SPU(u); }
fn rlu_k(i: u32) -> RU { return k_buf[i]; }
fn cvt_k(u: RU) -> SPU { return SPU(u); }
` + sageValueUnits(vdt)
	for i := 0; i < t.TM; i++ {
		for j := 0; j < t.TN; j++ {
			w("var a_%d_%d = 0i;\n    var s_%d_%d = 0.0;\n    ", i, j, i, j)
		}
	}
	sn["SDECL"] = take()

	sn["QK"] = tiledQK(t, func(i int) string {
		var r strings.Builder
		for j := 0; j < t.TN; j++ {
			fmt.Fprintf(&r, "a_%d_%d = a_%d_%d + (dot4I8Packed(q%d.x, kv%d.x) + dot4I8Packed(q%d.y, kv%d.y)) + "+
				"(dot4I8Packed(q%d.z, kv%d.z) + dot4I8Packed(q%d.w, kv%d.w));\n        ", i, j, i, j, i, j, i, j, i, j, i, j)
		}
		return r.String()
	})

	w("let kx = k0 + tx;\n        let qr = i32(tile * %du + ty) + p.off;\n        ", t.BQ)
	w("let qsb = (b * p.h + h) * p.nqb;\n        let ksb = (b * p.hk + hk) * p.nkb;\n        ")
	for j := 0; j < t.TN; j++ {
		w("let ksc%d = ld_ks(ksb + min(kx + %du, p.sk - 1u) / KBLK);\n        ", j, j*t.NTX)
	}
	for i := 0; i < t.TM; i++ {
		w("let qsc%d = ld_qs(qsb + min(tile * %du + ty + %du, p.sq - 1u) / QBLK);\n        ", i, t.BQ, i*t.NTY)
		for j := 0; j < t.TN; j++ {
			w("s_%d_%d = select(-1e30, (f32(a_%d_%d) * qsc%d) * ksc%d, %s);\n        ", i, j, i, j, i, j, tiledLive(t, causal, i, j))
		}
		w("%s[(ty + %du) * %du + tx / 4u][tx %% 4u] = %s;\n        ", red, i*t.NTY, t.NTX/4, maxOf(i, t.TN))
	}
	sn["SOFTMAX1"] = take()
	return sn
}

// sageValueUnits returns the Sage variant's value loader and converter
// for values of dtype vdt (units of one pack of 4): f32 packs as their
// bits; 16-bit packs as their two raw words in .xy, decoded to f32 bits
// by cvt_v in the stash.
func sageValueUnits(vdt dtype.DType) string {
	dec := map[dtype.DType]string{dtype.BF16: "bf16x4_to_f32", dtype.F16: "f16x4_to_f32"}[vdt]
	if dec == "" {
		return "fn rlu_v(i: u32) -> RU { return bitcast<vec4<u32>>(ldu_v(i)[0]); }\nfn cvt_v(u: RU) -> SPU { return SPU(u); }\n"
	}
	return fmt.Sprintf("fn rlu_v(i: u32) -> RU { return vec4<u32>(v_buf[i], 0u, 0u); }\nfn cvt_v(u: RU) -> SPU { return SPU(bitcast<vec4<u32>>(%s(u.xy))); }\n", dec)
}
