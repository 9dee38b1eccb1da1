// Package launch holds every launch choice of WebFuser's kernels in one
// place: pack widths, workgroup sizes, rows per invocation, matmul tiles,
// grids and the cases that CPU drivers need: launch.go for the
// elementwise, norm, matmul and parity kernels, attention.go for the
// attention kernels. Each choice is keyed on device properties (limits,
// features, gpu.Class), never on names, and cites the benchmark behind
// it (bench/ and bench/results/ have the figures).
package launch

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// Packing returns the pack width and packs per unit for rows of n
// elements of dt: units of two packs (one 16-byte access) for 16-bit
// storage when n allows, which the H200 needs to reach copy bandwidth
// (bench/results/2026-11-27-h200-bf16-ablation.md), packs of four where
// n is a multiple of 4, else scalars.
func Packing(n int, dt dtype.DType) (vec, units int) {
	switch {
	case n%8 == 0 && dt.Size() == 2:
		return 4, 2
	case n%4 == 0:
		return 4, 1
	}
	return 1, 1
}

// PackWidth returns 4 when every n is a multiple of 4, else 1.
func PackWidth(n ...int) int {
	for _, v := range n {
		if v%4 != 0 {
			return 1
		}
	}
	return 4
}

// Row picks the workgroup of a kernel that gives one workgroup to a row
// of n units, aiming at want units per invocation: the smallest power of
// two from 32 to 256 that leaves each invocation at most want units,
// capped by the device's invocation limit, and np, the units per
// invocation. The H200 sweeps put the best sizes there
// (bench/results/2026-11-27-h200-launch-sweep.md).
func Row(d *gpu.Device, n, want int) (wg, np int) {
	wg = 32
	for wg < 256 && wg*want < n {
		wg *= 2
	}
	if max := int(d.Limits.MaxInvocations); max > 0 && wg > max {
		wg = max
	}
	return wg, (n + wg - 1) / wg
}

// NormUnitsPerInvocation is what a norm invocation aims to hold of its
// row: about 48 bytes of f32 (3 packs) or 6 units of 16-bit storage (96
// bytes): enough loads in flight, few invocations per barrier.
func NormUnitsPerInvocation(vec int, dt dtype.DType) int { return max(1, 48/(vec*dt.Size())) }

// NormRowsPerWorkgroup is the rows one RMSNorm workgroup takes, where
// the operands allow two (ops' normSpec.pairRows): 2 loads and decodes
// the weight, scale and shift units once for both rows, at half the
// workgroups and units per invocation. On the H200 (2026-11-29,
// results/2026-11-29-h200-membound.txt) two rows lift the fused
// norm+modulate from 0.741x to 0.788x of a copy in bf16 and from 0.948x
// to 0.965x in f32, and slow the plain norm (0.989x -> 0.886x in bf16),
// so only modulated norms take them.
func NormRowsPerWorkgroup(modulated bool) int {
	if modulated {
		return 2
	}
	return 1
}

// MaxRegisterPacks bounds the packs of a row one norm invocation keeps
// in registers; longer rows are refused.
const MaxRegisterPacks = 32

// ModulateRows reports whether modulate gives one workgroup to each row
// of c channels (rows long enough to fill a workgroup) rather than one
// pack to each invocation (bench/results/2026-11-27-h200-launch-sweep.md).
func ModulateRows(c int) bool { return c >= 1024 }

// ModulateUnitsPerInvocation is the row modulate kernel's target units per invocation.
const ModulateUnitsPerInvocation = 3

// Flat is the grid of a kernel with one invocation per item and 256
// invocations per workgroup.
func Flat(d *gpu.Device, items int) gpu.Grid { return d.Groups((items + 255) / 256) }

// Kind names the kernel a matmul Tile runs.
type Kind uint8

const (
	// Simple is wgsl/matmul.wgsl: 4x4 accumulators per invocation,
	// (BM/4)*(BN/4) invocations, BK deep steps through K.
	Simple Kind = iota
	// Blocked is wgsl/matmul_tiled.wgsl: a TM x TN register block per
	// invocation, (BM/TM)*(BN/TN) invocations, operand tiles staged in
	// workgroup memory (twice, when Double) with 16-byte global loads.
	Blocked
	// GEMV is wgsl/matmul_gemv.wgsl, for products of at most
	// GEMVMaxRows rows: BN output columns per workgroup of Threads
	// invocations, in groups of TN columns (all BN when TN is 0) whose
	// invocations split K and reduce.
	GEMV
)

