package launch

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
)

// ---- Attention (ops/attention): the register-blocked flash kernel's
// tile table (wgsl/attention_tiled.wgsl), the row kernel's sizes
// (wgsl/attention.wgsl), key splits for decoding and the CPU drivers'
// cases. ops/attention builds kernels from an AttentionLaunch and
// decides nothing of its own.

// AttentionTile is one configuration of the register-blocked flash
// kernel: BQ query rows per workgroup, key tiles of BK keys, a TM x TN
// block of scores per invocation (so (BQ/TM)*(BK/TN) invocations), D
// staged DC elements at a time, and one or two stage buffers. The value
// stages, the accumulators per invocation and the workgroup memory
// follow from these and the head dimension (Layout). Late and Fold are
// the variants of AttentionVariants: Late keeps fetched 16-bit units as
// raw words in registers and converts them to f32 when it stores them in
// workgroup memory (half the fetch registers live across the
// arithmetic; f32 storage is unchanged); Fold keeps the row-maximum
// reduction inside P's array and its rows unpadded (one more barrier
// per key tile, less workgroup memory, so BQ = 128 fits 48 KiB). Union
// (with Fold, single buffer) lays the query/key stage over P's array,
// which it only holds between the softmax and the last value stage: the
// stage may then be as large as P (DC = 32 at BQ = 128 within 48 KiB,
// half the query/key stages and barriers), with the reduction and the
// value stage beside them.
type AttentionTile struct {
	BQ, BK int
	TM, TN int
	DC     int
	Double bool
	Late   bool
	Fold   bool
	Union  bool
}

// String names the configuration as sub-benchmarks and subtests do:
// 64x64/8x4/d16/db (BQ x BK / TM x TN / DC / double or single buffer).
func (c AttentionTile) String() string {
	db := "sb"
	if c.Double {
		db = "db"
	}
	s := fmt.Sprintf("%dx%d/%dx%d/d%d/%s", c.BQ, c.BK, c.TM, c.TN, c.DC, db)
	if c.Fold {
		s += "/fold"
	}
	if c.Late {
		s += "/late"
	}
	if c.Union {
		s += "/union"
	}
	return s
}

// Invocations returns the workgroup size.
func (c AttentionTile) Invocations() int { return (c.BQ / c.TM) * (c.BK / c.TN) }

// AttentionTiles lists the tiled kernel's configurations, the one the
// planner prefers first. The planner takes the first that fits the
// device (workgroup memory for the head dimension, invocations) and the
// call (a block mask's query blocks must be whole tiles). None needs
// subgroups: the row maxima go through workgroup memory, one barrier and
// a few loads per tile. The first row is the best of both dtypes in the
// variants sweep on the H200 (2026-11-29, S=4096 H=24 D=128,
// bench/results/2026-11-29-h200-attention-union.txt):
// 128x64/8x4/d32/sb/fold/late/union 29.8 TFLOP/s in f32 dense and GQA
// (28.4 causal) and 30.8 in bf16, against 28.1 (26.0 causal) and 29.0
// for the same tile without Union and DC 16, the second row (first from
// 2026-11-28 to 29, where Union's stage does not fit: D=256), which had
// beaten the third (24.2) and the earlier first (23.1). The third row keeps the
// earlier sweep's best (bench/results/2026-11-28-h200-attention-sweep.txt)
// with Late for devices under 48 KiB of workgroup memory or 256
// invocations; the rest follow the arithmetic below (D=128;
// TestTileChooser prints it): FMAs per workgroup barrier
// and per load of workgroup memory in the two products (higher is
// better), and the registers an invocation holds for scores (S) and
// accumulators (O).
//
//	config            inv  smem    FMA/barrier  FMA/load S, PV  S, O regs  needs
//	64x64/8x4/d16/db  128  41 KiB  630          10.7, 16        32, 64     48 KiB (NVIDIA)
//	64x64/8x4/d32/sb  128  39 KiB  630          10.7, 16        32, 64     48 KiB
//	64x64/4x4/d16/db  256  41 KiB  315           8, 10.7        16, 32     48 KiB
//	128x32/8x2/d8/db  256  41 KiB  195           6.4, 16        16, 64     48 KiB
//	64x128/8x8/d8/sb  128  46 KiB  334          16, 16          64, 64     48 KiB
//	64x32/8x2/d16/db  128  28 KiB  315           6.4, 16        16, 64     32 KiB (Apple, lavapipe, SwiftShader)
//	32x64/4x4/d16/db  128  26 KiB  240           8, 10.7        16, 32     32 KiB
//	64x64/8x4/d8/sb   128  27 KiB  167          10.7, 16        32, 64     32 KiB
//	32x32/4x4/d8/db    64  12 KiB  163           8, 12.8        16, 64     16 KiB, 256 (WebGPU core limits)
var AttentionTiles = []AttentionTile{
	{BQ: 128, BK: 64, TM: 8, TN: 4, DC: 32, Late: true, Fold: true, Union: true},
	{BQ: 128, BK: 64, TM: 8, TN: 4, DC: 16, Late: true, Fold: true},
	{BQ: 64, BK: 64, TM: 4, TN: 4, DC: 16, Double: true, Late: true},
	{BQ: 64, BK: 64, TM: 8, TN: 4, DC: 16, Double: true},
	{BQ: 64, BK: 64, TM: 8, TN: 4, DC: 32, Double: false},
	{BQ: 128, BK: 32, TM: 8, TN: 2, DC: 8, Double: true},
	{BQ: 64, BK: 128, TM: 8, TN: 8, DC: 8, Double: false},
	{BQ: 64, BK: 32, TM: 8, TN: 2, DC: 16, Double: true},
	{BQ: 32, BK: 64, TM: 4, TN: 4, DC: 16, Double: true},
	{BQ: 64, BK: 64, TM: 8, TN: 4, DC: 8, Double: false},
	{BQ: 32, BK: 32, TM: 4, TN: 4, DC: 8, Double: true},
}

