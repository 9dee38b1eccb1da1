package launch

import "github.com/webfuser/webfuser/gpu"

// Sage is the launch of a SageAttention-style kernel. With Tiled, the
// register-blocked flash kernel (wgsl/attention_tiled.wgsl) in its Sage
// variant with configuration Tile (BQ, BK and WG are then the tile's).
// Otherwise the row-softmax kernel (wgsl/attention_sage.wgsl): a
// workgroup of WG invocations computes BQ query rows of one head against
// key tiles of BK keys; with Matrix, QKᵀ of a tile runs on i8 subgroup
// matrices of Shape (WG/SG subgroups of SG invocations share the tile's
// result blocks), without it on dot4I8Packed. Softmax and PV are the
// same in both.
type Sage struct {
	Tiled  bool
	Tile   AttentionTile
	Matrix bool
	Shape  gpu.MatrixShape
	SG     int
	BQ, BK int
	WG     int
}

// SageTiled returns the tiled Sage launch of configuration c.
func SageTiled(c AttentionTile) Sage {
	return Sage{Tiled: true, Tile: c, BQ: c.BQ, BK: c.BK, WG: c.Invocations()}
}

// KStride returns the words of one staged key row for head dim d: one
// word of padding on the portable kernel (its lanes read different key
// rows, which the padding spreads over banks), none for subgroup
// matrices.
func (s Sage) KStride(d int) int {
	if s.Matrix {
		return d / 4
	}
	return d/4 + 1
}

// SStride returns the words between rows of the score tile: one word of
// padding on the portable kernel, whose PV lanes read several rows at
// once; none for subgroup matrices, which store their blocks there with
// the plain row stride (the form the W8A8 kernels use).
func (s Sage) SStride() int {
	if s.Matrix {
		return s.BK
	}
	return s.BK + 1
}

// Smem returns the workgroup memory the launch needs for head dim d:
// the tiled kernel's stages, P and reduction; or the query and key
// codes, the value tile in f32, the scores and the per-row and per-key
// scalars.
func (s Sage) Smem(d int) int {
	if s.Tiled {
		return s.Tile.SageLayout(d).Smem()
	}
	dp := d / 4
	return 4*(s.BQ*dp+s.BK*s.KStride(d)+s.BQ*s.SStride()+3*s.BQ+s.BK) + 16*s.BK*dp
}

// Fits reports whether the launch runs on a device with limits lim for
// head dim d: memory, invocations, rows that split the workgroup evenly
// and, for subgroup matrices, tiles and head dims in whole configurations;
// for the tiled kernel a valid tile and d a multiple of 16 (packs of 16
// codes).
func (s Sage) Fits(lim gpu.Limits, d int) bool {
	if s.Tiled {
		return d > 0 && d%16 == 0 && s.Tile.Valid() == nil && s.BQ == s.Tile.BQ && s.WG == s.Tile.Invocations() &&
			s.Smem(d) <= int(lim.MaxWorkgroupMemory) && s.WG <= int(lim.MaxInvocations) && s.WG <= int(lim.MaxWorkgroupSizeX)
	}
	if s.BQ <= 0 || s.BK <= 0 || s.WG <= 0 || s.WG%s.BQ != 0 || d <= 0 || d%4 != 0 {
		return false
	}
	if s.Smem(d) > int(lim.MaxWorkgroupMemory) || s.WG > int(lim.MaxInvocations) || s.WG > int(lim.MaxWorkgroupSizeX) {
		return false
	}
	if s.Matrix {
		m := s.Shape
		return m.M > 0 && m.N > 0 && m.K > 0 && s.SG > 0 && s.WG%s.SG == 0 &&
			s.BQ%m.M == 0 && s.BK%m.N == 0 && d%m.K == 0
	}
	return true
}

// SageTile is the tiled Sage kernel's first choice, 128 queries by 64
// keys with 4x4 registers per invocation (512 invocations): on the H200
// (2026-11-29, S=4096 H=24 D=128, bench/results/2026-11-29-h200-sage-tiles.txt)
// it ties AttentionTiles[0]'s 8x4 in f32 (5.48 ms both) and beats it in
// bf16 storage (5.81 against 6.20 ms), where 8x4 left bf16 slower than f32.
var SageTile = AttentionTile{BQ: 128, BK: 64, TM: 4, TN: 4, DC: 16, Fold: true}

// ChooseSage picks the Sage launch for head dim d on a device of class
// class with features f and limits lim: on GPUs the tiled kernel, with
// SageTile, else the first of AttentionTiles after the first that fits
// (the first row's Union does not apply to Sage's int8 stages, which its
// DC of 32 would then overfill), where d is a multiple of 16 (its scores and accumulators in registers: the row-softmax kernels ran
// at 34.8 ms with tensor cores and 42.7 ms portable on the H200 at
// S=4096 H=24 D=128 against 7.95 ms for the dense f32 tiled kernel);
// else, and on CPU drivers (where SwiftShader takes from 20 s to minutes
// to build a tiled kernel, as PlanAttention notes), SageRows.
func ChooseSage(f gpu.Features, lim gpu.Limits, class gpu.Class, d int) (Sage, bool) {
	if class != gpu.ClassCPU {
		for _, c := range append([]AttentionTile{SageTile}, AttentionTiles[1:]...) {
			if s := SageTiled(c); s.Fits(lim, d) {
				return s, true
			}
		}
	}
	return SageRows(f, lim, d)
}

// SageRows picks the row-softmax Sage launch for head dim d on a device
// with features f and limits lim. Subgroup matrices where the device lists an
// i8 -> i32 configuration (Dawn on NVIDIA), its subgroups have one fixed
// size (the kernel tells them apart by subgroup_id, as the staged W8A8
// kernel does) and d is a multiple of the configuration's K: four
// subgroups over 32 x 32 tiles, or 16 x 16 where memory is short.
// Everywhere else the portable kernel: 16 rows, 128 invocations (fewer
// where the device has fewer) and the widest key tile of 64, 32, 16 or 8
// keys that fits its workgroup memory. ok is false when nothing fits.
func SageRows(f gpu.Features, lim gpu.Limits, d int) (s Sage, ok bool) {
	sg := int(f.SubgroupMaxSize)
	if f.Subgroups && sg > 0 && f.SubgroupMinSize == f.SubgroupMaxSize {
		for _, m := range []gpu.MatrixShape{{M: 16, N: 16, K: 32}, {M: 16, N: 8, K: 32}} {
			if !f.HasSubgroupMatrixI8(m) {
				continue
			}
			for _, t := range [][2]int{{32, 32}, {16, 32}, {16, 16}} {
				s = Sage{Matrix: true, Shape: m, SG: sg, BQ: t[0], BK: t[1], WG: 4 * sg}
				if s.Fits(lim, d) {
					return s, true
				}
			}
		}
	}
	wg := min(128, int(lim.MaxInvocations), int(lim.MaxWorkgroupSizeX))
	for _, bq := range []int{16, 8} {
		for _, bk := range []int{64, 32, 16, 8} {
			s = Sage{BQ: bq, BK: bk, WG: wg / bq * bq}
			if s.Fits(lim, d) {
				return s, true
			}
		}
	}
	return Sage{}, false
}
