package attention

import (
	"encoding/binary"
	"math"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// MaxHeadDim is the largest head dimension the kernels take.
const MaxHeadDim = 256

// call is one validated call of the flash kernel.
type call struct {
	op       string
	q, k, v  *gpu.Tensor
	in, out  Layout
	causal   bool
	scale    float32 // 0: 1/sqrt(D)
	mask     *BlockMask
	perm     []int                 // token order (local sparse), nil for none
	portable bool                  // never use subgroups
	split    int                   // key splits: 0 automatic, 1 none, n forced (dense only)
	rows     bool                  // use the row kernel (attention.wgsl), never the tiled one
	tiled    bool                  // use the tiled kernel where it fits, CPU drivers included
	tile     *launch.AttentionTile // forced tiled configuration (tests, sweeps)

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
func strides(l Layout, s, n, dp int) (sb, sh, ss int) {
	if l == BNSD {
		return n * s * dp, s * dp, dp
	}
	return s * n * dp, dp, n * dp
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
func (l *call) validate() error {
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
func (l *call) outShape() []int {
	if l.out == BNSD {
		return []int{l.b, l.h, l.sq, l.d}
	}
	return []int{l.b, l.sq, l.h, l.d}
}

// run validates and dispatches, returning the output.
func (l *call) run() (*gpu.Tensor, error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	return l.dispatch()
}

// tiledEverywhere makes the planner use the tiled kernel on CPU drivers
// too (tests: the golden cases through the tiled kernel on lavapipe).
var tiledEverywhere bool

// plan asks internal/launch for the call's launch on its device, the
// row kernel's subgroups allowed when sgAvail.
func (l *call) plan(sgAvail bool) launch.AttentionLaunch {
	dev := l.q.Device()
	return l.planOn(dev.Limits, dev.Info.Class, sgAvail)
}

// planOn is plan for a device with limits lim of class class.
func (l *call) planOn(lim gpu.Limits, class gpu.Class, sgAvail bool) launch.AttentionLaunch {
	c := launch.AttentionCall{B: l.b, H: l.h, Sq: l.sq, Sk: l.sk, D: l.d, Perm: l.perm != nil, Split: l.split,
		Rows: l.rows, Tiled: l.tiled || tiledEverywhere, Tile: l.tile, Subgroups: sgAvail && !l.portable}
	if l.mask != nil {
		c.MaskBQ = l.mask.BQ
	}
	return launch.PlanAttention(lim, class, c)
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

// kernel declares the flash kernel for launch plan pl, writing a new
// output (or, when split, a new f32 scratch of partial results). The
// sparse operands (CSR lists of live key blocks, token order) are bound
// when the launch has them. Uniform tile0 is the first query tile; the
// caller may run the declaration on chunks of tiles.
func (l *call) kernel(pl launch.AttentionLaunch, rowptr, cols, tok *gpu.Tensor) *kernel.Kernel {
	dp := l.d / 4
	split := pl.NSplit > 1
	rowsum := "rowsum_single"
	if pl.Subgroups {
		rowsum = "rowsum_subgroup"
	}
	k := &kernel.Kernel{Name: "attention", Vec: 4, Subgroups: pl.Subgroups, Files: []string{rowsum, "attention"}}
	k.Uint("DP", dp).Uint("T", pl.T).Uint("DPT", pl.DPT).Uint("BQ", pl.BQ).Uint("BK", pl.BK).Uint("WG", pl.WG).
		Bool("CAUSAL", l.causal).Bool("SPLIT", split)
	l.bindOperands(k, rowptr, cols, tok)
	k.U32("split_len", pl.SplitLen).U32("nsplit", pl.NSplit)
	var store string
	if split {
		k.Out("part", dtype.F32, l.b*l.h*l.sq*pl.NSplit*(dp+1)*4)
		store = "let pb = ((bh * p.sq + qi) * p.nsplit + wid.z) * (DP + 1u);\n    for (var c = 0u; c < DPT; c = c + 1u) { stv_part(pb + part + c * T, acc[c]); }\n    if (part == 0u) { stv_part(pb + DP, vec4<f32>(m, l, 0.0, 0.0)); }"
	} else {
		osb, osh, oss := strides(l.out, l.sq, l.h, dp)
		k.Out("o", l.q.DType, l.outShape()...)
		k.U32("o_sb", osb).U32("o_sh", osh).U32("o_ss", oss)
		store = "let obase = b * p.o_sb + h * p.o_sh + qtok * p.o_ss;\n    let inv = select(0.0, 1.0 / l, l > 0.0);\n    for (var c = 0u; c < DPT; c = c + 1u) { stv_o(obase + part + c * T, acc[c] * inv); }"
	}
	k.Snippet("STORE", store)
	k.Grid = gpu.Grid{uint32(ceilDiv(l.sq, pl.BQ)), uint32(l.b * l.h), uint32(pl.NSplit)}
	return k
}

// bindOperands binds what both flash kernels read: q, k and v with their
// sizes, strides, scale and causal offset (uniform tile0 is the first
// query tile), and the sparse operands when the launch has them, with
// the snippets that read them: rowptr and cols (a block mask's CSR
// lists of live key blocks: RANGES, BLOCK and the mask's uniforms) and
// tok (the token order of local sparse attention: QTOK, KTOK).
func (l *call) bindOperands(k *kernel.Kernel, rowptr, cols, tok *gpu.Tensor) {
	dp := l.d / 4
	k.In("q", l.q).In("k", l.k).In("v", l.v)
	scale := float64(l.scale)
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(l.d))
	}
	qsb, qsh, qss := strides(l.in, l.sq, l.h, dp)
	ksb, ksh, kss := strides(l.in, l.sk, l.hk, dp)
	k.U32("sq", l.sq).U32("sk", l.sk).U32("h", l.h).U32("hdiv", l.h/l.hk).
		U32("q_sb", qsb).U32("q_sh", qsh).U32("q_ss", qss).
		U32("k_sb", ksb).U32("k_sh", ksh).U32("k_ss", kss).
		U32("v_sb", ksb).U32("v_sh", ksh).U32("v_ss", kss).
		F32("scale", float32(scale*math.Log2E)).I32("off", l.sk-l.sq).U32("tile0", 0)
	ranges, block, qtok, ktok := "", "", "qrow", "key"
	if rowptr != nil {
		k.In("rowptr", rowptr).In("cols", cols)
		ranges = "let ri = (b * p.m_sb + h * p.m_sh) * p.nqb + (tile * BQ) / p.bq;\n  e0 = rowptr_buf[ri];\n  nr = rowptr_buf[ri + 1u] - e0;"
		block = "s0 = min(cols_buf[e0 + e] * p.bk, ke);\n    s1 = min(s0 + p.bk, ke);"
		msb, msh := l.mask.planeStrides()
		k.U32("bq", l.mask.BQ).U32("bk", l.mask.BK).U32("nqb", ceilDiv(l.sq, l.mask.BQ)).U32("m_sb", msb).U32("m_sh", msh)
	}
	if tok != nil {
		k.In("tok", tok)
		qtok, ktok = "tok_buf[qrow]", "tok_buf[key]"
	}
	k.Snippet("RANGES", ranges).Snippet("BLOCK", block).Snippet("QTOK", qtok).Snippet("KTOK", ktok)
}

// combine declares the merge of split partial results into a new output,
// folding the splits with the MergeAttnStates operator's merge
// (wgsl/merge_state.wgsl) in one launch rather than nsplit-1 launches of
// the operator.
func (l *call) combine(part *gpu.Tensor, nsplit int) *kernel.Kernel {
	dp := l.d / 4
	rows := l.b * l.h * l.sq
	osb, osh, oss := strides(l.out, l.sq, l.h, dp)
	k := &kernel.Kernel{Name: "attention_combine", Vec: 4, Files: []string{"merge_state", "attention_combine"}, Grid: l.q.Device().Groups(ceilDiv(rows*dp, 64))}
	k.Uint("DP", dp).In("part", part).Out("o", l.q.DType, l.outShape()...)
	return k.U32("rows", rows).U32("sq", l.sq).U32("h", l.h).U32("nsplit", nsplit).U32("o_sb", osb).U32("o_sh", osh).U32("o_ss", oss)
}

// dispatch runs the launch and returns its output: the flash kernel,
// in chunks of query tiles on CPU drivers, then the split merge.
func (l *call) dispatch() (*gpu.Tensor, error) {
	dev := l.q.Device()
	if l.sq == 0 || l.b == 0 || l.h == 0 {
		return dev.NewOutput(l.q.DType, l.outShape()...)
	}
	pl := l.plan(dev.Features.Subgroups && !l.portable)
	var rowptr, cols, tok *gpu.Tensor
	if l.mask != nil {
		c, err := l.mask.csr(dev)
		if err != nil {
			return nil, err
		}
		rowptr, cols = c.rowptr, c.cols
	}
	if l.perm != nil {
		t, err := uploadI32(dev, l.perm)
		if err != nil {
			return nil, err
		}
		defer t.Release()
		tok = t
	}
	if pl.Tiled && l.tile != nil {
		if !l.tile.Fits(dev.Limits, l.d) {
			return nil, errorf(l.op, "tile", "configuration %v does not fit the device (%d bytes of workgroup memory, %d invocations)",
				*l.tile, pl.Layout.Smem(), pl.Layout.WG)
		}
		if l.mask != nil && l.mask.BQ%l.tile.BQ != 0 {
			return nil, errorf(l.op, "tile", "configuration %v: mask query blocks of %d rows are not whole tiles", *l.tile, l.mask.BQ)
		}
	}
	var k *kernel.Kernel
	bq := pl.BQ
	if pl.Tiled {
		k, bq = l.tiledKernel(pl.Layout, rowptr, cols, tok), pl.Layout.BQ
	} else {
		k = l.kernel(pl, rowptr, cols, tok)
	}
	work := bq * l.sk * l.d * l.b * l.h
	if l.mask != nil {
		work = work * l.mask.live() / max(1, l.mask.total())
	}
	outs, err := runTiles(dev, k, work)
	if err != nil {
		return nil, err
	}
	if pl.NSplit == 1 {
		return outs[0], nil
	}
	defer release(outs)
	return l.combine(outs[0], pl.NSplit).RunOne(dev)
}

// runTiles runs k over its grid's query tiles (uniform tile0 the first
// of each launch), in chunks of about work operations per tile that keep
// each submission short on CPU drivers (launch.TilesPerSubmission), and
// returns the first launch's outputs, which the later ones reuse.
func runTiles(dev *gpu.Device, k *kernel.Kernel, work int) ([]*gpu.Tensor, error) {
	ntiles := int(k.Grid[0])
	chunk := launch.TilesPerSubmission(dev, ntiles, work)
	var outs []*gpu.Tensor
	for t0 := 0; t0 < ntiles; t0 += chunk {
		k.SetU32("tile0", t0).Grid[0] = uint32(min(chunk, ntiles-t0))
		if outs != nil {
			if err := dev.Flush(); err != nil {
				break
			}
			k.Reuse(outs)
		}
		o, err := k.Run(dev)
		if err != nil {
			release(outs)
			return nil, err
		}
		if outs == nil {
			outs = o
		}
	}
	return outs, nil
}

func release(ts []*gpu.Tensor) {
	for _, t := range ts {
		t.Release()
	}
}