// AttentionVariants are candidates that the planner does not take (yet):
// BenchmarkAttentionSweep times them beside the first three rows of
// AttentionTiles on a real GPU (WEBFUSER_BENCH_ATTENTION=variants), and
// the tests check them against the reference wherever they fit. At
// D=128 (TestTileChooser prints it; all fit NVIDIA's 48 KiB, only the
// last three lavapipe's 32 KiB, where they check Late, Fold and Union):
//
//	config                       inv  smem    stages  FMA/barrier  FMA/load S, PV
//	64x64/4x4/d16/db/late        256  41 KiB  8+4     315           8, 10.7
//	64x64/8x4/d16/db/late        128  41 KiB  8+4     630          10.7, 16
//	64x64/8x4/d32/sb/late        128  39 KiB  4+2     630          10.7, 16
//	64x64/4x4/d16/db/fold/late   256  36 KiB  8+4     292           8, 10.7
//	64x64/8x4/d16/db/fold/late   128  36 KiB  8+4     585          10.7, 16
//	128x32/4x4/d16/db/fold/late  256  41 KiB  8+2     341           8, 12.8
//	128x64/8x4/d8/sb/fold/late   256  41 KiB  16+4    195          10.7, 16
//	128x64/4x4/d8/sb/fold/late   512  41 KiB  16+4     97           8, 10.7
//	64x128/8x8/d16/sb/fold/late  128  47 KiB  8+8     481          16, 16
//	64x32/8x2/d16/db/fold/late   128  23 KiB  8+4     292           6.4, 16
//	64x32/8x2/d32/sb/fold/late/union   128  20 KiB  4+8  157       6.4, 16
//	32x32/4x4/d8/db/fold/late     64  10 KiB  16+8    157           8, 12.8
//
// The Union row fits lavapipe's 32 KiB, so that the tests check Union
// there. Two rows left this list for AttentionTiles on 2026-11-29: the
// Union tile 128x64/8x4/d32 (the query/key stage laid over P so that it
// holds DC = 32: half the query/key stages, 18 barriers per key tile
// instead of 26), now the first row, and 128x64/8x4/d16, the second.
var AttentionVariants = []AttentionTile{
	{BQ: 64, BK: 64, TM: 4, TN: 4, DC: 16, Double: true, Late: true},
	{BQ: 64, BK: 64, TM: 8, TN: 4, DC: 16, Double: true, Late: true},
	{BQ: 64, BK: 64, TM: 8, TN: 4, DC: 32, Late: true},
	{BQ: 64, BK: 64, TM: 4, TN: 4, DC: 16, Double: true, Late: true, Fold: true},
	{BQ: 64, BK: 64, TM: 8, TN: 4, DC: 16, Double: true, Late: true, Fold: true},
	{BQ: 128, BK: 32, TM: 4, TN: 4, DC: 16, Double: true, Late: true, Fold: true},
	{BQ: 128, BK: 64, TM: 8, TN: 4, DC: 8, Late: true, Fold: true},
	{BQ: 128, BK: 64, TM: 4, TN: 4, DC: 8, Late: true, Fold: true},
	{BQ: 64, BK: 128, TM: 8, TN: 8, DC: 16, Late: true, Fold: true},
	{BQ: 64, BK: 32, TM: 8, TN: 2, DC: 16, Double: true, Late: true, Fold: true},
	{BQ: 64, BK: 32, TM: 8, TN: 2, DC: 32, Late: true, Fold: true, Union: true},
	{BQ: 32, BK: 32, TM: 4, TN: 4, DC: 8, Double: true, Late: true, Fold: true},
}

