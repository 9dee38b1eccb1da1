package launch

import "github.com/webfuser/webfuser/gpu"

// Launch choices of the TeleFuser-parity kernels (ops/nf4.go, ops/moe.go).
// They sit beside launch.go's and follow its rule: keyed on sizes and
// device properties, never on names. Not yet swept on the H200: the
// figures behind them are BenchmarkParity's to come.

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

// MoETile is the tile of the grouped MoE GEMMs: 32 x 32 outputs, 64
// invocations, 16 deep. Tiles hold the rows of one expert, so a smaller
// tile wastes fewer rows at the end of each expert's run than the 64 x 64
// matmul tile.
var MoETile = Tile{Kind: Simple, BM: 32, BN: 32, BK: 16}

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
