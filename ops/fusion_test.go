package ops

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops/ref"
)

// fusionCase builds inputs for one fusion and returns a runner per path.
func fusionCase(t testing.TB, d *gpu.Device, f Fusion, dt dtype.DType, rows, dim int) func(Path) (*gpu.Tensor, error) {
	rng := rand.New(rand.NewSource(12))
	up := func(shape []int, std, mean float64) *gpu.Tensor {
		return upload(t, d, randTensor(rng, dt, shape, std, mean))
	}
	switch f {
	case FuseNormModulate:
		x, w := up([]int{2, rows, dim}, 1, 0), up([]int{dim}, 0.3, 1)
		sc, sh := up([]int{2, dim}, 0.3, 0), up([]int{2, dim}, 1, 0)
		return func(p Path) (*gpu.Tensor, error) {
			return normThenModulate(KindRMSNorm, x, w, nil, 1e-6, ModulateArgs{Scale: sc, Shift: sh, Constant: 1}, p)
		}
	case FuseLinearBiasAct:
		x, w, b := up([]int{rows, dim}, 1, 0), up([]int{dim, dim}, 0.1, 0), up([]int{dim}, 1, 0)
		return func(p Path) (*gpu.Tensor, error) { return linearAct(x, w, b, ActGELU, p) }
	default:
		x, w, b := up([]int{2, rows, dim}, 1, 0), up([]int{dim, dim}, 0.1, 0), up([]int{dim}, 1, 0)
		g, r := up([]int{2, dim}, 0.5, 0), up([]int{2, rows, dim}, 1, 0)
		return func(p Path) (*gpu.Tensor, error) { return linearGateResidual(x, w, b, g, r, p) }
	}
}

// TestFusionTable pins the table's choices: the one composed row and
// the fused default.
func TestFusionTable(t *testing.T) {
	tests := []struct {
		f     Fusion
		class gpu.Class
		elems int
		want  Path
	}{
		{FuseLinearBiasAct, gpu.ClassDiscrete, 4096 * 1536, PathComposed},
		{FuseLinearBiasAct, gpu.ClassDiscrete, 1 << 20, PathFused},
		{FuseLinearBiasAct, gpu.ClassCPU, 4096 * 1536, PathFused},
		{FuseNormModulate, gpu.ClassDiscrete, 1 << 24, PathFused},
		{FuseGateResidual, gpu.ClassIntegrated, 1, PathFused},
	}
	for _, tc := range tests {
		if got := choosePath(tc.f, tc.class, tc.elems); got != tc.want {
			t.Errorf("%v on %v, %d elements: %v, want %v", tc.f, tc.class, tc.elems, got, tc.want)
		}
	}
	for _, r := range fusionTable {
		if r.evidence == "" {
			t.Errorf("row %+v cites no benchmark", r)
		}
	}
}

// TestDispatchPathsAgree runs both paths of every fusion and requires
// the same result.
func TestDispatchPathsAgree(t *testing.T) {
	d := testDevice(t)
	for _, f := range []Fusion{FuseNormModulate, FuseLinearBiasAct, FuseGateResidual} {
		for _, dt := range floatStorage {
			for _, dim := range []int{12, 7} {
				t.Run(fmt.Sprintf("%v/%v/%d", f, dt, dim), func(t *testing.T) {
					run := fusionCase(t, d, f, dt, 5, dim)
					a, err := run(PathFused)
					if err != nil {
						t.Fatal(err)
					}
					b, err := run(PathComposed)
					if err != nil {
						t.Fatal(err)
					}
					bv, _ := b.Float32()
					want, _ := ref.FromFloat32(dt, b.Shape, bv)
					expectClose(t, a, want, matmulTol(dt))
				})
			}
		}
	}
}

// TestLinearEpiloguesMatchReference checks the fused activation and
// gate+residual epilogues with every gate broadcast form.
func TestLinearEpiloguesMatchReference(t *testing.T) {
	d := testDevice(t)
	const B, L, K, N = 2, 3, 10, 6
	for _, dt := range floatStorage {
		for _, gshape := range [][]int{{N}, {B, N}, {B, 1, N}, {B, L, N}} {
			t.Run(fmt.Sprintf("%v/gate%v", dt, gshape), func(t *testing.T) {
				rng := rand.New(rand.NewSource(13))
				x := randTensor(rng, dt, []int{B, L, K}, 1, 0)
				w := randTensor(rng, dt, []int{N, K}, 0.3, 0)
				b := randTensor(rng, dt, []int{N}, 1, 0)
				g := randTensor(rng, dt, gshape, 1, 0)
				r := randTensor(rng, dt, []int{B, L, N}, 1, 0)
				h, _ := ref.Linear(x, w, b)
				want, err := ref.GateResidual(h, g, r)
				if err != nil {
					t.Fatal(err)
				}
				y, err := LinearGateResidual(upload(t, d, x), upload(t, d, w), upload(t, d, b), upload(t, d, g), upload(t, d, r))
				if err != nil {
					t.Fatal(err)
				}
				expectClose(t, y, want, matmulTol(dt))
			})
		}
	}
}

// BenchmarkDispatch times both paths of every fusion with Device.Measure
// (GPU timestamps where the device has them) and reports the medians as
// the metrics fused-ns and composed-ns, logging the table's choice. On a
// GPU: go test -c -o bin/ops.test ./ops && ./bin/ops.test -test.run '^$'
// -test.bench BenchmarkDispatch -test.benchtime 10x -test.v
func BenchmarkDispatch(b *testing.B) {
	d := testDevice(b)
	for _, f := range []Fusion{FuseNormModulate, FuseLinearBiasAct, FuseGateResidual} {
		sizes := []struct{ rows, dim int }{{64, 256}, {256, 512}}
		if d.Info.Class != gpu.ClassCPU { // sizes of a video DiT block, too slow for a CPU driver
			sizes = append(sizes, struct{ rows, dim int }{4096, 1536}, struct{ rows, dim int }{8192, 3072})
		}
		for _, s := range sizes {
			b.Run(fmt.Sprintf("%v/%dx%d", f, s.rows, s.dim), func(b *testing.B) {
				run := fusionCase(b, d, f, dtype.F32, s.rows, s.dim)
				var times [2]float64
				for i, p := range []Path{PathFused, PathComposed} {
					el, _, err := d.Measure(3, max(1, b.N), func() error {
						y, err := run(p)
						if err == nil {
							y.Release()
						}
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
					times[i] = float64(el.Nanoseconds())
				}
				b.ReportMetric(times[0], "fused-ns")
				b.ReportMetric(times[1], "composed-ns")
				b.Logf("%v %dx%d on %v: fused %.0f ns, composed %.0f ns, table picks %v", f, s.rows, s.dim, d, times[0], times[1], ChoosePath(f, d, s.rows*s.dim))
			})
		}
	}
}
