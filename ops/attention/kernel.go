package attention

import (
	"encoding/binary"
	"math"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/wgsl"
)

// MaxHeadDim is the largest head dimension the kernels take.
const MaxHeadDim = 256

// launch is one validated call of the flash kernel.
type launch struct {
	op       string
	q, k, v  *gpu.Tensor
	in, out  Layout
	causal   bool
	scale    float32 // 0: 1/sqrt(D)
	mask     *BlockMask
	perm     []int // token order (local sparse), nil for none
	portable bool  // never use subgroups
	split    int   // key splits: 0 automatic, 1 none, n forced (dense only)

	b, sq, sk, h, hk, d int
}

// dims reads [B,S,N,D] in layout l.
func dims(t *gpu.Tensor, l Layout) (b, s, n, d int) {
	if l == BNSD {
		return t.Shape[0], t.Shape[2], t.Shape[1], t.Shape[3]
	}
	return t.Shape[0], t.Shape[1], t.Shape[2], t.Shape[3]
}

// strides returns batch, head and sequence strides in packs of 4 elements.
func strides(l Layout, s, n, dp int) (sb, sh, ss uint32) {
	if l == BNSD {
		return uint32(n * s * dp), uint32(s * dp), uint32(dp)
	}
	return uint32(s * n * dp), uint32(dp), uint32(n * dp)
}

func checkFloat(op, name string, t *gpu.Tensor) error {
	if t == nil {
		return errorf(op, name, "is required")
	}
	switch t.DType {
	case dtype.F32, dtype.F16, dtype.BF16:
	default:
		return errorf(op, name, "dtype %v is not supported (want f32, f16 or bf16)", t.DType)
	}
	if len(t.Shape) != 4 {
		return errorf(op, name, "shape %v, want rank 4 ([B,S,N,D] or [B,N,S,D])", t.Shape)
	}
	if t.ByteSize() > t.Device().Limits.MaxBindingSize {
		return errorf(op, name, "%v is %d bytes, over the device's maxStorageBufferBindingSize of %d; split the work",
			t, t.ByteSize(), t.Device().Limits.MaxBindingSize)
	}
	return nil
}