// Tile is one matmul launch configuration: which kernel, its output tile
// BM x BN (GEMV: BN columns, every row), its K step BK, the register
// block TM x TN of an invocation (Blocked; GEMV: TN columns, 0 for BN),
// double-buffered workgroup memory (Blocked), 16-bit operands in 8-byte
// packs of four rather than 16-byte units of eight (Blocked, Narrow), the
// rows of output tiles per raster group (Blocked: consecutive workgroups
// take Group tile rows column by column, so that those resident together
// share operand panels in L2; 0 or 1 keeps the grid's row order) and the
// workgroup size (GEMV; the other kinds derive theirs from the tile).
type Tile struct {
	Kind       Kind
	BM, BN, BK int
	TM, TN     int
	Double     bool
	Narrow     bool
	Group      int
	Threads    int
}

// Invocations returns the workgroup size of the tile's kernel.
func (t Tile) Invocations() int {
	switch t.Kind {
	case Blocked:
		return (t.BM / t.TM) * (t.BN / t.TN)
	case GEMV:
		return t.Threads
	}
	return (t.BM / 4) * (t.BN / 4)
}

// GEMVColumns returns the output columns a GEMV invocation keeps
// accumulators for: TN, or BN when TN is 0 (one column group).
func (t Tile) GEMVColumns() int {
	if t.TN == 0 {
		return t.BN
	}
	return t.TN
}

// GEMVGroups returns the column groups of a GEMV workgroup: BN over the
// columns an invocation keeps.
func (t Tile) GEMVGroups() int { return t.BN / t.GEMVColumns() }

// Buffers returns how many copies of the operand tiles a Blocked tile
// stages (1, or 2 when double-buffered).
func (t Tile) Buffers() int {
	if t.Double {
		return 2
	}
	return 1
}

// Smem returns the workgroup memory the tile's kernel declares, in bytes
// (an upper bound for GEMV, whose scratch depends on the row count).
func (t Tile) Smem() uint32 {
	switch t.Kind {
	case Blocked:
		// Staged rows are padded by one vec4 (wgsl/matmul_tiled.wgsl).
		return uint32(t.Buffers() * t.BK * (t.BM/4 + 1 + t.BN/4 + 1) * 16)
	case GEMV:
		return uint32(4 * (GEMVScratch + t.Threads + GEMVMaxRows*t.BN))
	}
	wx, wy := t.BN/4, t.BM/4
	return uint32(t.BK*(4*wy+1)*4 + t.BK*(wx+1)*16)
}

// Fits reports whether the device can launch the tile: workgroup memory,
// invocations, and the tile's own consistency (see Valid).
func (t Tile) Fits(d *gpu.Device) bool {
	l := d.Limits
	if t.Valid() != nil || t.Smem() > l.MaxWorkgroupMemory || uint32(t.Invocations()) > l.MaxInvocations {
		return false
	}
	// Blocked and GEMV workgroups are one-dimensional; Simple's are
	// (BN/4, BM/4).
	x := t.Invocations()
	if t.Kind == Simple {
		x = t.BN / 4
	}
	return l.MaxWorkgroupSizeX == 0 || uint32(x) <= l.MaxWorkgroupSizeX
}

// Valid returns an error if the tile's kernel cannot be built from it.
func (t Tile) Valid() error {
	pow2 := func(v int) bool { return v > 0 && v&(v-1) == 0 }
	switch t.Kind {
	case Simple:
		if t.BM%4 != 0 || t.BN%4 != 0 || t.BM < 4 || t.BN < 4 || t.BK < 1 {
			return fmt.Errorf("matmul tile %v: BM and BN must be multiples of 4, BK positive", t)
		}
	case Blocked:
		switch {
		case t.TM != 4 && t.TM != 8, t.TN != 4 && t.TN != 8:
			return fmt.Errorf("matmul tile %v: TM and TN must be 4 or 8", t)
		case t.BM%t.TM != 0 || t.BN%t.TN != 0 || t.BM%32 != 0 || t.BN%32 != 0:
			return fmt.Errorf("matmul tile %v: BM and BN must be multiples of 32 and of TM, TN", t)
		case t.BK < 8 || t.BK%8 != 0:
			return fmt.Errorf("matmul tile %v: BK must be a multiple of 8", t)
		case t.Invocations() < 32 || t.Invocations() > 1024:
			return fmt.Errorf("matmul tile %v: %d invocations, want 32 to 1024", t, t.Invocations())
		}
	case GEMV:
		nc := t.GEMVColumns()
		switch {
		case !pow2(t.Threads) || t.Threads < 32 || t.Threads > 1024:
			return fmt.Errorf("matmul tile %v: Threads must be a power of two from 32 to 1024", t)
		case nc != 4 && nc != 8:
			return fmt.Errorf("matmul tile %v: 4 or 8 columns an invocation", t)
		case t.BN%nc != 0 || !pow2(t.GEMVGroups()) || t.Threads/t.GEMVGroups() < 8:
			return fmt.Errorf("matmul tile %v: BN must be a power-of-two multiple of the %d columns an invocation, with at least 8 invocations a column group", t, nc)
		}
	default:
		return fmt.Errorf("matmul tile %v: unknown kind", t)
	}
	return nil
}

