package ops

import (
	"fmt"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/launch"
)

// BenchmarkMoETiles times the grouped MoE forward (top-2 of 8 experts,
// gated MLPs 3072 -> 8192 -> 3072) with each pair of expert-GEMM tiles in
// moeTileSweep, in f32 and bf16 storage (16-bit storage also with the
// Narrow form of each tile with TN = 8, 8-byte packs of four), at 4096 and 64
// tokens: the shipped pair (launch.MoETiles) named shipped=, moe_gemm.wgsl last.
// Rows report ms and TFLOP/s (6*T*topk*D*I). On a CPU driver it runs
// 64 tokens of 256 -> 512. About a minute on an H200:
//
//	./bin/ops.test -test.run '^$' -test.bench BenchmarkMoETiles -test.benchtime 3x
func BenchmarkMoETiles(b *testing.B) {
	d := testDevice(b)
	tokens, md, mi, me := []int{4096, 64}, 3072, 8192, 8
	if d.Info.Class == gpu.ClassCPU {
		tokens, md, mi, me = []int{64}, 256, 512, 8
	}
	for _, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
		w1, w3, w2 := randomDevice(b, d, dt, me, mi, md), randomDevice(b, d, dt, me, mi, md), randomDevice(b, d, dt, me, md, mi)
		for _, t := range tokens {
			shipped, shippedDown, _ := launch.MoETiles(d, dt.Size(), t*2/me)
			x := randomDevice(b, d, dt, t, md)
			lg := randomDevice(b, d, dtype.F32, t, me)
			flops := 6 * float64(t) * 2 * float64(md) * float64(mi)
			for _, p := range moeTileSweep(d, dt.Size() == 2) {
				name := fmt.Sprintf("%v/T=%d/%s", dt, t, p.name(shipped, shippedDown, dt.Size() == 2))
				b.Run(name, func(b *testing.B) {
					defer forceMoETiles(p.gateUp, p.down, p.ok)()
					tm, _, err := d.Measure(3, max(1, b.N), func() error {
						y, err := MoEForward(x, lg, nil, w1, w2, w3, MoEConfig{TopK: 2})
						if err == nil {
							y.Release()
						}
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(tm.Microseconds())/1e3, "ms")
					b.ReportMetric(flops/tm.Seconds()/1e12, "TFLOP/s")
				})
			}
			x.Release()
			lg.Release()
		}
		w1.Release()
		w2.Release()
		w3.Release()
	}
}

// moeTilePair is one choice of expert-GEMM tiles for BenchmarkMoETiles
// (ok false: moe_gemm.wgsl).
type moeTilePair struct {
	gateUp, down launch.Tile
	ok           bool
}

// name labels the pair, marking the shipped one (Narrow, which only
// 16-bit storage reads, aside for f32).
func (p moeTilePair) name(gateUp, down launch.Tile, half bool) string {
	if !p.ok {
		return "moe_gemm"
	}
	s := fmt.Sprintf("%v+%v", p.gateUp, p.down)
	if !half {
		gateUp.Narrow, down.Narrow = false, false
	}
	if p.gateUp == gateUp && p.down == down {
		s = "shipped=" + s
	}
	return s
}

// moeTileSweep lists the tile pairs BenchmarkMoETiles times on d: gated
// products on 8-column register blocks (128 or 64 rows), down products on
// the dense matmul's best tiles, with the Narrow form too for 16-bit
// storage where it differs; pairs of equal height that fit, then moe_gemm.wgsl.
func moeTileSweep(d *gpu.Device, half bool) []moeTilePair {
	bl := func(bm, bn, bk, tm, tn int, db bool) launch.Tile {
		return launch.Tile{Kind: launch.Blocked, BM: bm, BN: bn, BK: bk, TM: tm, TN: tn, Double: db, Group: launch.MatmulGroup}
	}
	gates := []launch.Tile{bl(128, 128, 16, 8, 8, false), bl(128, 128, 8, 8, 8, true), bl(128, 128, 16, 8, 8, true), bl(64, 64, 8, 8, 8, true)}
	downs := []launch.Tile{bl(128, 64, 16, 8, 4, true), bl(128, 128, 16, 8, 8, false), bl(64, 64, 16, 4, 4, true)}
	// Narrow changes only 16-bit operands of tiles with TN = 8 (TN = 4
	// tiles move 8-byte packs either way).
	narrow := func(t launch.Tile) []bool {
		if half && t.TN == 8 {
			return []bool{false, true}
		}
		return []bool{false}
	}
	var out []moeTilePair
	for _, g := range gates {
		for _, dn := range downs {
			for _, ng := range narrow(g) {
				for _, nd := range narrow(dn) {
					g, dn := g, dn
					g.Narrow, dn.Narrow = ng, nd
					if g.BM == dn.BM && g.Fits(d) && dn.Fits(d) {
						out = append(out, moeTilePair{g, dn, true})
					}
				}
			}
		}
	}
	return append(out, moeTilePair{ok: false})
}
