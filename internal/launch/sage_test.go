package launch

import (
	"testing"

	"github.com/webfuser/webfuser/gpu"
)

// TestSageRows pins the row kernels' launch choice: tensor cores only with i8
// configurations, fixed-size subgroups and D in whole K steps; the
// portable tile otherwise, narrowed to the device's memory; none where
// even the smallest tile does not fit.
func TestSageRows(t *testing.T) {
	sm := []gpu.MatrixShape{{M: 16, N: 16, K: 32}, {M: 16, N: 8, K: 32}}
	dawnNV := gpu.Features{Subgroups: true, SubgroupMinSize: 32, SubgroupMaxSize: 32, SubgroupMatrixI8: sm}
	varSize := dawnNV
	varSize.SubgroupMinSize = 16
	n8 := dawnNV
	n8.SubgroupMatrixI8 = sm[1:]
	nv := gpu.Limits{MaxWorkgroupMemory: 32768, MaxInvocations: 1024, MaxWorkgroupSizeX: 1024}
	core := gpu.Limits{MaxWorkgroupMemory: 16384, MaxInvocations: 256, MaxWorkgroupSizeX: 256}
	tiny := gpu.Limits{MaxWorkgroupMemory: 2048, MaxInvocations: 64, MaxWorkgroupSizeX: 64}
	m16 := gpu.MatrixShape{M: 16, N: 16, K: 32}
	for _, c := range []struct {
		name string
		f    gpu.Features
		lim  gpu.Limits
		d    int
		want Sage
		ok   bool
	}{
		{"matrix D128", dawnNV, nv, 128, Sage{Matrix: true, Shape: m16, SG: 32, BQ: 32, BK: 32, WG: 128}, true},
		{"matrix N8 only", n8, nv, 64, Sage{Matrix: true, Shape: sm[1], SG: 32, BQ: 32, BK: 32, WG: 128}, true},
		{"matrix D256 narrows", dawnNV, nv, 256, Sage{Matrix: true, Shape: m16, SG: 32, BQ: 16, BK: 16, WG: 128}, true},
		{"D not whole K steps", dawnNV, nv, 80, Sage{BQ: 16, BK: 64, WG: 128}, true}, // 31744 bytes
		{"subgroup size varies", varSize, nv, 128, Sage{BQ: 16, BK: 32, WG: 128}, true},
		{"no configs", gpu.Features{Subgroups: true, SubgroupMinSize: 4, SubgroupMaxSize: 4}, core, 64, Sage{BQ: 16, BK: 32, WG: 128}, true}, // 13824 bytes
		{"portable D4", gpu.Features{}, core, 4, Sage{BQ: 16, BK: 64, WG: 128}, true},
		{"portable D256", gpu.Features{}, core, 256, Sage{BQ: 16, BK: 8, WG: 128}, true}, // 15168 bytes
		{"nothing fits", gpu.Features{}, tiny, 256, Sage{}, false},
	} {
		got, ok := SageRows(c.f, c.lim, c.d)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("%s: got %+v, %v; want %+v, %v", c.name, got, ok, c.want, c.ok)
		}
		if ok && (!got.Fits(c.lim, c.d) || got.Smem(c.d) > int(c.lim.MaxWorkgroupMemory)) {
			t.Errorf("%s: %+v does not fit %+v (%d bytes)", c.name, got, c.lim, got.Smem(c.d))
		}
	}
}

// TestChooseSage pins the choice between the tiled kernel and the row
// kernels: the tiled kernel with SageTile, else the first tile of
// AttentionTiles that fits, on GPUs with or without i8 subgroup matrices, for D a multiple
// of 16; the row kernels on CPU drivers, for other D and where no tile
// fits.
func TestChooseSage(t *testing.T) {
	sm := []gpu.MatrixShape{{M: 16, N: 16, K: 32}, {M: 16, N: 8, K: 32}}
	dawnNV := gpu.Features{Subgroups: true, SubgroupMinSize: 32, SubgroupMaxSize: 32, SubgroupMatrixI8: sm}
	h200 := gpu.Limits{MaxWorkgroupMemory: 49152, MaxInvocations: 1024, MaxWorkgroupSizeX: 1024}
	l32 := gpu.Limits{MaxWorkgroupMemory: 32768, MaxInvocations: 1024, MaxWorkgroupSizeX: 1024}
	core := gpu.Limits{MaxWorkgroupMemory: 16384, MaxInvocations: 256, MaxWorkgroupSizeX: 256}
	tiny := gpu.Limits{MaxWorkgroupMemory: 2048, MaxInvocations: 64, MaxWorkgroupSizeX: 64}
	first := AttentionTiles[1] // 128x64/8x4/d16/sb/fold/late
	for _, c := range []struct {
		name  string
		f     gpu.Features
		lim   gpu.Limits
		class gpu.Class
		d     int
		want  Sage
		ok    bool
	}{
		// 128x64/8x4/d16/sb/fold/late: 15 KiB of stages, 32 KiB of P.
		{"H200 D128", dawnNV, h200, gpu.ClassDiscrete, 128, SageTiled(SageTile), true},
		{"no matrices D64", gpu.Features{}, h200, gpu.ClassIntegrated, 64, SageTiled(SageTile), true},
		// SageTile's 512 invocations exceed a 256-invocation device with 48 KiB.
		{"256 invocations D128", gpu.Features{}, gpu.Limits{MaxWorkgroupMemory: 49152, MaxInvocations: 256, MaxWorkgroupSizeX: 256}, gpu.ClassDiscrete, 128, SageTiled(first), true},
		// P of 64 rows unpadded by Fold is what 32 KiB leaves room for: 64x32/8x2/d16/db.
		{"32 KiB D128", gpu.Features{}, l32, gpu.ClassDiscrete, 128, SageTiled(AttentionTiles[7]), true},
		{"core limits D128", gpu.Features{}, core, gpu.ClassOther, 128, SageTiled(AttentionTiles[len(AttentionTiles)-1]), true},
		{"D72 not whole packs", dawnNV, h200, gpu.ClassDiscrete, 72, Sage{BQ: 16, BK: 64, WG: 128}, true},
		{"CPU driver", gpu.Features{}, l32, gpu.ClassCPU, 128, Sage{BQ: 16, BK: 32, WG: 128}, true},
		{"nothing fits", gpu.Features{}, tiny, gpu.ClassDiscrete, 256, Sage{}, false},
	} {
		got, ok := ChooseSage(c.f, c.lim, c.class, c.d)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("%s: got %+v, %v; want %+v, %v", c.name, got, ok, c.want, c.ok)
		}
		if ok && (!got.Fits(c.lim, c.d) || got.Smem(c.d) > int(c.lim.MaxWorkgroupMemory)) {
			t.Errorf("%s: %+v does not fit %+v (%d bytes)", c.name, got, c.lim, got.Smem(c.d))
		}
	}
	// The Sage layout stages 16 codes a pack: D=128 is 8 packs, two
	// stages of DC/4 = 4 packs, each row padded to 5.
	if l := first.SageLayout(128); l.QP != 8 || l.DCP != 4 || l.NC != 2 || l.RS != 5 || l.H != 1 || l.DP != 32 {
		t.Errorf("SageLayout(128) of %v = %+v", first, l)
	}
}