// String names the tile, as sub-benchmarks and subtests do:
// blocked128x128x8/8x8/db/g8, blocked128x128x8/8x8/db/narrow/g8,
// simple64x64x16, gemv8/128, gemv32x4/256 (32 columns, 4 an invocation).
func (t Tile) String() string {
	switch t.Kind {
	case Blocked:
		db := "sb"
		if t.Double {
			db = "db"
		}
		if t.Narrow {
			db += "/narrow"
		}
		if t.Group > 1 {
			db += fmt.Sprintf("/g%d", t.Group)
		}
		return fmt.Sprintf("blocked%dx%dx%d/%dx%d/%s", t.BM, t.BN, t.BK, t.TM, t.TN, db)
	case GEMV:
		if t.GEMVColumns() != t.BN {
			return fmt.Sprintf("gemv%dx%d/%d", t.BN, t.GEMVColumns(), t.Threads)
		}
		return fmt.Sprintf("gemv%d/%d", t.BN, t.Threads)
	}
	return fmt.Sprintf("simple%dx%dx%d", t.BM, t.BN, t.BK)
}

// Groups returns the workgroups a product with an [m,n] output needs.
func (t Tile) Groups(m, n int) int {
	g := (n + t.BN - 1) / t.BN
	if t.Kind != GEMV {
		g *= (m + t.BM - 1) / t.BM
	}
	return g
}

// MatmulGroup is the raster group (Tile.Group) of the Blocked tiles:
// eight rows of output tiles.
const MatmulGroup = 8

// GEMVMaxRows is the largest row count (M) a product runs as a GEMV.
const GEMVMaxRows = 16

// GEMVMaxAccumulators bounds the accumulators of a GEMV invocation
// (its columns times M) in the tiles MatmulTile picks: eight columns at
// sixteen rows, on discrete GPUs.
const GEMVMaxAccumulators = 128

// GEMVScratch is the f32 elements of the GEMV's reduction scratch: a
// chunk of partial sums, one per value and invocation.
const GEMVScratch = 2048

// matmulDefault returns the shipped tile, 128x64x16 with 8x4 registers,
// single-buffered, for every storage dtype. On the H200 (2026-11-29,
// sixth session, bench/results/2026-11-29-h200-s6-occupancy.txt) the
// driver gives it 77 registers an invocation, so three workgroups of 256
// share a multiprocessor, where the double-buffered form (91 registers:
// its second step's prefetch lives across the products) fits two: 39.8
// TFLOP/s at 4096³ f32 against 36.1 in the same call, for two barriers a
// step instead of one. It also fits WebGPU's core limits (12.5 KiB, 256
// invocations). 16-bit storage had its own tile (128x128x16/8x8, 8-byte
// packs) while the kernel decoded units at fetch; decoding in the staging
// step (wgsl/matmul_tiled.wgsl's dec_a, dec_b) removed that stall.
//
// CPU rasterizers take 128x128x16 with 8x8 registers: the autotuner
// timed it 1.58-1.64x faster than 128x64x16/8x4 on lavapipe for f32, bf16
// and FP8 weights in two runs (bench/results/2026-11-29-lavapipe-s11-tune.md)
// and 1.28x / 1.44x faster on SwiftShader with f32 weights at 1024³ and
// 1024x2048x512 (2026-11-29, twelfth session,
// bench/results/2026-11-29-swiftshader-s12-tune.md): a CPU driver runs a
// workgroup's invocations in turn, and the larger register block does
// twice the products per staged element.
func matmulDefault(d *gpu.Device) Tile {
	if d.Info.Class == gpu.ClassCPU {
		return Tile{Kind: Blocked, BM: 128, BN: 128, BK: 16, TM: 8, TN: 8, Group: MatmulGroup}
	}
	return Tile{Kind: Blocked, BM: 128, BN: 64, BK: 16, TM: 8, TN: 4, Group: MatmulGroup}
}

