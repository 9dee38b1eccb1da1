package ops

import (
	"fmt"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/launch"
)

// BenchmarkQuantizeRowsPerWorkgroup times the fused per-token FP8
// quantisation of x [m, 3072] (512 on CPU drivers) at several row
// counts, with 1, 2, 4 and 8 rows a workgroup and launch's choice
// (auto=N): the figures behind launch.QuantizeRowsPerWorkgroup. The
// same x is read by every call, so the small products run from a GPU's
// L2: compare the rows of one m with each other, not with a copy.
//
//	go test -run '^$' -bench BenchmarkQuantizeRowsPerWorkgroup ./ops
func BenchmarkQuantizeRowsPerWorkgroup(b *testing.B) {
	d := testDevice(b)
	k, ms := 3072, []int{1024, 4096, 16384, 32768}
	if d.Info.Class == gpu.ClassCPU {
		k, ms = 512, []int{64, 256}
	}
	for _, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
		for _, m := range ms {
			x := randomDevice(b, d, dt, m, k)
			for _, r := range []int{0, 1, 2, 4, 8} {
				name := fmt.Sprintf("%v/m=%d/rows=%d", dt, m, r)
				if r == 0 {
					name = fmt.Sprintf("%v/m=%d/auto=%d", dt, m, launch.QuantizeRowsPerWorkgroup(m))
				}
				b.Run(name, func(b *testing.B) {
					tm, _, err := d.Measure(5, max(1, b.N), released(quantCodes(x, PerToken, quantVariant{rows: r})))
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(tm.Nanoseconds()), "gpu-ns")
				})
			}
			x.Release()
		}
	}
}

// quantCodes returns a call that quantises x to E4M3 with variant v
// and returns the codes, the scales released: what the benchmarks time.
func quantCodes(x *gpu.Tensor, g Granularity, v quantVariant) func() (*gpu.Tensor, error) {
	return func() (*gpu.Tensor, error) {
		q, s, err := quantizeRows(x, g, dtype.FP8E4M3, v)
		if err == nil {
			s.Release()
		}
		return q, err
	}
}
