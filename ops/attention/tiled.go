package attention

import (
	"fmt"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// tiledSnippets generates the unrolled register blocks of
// wgsl/attention_tiled.wgsl for layout t: scores s_i_j, accumulators
// o_i_j (vec4), row maxima m_i and partial row sums l_i are plain
// variables, never arrays indexed by a loop counter (which a compiler
// may move out of registers).
func tiledSnippets(t launch.AttentionLayout, causal bool, out dtype.DType, in [3]dtype.DType) map[string]string {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	take := func() string { s := b.String(); b.Reset(); return s }
	comps := []string{"x", "y", "z", "w"}
	sn := map[string]string{}
	red, parr := "red", pArray(t)
	sn["REDDECL"] = "var<workgroup> red: array<vec4<f32>, REDP>;"
	sn["PSDECL"] = "var<workgroup> ps: array<vec4<f32>, BQ * PS>;"
	if t.Fold {
		red, sn["REDDECL"] = parr, ""
	}
	if t.Union {
		sn["PSDECL"] = ""
	}
	sn["RED"] = red
	sn["RAW"] = rawUnits(t, in)

	for i := 0; i < t.TM; i++ {
		for j := 0; j < t.DJ; j++ {
			w("var o_%d_%d = vec4<f32>(0.0);\n  ", i, j)
		}
		w("var m_%d = -1e30;\n  var l_%d = 0.0;\n  ", i, i)
	}
	sn["ODECL"] = take()

	for i := 0; i < t.TM; i++ {
		for j := 0; j < t.TN; j++ {
			w("var s_%d_%d = 0.0;\n    ", i, j)
		}
	}
	sn["SDECL"] = take()

	for r := 0; r < t.NR; r++ {
		w("var f_%d: RU;\n  ", r)
	}
	sn["FREGS"] = take()
	for r := 0; r < t.NR; r++ {
		w("f_%d = fetch(fkind, lid + %du, fc, fk0, fs1);\n      ", r, r*t.WG)
	}
	sn["FETCH"] = take()
	for r := 0; r < t.NR; r++ {
		w("stash(fkind, nbuf, lid + %du, f_%d);\n      ", r*t.WG, r)
	}
	sn["STASH"] = take()

	// S += Q Kᵀ for one pack of D: TM rows and TN keys from the stage.
	sn["QK"] = tiledQK(t, func(i int) string {
		var r strings.Builder
		for _, c := range comps {
			for j := 0; j < t.TN; j++ {
				fmt.Fprintf(&r, "s_%d_%d = fma(q%d.%s, kv%d.%s, s_%d_%d);\n        ", i, j, i, c, j, c, i, j)
			}
		}
		return r.String()
	})

	// Scale and mask the scores, then each invocation's row maxima.
	w("let kx = k0 + tx;\n        let qr = i32(tile * %du + ty) + p.off;\n        ", t.BQ)
	for i := 0; i < t.TM; i++ {
		for j := 0; j < t.TN; j++ {
			w("s_%d_%d = select(-1e30, s_%d_%d * p.scale, %s);\n        ", i, j, i, j, tiledLive(t, causal, i, j))
		}
		w("%s[REDB + (ty + %du) * %du + tx / 4u][tx %% 4u] = %s;\n        ", red, i*t.NTY, t.NTX/4, maxOf(i, t.TN))
	}
	sn["SOFTMAX1"] = take()

	// The tile's row maxima; rescale, P into workgroup memory. With Fold
	// the maxima are read before a barrier, since P overwrites them.
	for i := 0; i < t.TM; i++ {
		if t.Fold {
			w("let mx_%d = red_max(ty + %du);\n    ", i, i*t.NTY)
		}
	}
	if t.Fold {
		w("workgroupBarrier();\n    ")
	}
	for i := 0; i < t.TM; i++ {
		mx := fmt.Sprintf("red_max(ty + %du)", i*t.NTY)
		if t.Fold {
			mx = fmt.Sprintf("mx_%d", i)
		}
		w("{\n      let mn = max(m_%d, %s);\n      let cr = exp2(m_%d - mn);\n      m_%d = mn;\n", i, mx, i, i)
		w("      l_%d = l_%d * cr;\n", i, i)
		for j := 0; j < t.DJ; j++ {
			w("      o_%d_%d = o_%d_%d * cr;\n", i, j, i, j)
		}
		var sum []string
		for j := 0; j < t.TN; j++ {
			w("      s_%d_%d = select(0.0, exp2(s_%d_%d - mn), s_%d_%d > -5e29);\n", i, j, i, j, i, j)
			w("      %s[(ty + %du) * %du + tx / 4u + %du][tx %% 4u] = s_%d_%d;\n", parr, i*t.NTY, t.PS, j*t.NTX/4, i, j)
			sum = append(sum, fmt.Sprintf("s_%d_%d", i, j))
		}
		w("      l_%d = l_%d + %s;\n    }\n    ", i, i, strings.Join(sum, " + "))
	}
	sn["SOFTMAX2"] = take()

	// O += P V for four keys of the value stage.
	w("let pa = ty * %du + c * %du + k4;\n        ", t.PS, t.KC/4)
	for i := 0; i < t.TM; i++ {
		w("let p%d = %s[pa + %du];\n        ", i, parr, i*t.NTY*t.PS)
	}
	w("let va = base + 4u * k4 * %du + tx;\n        ", t.VS)
	for q, c := range comps {
		for j := 0; j < t.DJ; j++ {
			w("let v%d_%d = stage_v(va + %du);\n        ", q, j, q*t.VS+j*t.NTX)
		}
		for i := 0; i < t.TM; i++ {
			for j := 0; j < t.DJ; j++ {
				w("o_%d_%d = fma(vec4<f32>(p%d.%s), v%d_%d, o_%d_%d);\n        ", i, j, i, c, q, j, i, j)
			}
		}
	}
	sn["PV"] = take()

	// Row sums, normalisation and the store of the rows below Sq.
	for i := 0; i < t.TM; i++ {
		w("%s[REDB + (ty + %du) * %du + tx / 4u][tx %% 4u] = l_%d;\n  ", red, i*t.NTY, t.NTX/4, i)
	}
	w("workgroupBarrier();\n  ")
	for i := 0; i < t.TM; i++ {
		w("{\n    let qi = tile * %du + ty + %du;\n    let lsum = red_sum(ty + %du);\n", t.BQ, i*t.NTY, i*t.NTY)
		w("    let inv = select(0.0, 1.0 / lsum, lsum > 0.0);\n")
		w("    if (qi < p.sq) {\n      let ob = b * p.o_sb + h * p.o_sh + qtok_of(qi) * p.o_ss + tx;\n")
		for j := 0; j < t.DJ; j++ {
			if (j+1)*t.NTX > t.DP {
				w("      if (tx + %du < DP) { store_o(ob + %du, o_%d_%d * inv); }\n", j*t.NTX, j*t.NTX, i, j)
			} else {
				w("      store_o(ob + %du, o_%d_%d * inv);\n", j*t.NTX, i, j)
			}
		}
		w("    }\n  }\n  ")
	}
	sn["STORE"] = take()

	sn["OFN"] = "fn store_o(i: u32, v: vec4<f32>) { stv_o(i, v); }"
	if wordsOut(t, out) {
		enc := "f32x4_to_bf16"
		if out == dtype.F16 {
			enc = "f32x4_to_f16"
		}
		// 16-bit storage with 16-byte units has no pack store: the
		// output is raw words, two packs to a word of 16 bytes.
		sn["OFN"] = "fn store_o(i: u32, v: vec4<f32>) {\n  let x = " + enc + "(v);\n  let c = (i & 1u) * 2u;\n" +
			"  o_buf[i >> 1u][c] = x.x;\n  o_buf[i >> 1u][c + 1u] = x.y;\n}"
	}
	return sn
}

// pArray names the workgroup array that holds P from pack 0: ps, or the
// stage with Union.
func pArray(t launch.AttentionLayout) string {
	if t.Union {
		return "stage"
	}
	return "ps"
}

// tiledQK returns the QK snippet for layout t: the stage offsets of the
// invocation's query rows (qa) and keys (ka) at pack d4, its TN key packs
// kv0.. and, for each of its TM rows i, the row's pack q<i> followed by
// acc(i), the updates of row i's scores.
func tiledQK(t launch.AttentionLayout, acc func(i int) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "let qa = base + ty * %du + d4;\n        ", t.RS)
	fmt.Fprintf(&b, "let ka = base + (%du + tx) * %du + d4;\n        ", t.BQ, t.RS)
	for j := 0; j < t.TN; j++ {
		fmt.Fprintf(&b, "let kv%d = stage[ka + %du];\n        ", j, j*t.NTX*t.RS)
	}
	for i := 0; i < t.TM; i++ {
		fmt.Fprintf(&b, "let q%d = stage[qa + %du];\n        %s", i, i*t.NTY*t.RS, acc(i))
	}
	return b.String()
}