// Valid returns an error when the kernel cannot be built from c.
func (c AttentionTile) Valid() error {
	pow2 := func(v int) bool { return v > 0 && v&(v-1) == 0 }
	switch {
	case !pow2(c.BQ) || !pow2(c.BK) || !pow2(c.TM) || !pow2(c.TN) || c.BQ < c.TM || c.BK < c.TN:
		return fmt.Errorf("tile %v: BQ, BK, TM and TN must be powers of two with TM <= BQ, TN <= BK", c)
	case c.BK < 4 || (c.BK/c.TN)%4 != 0:
		return fmt.Errorf("tile %v: BK/TN must be a multiple of 4", c)
	case c.DC < 8 || c.DC%8 != 0:
		return fmt.Errorf("tile %v: DC must be a positive multiple of 8", c)
	case c.Invocations() > 1024:
		return fmt.Errorf("tile %v: %d invocations", c, c.Invocations())
	case c.Union && (!c.Fold || c.Double):
		return fmt.Errorf("tile %v: Union needs Fold and one stage buffer", c)
	}
	return nil
}

// AttentionLayout is a tile resolved for a head dimension: every
// constant the WGSL is specialised on (sizes in packs of 4 elements).
type AttentionLayout struct {
	AttentionTile
	DP, H    int // packs of D; packs per 16-byte unit (2 for D % 8 == 0)
	QP       int // packs of a staged query or key row: DP, or D/16 for Sage's int8 codes
	NTX, NTY int // invocations along keys (and D) and along rows
	WG       int
	DCP, RS  int // packs of D per query/key stage; padded row stride
	UPC, NC  int // units per staged row chunk; query/key stages per tile
	KC, NV   int // keys per value stage; value stages per tile
	VS, UPV  int // row stride of a value stage; units per value row
	DJ       int // accumulator packs per row and invocation
	PS       int // row stride of P
	STG      int // packs per stage buffer
	NBuf     int
	RedP     int // packs of the reduction array
	NR       int // fetched units per invocation and stage
	// Union only (else 0, and the stage, P and the reduction are
	// separate arrays): the reduction's and the value stage's pack
	// offsets in the one workgroup array, and its packs.
	RedB, VB, UnionP int
}

// Layout resolves c for head dimension d.
func (c AttentionTile) Layout(d int) AttentionLayout {
	h := 1
	if d%8 == 0 {
		h = 2
	}
	return c.layout(d/4, d/4, h)
}

// SageLayout resolves c for the Sage variant at head dimension d (a
// multiple of 16): the query and key stages hold packs of 16 int8 codes
// (four u32 words), D/16 to a row, and every unit is one pack (H = 1).
// Its stage holds u32 words, so Union (P's f32 packs in the stage)
// does not apply and is dropped.
func (c AttentionTile) SageLayout(d int) AttentionLayout {
	c.Union = false
	return c.layout(d/16, d/4, 1)
}