// validate checks the tensors and fills the sizes.
func (l *launch) validate() error {
	op := l.op
	for _, x := range []struct {
		n string
		t *gpu.Tensor
	}{{"q", l.q}, {"k", l.k}, {"v", l.v}} {
		if err := checkFloat(op, x.n, x.t); err != nil {
			return err
		}
		if x.t.Device() != l.q.Device() {
			return errorf(op, x.n, "is on another device")
		}
	}
	if l.in != BSND && l.in != BNSD || l.out != BSND && l.out != BNSD {
		return errorf(op, "layout", "unknown layout (want BSND or BNSD)")
	}
	var bk, bv, skv, hv, dk, dv int
	l.b, l.sq, l.h, l.d = dims(l.q, l.in)
	bk, l.sk, l.hk, dk = dims(l.k, l.in)
	bv, skv, hv, dv = dims(l.v, l.in)
	if dk != l.d || dv != l.d {
		return errorf(op, "k", "head dims differ: q %d, k %d, v %d", l.d, dk, dv)
	}
	if bk != l.b || bv != l.b {
		return errorf(op, "k", "batch sizes differ: q %d, k %d, v %d", l.b, bk, bv)
	}
	if skv != l.sk || hv != l.hk {
		return errorf(op, "v", "shape %v does not match k's %v", l.v.Shape, l.k.Shape)
	}
	if l.hk == 0 || l.h%l.hk != 0 {
		return errorf(op, "q", "%d heads is not a multiple of the %d kv heads", l.h, l.hk)
	}
	if l.d == 0 || l.d%4 != 0 || l.d > MaxHeadDim {
		return errorf(op, "q", "head dim %d: want a positive multiple of 4 up to %d", l.d, MaxHeadDim)
	}
	if !(l.scale >= 0) || math.IsInf(float64(l.scale), 0) {
		return errorf(op, "scale", "%g: want a positive finite scale (0 for 1/sqrt(D))", l.scale)
	}
	if l.causal && l.sq > l.sk {
		return errorf(op, "q", "causal attention needs Sq <= Sk (got %d > %d): the first queries would see no key", l.sq, l.sk)
	}
	if l.mask != nil {
		n := 1
		for _, x := range l.mask.Shape {
			n *= max(x, 0)
		}
		if l.mask.BQ <= 0 || l.mask.BK <= 0 || n != len(l.mask.Data) {
			return errorf(op, "block_mask", "block sizes %d x %d and %d values for shape %v: want positive sizes and one value per block",
				l.mask.BQ, l.mask.BK, len(l.mask.Data), l.mask.Shape)
		}
		nqb, nkb := ceilDiv(l.sq, l.mask.BQ), ceilDiv(l.sk, l.mask.BK)
		if err := l.mask.check(op, l.b, l.h, nqb, nkb); err != nil {
			return err
		}
	}
	return nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// outShape returns the output's shape in the output layout.
func (l *launch) outShape() []int {
	if l.out == BNSD {
		return []int{l.b, l.h, l.sq, l.d}
	}
	return []int{l.b, l.sq, l.h, l.d}
}

// run validates, allocates the output and dispatches.
func (l *launch) run() (*gpu.Tensor, error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	o, err := l.q.Device().NewTensor(l.q.DType, l.outShape()...)
	if err != nil {
		return nil, err
	}
	if err := l.dispatch(o); err != nil {
		o.Release()
		return nil, err
	}
	return o, nil
}

// tiles are the kernel's tile sizes for one launch.
type tiles struct {
	sg                 bool
	t, bq, bk, wg, dpt int
	nsplit, splitLen   int
}

func (l *launch) plan(sgAvail bool) tiles {
	dev := l.q.Device()
	dp := l.d / 4
	var p tiles
	p.sg = sgAvail && !l.portable && dp%4 == 0
	p.t = 1
	if p.sg {
		p.t = 4
	}
	p.bq = 64
	if l.mask != nil {
		for p.bq > 1 && l.mask.BQ%p.bq != 0 {
			p.bq /= 2
		}
	}
	dense := l.mask == nil && l.perm == nil
	if dense && l.sq <= 16 && (l.sk >= 512 || l.split > 1) {
		// Decode: few rows, keys split over workgroups. Workgroups stay at
		// 64 invocations or more: lavapipe was seen to take minutes to
		// build (or hang in) this kernel with 16.
		p.bq = max(16, 64/p.t)
	}
	maxInv := int(dev.Limits.MaxInvocations)
	if maxInv <= 0 {
		maxInv = 256
	}
	for p.bq > 1 && p.bq*p.t > maxInv {
		p.bq /= 2
	}
	p.wg = p.bq * p.t
	// K and V tiles of BK keys (f32) plus the BQ x BK scores must fit the
	// device's workgroup memory (lavapipe 32 KiB, NVIDIA 48 KiB, WebGPU's
	// default 16 KiB).
	p.bk = 32
	mem := int(dev.Limits.MaxWorkgroupMemory)
	if mem <= 0 {
		mem = 16384
	}
	for p.bk > 1 && 2*p.bk*dp*16+p.bq*p.bk*4 > mem {
		p.bk /= 2
	}
	p.dpt = dp / p.t
	p.nsplit, p.splitLen = 1, l.sk
	if dense {
		groups := l.b * l.h * ceilDiv(l.sq, p.bq)
		n := l.split
		if n == 0 && l.sq <= 16 && l.sk >= 512 {
			n = min(ceilDiv(256, groups), ceilDiv(l.sk, 256))
		}
		if n > 1 {
			p.splitLen = ceilDiv(ceilDiv(l.sk, n), p.bk) * p.bk
			p.nsplit = ceilDiv(l.sk, p.splitLen)
		}
	}
	return p
}

func i32Bytes(v []int) []byte {
	b := make([]byte, 0, 4*max(len(v), 1))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, uint32(int32(x)))
	}
	if len(v) == 0 {
		b = binary.LittleEndian.AppendUint32(b, 0)
	}
	return b
}