// tiledLive returns the WGSL condition under which score (i, j) of an
// invocation is live: its key below s1 and, causal, at most its row's
// limit (kx and qr as SOFTMAX1 declares them).
func tiledLive(t launch.AttentionLayout, causal bool, i, j int) string {
	ok := fmt.Sprintf("kx + %du < s1", j*t.NTX)
	if causal {
		ok += fmt.Sprintf(" && i32(kx + %du) <= qr + %d", j*t.NTX, i*t.NTY)
	}
	return ok
}

// rawUnits returns the RAW snippet: with Late and 16-bit q, k and v, the
// fetch registers hold raw words (vec4<u32> for 16-byte units, vec2<u32>
// for 8-byte ones) and stash converts them; otherwise the units are the
// f32 packs of ldu_x.
func rawUnits(t launch.AttentionLayout, in [3]dtype.DType) string {
	late := t.Late
	for _, dt := range in {
		late = late && dt.Size() == 2
	}
	var b strings.Builder
	b.WriteString("alias SW = vec4<f32>;\nalias SPU = PU;\nfn stage_v(i: u32) -> vec4<f32> { return stage[i]; }\n")
	if !late {
		b.WriteString("alias RU = PU;\n")
		for _, n := range []string{"q", "k", "v"} {
			fmt.Fprintf(&b, "fn rlu_%s(i: u32) -> RU { return ldu_%s(i); }\nfn cvt_%s(u: RU) -> PU { return u; }\n", n, n, n)
		}
		return b.String()
	}
	ru := "vec2<u32>"
	if t.H == 2 {
		ru = "vec4<u32>"
	}
	fmt.Fprintf(&b, "alias RU = %s;\n", ru)
	for i, n := range []string{"q", "k", "v"} {
		dec := "bf16x4_to_f32"
		if in[i] == dtype.F16 {
			dec = "f16x4_to_f32"
		}
		fmt.Fprintf(&b, "fn rlu_%s(i: u32) -> RU { return %s_buf[i]; }\n", n, n)
		if t.H == 2 {
			fmt.Fprintf(&b, "fn cvt_%s(w: RU) -> PU { return PU(%s(w.xy), %s(w.zw)); }\n", n, dec, dec)
		} else {
			fmt.Fprintf(&b, "fn cvt_%s(w: RU) -> PU { return PU(%s(w)); }\n", n, dec)
		}
	}
	return b.String()
}