// gemvDefault returns the GEMV tile for m rows of x and weights of
// wsize bytes an element on d. One row: eight columns per workgroup of
// 128 invocations, which all split K (x is one row). More rows: column
// groups that share x, with 64 or 128 invocations splitting K in each
// (256 a workgroup), so that a call fills the GPU on its own: four
// columns an invocation (at most 64 accumulators), but eight for
// 4-byte weights from five to eight rows off discrete GPUs (whose
// register files may not hold 128 accumulators). On discrete GPUs from
// five rows, one column group a workgroup instead, of eight columns for
// 4-byte weights and four for 2-byte ones to eight rows (the last
// paragraph). CPU rasterizers take smaller workgroups (gemvCPU), one
// row included.
//
// Measured on the H200 with each call waiting for the one before, as a
// model's layers do (BenchmarkSkinnyLinear's serial rows, 2026-11-29,
// ninth session, bench/results/2026-11-29-h200-s9-skinny-tiles.md), µs at
// K = N = 4096 / 8192. The former column groups of eight invocations
// (gemv32x4/64, gemv64x8/64) kept 2 to 4 warps a multiprocessor busy,
// too few to stream the weight; their figures of earlier sessions came
// from calls the GPU overlapped:
//
//	m   weights  gemv16x4/256   gemv16x8/256   former         best other
//	4   f32      20.5 /  64.0   20.1 /  65.9   120.3 / 237.9  gemv64x8/512 66.0 at 8192
//	8   f32      42.0 / 159.4   28.6 /  99.0   192.0 / 396.5  gemv8/64 28.0 / 91.7
//	16  f32      41.2 / 150.3   38.6 / 139.9   169.4 / 352.0  gemv8/64 42.5 / 140.9
//	4   bf16     15.6 /  37.4   13.9 /  39.9    89.7 / 182.5
//	8   bf16     21.9 /  65.7   21.8 /  61.4    77.9 / 188.2  gemv8/64 21.5 at 4096
//	16  bf16     27.0 / 102.5   32.9 /  93.3   114.4 / 273.3  gemv32x4/256 94.9 at 8192
//	4   e4m3     12.8 /  36.2   13.4 /  36.5    50.3 /  99.0  gemv64x8/512 32.5 at 8192
//	8   e4m3     18.0 /  55.3   21.8 /  61.2    66.0 / 138.8  gemv32x4/256 54.4 at 8192
//	16  e4m3     34.4 / 116.4   38.5 / 114.4   169.8 / 335.2  gemv32x4/256 32.1, gemv32x4/128 106.9
//
// The eleventh session's autotuner (ops.Tune, 2026-11-29,
// bench/results/2026-11-29-h200-s11-tune.md) then moved three classes on
// discrete GPUs to one column group of eight columns, or four for bf16
// weights: it timed them faster than these defaults on K=N=4096, 8192
// and K=3072 N=18432, and so they ran at two shapes it had not timed
// (K=N=5120 / K=3072 N=12288, each beside the default in the same call):
// 4-byte weights at 5-8 rows gemv8/64 34.8 / 58.7 µs against gemv16x8/256
// 52.1 / 58.4, at 9-16 rows gemv8/128 58.1 / 78.8 against 65.2 / 88.8,
// 2-byte weights at 5-8 rows gemv4/128 25.1 / 36.6 against gemv16x4/256
// 32.9 / 38.6.
func gemvDefault(d *gpu.Device, m, wsize int) Tile {
	discrete := d.Info.Class == gpu.ClassDiscrete
	switch {
	case d.Info.Class == gpu.ClassCPU:
		return gemvCPU
	case m == 1:
		return Tile{Kind: GEMV, BN: 8, Threads: 128}
	case discrete && m > 8 && wsize >= 4:
		return Tile{Kind: GEMV, BN: 8, Threads: 128}
	case discrete && m > 4 && m <= 8 && wsize >= 4:
		return Tile{Kind: GEMV, BN: 8, Threads: 64}
	case discrete && m > 4 && m <= 8 && wsize == 2:
		return Tile{Kind: GEMV, BN: 4, Threads: 128}
	case wsize >= 4 && m > 4 && m <= 8:
		return gemvGroups8
	}
	return gemvGroups4
}

// gemvGroups4 and gemvGroups8 are the GEMV tiles past one row on GPUs:
// four column groups of 64 invocations with four columns each, and two
// groups of 128 with eight columns each.
var (
	gemvGroups4 = Tile{Kind: GEMV, BN: 16, TN: 4, Threads: 256}
	gemvGroups8 = Tile{Kind: GEMV, BN: 16, TN: 8, Threads: 256}
)

// gemvCPU is the GEMV tile past one row on CPU rasterizers (lavapipe,
// SwiftShader), which run every invocation of a workgroup in turn: 64
// invocations in column groups of eight, four columns each. The tiles
// of 256 made the DiT tests through Dawn's SwiftShader 44% slower
// (35.2 -> 50.6 s, 2026-11-29), on small products where most of their
// invocations had no K left to take; with this tile they took 28.6 s.
// It serves one row too: the autotuner timed it 6.3-9.3x faster than the
// GPUs' one-row tile (gemv8/128) on SwiftShader at K=N=1024 and K=512
// N=2048 with f32, bf16 and FP8 weights (2026-11-29, twelfth session,
// bench/results/2026-11-29-swiftshader-s12-tune.md), and lavapipe's two
// runs picked it or gemv64x8/128 there, 2.0-4.0x faster than gemv8/128
// (bench/results/2026-11-29-lavapipe-s11-tune.md).
var gemvCPU = Tile{Kind: GEMV, BN: 32, TN: 4, Threads: 64}