// layout resolves c for staged query and key rows of qp packs, value and
// output rows of dp packs and units of h packs.
func (c AttentionTile) layout(qp, dp, h int) AttentionLayout {
	t := AttentionLayout{AttentionTile: c, DP: dp, QP: qp, H: h}
	t.NTX, t.NTY = c.BK/c.TN, c.BQ/c.TM
	t.WG = t.NTX * t.NTY
	t.DCP = min(c.DC/4, ceilDiv(t.QP, t.H)*t.H)
	t.RS = t.DCP | 1 // odd: rows of neighbouring lanes in different banks
	t.UPC = t.DCP / t.H
	t.NC = ceilDiv(t.QP, t.DCP)
	t.DJ = ceilDiv(t.DP, t.NTX)
	t.VS = t.NTX * t.DJ
	t.UPV = t.DP / t.H
	qk := (c.BQ + c.BK) * t.RS
	t.KC = 4
	for t.KC*2 <= c.BK && t.KC*2*t.VS <= qk {
		t.KC *= 2
	}
	t.NV = c.BK / t.KC
	t.STG = max(qk, t.KC*t.VS)
	t.NBuf = 1
	if c.Double {
		t.NBuf = 2
	}
	t.PS = c.BK/4 + 1
	t.RedP = c.BQ * t.NTX / 4
	if c.Fold {
		// The reduction (BQ * NTX/4 packs, NTX <= BK) lives in ps.
		t.PS, t.RedP = c.BK/4, 0
	}
	if c.Union {
		// P from pack 0, the query/key stage over it, the reduction
		// after the stage (its maxima are written while the last query
		// stage is read, and read before P is written), the value stage
		// after both (filled while the stage and the reduction are in
		// use), at most a quarter of P.
		t.RedP = c.BQ * t.NTX / 4
		t.RedB = qk
		t.VB = max(c.BQ*t.PS, t.RedB+t.RedP)
		t.KC = 4
		for t.KC*2 <= c.BK && t.KC*2*t.VS <= c.BQ*t.PS/4 {
			t.KC *= 2
		}
		t.NV = c.BK / t.KC
		t.UnionP = t.VB + t.KC*t.VS
	}
	t.NR = max(ceilDiv((c.BQ+c.BK)*t.UPC, t.WG), ceilDiv(t.KC*t.UPV, t.WG))
	return t
}

// Barriers returns the workgroup barriers per key tile.
func (t AttentionLayout) Barriers() int {
	n := t.NBuf%2*(t.NC+t.NV) + t.NC + t.NV + 1
	if t.Fold {
		n++
	}
	return n
}

// Smem returns the workgroup memory the kernel declares, in bytes.
func (t AttentionLayout) Smem() int {
	if t.Union {
		return 16 * t.UnionP
	}
	return 16 * (t.NBuf*t.STG + t.BQ*t.PS + t.RedP)
}

// defaultLimits reads zero limits as WebGPU's defaults (16 KiB of
// workgroup memory, 256 invocations).
func defaultLimits(lim gpu.Limits) (mem, inv int) {
	mem, inv = int(lim.MaxWorkgroupMemory), int(lim.MaxInvocations)
	if mem <= 0 {
		mem = 16384
	}
	if inv <= 0 {
		inv = 256
	}
	return mem, inv
}

// Fits reports whether limits allow the configuration for head
// dimension d (zero limits read as WebGPU's defaults: 16 KiB, 256).
func (c AttentionTile) Fits(lim gpu.Limits, d int) bool {
	if c.Valid() != nil {
		return false
	}
	mem, inv := defaultLimits(lim)
	if x := int(lim.MaxWorkgroupSizeX); x > 0 {
		inv = min(inv, x)
	}
	return c.Layout(d).Smem() <= mem && c.Invocations() <= inv
}

// ChooseAttentionTile returns the first of AttentionTiles that fits lim
// for head dimension d and whose BQ divides maskBQ (a block mask's query
// blocks; 0 for no mask), and false when none does (the row kernel then
// serves the call).
func ChooseAttentionTile(lim gpu.Limits, d, maskBQ int) (AttentionTile, bool) {
	for _, c := range AttentionTiles {
		if c.Fits(lim, d) && (maskBQ == 0 || maskBQ%c.BQ == 0) {
			return c, true
		}
	}
	return AttentionTile{}, false
}

// AttentionCall is what the planner needs of one attention call: sizes
// (batch, heads, query and key lengths, head dimension), the block
// mask's query block (0: dense), whether tokens are permuted, and the
// caller's forcing: Split key splits (0 automatic, 1 none, n forced,
// dense only), Rows (the row kernel), Tiled (the tiled kernel where one
// fits, CPU drivers included), Tile (this tiled configuration).
// Subgroups says the row kernel may use subgroups.
type AttentionCall struct {
	B, H, Sq, Sk, D int
	MaskBQ          int
	Perm            bool
	Split           int
	Rows, Tiled     bool
	Tile            *AttentionTile
	Subgroups       bool
}

