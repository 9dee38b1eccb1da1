package launch

import (
	"testing"

	"github.com/webfuser/webfuser/gpu"
)

// TestMoETiles pins the grouped expert GEMMs' tiles over synthetic
// limits: 64-row tiles up to MoESmallRows rows per expert where they
// fit, else the dense matmul's best tiles where they fit, the core
// 128x128x8 tile within WebGPU's core limits, none (moe_gemm.wgsl) below
// 256 invocations; every pair shares its row height and the gated tile
// has TN 8, as ops/moe_tiled.go needs.
func TestMoETiles(t *testing.T) {
	cases := []struct {
		lim        string
		elemBytes  int
		rows       int
		gate, down string
		ok         bool
	}{
		{"nvidia", 4, 1024, "blocked128x128x16/8x8/sb/narrow/g8", "blocked128x64x16/8x4/db/g8", true},
		{"nvidia", 2, 1024, "blocked128x128x16/8x8/sb/narrow/g8", "blocked128x128x16/8x8/sb/narrow/g8", true},
		{"nvidia", 4, 65, "blocked128x128x16/8x8/sb/narrow/g8", "blocked128x64x16/8x4/db/g8", true},
		{"nvidia", 4, 64, "blocked64x64x8/8x8/db/g8", "blocked64x64x16/4x4/db/g8", true},
		{"nvidia", 2, 16, "blocked64x64x8/8x8/db/g8", "blocked64x64x16/4x4/db/g8", true},
		{"core", 4, 1024, "blocked128x128x8/8x8/sb/narrow/g8", "blocked128x128x8/8x8/sb/narrow/g8", true},
		{"core", 2, 1024, "blocked128x128x8/8x8/sb/narrow/g8", "blocked128x128x8/8x8/sb/narrow/g8", true},
		// 64x64x16/4x4/db needs 17 KiB: the core limits keep the 128-row pair.
		{"core", 4, 16, "blocked128x128x8/8x8/sb/narrow/g8", "blocked128x128x8/8x8/sb/narrow/g8", true},
		{"tiny", 4, 1024, "", "", false},
	}
	lims := map[string]gpu.Limits{"tiny": {MaxWorkgroupMemory: 16384, MaxInvocations: 128, MaxWorkgroupSizeX: 128}}
	for k, v := range pinLimits {
		lims[k] = v
	}
	for _, c := range cases {
		gate, down, ok := MoETiles(&gpu.Device{Limits: lims[c.lim]}, c.elemBytes, c.rows)
		if ok != c.ok {
			t.Errorf("%s %d bytes: ok %v, want %v", c.lim, c.elemBytes, ok, c.ok)
			continue
		}
		if !ok {
			continue
		}
		if gate.String() != c.gate || down.String() != c.down {
			t.Errorf("%s %d bytes: %v and %v, want %s and %s", c.lim, c.elemBytes, gate, down, c.gate, c.down)
		}
		if gate.TN != 8 || gate.BM != down.BM {
			t.Errorf("%s %d bytes: gated tile %v needs TN 8 and the down tile's %d rows", c.lim, c.elemBytes, gate, down.BM)
		}
	}
}
