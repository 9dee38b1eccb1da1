package launch

import (
	"testing"

	"github.com/webfuser/webfuser/gpu"
)

// TestMatmulTile pins the dense products' launch policy over synthetic
// limits: the GEMV up to 16 rows, the default where the product fills
// 96 of its workgroups (also within WebGPU's core limits), then the
// first of matmulOrder that fits the device and the product.
func TestMatmulTile(t *testing.T) {
	lims := map[string]gpu.Limits{"inv128": {MaxWorkgroupMemory: 16384, MaxInvocations: 128, MaxWorkgroupSizeX: 128}}
	for k, v := range pinLimits {
		lims[k] = v
	}
	cases := []struct {
		lim     string
		m, n, k int
		want    string
	}{
		{"nvidia", 1, 4096, 4096, "gemv8/128"},
		{"nvidia", 4, 4096, 4096, "gemv16x4/256"},
		{"nvidia", 16, 4096, 4096, "gemv16x4/256"},
		{"inv128", 4, 4096, 4096, "gemv4/64"},        // the default needs 256 invocations
		{"discrete", 16, 4096, 4096, "gemv16x4/256"}, // 2-byte weights
		{"nvidia", 4096, 4096, 4096, "blocked128x64x16/8x4/sb/g8"},
		{"core", 4096, 3072, 12288, "blocked128x64x16/8x4/sb/g8"},
		{"nvidia", 1536, 512, 256, "blocked128x64x16/8x4/sb/g8"}, // 12 x 8 = 96 workgroups
		{"nvidia", 512, 512, 512, "blocked64x64x8/8x8/db/g8"},    // 32 of the default's, 64 of these
		{"nvidia", 100, 100, 64, "simple64x64x16"},
		{"nvidia", 17, 40, 8, "simple32x32x16"},
		{"inv128", 4096, 4096, 4096, "blocked64x64x8/8x8/db/g8"}, // the default needs 256 invocations
	}
	disc := &gpu.Device{Limits: lims["nvidia"], Info: gpu.Info{Class: gpu.ClassDiscrete}}
	cpu := &gpu.Device{Limits: lims["nvidia"], Info: gpu.Info{Class: gpu.ClassCPU}}
	for _, c := range cases {
		d := &gpu.Device{Limits: lims[c.lim]}
		if c.lim == "discrete" {
			d = disc
		}
		if got := MatmulTile(d, c.m, c.n, c.k, 2).String(); got != c.want {
			t.Errorf("%s [%d,%d]x[%d,%d]ᵀ: %s, want %s", c.lim, c.m, c.k, c.n, c.k, got, c.want)
		}
	}
	// Past four rows on discrete GPUs: one group of eight columns for
	// 4-byte weights (64 invocations to eight rows, 128 past them), of
	// four for 2-byte weights to eight rows; groups of four columns
	// otherwise. Other GPUs: eight columns an invocation for 4-byte
	// weights from five to eight rows, four otherwise.
	for _, c := range []struct {
		discrete bool
		m, wsize int
		want     string
	}{{true, 2, 4, "gemv16x4/256"}, {true, 4, 4, "gemv16x4/256"}, {true, 5, 4, "gemv8/64"}, {true, 8, 4, "gemv8/64"}, {true, 5, 2, "gemv4/128"},
		{true, 8, 2, "gemv4/128"}, {true, 9, 2, "gemv16x4/256"}, {true, 8, 1, "gemv16x4/256"}, {true, 9, 4, "gemv8/128"}, {true, 16, 4, "gemv8/128"},
		{true, 16, 1, "gemv16x4/256"}, {false, 8, 4, "gemv16x8/256"}, {false, 8, 2, "gemv16x4/256"}, {false, 9, 4, "gemv16x4/256"}} {
		d := &gpu.Device{Limits: lims["nvidia"]}
		if c.discrete {
			d = disc
		}
		if got := MatmulTile(d, c.m, 4096, 4096, c.wsize).String(); got != c.want {
			t.Errorf("discrete %v, m=%d, %d-byte weights: %s, want %s", c.discrete, c.m, c.wsize, got, c.want)
		}
	}
	// CPU rasterizers: 64 invocations, one row included; tiled products
	// in 128x128 tiles with 8x8 registers.
	for _, m := range []int{1, 2, 8, 16} {
		want := "gemv32x4/64"
		if got := MatmulTile(cpu, m, 4096, 4096, 2).String(); got != want {
			t.Errorf("CPU rasterizer, m=%d: %s, want %s", m, got, want)
		}
	}
	for _, ws := range []int{4, 2, 1} {
		if got, want := MatmulTile(cpu, 1024, 1024, 1024, ws).String(), "blocked128x128x16/8x8/sb/g8"; got != want {
			t.Errorf("CPU rasterizer, 1024³, %d-byte weights: %s, want %s", ws, got, want)
		}
	}
}