// gemvFallback is the GEMV tile for devices the default does not fit
// (under 256 invocations): 64 invocations, four columns each.
var gemvFallback = Tile{Kind: GEMV, BN: 4, Threads: 64}

// matmulOrder lists the tiles in order of preference after the default:
// the first that fits the device, whose output tile the problem fills
// (at least minM rows, minN columns) and that gives at least minGroups
// workgroups wins. The default itself fits WebGPU's core limits (12.5
// KiB, 256 invocations), so the Blocked 128x128x8 single-buffered tile
// that stood in for the double-buffered default there (whose product it
// fills, the default fills too, with more workgroups) left this list
// with it; the Blocked 64x64 tile serves mid-sized products and devices
// under 256 invocations, the Simple tiles small products, and the last
// fits every WebGPU device.
var matmulOrder = []struct {
	t                     Tile
	minM, minN, minGroups int
}{
	{Tile{Kind: Blocked, BM: 64, BN: 64, BK: 8, TM: 8, TN: 8, Double: true, Group: MatmulGroup}, 48, 48, 64},
	{Tile{Kind: Simple, BM: 64, BN: 64, BK: 16}, 48, 48, 0},
	{Tile{Kind: Simple, BM: 32, BN: 32, BK: 16}, 0, 0, 0},
	{Tile{Kind: Simple, BM: 16, BN: 16, BK: 8}, 0, 0, 0},
}

// MatmulCandidates returns every tile the sweep times and the tests
// check: the Blocked variants (BM, BN in {64, 128}, BK in {8, 16, 32},
// TM, TN in {4, 8}, single or double buffered) with at most 8 prefetched
// 16-byte units per invocation, then the Simple tiles. Not every one
// fits every device (Fits).
func MatmulCandidates() []Tile {
	b := func(bm, bn, bk, tm, tn int, db bool) Tile {
		return Tile{Kind: Blocked, BM: bm, BN: bn, BK: bk, TM: tm, TN: tn, Double: db, Group: MatmulGroup}
	}
	return []Tile{
		b(128, 128, 8, 8, 8, true),   // 256 invocations, 16.5 KiB
		b(128, 128, 16, 8, 8, true),  // 256, 33 KiB
		b(128, 128, 8, 8, 8, false),  // 256, 8.3 KiB
		b(128, 128, 16, 8, 8, false), // 256, 16.5 KiB
		b(128, 128, 32, 8, 8, false), // 256, 33 KiB
		b(128, 128, 8, 8, 4, true),   // 512, 16.5 KiB
		b(128, 128, 16, 8, 4, true),  // 512, 33 KiB
		b(128, 128, 8, 4, 8, true),   // 512, 16.5 KiB
		b(128, 128, 8, 4, 4, true),   // 1024, 16.5 KiB
		b(128, 64, 8, 8, 8, true),    // 128, 12.5 KiB
		b(128, 64, 16, 8, 8, true),   // 128, 25 KiB
		b(64, 128, 16, 8, 8, true),   // 128, 25 KiB
		b(128, 64, 16, 8, 4, true),   // 256, 25 KiB
		b(128, 64, 16, 8, 4, false),  // 256, 12.5 KiB (the default)
		b(64, 64, 8, 8, 8, true),     // 64, 8.5 KiB
		b(64, 64, 16, 8, 8, true),    // 64, 17 KiB
		b(64, 64, 16, 4, 4, true),    // 256, 17 KiB
		b(64, 64, 8, 4, 4, true),     // 256, 8.5 KiB
		b(64, 64, 32, 4, 4, false),   // 256, 17 KiB
		{Kind: Simple, BM: 64, BN: 64, BK: 16},
		{Kind: Simple, BM: 32, BN: 32, BK: 16},
		{Kind: Simple, BM: 16, BN: 16, BK: 8},
	}
}

// GEMVCandidates returns every GEMV tile the skinny benchmark times and
// the tests check.
func GEMVCandidates() []Tile {
	var ts []Tile
	for _, bn := range []int{4, 8} {
		for _, th := range []int{64, 128, 256} {
			ts = append(ts, Tile{Kind: GEMV, BN: bn, Threads: th})
		}
	}
	// Column groups (x read once for 16 to 64 columns): the defaults
	// past one row (groups of 8 invocations on CPU rasterizers, of 64
	// and 128 elsewhere) and those closest to them in the H200 sweep of
	// ordered calls (groups of 16 and 32).
	ts = append(ts,
		gemvCPU,
		gemvGroups4,
		gemvGroups8,
		Tile{Kind: GEMV, BN: 32, TN: 4, Threads: 256},
		Tile{Kind: GEMV, BN: 32, TN: 4, Threads: 128},
		Tile{Kind: GEMV, BN: 64, TN: 8, Threads: 128})
	return ts
}

