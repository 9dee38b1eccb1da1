package ops

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/launch"
	"github.com/webfuser/webfuser/ops/ref"
)

// f16MathTol is the bound f16 products are held to: the spec's f16
// tolerance (dtype.DefaultTolerance) for f32 and f16 outputs, bf16's for
// bf16 outputs. The f32 bound of exact products (2e-3) is not theirs.
func f16MathTol(dt dtype.DType) tol {
	if dt == dtype.BF16 {
		return tolFor(dtype.BF16)
	}
	return tolFor(dtype.F16)
}

// needF16 skips a test on devices without shader-f16.
func needF16(t testing.TB, d *gpu.Device) {
	if !d.Features.ShaderF16 {
		t.Skipf("%v has no shader-f16", d)
	}
}

// f16Tiles are the Blocked tiles the f16 products are checked with: the
// shipped default (BK = 16, chunks of sixteen products in f16), the
// default before 2026-11-28's second session (BK = 8) and a small one
// with BK = 16.
var f16Tiles = []launch.Tile{
	{Kind: launch.Blocked, BM: 128, BN: 64, BK: 16, TM: 8, TN: 4, Group: launch.MatmulGroup},
	{Kind: launch.Blocked, BM: 128, BN: 128, BK: 8, TM: 8, TN: 8, Double: true, Group: launch.MatmulGroup},
	{Kind: launch.Blocked, BM: 64, BN: 64, BK: 16, TM: 4, TN: 4, Double: true, Group: 2},
}

// goldenLinear returns x [m,k], w [n,k] and a bias [n] (nil without)
// drawn as testdata/golden_catalog.py draws its linear cases: x and the
// bias N(0,1), w N(0, 1/k).
func goldenLinear(seed int64, dt dtype.DType, s mnk, bias bool) (x, w, b *ref.Tensor) {
	rng := rand.New(rand.NewSource(seed))
	x = randTensor(rng, dt, []int{s.m, s.k}, 1, 0)
	w = randTensor(rng, dt, []int{s.n, s.k}, 1/math.Sqrt(float64(s.k)), 0)
	if bias {
		b = randTensor(rng, dt, []int{s.n}, 1, 0)
	}
	return x, w, b
}

// TestLinearF16Math runs the f16-product form of the Blocked kernel
// (matmulSpec.halfMath) on the golden catalog's linear shapes and
// distributions, plus shapes that take the 16-byte unit paths and several
// K steps, in f32, f16 and bf16 storage, into guarded outputs, against
// ops/ref (float64) within f16MathTol.
func TestLinearF16Math(t *testing.T) {
	d := testDevice(t)
	needF16(t, d)
	shapes := []mnk{{1, 1, 1}, {1, 77, 33}, {77, 5, 100}, {3, 8, 1000}, {65, 130, 31}, {2, 3, 4097}, {130, 136, 256}, {70, 48, 40}}
	for _, tile := range f16Tiles {
		if !tile.Fits(d) {
			continue
		}
		for _, dt := range floatStorage {
			for i, s := range shapes {
				t.Run(fmt.Sprintf("%v/%v/%v", tile, dt, s), func(t *testing.T) {
					x, w, b := goldenLinear(int64(i), dt, s, i%2 == 0)
					want, err := ref.Linear(x, w, b)
					if err != nil {
						t.Fatal(err)
					}
					sp := &matmulSpec{op: "Linear", x: upload(t, d, x), w: upload(t, d, w), b: upload(t, d, b), halfMath: true}
					if err := sp.validate(); err != nil {
						t.Fatal(err)
					}
					k := sp.kernel(tile)
					if !k.F16 {
						t.Fatal("halfMath did not declare an f16 kernel")
					}
					runKernel(t, sp, k, want, f16MathTol(dt))
				})
			}
		}
	}
}

// TestLinearF16MathRounds checks that the f16 form really computes in
// f16 and the default does not: x = 1 + 2⁻¹², w = 1, K = 1 gives
// 1 + 2⁻¹² in f32 but 1 in f16 (the operand rounds to even), and a sum
// over K = 8 of 2048 + 1 + 1 + ... stays at 2048 in f16 (2049 is not an
// f16) where f32 gives 2055.
func TestLinearF16MathRounds(t *testing.T) {
	d := testDevice(t)
	needF16(t, d)
	eps := float32(math.Ldexp(1, -12))
	cases := []struct {
		name       string
		k          int
		x          []float32
		exact, f16 float32
	}{
		{"operand", 4, []float32{1 + eps, 0, 0, 0}, 1 + eps, 1},
		{"chunk sum", 8, []float32{2048, 1, 1, 1, 1, 1, 1, 1}, 2055, 2048},
	}
	for _, tile := range f16Tiles[:1] {
		for _, c := range cases {
			for _, half := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/halfMath=%v", c.name, half), func(t *testing.T) {
					x, err := d.Upload(dtype.F32, []int{1, c.k}, c.x)
					if err != nil {
						t.Fatal(err)
					}
					ones := make([]float32, 4*c.k)
					for i := range ones {
						ones[i] = 1
					}
					w, err := d.Upload(dtype.F32, []int{4, c.k}, ones)
					if err != nil {
						t.Fatal(err)
					}
					sp := &matmulSpec{op: "Linear", x: x, w: w, halfMath: half}
					if err := sp.validate(); err != nil {
						t.Fatal(err)
					}
					want := c.exact
					if half {
						want = c.f16
					}
					runGuarded(t, d, sp.kernel(tile), func(got []float32) {
						for i, v := range got {
							if v != want {
								t.Errorf("y[%d] = %v, want %v", i, v, want)
							}
						}
					})
				})
			}
		}
	}
}

