package dit

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/attention"
)

// deviceRandom uploads a tensor of shape drawn from N(mean, std²) in dt,
// generated as float32 a weight at a time (the GOOS=js build cannot hold
// the DiT block's weights as float64 host tensors).
func deviceRandom(b *testing.B, d *ops.Device, rng *rand.Rand, dt ops.DType, shape []int, std, mean float64) *ops.Tensor {
	n := 1
	for _, s := range shape {
		n *= s
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64()*std + mean)
	}
	t, err := d.Upload(dt, shape, v)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// BenchmarkDiTBlockVariants times the DiT block of the compute issue
// (D=3072, H=24, S=4096, GELU-tanh MLP 4xD; a small block on CPU drivers)
// with f32 and bf16 storage in four variants: exact (float linears, the
// TORCH_SDPA flash kernel), W8A8 linears (int8 tensor cores where the
// adapter lists i8 subgroup-matrix configurations, the plain int8 kernel
// elsewhere), Sage attention (SAGE_ATTN_2_8_8 through attention.Attention,
// which falls back to the flash kernel with a warning where there is no
// Sage kernel) and both. It reports milliseconds per block and the ratio
// to the exact variant of the same dtype. On the H200 through node + Dawn
// (bench/device.sh w8a8, its binary packed by bench/w8a8_pack.sh):
//
//	GOOS=js GOARCH=wasm go test -c -o .dev/dit_js.test ./models/dit
//	web/testrunner/go_js_wasm_exec dit_js.test -test.run '^$' -test.bench BenchmarkDiTBlockVariants -test.benchtime 1x
func BenchmarkDiTBlockVariants(b *testing.B) {
	d := testDevice(b)
	dim, heads, seq := 3072, 24, 4096
	if d.Info.Class == gpu.ClassCPU {
		dim, heads, seq = 128, 2, 64
	}
	cfg := NewConfig(dim, heads)
	shapes, err := cfg.WeightShapes()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("int8 tensor cores: %v; D=%d H=%d S=%d", ops.HasInt8TensorCores(d), dim, heads, seq)
	variants := []struct {
		name string
		opt  Options
	}{
		{"exact", Options{}},
		{"w8a8", Options{Linear: ops.LinearModeW8A8}},
		{"sage", Options{Attention: attention.SAGE_ATTN_2_8_8}},
		{"w8a8+sage", Options{Linear: ops.LinearModeW8A8, Attention: attention.SAGE_ATTN_2_8_8}},
	}
	for _, dt := range []ops.DType{ops.F32, ops.BF16} {
		rng := rand.New(rand.NewSource(1))
		w := map[string]*ops.Tensor{}
		for _, n := range WeightNames() {
			std, mean := weightInit(n, shapes[n])
			w[n] = deviceRandom(b, d, rng, dt, shapes[n], std, mean)
		}
		x := deviceRandom(b, d, rng, dt, []int{1, seq, dim}, 1, 0)
		cond := deviceRandom(b, d, rng, dt, []int{1, dim}, 1, 0)
		blk, err := New(cfg, w)
		if err != nil {
			b.Fatal(err)
		}
		var exact float64
		for _, v := range variants {
			if err := blk.SetOptions(v.opt); err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%v/%s", dt, v.name), func(b *testing.B) {
				tm, _, err := d.Measure(3, 2, func() error {
					y, err := blk.Forward(x, cond)
					if err == nil {
						y.Release()
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				ms := float64(tm.Microseconds()) / 1000
				if v.name == "exact" {
					exact = ms
				}
				b.ReportMetric(ms, "ms/block")
				if exact > 0 {
					b.ReportMetric(exact/ms, "x-exact")
				}
			})
		}
		blk.Release()
		x.Release()
		cond.Release()
		ReleaseWeights(w)
	}
}