func uploadI32(d *gpu.Device, v []int) (*gpu.Tensor, error) {
	n := max(len(v), 1)
	return d.UploadBytes(dtype.I32, []int{n}, i32Bytes(v))
}

// dispatch records the kernel (and the split merge) writing o.
func (l *launch) dispatch(o *gpu.Tensor) error {
	if l.sq == 0 || l.b == 0 || l.h == 0 {
		return nil
	}
	dev := l.q.Device()
	dp := l.d / 4
	pr := ops.NewProgram(dev, "attention", 4, "attention")
	pl := l.plan(dev.Features.Subgroups && !l.portable)
	pl.sg = pr.Subgroups(pl.sg)
	if !pl.sg && pl.t != 1 {
		pl = l.plan(false)
	}
	split := pl.nsplit > 1
	pr.Const("DP", wgsl.U32(dp)).Const("T", wgsl.U32(pl.t)).Const("DPT", wgsl.U32(pl.dpt)).
		Const("BQ", wgsl.U32(pl.bq)).Const("BK", wgsl.U32(pl.bk)).Const("WG", wgsl.U32(pl.wg)).
		Const("CAUSAL", wgsl.Bool(l.causal)).Const("SPLIT", wgsl.Bool(split))
	if pl.t == 1 {
		pr.Extra("fn row_sum(x: f32) -> f32 { return x; }\n")
	} else {
		pr.Extra("fn row_sum(x: f32) -> f32 {\n  let s = x + subgroupShuffleXor(x, 1u);\n  return s + subgroupShuffleXor(s, 2u);\n}\n")
	}
	pr.Buf("q", l.q.DType, false).Buf("k", l.k.DType, false).Buf("v", l.v.DType, false)
	args := []*gpu.Tensor{l.q, l.k, l.v}
	var temps []*gpu.Tensor
	defer func() {
		for _, t := range temps {
			t.Release()
		}
	}()
	pr.Var("RANGES", "").Var("BLOCK", "").Var("QTOK", "qrow").Var("KTOK", "key")
	var nqb, msb, msh uint32
	if l.mask != nil {
		c, err := l.mask.csr(dev)
		if err != nil {
			return err
		}
		pr.Buf("rowptr", dtype.I32, false).Buf("cols", dtype.I32, false)
		args = append(args, c.rowptr, c.cols)
		pr.Var("RANGES", "let ri = (b * p.m_sb + h * p.m_sh) * p.nqb + (tile * BQ) / p.bq;\n  e0 = rowptr_buf[ri];\n  nr = rowptr_buf[ri + 1u] - e0;")
		pr.Var("BLOCK", "s0 = min(cols_buf[e0 + e] * p.bk, ke);\n    s1 = min(s0 + p.bk, ke);")
		nqb = uint32(ceilDiv(l.sq, l.mask.BQ))
		msb, msh = l.mask.planeStrides()
	}
	if l.perm != nil {
		tok, err := uploadI32(dev, l.perm)
		if err != nil {
			return err
		}
		temps = append(temps, tok)
		pr.Buf("tok", dtype.I32, false)
		args = append(args, tok)
		pr.Var("QTOK", "tok_buf[qrow]").Var("KTOK", "tok_buf[key]")
	}
	if split {
		part, err := dev.NewTensor(dtype.F32, l.b*l.h*l.sq*pl.nsplit*(dp+1)*4)
		if err != nil {
			return err
		}
		temps = append(temps, part)
		pr.Buf("part", dtype.F32, true)
		args = append(args, part)
		pr.Var("STORE", "let pb = ((bh * p.sq + qi) * p.nsplit + wid.z) * (DP + 1u);\n    for (var c = 0u; c < DPT; c = c + 1u) { stv_part(pb + part + c * T, acc[c]); }\n    if (part == 0u) { stv_part(pb + DP, vec4<f32>(m, l, 0.0, 0.0)); }")
	} else {
		pr.Buf("o", o.DType, true)
		args = append(args, o)
		pr.Var("STORE", "let obase = b * p.o_sb + h * p.o_sh + qtok * p.o_ss;\n    let inv = select(0.0, 1.0 / l, l > 0.0);\n    for (var c = 0u; c < DPT; c = c + 1u) { stv_o(obase + part + c * T, acc[c] * inv); }")
	}
	pr.Uniform("sq: u32", "sk: u32", "h: u32", "hdiv: u32",
		"q_sb: u32", "q_sh: u32", "q_ss: u32", "k_sb: u32", "k_sh: u32", "k_ss: u32",
		"v_sb: u32", "v_sh: u32", "v_ss: u32", "o_sb: u32", "o_sh: u32", "o_ss: u32",
		"scale: f32", "off: i32", "tile0: u32", "split_len: u32", "nsplit: u32",
		"bq: u32", "bk: u32", "nqb: u32", "m_sb: u32", "m_sh: u32")
	pipe, err := pr.Pipeline()
	if err != nil {
		return err
	}
	scale := float64(l.scale)
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(l.d))
	}
	qsb, qsh, qss := strides(l.in, l.sq, l.h, dp)
	ksb, ksh, kss := strides(l.in, l.sk, l.hk, dp)
	osb, osh, oss := strides(l.out, l.sq, l.h, dp)
	var bq, bk uint32
	if l.mask != nil {
		bq, bk = uint32(l.mask.BQ), uint32(l.mask.BK)
	}
	ntiles := ceilDiv(l.sq, pl.bq)
	// Keep each submission short on CPU drivers (lavapipe was seen to
	// crash after a long one): chunks of query tiles, flushed one by one.
	chunk := ntiles
	if dev.Info.Type == "cpu" {
		work := pl.bq * l.sk * l.d * l.b * l.h
		if l.mask != nil {
			work = work * l.mask.live() / max(1, l.mask.total())
		}
		chunk = max(1, min(ntiles, (1<<27)/max(1, work)))
	}
	for t0 := 0; t0 < ntiles; t0 += chunk {
		n := min(chunk, ntiles-t0)
		params := gpu.NewParams().U32(uint32(l.sq)).U32(uint32(l.sk)).U32(uint32(l.h)).U32(uint32(l.h / l.hk)).
			U32(qsb).U32(qsh).U32(qss).U32(ksb).U32(ksh).U32(kss).U32(ksb).U32(ksh).U32(kss).
			U32(osb).U32(osh).U32(oss).
			F32(float32(scale * math.Log2E)).U32(uint32(int32(l.sk - l.sq))).U32(uint32(t0)).
			U32(uint32(pl.splitLen)).U32(uint32(pl.nsplit)).
			U32(bq).U32(bk).U32(nqb).U32(msb).U32(msh)
		g := gpu.Grid{uint32(n), uint32(l.b * l.h), uint32(pl.nsplit)}
		if err := dev.Dispatch(pipe, g, params.Bytes(), args...); err != nil {
			return err
		}
		if chunk < ntiles {
			if err := dev.Flush(); err != nil {
				return err
			}
		}
	}
	if !split {
		return nil
	}
	cp := ops.NewProgram(dev, "attention_combine", 4, "attention_combine").Const("DP", wgsl.U32(dp))
	cp.Buf("part", dtype.F32, false).Buf("o", o.DType, true)
	cp.Uniform("rows: u32", "sq: u32", "h: u32", "nsplit: u32", "o_sb: u32", "o_sh: u32", "o_ss: u32")
	cpipe, err := cp.Pipeline()
	if err != nil {
		return err
	}
	rows := l.b * l.h * l.sq
	params := gpu.NewParams().U32(uint32(rows)).U32(uint32(l.sq)).U32(uint32(l.h)).U32(uint32(pl.nsplit)).
		U32(osb).U32(osh).U32(oss)
	return dev.Dispatch(cpipe, dev.Groups(ceilDiv(rows*dp, 64)), params.Bytes(), temps[len(temps)-1], o)
}