// MatmulTile picks the tile for an [m,k] x [n,k]ᵀ product on d with
// weights of wsize bytes an element: the device's tuned tile for the
// product's class where it has one that serves the call (Tuned), else
// DefaultMatmulTile's.
func MatmulTile(d *gpu.Device, m, n, k, wsize int) Tile {
	if t, ok := tunedTile(d, m, n, k, wsize); ok {
		return t
	}
	return DefaultMatmulTile(d, m, n, k, wsize)
}

// defaultMinGroups is the fewest workgroups a product must give the
// default tiled tile for it to be picked on a GPU (enough for every
// multiprocessor), and cpuMinGroups on a CPU rasterizer (enough for
// every core: 64 at 1024³ in 128x128 tiles).
const (
	defaultMinGroups = 96
	cpuMinGroups     = 16
)

// DefaultMatmulTile is MatmulTile without a tuned table: the GEMV up to
// GEMVMaxRows rows (gemvDefault, or gemvFallback where it does not fit),
// the default for products that fill it, then the first of matmulOrder
// that fits.
func DefaultMatmulTile(d *gpu.Device, m, n, k, wsize int) Tile {
	if m <= GEMVMaxRows {
		for _, t := range []Tile{gemvDefault(d, m, wsize), gemvFallback} {
			if t.Fits(d) {
				return t
			}
		}
	}
	minGroups := defaultMinGroups
	if d.Info.Class == gpu.ClassCPU {
		minGroups = cpuMinGroups
	}
	if t := matmulDefault(d); t.Fits(d) && m >= t.BM*3/4 && n >= t.BN*3/4 && t.Groups(m, n) >= minGroups {
		return t
	}
	for _, r := range matmulOrder {
		if r.t.Fits(d) && m >= r.minM && n >= r.minN && r.t.Groups(m, n) >= r.minGroups {
			return r.t
		}
	}
	return matmulOrder[len(matmulOrder)-1].t
}

// MatmulGrid is the grid of a product with an [m,n] output and tile t.
func MatmulGrid(d *gpu.Device, t Tile, m, n int) gpu.Grid {
	if t.Kind == GEMV {
		return d.Groups((n + t.BN - 1) / t.BN)
	}
	return gpu.Grid{uint32((n + t.BN - 1) / t.BN), uint32((m + t.BM - 1) / t.BM), 1}
}

// ---- Memory-bound elementwise kernels: activations, gated units,
// rotary embeddings, FP8 quantisation and the bf16 fast path of the
// fused norm+modulate (ops/stream.go, wgsl/units.wgsl,
// wgsl/rotary_rows.wgsl, wgsl/quantize_rows.wgsl). Each choice below is
// one line so that the H200 run of ops.BenchmarkMemoryBound, which
// times every variant, can move it.

// Rounding is how the fast path of a memory-bound kernel rounds f32 to
// bf16 (both round to nearest even; see wgsl/round_fp.wgsl).
type Rounding int

// The bf16 roundings of the fast path.
const (
	RoundInt   Rounding = iota // integer operations on the bits, without the NaN test
	RoundFloat                 // two float additions around a per-value power of two
	RoundFMA                   // RoundFloat's steps with one integer operation fewer (an fma by a uniform 1.0), exact for subnormals too
)

// String names the rounding: "int", "float" or "fma".
func (r Rounding) String() string {
	switch r {
	case RoundFloat:
		return "float"
	case RoundFMA:
		return "fma"
	}
	return "int"
}

// BF16Rounding picks the fast-path rounding for d. On GPUs integer
// operations issue at half the float rate (NVIDIA since Volta, the
// H200 among them), and the integer rounding costs three to four of
// them per value where the float one costs one or two and three float
// additions; CPU drivers have no such split.
func BF16Rounding(d *gpu.Device) Rounding {
	if d.Info.Class == gpu.ClassCPU {
		return RoundInt
	}
	return RoundFloat
}

// BF16StoreRounding picks how the fast path of the units kernels
// (activations, gated units), the fused norm+modulate and the row
// rotary kernel rounds its bf16 outputs: RoundInt, the integer rounding in the store (about five
// integer operations per value), or RoundFMA, wgsl/round_fp.wgsl's
// bf16x4_round_fma before the NaN sum and a store that only packs
// (two integer and four float operations). On the H200 these kernels
// are bound by their instructions in bf16 (integer operations issue at
// half the float rate); BenchmarkMemoryBound's store=fma rows time the
// float one. Shipped: RoundInt until the H200 run.
func BF16StoreRounding(d *gpu.Device) Rounding { return RoundInt }

