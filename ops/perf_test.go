package ops

import (
	"fmt"
	"math/rand"
	"os"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/shapes"
)

// TestPerfSweep times launch variants of the memory-bound kernels at the
// benchmark shape, next to a copy of the same bytes, to back the choices
// in dispatch_table.go. It runs only with WEBFUSER_PERF=1 (on the NVIDIA
// machine); timings are never asserted.
func TestPerfSweep(t *testing.T) {
	if os.Getenv("WEBFUSER_PERF") == "" {
		t.Skip("set WEBFUSER_PERF=1 to run the launch sweep")
	}
	d := testDevice(t)
	shape := []int{8, 4096, 3072}
	B, L, C := shape[0], shape[1], shape[2]
	fmt.Printf("device: %s\n\n| kernel | dtype | variant | time | GB/s | vs copy |\n|---|---|---|---|---|---|\n", d)
	// Random data: zeros compress in GPU memory and time unrealistically fast.
	zeros := func(dt dtype.DType, s ...int) *gpu.Tensor { return randomDevice(t, d, dt, s...) }
	for _, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
		x := zeros(dt, shape...)
		y := zeros(dt, shape...)
		nb := float64(x.Numel() * dt.Size())
		var copyBW float64
		row := func(kernel, variant string, bytes float64, run func() error) {
			tm, _, err := d.Measure(7, 10, run)
			if err != nil {
				t.Fatalf("%s %s: %v", kernel, variant, err)
			}
			bw := bytes / tm.Seconds() / 1e9
			if kernel == "copy" && copyBW == 0 {
				copyBW = bw
			}
			fmt.Printf("| %s | %v | %s | %v | %.0f | %.2fx |\n", kernel, dt, variant, tm, bw, bw/copyBW)
		}
		row("copy", "vec4<u32>", 2*nb, func() error { c, err := Copy(x); c.Release(); return err })
		row("copy", "into y", 2*nb, func() error { return copyInto(d, x, y) })
		for _, rows := range []int{B / 2, 2 * B} {
			x2 := zeros(dt, rows, L, C)
			row("copy", fmt.Sprintf("[%d,%d,%d]", rows, L, C), 2*nb*float64(rows)/float64(B), func() error { c, err := Copy(x2); c.Release(); return err })
			x2.Release()
		}
		w := zeros(dt, C)
		bias := zeros(dt, C)
		for _, kind := range []NormKind{KindRMSNorm, KindLayerNorm} {
			s := &normSpec{op: "sweep", kind: kind, x: x, w: w, eps: 1e-6}
			if kind == KindLayerNorm {
				s.b = bias
			}
			if err := s.validate(); err != nil {
				t.Fatal(err)
			}
			vec, units := packing(C, dt)
			for _, wg := range []int{32, 64, 128, 256, 512, 1024} {
				du := C / (vec * units)
				np := (du + wg - 1) / wg
				row(kind.String(), fmt.Sprintf("wg %d np %d", wg, np), 2*nb, func() error { return s.dispatch(y, vec, units, wg, np) })
			}
		}
		for _, form := range [][]int{{B, C}, {B, L, C}} {
			sc, sh := zeros(dt, form...), zeros(dt, form...)
			bs, _ := shapes.ModulateBroadcast(shape, form)
			extra := 0.0
			if len(form) == 3 {
				extra = 2 * nb
			}
			for _, v := range []modulateVariant{{}, {rows: true, wg: 64}, {rows: true, wg: 128}, {rows: true, wg: 256}, {rows: true, wg: 512}} {
				row(fmt.Sprintf("modulate %v", form), fmt.Sprintf("rows=%v wg %d", v.rows, v.wg), 2*nb+extra,
					func() error { return scaleShiftInto(y, x, sc, sh, 1, bs, bs, v) })
			}
		}
		d.TrimPool()
	}
}

// randomDevice uploads N(0,1) values of type dt.
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

// TestPerfNormModulateSweep times the fused RMSNorm+modulate at each
// workgroup size. WEBFUSER_PERF=1 only.
func TestPerfNormModulateSweep(t *testing.T) {
	if os.Getenv("WEBFUSER_PERF") == "" {
		t.Skip("set WEBFUSER_PERF=1 to run the sweep")
	}
	d := testDevice(t)
	shape := []int{8, 4096, 3072}
	fmt.Printf("\n| RMSNorm+modulate [B,C] | dtype | wg | GPU time | copy | vs copy |\n|---|---|---|---|---|---|\n")
	for _, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
		x := randomDevice(t, d, dt, shape...)
		y := randomDevice(t, d, dt, shape...)
		w := randomDevice(t, d, dt, shape[2])
		sc := randomDevice(t, d, dt, shape[0], shape[2])
		sh := randomDevice(t, d, dt, shape[0], shape[2])
		s := &normSpec{op: "sweep", kind: KindRMSNorm, x: x, w: w, eps: 1e-6, mod: &ModulateArgs{Scale: sc, Shift: sh, Constant: 1}}
		if err := s.validate(); err != nil {
			t.Fatal(err)
		}
		vec, units := packing(shape[2], dt)
		for _, wg := range []int{32, 64, 128, 256, 512} {
			np := (shape[2]/(vec*units) + wg - 1) / wg
			ct, err := d.MeasureBoth(5, 10, func() error { return copyInto(d, x, y) })
			if err != nil {
				t.Fatal(err)
			}
			tm, err := d.MeasureBoth(5, 10, func() error { return s.dispatch(y, vec, units, wg, np) })
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("| | %v | %d | %v | %v | %.2fx |\n", dt, wg, tm.GPU, ct.GPU, ct.GPU.Seconds()/tm.GPU.Seconds())
		}
	}
}
