package attention

import (
	"fmt"
	"math/rand"
	"os"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// benchInputs uploads random q, k, v of [1,S,H,D].
func benchInputs(b *testing.B, d *gpu.Device, dt dtype.DType, S, H, D int) (q, k, v *gpu.Tensor) {
	rng := rand.New(rand.NewSource(1))
	q = upload(b, d, randTensor(rng, dt, []int{1, S, H, D}, 1))
	k = upload(b, d, randTensor(rng, dt, []int{1, S, H, D}, 1))
	v = upload(b, d, randTensor(rng, dt, []int{1, S, H, D}, 1))
	return
}

// BenchmarkBlockSparse times block-sparse attention at 10%, 50% and 100%
// block density (S=1024, H=2, D=64, blocks of 128; small enough for
// lavapipe): the time should fall roughly with the density, since dead
// blocks are skipped.
func BenchmarkBlockSparse(b *testing.B) {
	d := testDevice(b)
	const S, H, D, bs = 1024, 2, 64, 128
	q, k, v := benchInputs(b, d, dtype.F32, S, H, D)
	n := S / bs
	for _, density := range []float64{0.1, 0.5, 1} {
		b.Run(fmt.Sprintf("density%.0f%%", density*100), func(b *testing.B) {
			rng := rand.New(rand.NewSource(2))
			data := make([]uint8, H*n*n)
			live := int(density*float64(len(data)) + 0.5)
			for _, i := range rng.Perm(len(data))[:live] {
				data[i] = 1
			}
			m, err := NewBlockMask([]int{H, n, n}, bs, bs, data)
			if err != nil {
				b.Fatal(err)
			}
			var outs []*gpu.Tensor
			dur, gpuTimed, err := d.Measure(3, 2, func() error {
				o, err := BlockSparse(q, k, v, m, Options{})
				outs = append(outs, o)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			for _, o := range outs {
				o.Release()
			}
			flops := 4 * float64(S) * float64(S) * float64(H) * float64(D) * m.Density()
			b.ReportMetric(float64(dur.Microseconds())/1000, "ms/op")
			b.ReportMetric(flops/dur.Seconds()/1e9, "GFLOP/s")
			b.Logf("density %.2f: %v per call (gpu timestamps %v)", m.Density(), dur, gpuTimed)
		})
	}
}

// BenchmarkAttention times dense attention at S=4096, D=128, H=24 in f32
// and f16 and prints TFLOP/s. It is for the NVIDIA machine: it runs only
// when WEBFUSER_BENCH_ATTENTION=1.
func BenchmarkAttention(b *testing.B) {
	if os.Getenv("WEBFUSER_BENCH_ATTENTION") != "1" {
		b.Skip("set WEBFUSER_BENCH_ATTENTION=1 (meant for a real GPU: S=4096 D=128 H=24)")
	}
	d := testDevice(b)
	const S, H, D = 4096, 24, 128
	for _, dt := range []dtype.DType{dtype.F32, dtype.F16} {
		for _, portable := range []bool{false, true} {
			if portable && !d.Features.Subgroups {
				continue
			}
			b.Run(fmt.Sprintf("%v/portable=%v", dt, portable), func(b *testing.B) {
				q, k, v := benchInputs(b, d, dt, S, H, D)
				var outs []*gpu.Tensor
				dur, gpuTimed, err := d.Measure(5, 3, func() error {
					l := &call{op: "Attention", q: q, k: k, v: v, portable: portable || !d.Features.Subgroups}
					o, err := l.run()
					outs = append(outs, o)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				for _, o := range outs {
					o.Release()
				}
				tflops := 4 * float64(S) * float64(S) * H * D / dur.Seconds() / 1e12
				b.ReportMetric(tflops, "TFLOP/s")
				fmt.Printf("attention S=%d H=%d D=%d %v portable=%v on %v: %v, %.2f TFLOP/s (gpu timestamps %v)\n",
					S, H, D, dt, portable, d, dur, tflops, gpuTimed)
			})
		}
	}
}