// GELUErfc picks the exact GELU of the units kernels: act_gelu's two
// polynomials (each value evaluates both, branch-free) or act_gelu_erfc's
// single erfc form (wgsl/act.wgsl), about ten fewer operations per
// value. On the H200 (2026-11-29) erfc lifts the bf16 activation from
// 0.70x to 0.79x of a copy (f32 unchanged at 0.96x) but slows the gated
// unit (geglu 0.76x -> 0.68x), so only the ungated activation takes it.
func GELUErfc(gated bool) bool { return !gated }

// StreamWorkgroup and StreamUnits shape the flat elementwise kernel
// (activations): 256 invocations, each with four 16-byte units in
// flight, the loads issued before any arithmetic.
const (
	StreamWorkgroup = 256
	StreamUnits     = 4
)

// StreamGrid is the grid of a flat elementwise kernel over n units with
// workgroups of wg invocations moving nu units each.
func StreamGrid(d *gpu.Device, n, wg, nu int) gpu.Grid { return d.Groups((n + wg*nu - 1) / (wg * nu)) }

// GatedUnitsPerInvocation is the target units of output per invocation
// of the row kernels that read two or more units per output unit
// (gated units, half-split rotary): fewer, since each brings two loads.
const GatedUnitsPerInvocation = 2

// QuantizeUnitsPerInvocation is the target units per invocation of the
// row FP8 quantisation: 2 rather than RowUnitsPerInvocation's 4 took
// bf16 from 0.31x to 0.42x of a copy on the H200 (2026-11-29; f32 the
// same at 0.66x).
const QuantizeUnitsPerInvocation = 2

// QuantizeRowsPerWorkgroup returns how many rows of m one workgroup of
// the fused row FP8 quantisation takes, one after another, each row's
// loads issued while the row before is reduced and encoded: 8 where that
// leaves at least 512 workgroups, else 1. On the H200 (2026-11-29,
// twelfth session, results/2026-11-29-h200-s12-quantize-rows.txt, K=3072)
// 8 rows were the fastest or level at 4096, 16384 and 32768 rows in f32
// and bf16 (bf16: 14.7 against 15.7 µs for one row at 4096, 57.0 against
// 64.5 at 16384), and one row the fastest at 1024 (f32 3.97 against 4.68
// µs for 8: 128 workgroups are too few); 2 rows were the slowest in f32
// at every size.
func QuantizeRowsPerWorkgroup(m int) int {
	if m >= 8*512 {
		return 8
	}
	return 1
}

// RowUnitsPerInvocation is the target units per invocation of the
// other row kernels (an activation with a bias, interleaved rotary,
// FP8 quantisation, whose row stays in registers).
const RowUnitsPerInvocation = 4

// QuantizeMaxPacks bounds the packs of a row one quantisation
// invocation keeps in registers; longer rows take two passes (absmax,
// then quantisation with the scale known).
const QuantizeMaxPacks = 32

// QuantizePairStores picks how the row FP8 quantisation of 16-bit x
// stores a unit's codes (eight values, two words): false, two 4-byte
// stores 8 bytes apart per invocation (each store instruction of an
// invocation group writes every other word of twice the span); true,
// one 8-byte store, contiguous across the group, as the f32 path's
// 4-byte stores are. bf16 quantisation ran at 0.31x of a copy on the
// H200 where f32 ran at 0.74x with the same arithmetic per value
// (results/2026-11-28-h200-s2-divrn.md); BenchmarkMemoryBound's
// quantize_fp8/store=pairs rows test whether the stores are why.
const QuantizePairStores = false

// RotaryRows reports whether RoPE on storage of elemBytes bytes per
// value takes the row kernel (wgsl/rotary_rows.wgsl: one workgroup per
// token, units of eight values) rather than the flat one (one pack of
// four per invocation), where the head dimension allows both. A unit of
// eight 16-bit values is one 16-byte access, contiguous across an
// invocation group; eight f32 values are two accesses 32 bytes apart
// per invocation, so each access instruction of a group touches every
// other 16 bytes of twice the span. On the H200 the row kernel moved
// bf16 from 0.63x / 0.81x / 0.63x of the copy (interleaved, half-split,
// 3-D; results/2026-11-28-h200-bench.md) to 0.89x
// (results/2026-11-28-h200-final-bench-bf16.md), and f32 from 0.94x /
// 0.96x / 0.94x to 0.80x / 0.90x / 0.80x
// (results/2026-11-28-h200-membound-bench.md): f32 keeps the flat kernel.
// BenchmarkMemoryBound times both (rotary*/flat, rotary*/rows).
func RotaryRows(elemBytes int) bool { return elemBytes == 2 }