// wordsOut reports whether the output binding is raw 16-byte words: 16-bit
// storage with 16-byte units, which has no pack store.
func wordsOut(t launch.AttentionLayout, out dtype.DType) bool { return t.H == 2 && out.Size() == 2 }

// maxOf returns the WGSL max of s_i_0 .. s_i_{n-1}.
func maxOf(i, n int) string {
	e := fmt.Sprintf("s_%d_0", i)
	for j := 1; j < n; j++ {
		e = fmt.Sprintf("max(%s, s_%d_%d)", e, i, j)
	}
	return e
}

// tiledKernel declares the register-blocked kernel for layout t, writing
// a new output. bindOperands binds the operands, the sparse ones when
// the launch has them.
func (l *call) tiledKernel(t launch.AttentionLayout, rowptr, cols, tok *gpu.Tensor) *kernel.Kernel {
	k := &kernel.Kernel{Name: "attention_tiled", Vec: 4, Units: t.H, Files: []string{"attention_tiled"}}
	tiledConsts(k, t, l.causal)
	l.bindOperands(k, rowptr, cols, tok)
	osb, osh, oss := strides(l.out, l.sq, l.h, t.DP)
	k.U32("o_sb", osb).U32("o_sh", osh).U32("o_ss", oss).U32("nqt", ceilDiv(l.sq, t.BQ))
	k.Out("o", l.q.DType, l.outShape()...)
	if wordsOut(t, l.q.DType) {
		k.Words()
	}
	sn := tiledSnippets(t, l.causal, l.q.DType, [3]dtype.DType{l.q.DType, l.k.DType, l.v.DType})
	for _, name := range tiledSnippetNames {
		k.Snippet(name, sn[name])
	}
	k.Grid = gpu.Grid{uint32(ceilDiv(l.sq, t.BQ)), uint32(l.b * l.h), 1}
	return k
}

// tiledSnippetNames are the snippets of wgsl/attention_tiled.wgsl that
// tiledSnippets generates.
var tiledSnippetNames = []string{"PSDECL", "REDDECL", "RED", "RAW", "ODECL", "SDECL", "FREGS", "FETCH", "STASH", "QK", "SOFTMAX1", "SOFTMAX2", "PV", "STORE", "OFN"}

// stagePacks returns the packs of the stage array: the stage buffers, or
// with Union P, the reduction and the value stage too.
func stagePacks(t launch.AttentionLayout) int {
	if t.Union {
		return t.UnionP
	}
	return t.NBuf * t.STG
}

// tiledConsts declares the constants of wgsl/attention_tiled.wgsl for
// layout t.
func tiledConsts(k *kernel.Kernel, t launch.AttentionLayout, causal bool) {
	k.Uint("DP", t.DP).Uint("QP", t.QP).Uint("BQ", t.BQ).Uint("BK", t.BK).Uint("NTX", t.NTX).Uint("NTY", t.NTY).Uint("WG", t.WG).
		Uint("DCP", t.DCP).Uint("RS", t.RS).Uint("UPC", t.UPC).Uint("NC", t.NC).
		Uint("KC", t.KC).Uint("NV", t.NV).Uint("VS", t.VS).Uint("UPV", t.UPV).
		Uint("PS", t.PS).Uint("STG", t.STG).Uint("NBUF", t.NBuf).Uint("REDP", t.RedP).
		Uint("STAGEP", stagePacks(t)).Uint("REDB", t.RedB).Uint("VB", t.VB).
		Bool("CAUSAL", causal)
}
