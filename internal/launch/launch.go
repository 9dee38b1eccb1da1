// Package launch holds every launch choice of WebFuser's kernels in one
// place: pack widths, workgroup sizes, rows per invocation, matmul tiles,
// grids and the cases that CPU drivers need. Each choice is keyed on
// device properties (limits, features, gpu.Class), never on names, and
// cites the benchmark behind it (bench/ has the figures).
package launch

import (
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

// Tile is a matmul tile: WX*WY invocations, a (4*WY) x (4*WX) output
// tile, BK deep steps through K.
type Tile struct{ WX, WY, BK int }

// Smem returns the workgroup memory the tile stages (padded rows, see wgsl/matmul.wgsl).
func (t Tile) Smem() uint32 { return uint32(t.BK*(4*t.WY+1)*4 + t.BK*(t.WX+1)*16) }

// tiles lists matmul tiles from largest to smallest; the first that fits
// the device's workgroup memory and invocation limits and whose output
// tile the problem fills (minM rows, minN columns) wins. The last row
// fits every WebGPU device (the core limits are 16 KiB, 256).
var tiles = []struct {
	t          Tile
	minM, minN int
}{
	{Tile{16, 16, 16}, 48, 48}, // 64x64, about 8.2 KiB
	{Tile{8, 8, 16}, 0, 0},     // 32x32, about 4.2 KiB
	{Tile{4, 4, 8}, 0, 0},      // 16x16, about 1.1 KiB
}

// MatmulTile picks the tile for an [m,k] x [n,k]ᵀ product on d.
func MatmulTile(d *gpu.Device, m, n, k int) Tile {
	for _, r := range tiles {
		t := r.t
		if t.Smem() <= d.Limits.MaxWorkgroupMemory && uint32(t.WX*t.WY) <= d.Limits.MaxInvocations &&
			m >= r.minM && n >= r.minN {
			return t
		}
	}
	return tiles[len(tiles)-1].t
}

// MatmulGrid is the grid of a product with an [m,n] output and tile t.
func MatmulGrid(t Tile, m, n int) gpu.Grid {
	return gpu.Grid{uint32((n + 4*t.WX - 1) / (4 * t.WX)), uint32((m + 4*t.WY - 1) / (4 * t.WY)), 1}
}

// TilesPerSubmission is how many query tiles of an attention launch go
// into one submission, for tiles of about work multiply-adds each: all
// of them on GPUs; on CPU drivers, chunks of about 2²⁷, flushed one by
// one, since lavapipe was seen to crash after a long submission.
func TilesPerSubmission(d *gpu.Device, ntiles, work int) int {
	if d.Info.Class != gpu.ClassCPU {
		return max(ntiles, 1)
	}
	return max(1, min(ntiles, (1<<27)/max(1, work)))
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

// The two bf16 roundings of the fast path.
const (
	RoundInt   Rounding = iota // integer operations on the bits, without the NaN test
	RoundFloat                 // two float additions around a per-value power of two
)

// String names the rounding: "int" or "float".
func (r Rounding) String() string {
	if r == RoundFloat {
		return "float"
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

// RowUnitsPerInvocation is the target units per invocation of the
// other row kernels (an activation with a bias, interleaved rotary,
// FP8 quantisation, whose row stays in registers).
const RowUnitsPerInvocation = 4

// QuantizeMaxPacks bounds the packs of a row one quantisation
// invocation keeps in registers; longer rows take two passes (absmax,
// then quantisation with the scale known).
const QuantizeMaxPacks = 32
