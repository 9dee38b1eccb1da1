package attention

import (
	"fmt"
	"math"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
	"github.com/webfuser/webfuser/ops"
)

// Sage's quantisation blocks: TeleFuser's per_block_int8 quantises q in
// blocks of 128 tokens and k in blocks of 64.
const (
	sageQBlock = 128
	sageKBlock = 64
)

// Sage computes SageAttention-style attention (TeleFuser's
// SAGE_ATTN_2_8_8, SAGE_ATTN_2_8_16 and SAGE_ATTN_2_8_8_SM90): q is
// quantised to int8 by ops.QuantizeInt8PerBlock in blocks of 128 tokens
// with the factor f32(scale*ops.Log2E) (scale 0 means 1/sqrt(D), the
// product in float64), k in blocks of 64 after its mean over the
// sequence is removed (which shifts every logit of a row by the same
// amount, so the softmax is unchanged). The base-2 logit of query i and
// key j is the f32 expression (f32(dot) * qscale[i/128]) * kscale[j/64],
// dot the exact i32 sum of the codes' products; the softmax runs online
// with exp2 in f32 and PV in f32 from v in its storage dtype (TeleFuser's
// 2_8_8 does PV in fp8 and 2_8_16 in f16; here all three are f32).
// Shapes, layouts, grouped heads and causal masking as in Dense, D a
// multiple of 4 (four codes to a word) and Sk at least 1. On GPUs and D
// a multiple of 16 the register-blocked flash kernel runs it (QKᵀ on
// dot4I8Packed, scores and accumulators in registers); otherwise a kernel
// with one softmax invocation per row, QKᵀ on i8 subgroup matrices where
// launch.SageRows finds them (Dawn on NVIDIA) and on dot4I8Packed
// elsewhere; all with the same results up to f32 summation order.
func Sage(q, k, v *gpu.Tensor, opt Options) (*gpu.Tensor, error) {
	return sage(q, k, v, opt, nil)
}