// sampledError compares rows rows of y = x @ wᵀ (x [m,k], w [n,k] as
// host float32, y read back) with a float64 product and returns the
// largest |error| / (atol + rtol|want|) under tl: at most 1 is within it.
func sampledError(b *testing.B, y *gpu.Tensor, x, w []float32, s mnk, rows int, tl tol) float64 {
	got, err := y.Float32()
	if err != nil {
		b.Fatal(err)
	}
	worst := 0.0
	for r := 0; r < rows; r++ {
		m := r * (s.m - 1) / max(1, rows-1)
		for n := 0; n < s.n; n++ {
			sum := 0.0
			for k := 0; k < s.k; k++ {
				sum += float64(x[m*s.k+k]) * float64(w[n*s.k+k])
			}
			e := math.Abs(float64(got[m*s.n+n])-sum) / (tl.Atol + tl.Rtol*math.Abs(sum))
			if math.IsNaN(e) {
				e = math.Inf(1)
			}
			worst = max(worst, e)
		}
	}
	return worst
}

// hostRand returns n values N(0, std²) rounded to dt, as float32.
func hostRand(seed int64, dt dtype.DType, n int, std float64) []float32 {
	rng := rand.New(rand.NewSource(seed))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(dtype.Round(dt, std*rng.NormFloat64()))
	}
	return v
}

// BenchmarkMatmulF16Math times the f16-product form of the Blocked
// kernel (matmulSpec.halfMath) against the shipped exact kernel, both
// with the tile the launch policy picks (the shipped Blocked tile where
// the policy picks another kind), in f32, f16 and bf16 storage, at
// 4096³ and the D=3072 block's MLP-up linear (small stand-ins on a CPU
// driver), reporting TFLOP/s and err/f16-tol: the largest error of 8
// sampled rows of the output (in the storage dtype) against a float64
// product, as a fraction of the spec's f16 tolerance (golden
// distributions: x N(0,1), w N(0,1/K)).
//
//	./bin/ops.test -test.run '^$' -test.bench 'BenchmarkMatmulF16Math' -test.benchtime 1x
func BenchmarkMatmulF16Math(b *testing.B) {
	d := testDevice(b)
	if !d.Features.ShaderF16 {
		b.Skipf("%v has no shader-f16", d)
	}
	shapes := []mnk{{4096, 4096, 4096}, {4096, 12288, 3072}}
	if d.Info.Class == gpu.ClassCPU {
		shapes = []mnk{{256, 256, 256}}
	}
	for _, s := range shapes {
		for _, dt := range []dtype.DType{dtype.F32, dtype.F16, dtype.BF16} {
			xv := hostRand(1, dt, s.m*s.k, 1)
			wv := hostRand(2, dt, s.n*s.k, 1/math.Sqrt(float64(s.k)))
			x, err := d.Upload(dt, []int{s.m, s.k}, xv)
			if err != nil {
				b.Fatal(err)
			}
			w, err := d.Upload(dt, []int{s.n, s.k}, wv)
			if err != nil {
				b.Fatal(err)
			}
			tile := launch.MatmulTile(d, s.m, s.n, s.k, dt.Size())
			if tile.Kind != launch.Blocked { // CPU drivers' small products
				tile = f16Tiles[0]
			}
			flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
			for _, half := range []bool{false, true} {
				sp := &matmulSpec{op: "Linear", x: x, w: w, halfMath: half}
				if err := sp.validate(); err != nil {
					b.Fatal(err)
				}
				if sp.kernel(tile).F16 != half {
					b.Fatalf("tile %v: halfMath %v did not give that kernel", tile, half)
				}
				name := "exact"
				if half {
					name = "f16-products"
				}
				b.Run(fmt.Sprintf("%v/%v/%s/%v", s, dt, name, tile), func(b *testing.B) {
					tm, err := warmMeasure(d, matmulRun(sp, tile))
					if err != nil {
						b.Fatal(err)
					}
					y, err := sp.run(tile)
					if err != nil {
						b.Fatal(err)
					}
					defer y.Release()
					b.ReportMetric(float64(tm.Nanoseconds()), "gpu-ns")
					b.ReportMetric(flops/tm.Seconds()/1e12, "TFLOP/s")
					b.ReportMetric(sampledError(b, y, xv, wv, s, 8, tolFor(dtype.F16)), "err/f16-tol")
				})
			}
			x.Release()
			w.Release()
		}
	}
}