// AttentionLaunch is the planner's answer: the tiled kernel with Layout,
// or the row kernel with T invocations per query row (4 with subgroups),
// BQ rows and BK-key tiles per workgroup of WG invocations, DPT packs of
// D per invocation, and NSplit key splits of SplitLen keys (1 and Sk
// when not split).
type AttentionLaunch struct {
	Tiled              bool
	Layout             AttentionLayout
	Subgroups          bool
	T, BQ, BK, WG, DPT int
	NSplit, SplitLen   int
}

// PlanAttention chooses the launch of call c on a device with limits lim
// of class class.
//
// The row kernel takes 64 query rows per workgroup (fewer when a block
// mask's query blocks are smaller), K/V tiles of up to 32 keys that fit
// the workgroup memory with the scores, and on GPUs it serves only
// decoding: on the H200 it ran at half the tiled kernel's rate at
// S=4096 (BenchmarkAttentionSweep, "rows" in
// bench/results/2026-11-28-h200-attention-sweep.txt: 12.2 against 24.1
// TFLOP/s in f32). Decoding (at most 16 query rows, at least 512 keys,
// dense) splits the keys over workgroups, aiming at 256 workgroups of at
// least 256 keys each, with workgroups of at least 64 invocations:
// lavapipe was seen to take minutes to build (or hang in) the kernel
// with 16 (ops/attention/RATIONALE.md). CPU drivers keep the row kernel
// unless told otherwise, since SwiftShader takes from 20 s to minutes to
// build a tiled one (RATIONALE.md), while lavapipe ran the row kernel
// in bench/results/2026-11-27-lavapipe-block-sparse.md.
func PlanAttention(lim gpu.Limits, class gpu.Class, c AttentionCall) AttentionLaunch {
	dp := c.D / 4
	var p AttentionLaunch
	p.Subgroups = c.Subgroups && dp%4 == 0
	p.T = 1
	if p.Subgroups {
		p.T = 4
	}
	p.BQ = 64
	if c.MaskBQ > 0 {
		for p.BQ > 1 && c.MaskBQ%p.BQ != 0 {
			p.BQ /= 2
		}
	}
	dense := c.MaskBQ == 0 && !c.Perm
	if dense && c.Sq <= 16 && (c.Sk >= 512 || c.Split > 1) {
		p.BQ = max(16, 64/p.T)
	}
	mem, maxInv := defaultLimits(lim)
	for p.BQ > 1 && p.BQ*p.T > maxInv {
		p.BQ /= 2
	}
	p.WG = p.BQ * p.T
	// K and V tiles of BK keys (f32) plus the BQ x BK scores must fit the
	// device's workgroup memory (lavapipe 32 KiB, NVIDIA 48 KiB, WebGPU's
	// default 16 KiB).
	p.BK = 32
	for p.BK > 1 && 2*p.BK*dp*16+p.BQ*p.BK*4 > mem {
		p.BK /= 2
	}
	p.DPT = dp / p.T
	p.NSplit, p.SplitLen = 1, c.Sk
	if dense {
		groups := c.B * c.H * ceilDiv(c.Sq, p.BQ)
		n := c.Split
		if n == 0 && c.Sq <= 16 && c.Sk >= 512 {
			n = min(ceilDiv(256, groups), ceilDiv(c.Sk, 256))
		}
		if n > 1 {
			p.SplitLen = ceilDiv(ceilDiv(c.Sk, n), p.BK) * p.BK
			p.NSplit = ceilDiv(c.Sk, p.SplitLen)
		}
	}
	if p.NSplit == 1 && !c.Rows && (c.Tiled || c.Tile != nil || class != gpu.ClassCPU) {
		t, ok := AttentionTile{}, false
		if c.Tile != nil {
			t, ok = *c.Tile, true
		} else {
			t, ok = ChooseAttentionTile(lim, c.D, c.MaskBQ)
		}
		if ok {
			p.Tiled, p.Layout = true, t.Layout(c.D)
		}
	}
	return p
}

// TilesPerSubmission is how many query tiles of an attention launch go
// into one submission, for tiles of about work multiply-adds each: all
// of them on GPUs; on CPU drivers, chunks of about 2²⁷, flushed one by
// one, since lavapipe was seen to crash after a submission of about 5 s.
func TilesPerSubmission(d *gpu.Device, ntiles, work int) int {
	if d.Info.Class != gpu.ClassCPU {
		return max(ntiles, 1)
	}
	return max(1, min(ntiles, (1<<27)/max(1, work)))
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
