package ops

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/shapes"
)

// randomDevice uploads N(0,1) values: zeros compress in GPU memory and
// time unrealistically fast.
func randomDevice(t testing.TB, d *gpu.Device, dt dtype.DType, shape ...int) *gpu.Tensor {
	rng := rand.New(rand.NewSource(int64(len(shape))))
	v := make([]float32, gpu.Numel(shape))
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	x, err := d.Upload(dt, shape, v)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// benchShape is the memory-bound benchmark shape: a video DiT's
// activations on a GPU, a small one on a CPU driver.
func benchShape(d *gpu.Device) []int {
	if d.Info.Class == gpu.ClassCPU {
		return []int{1, 64, 1024}
	}
	return []int{8, 4096, 3072}
}

// measureBW times run (b.N calls per trial, GPU timestamps where the
// device has them) and reports GB/s of the bytes it moves and the ratio
// to a copy of x timed just before, so that idle clocks show as a slow copy.
func measureBW(b *testing.B, d *gpu.Device, x *gpu.Tensor, bytes float64, run func() (*gpu.Tensor, error)) {
	call := func(f func() (*gpu.Tensor, error)) func() error {
		return func() error {
			y, err := f()
			if err == nil {
				y.Release()
			}
			return err
		}
	}
	cp, _, err := d.Measure(5, max(1, b.N), call(func() (*gpu.Tensor, error) { return Copy(x) }))
	if err != nil {
		b.Fatal(err)
	}
	tm, _, err := d.Measure(5, max(1, b.N), call(run))
	if err != nil {
		b.Fatal(err)
	}
	copyBW := 2 * float64(x.ByteSize()) / cp.Seconds() / 1e9
	bw := bytes / tm.Seconds() / 1e9
	b.ReportMetric(float64(tm.Nanoseconds()), "gpu-ns")
	b.ReportMetric(bw, "GB/s")
	b.ReportMetric(copyBW, "copy-GB/s")
	b.ReportMetric(bw/copyBW, "x-copy")
}

// BenchmarkMemoryBound times the norm and modulate kernels, and the
// launch variants of modulate, each next to a copy of the same bytes
// (the figures behind internal/launch). On a GPU:
// go test -c -o bin/ops.test ./ops && ./bin/ops.test -test.run '^$' -test.bench BenchmarkMemoryBound -test.benchtime 10x
func BenchmarkMemoryBound(b *testing.B) {
	d := testDevice(b)
	shape := benchShape(d)
	B, C := shape[0], shape[2]
	for _, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
		x := randomDevice(b, d, dt, shape...)
		w := randomDevice(b, d, dt, C)
		sc := randomDevice(b, d, dt, B, C)
		sh := randomDevice(b, d, dt, B, C)
		nb := float64(x.Numel() * dt.Size())
		bc, _ := shapes.ModulateBroadcast(shape, sc.Shape)
		cases := []struct {
			name  string
			bytes float64
			run   func() (*gpu.Tensor, error)
		}{
			{"rms_norm", 2 * nb, func() (*gpu.Tensor, error) { return RMSNormForward(x, w, nil, 1e-6) }},
			{"layer_norm", 2 * nb, func() (*gpu.Tensor, error) { return LayerNormForward(x, w, w, 1e-6) }},
			{"rms_norm+modulate", 2 * nb, func() (*gpu.Tensor, error) {
				return NormModulate(KindRMSNorm, x, w, nil, 1e-6, ModulateArgs{Scale: sc, Shift: sh, Constant: 1})
			}},
			{"modulate[B,C]", 2 * nb, func() (*gpu.Tensor, error) { return Modulate(x, sh, sc) }},
		}
		for _, v := range []modulateVariant{{}, {rows: true, wg: 64}, {rows: true, wg: 128}, {rows: true, wg: 256}, {rows: true, units: 1}} {
			v := v
			cases = append(cases, struct {
				name  string
				bytes float64
				run   func() (*gpu.Tensor, error)
			}{fmt.Sprintf("modulate[B,C]/rows=%v/wg=%d/units=%d", v.rows, v.wg, v.units), 2 * nb, func() (*gpu.Tensor, error) {
				return modulateKernel(x, sc, sh, 1, bc, bc, v).RunOne(d)
			}})
		}
		for _, c := range cases {
			b.Run(fmt.Sprintf("%v/%s", dt, c.name), func(b *testing.B) { measureBW(b, d, x, c.bytes, c.run) })
		}
	}
}
