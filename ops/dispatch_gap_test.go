package ops

import (
	"fmt"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
)

// BenchmarkDispatchGap times calls of the copy kernel that depend on
// the call before and calls that do not, at sizes from a few KiB (where
// the work is nothing and the time is the launch) to 16 MiB, so that
// the difference is the gap a dependent dispatch costs on this stack:
//
//	free    each call writes its own output, one of a ring of 64: no call
//	        waits for another
//	serial  every call writes one output, as BenchmarkSkinnyLinear's
//	        serial rows do (write after write)
//	chain   each call reads the output of the call before and writes the
//	        input of the one before it (two buffers in turn), as a
//	        model's consecutive operators do
//
// It reports the GPU time per call (gpu-ns) and GB/s of the bytes read
// and written.
//
//	./bin/ops.test -test.run '^$' -test.bench 'BenchmarkDispatchGap' -test.benchtime 1x
func BenchmarkDispatchGap(b *testing.B) {
	d := testDevice(b)
	for _, kib := range []int{4, 64, 1024, 16384} {
		words := kib * 1024 / 4
		x := randomDevice(b, d, dtype.F32, words)
		y := randomDevice(b, d, dtype.F32, words)
		ring := make([]*gpu.Tensor, 64)
		for i := range ring {
			ring[i] = randomDevice(b, d, dtype.F32, words)
		}
		for _, mode := range []string{"free", "serial", "chain"} {
			var ks []*kernel.Kernel
			switch mode {
			case "free":
				for _, r := range ring {
					ks = append(ks, copyKernel(x).Reuse([]*gpu.Tensor{r}))
				}
			case "serial":
				ks = append(ks, copyKernel(x).Reuse([]*gpu.Tensor{y}))
			case "chain":
				ks = append(ks, copyKernel(x).Reuse([]*gpu.Tensor{y}), copyKernel(y).Reuse([]*gpu.Tensor{x}))
			}
			run := inTurn(d, ks)
			b.Run(fmt.Sprintf("%dKiB/%s", kib, mode), func(b *testing.B) {
				tm, err := busyMeasure(d, run)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(tm.Nanoseconds()), "gpu-ns")
				b.ReportMetric(2*float64(kib*1024)/tm.Seconds()/1e9, "GB/s")
			})
		}
		x.Release()
		y.Release()
		for _, r := range ring {
			r.Release()
		}
	}
}