// ---- The TeleFuser-parity kernels (ops/nf4.go, ops/moe.go), keyed on
// sizes and device properties like the rest. BenchmarkParity
// (ops/bench_parity_test.go) times them; no device run is in
// bench/results yet, so these are set from the arithmetic below and
// from the matmul tiles' figures (bench/matmul.md).

// NF4GEMVMaxRows is the largest M that LinearNF4 serves with its GEMV
// kernel, which reads the 4-bit weight once for all rows; larger M go
// through the tiled matmul, which dequantises the weight as it stages it.
const NF4GEMVMaxRows = 8

// NF4GEMV returns the workgroup size and the outputs per workgroup of the
// NF4 GEMV for m rows: 64 invocations striding through the weight words,
// four outputs (so that x is loaded once for four weight rows), two for
// m over 4 to bound the accumulators at 16 per invocation.
func NF4GEMV(m int) (wg, nr int) {
	if m > 4 {
		return 64, 2
	}
	return 64, 4
}

// MoETile is the tile of the grouped MoE GEMMs on moe_gemm.wgsl, the
// fallback where MoETiles does not fit: 32 x 32 outputs, 64
// invocations, 16 deep. Tiles hold the rows of one expert, so a smaller
// tile wastes fewer rows at the end of each expert's run than the 64 x 64
// matmul tile.
var MoETile = Tile{Kind: Simple, BM: 32, BN: 32, BK: 16}

// MoETiles returns the Blocked tiles of the grouped expert GEMMs on
// wgsl/matmul_tiled.wgsl for operands of elemBytes bytes and rows
// (token, expert) pairs per expert on average: gateUp for the gated
// product (TN 8: each invocation pairs 4 gate with 4 up columns) and
// down, of one row height (the sort cuts each expert's rows into tiles
// of that height): 128x128x16/8x8 gated and 128x64x16/8x4
// double-buffered down (the dense default until the sixth session of
// 2026-11-29; the grouped products were not measured with its
// single-buffered form), or 128x128x16/8x8 down for 16-bit storage (on the
// H200 at 4096 tokens, top-2 of 8 experts, 3072 -> 8192: f32 39.98 ms;
// bf16 40.69 ms, where the 8x4 down tile took 43.7 ms;
// bench/results/2026-11-29-h200-moe-tiles.txt), else the 128x128x8/8x8
// tile within WebGPU's core limits. Up to MoESmallRows
// rows per expert, where 128-row tiles are mostly padding, 64-row tiles
// (64x64x8/8x8 gated, 64x64x16/4x4 down): at 16 rows per expert on the
// H200 they took 3.72 ms in f32 against 5.04 for the 128-row pair
// (bench/results/2026-11-29-h200-moe-tiles.txt). ok is false when no
// pair fits, and the caller keeps MoETile's kernel.
func MoETiles(d *gpu.Device, elemBytes, rows int) (gateUp, down Tile, ok bool) {
	if rows <= MoESmallRows {
		gateUp = Tile{Kind: Blocked, BM: 64, BN: 64, BK: 8, TM: 8, TN: 8, Double: true, Group: MatmulGroup}
		down = Tile{Kind: Blocked, BM: 64, BN: 64, BK: 16, TM: 4, TN: 4, Double: true, Group: MatmulGroup}
		if gateUp.Fits(d) && down.Fits(d) {
			return gateUp, down, true
		}
	}
	core := Tile{Kind: Blocked, BM: 128, BN: 128, BK: 8, TM: 8, TN: 8, Narrow: true, Group: MatmulGroup}
	gateUp = Tile{Kind: Blocked, BM: 128, BN: 128, BK: 16, TM: 8, TN: 8, Narrow: true, Group: MatmulGroup}
	// The dense default until 2026-11-29's sixth session, which moved the
	// dense products to its single-buffered form; the grouped products
	// keep the tile they were measured with (moe-tiles.txt).
	down = Tile{Kind: Blocked, BM: 128, BN: 64, BK: 16, TM: 8, TN: 4, Double: true, Group: MatmulGroup}
	if elemBytes == 2 {
		down = gateUp
	}
	if !gateUp.Fits(d) {
		gateUp = core
	}
	if !down.Fits(d) {
		down = core
	}
	return gateUp, down, gateUp.Fits(d) && down.Fits(d)
}

// MoESmallRows is the average rows per expert up to which MoETiles
// takes 64-row tiles.
const MoESmallRows = 64

// NF4Tile is the tile of the NF4 matmul, which decodes its weight while
// staging it on wgsl/matmul.wgsl: the first Simple tile of matmulOrder
// that fits the device and that the product fills.
func NF4Tile(d *gpu.Device, m, n int) Tile {
	for _, r := range matmulOrder {
		if r.t.Kind == Simple && r.t.Fits(d) && m >= r.minM && n >= r.minN {
			return r.t
		}
	}
	return matmulOrder[len(matmulOrder)-1].t
}