// sage runs Sage with the launch forced (tests) or chosen (nil).
func sage(q, k, v *gpu.Tensor, opt Options, force *launch.Sage) (*gpu.Tensor, error) {
	l := &call{op: "SageAttention", q: q, k: k, v: v, in: opt.InputLayout, out: opt.OutputLayout,
		causal: opt.Causal, scale: opt.Scale}
	if err := l.validate(); err != nil {
		return nil, err
	}
	if l.sk == 0 {
		return nil, errorf(l.op, "k", "shape %v has no keys: Sage attention needs at least one", l.k.Shape)
	}
	dev := l.q.Device()
	if l.sq == 0 || l.b == 0 || l.h == 0 {
		return dev.NewOutput(l.q.DType, l.outShape()...)
	}
	s, ok := launch.ChooseSage(dev.Features, dev.Limits, dev.Info.Class, l.d)
	if force != nil {
		s, ok = *force, force.Fits(dev.Limits, l.d)
	}
	if !ok {
		return nil, &Error{Op: l.op, Tensor: "q", Err: gpu.ErrLimit, Rule: fmt.Sprintf(
			"head dim %d: no Sage tile fits the device (%d bytes of workgroup memory, %d invocations)",
			l.d, dev.Limits.MaxWorkgroupMemory, dev.Limits.MaxInvocations)}
	}
	if g := dev.Limits.MaxGroupsPerDim; g > 0 && (ceilDiv(l.sq, s.BQ) > int(g) || l.b*l.h > int(g)) {
		return nil, &Error{Op: l.op, Tensor: "q", Err: gpu.ErrLimit, Rule: fmt.Sprintf(
			"%d query tiles of %d rows and %d heads pass the device's %d workgroups per dimension; split the work",
			ceilDiv(l.sq, s.BQ), s.BQ, l.b*l.h, g)}
	}
	scale := float64(l.scale)
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(l.d))
	}
	head := l.in == BNSD
	qc, qs, err := ops.QuantizeInt8PerBlock(l.q, ops.Int8BlockOptions{Block: sageQBlock, Scale: float32(scale * ops.Log2E), HeadFirst: head})
	if err != nil {
		return nil, err
	}
	defer release([]*gpu.Tensor{qc, qs})
	kc, ks, err := ops.QuantizeInt8PerBlock(l.k, ops.Int8BlockOptions{Block: sageKBlock, Scale: 1, SmoothMean: true, HeadFirst: head})
	if err != nil {
		return nil, err
	}
	defer release([]*gpu.Tensor{kc, ks})
	var kern *kernel.Kernel
	if s.Tiled {
		kern = l.sageTiledKernel(s.Tile, qc, qs, kc, ks)
	} else {
		kern = l.sageKernel(s, qc, qs, kc, ks)
	}
	outs, err := runTiles(dev, kern, s.BQ*l.sk*l.d*l.b*l.h)
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// sageKernel declares wgsl/attention_sage.wgsl for launch s on the codes
// and scales of q (qc, qs) and k (kc, ks), writing a new output.
func (l *call) sageKernel(s launch.Sage, qc, qs, kc, ks *gpu.Tensor) *kernel.Kernel {
	dp := l.d / 4
	tpr := s.WG / s.BQ
	k := &kernel.Kernel{Name: "attention_sage", Vec: 4, Files: []string{"attention_sage"}, Subgroups: s.Matrix, SubgroupMatrix: s.Matrix}
	k.Uint("DP", dp).Uint("BQ", s.BQ).Uint("BK", s.BK).Uint("WG", s.WG).Uint("TPR", tpr).Uint("DJ", ceilDiv(dp, tpr)).
		Uint("KST", s.KStride(l.d)).Uint("TSS", s.SStride()).Uint("QBLK", sageQBlock).Uint("KBLK", sageKBlock).Bool("CAUSAL", l.causal)
	k.In("qc", qc).In("qs", qs).In("kc", kc).In("ks", ks).In("v", l.v)
	qsb, qsh, qss := strides(l.in, l.sq, l.h, dp)
	ksb, ksh, kss := strides(l.in, l.sk, l.hk, dp)
	osb, osh, oss := strides(l.out, l.sq, l.h, dp)
	k.U32("sq", l.sq).U32("sk", l.sk).U32("h", l.h).U32("hk", l.hk).U32("hdiv", l.h/l.hk).
		U32("q_sb", qsb).U32("q_sh", qsh).U32("q_ss", qss).
		U32("k_sb", ksb).U32("k_sh", ksh).U32("k_ss", kss).
		U32("v_sb", ksb).U32("v_sh", ksh).U32("v_ss", kss).
		U32("o_sb", osb).U32("o_sh", osh).U32("o_ss", oss).
		U32("nqb", ceilDiv(l.sq, sageQBlock)).U32("nkb", ceilDiv(l.sk, sageKBlock)).
		I32("off", l.sk-l.sq).U32("tile0", 0)
	k.Out("o", l.q.DType, l.outShape()...)
	qk, sid := sageQKPortable, ""
	if s.Matrix {
		k.Name += "_sm"
		k.Uint("TM", s.Shape.M).Uint("TN", s.Shape.N).Uint("TK", s.Shape.K).Uint("NSG", s.WG/s.SG)
		qk, sid = sageQKMatrix, ", @builtin(subgroup_id) sid: u32"
	}
	k.Snippet("QK", qk).Snippet("SID", sid)
	k.Grid = gpu.Grid{uint32(ceilDiv(l.sq, s.BQ)), uint32(l.b * l.h), 1}
	return k
}

// sageQKPortable is the QK snippet on dot4I8Packed: each invocation sums
// the dots of whole (row, key) pairs.
const sageQKPortable = `for (var e = lid; e < BQ * BK; e = e + WG) {
      let qa = (e / BK) * DP;
      let ka = (e % BK) * KST;
      var a = 0i;
      for (var c = 0u; c < DP; c = c + 1u) {
        a = a + dot4I8Packed(bitcast<u32>(tq[qa + c]), bitcast<u32>(tk[ka + c]));
      }
      ts[(e / BK) * TSS + e % BK] = a;
    }`

// sageQKMatrix is the QK snippet on i8 subgroup matrices: subgroup sid
// computes result blocks sid, sid + NSG, ... of TM rows by TN keys,
// stepping TK codes (TK/4 words) through D, and stores each into ts.
// Offsets and strides count the arrays' i32 words, four codes each;
// subgroup_id is uniform within the subgroup, as Tint requires of
// subgroup-matrix operands.
const sageQKMatrix = `for (var tt = sid; tt < (BQ / TM) * (BK / TN); tt = tt + NSG) {
      let ti = tt / (BK / TN);
      let tj = tt % (BK / TN);
      var cm = subgroup_matrix_result<i32, TN, TM>();
      for (var c = 0u; c < DP; c = c + TK / 4u) {
        let am = subgroupMatrixLoad<subgroup_matrix_left<i8, TK, TM>, row_major>(&tq, ti * TM * DP + c, DP);
        let bm = subgroupMatrixLoad<subgroup_matrix_right<i8, TN, TK>, col_major>(&tk, tj * TN * KST + c, KST);
        cm = subgroupMatrixMultiplyAccumulate(am, bm, cm);
      }
      subgroupMatrixStore<row_major>(&ts, ti * TM * TSS + tj * TN, cm, TSS);
    }`
