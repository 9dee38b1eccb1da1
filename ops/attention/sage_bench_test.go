package attention

import (
	"fmt"
	"os"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/launch"
)

// BenchmarkSage times Sage attention (quantisation included) at S=4096,
// H=24, D=128 in f32 and bf16 storage: the launch ChooseSage picks (the
// tiled kernel on GPUs), the tiled kernel where it was not chosen, the
// row kernels (tensor-core "matrix" through Dawn on NVIDIA, "portable"),
// and the dense flash kernel's planner choice beside them, reporting TFLOP/s
// counted as 4*S*S*D*H. With WEBFUSER_BENCH_SAGE=tiles it also times the
// tiled kernel with every tile of launch.AttentionTiles and
// AttentionVariants that fits (Late aside, which Sage's variant does not
// use), each with DC doubled too (a Sage pack holds 16 codes, so DC=32
// stages all of D=128 at once): rows "tiled/<tile>" (about 2 minutes on
// an H200). On a CPU driver it runs S=256, H=2 instead. It
// runs under GOOS=js too (node + Dawn, bench/device.sh w8a8):
//
//	GOOS=js GOARCH=wasm go test -c -o bin/attention_js.test ./ops/attention
//	web/testrunner/go_js_wasm_exec bin/attention_js.test -test.run '^$' -test.bench BenchmarkSage -test.benchtime 1x
func BenchmarkSage(b *testing.B) {
	d := testDevice(b)
	S, H := 4096, 24
	if d.Info.Class == gpu.ClassCPU {
		S, H = 256, 2
	}
	const D = 128
	chosen, ok := launch.ChooseSage(d.Features, d.Limits, d.Info.Class, D)
	if !ok {
		b.Skipf("no Sage launch fits %v", d)
	}
	f := d.Features
	f.SubgroupMatrixI8 = nil
	portable, _ := launch.SageRows(f, d.Limits, D)
	matrix, _ := launch.SageRows(d.Features, d.Limits, D)
	tiled, tiledOK := launch.ChooseSage(d.Features, d.Limits, gpu.ClassDiscrete, D)
	b.Logf("i8 subgroup-matrix configs %v; chosen %+v; portable %+v; matrix %+v; tiled %+v", d.Features.SubgroupMatrixI8, chosen, portable, matrix, tiled)
	flops := 4 * float64(S) * float64(S) * D * float64(H)
	for _, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
		q, k, v := benchInputs(b, d, dt, S, H, D)
		runs := []struct {
			name string
			run  func() (*gpu.Tensor, error)
		}{
			{"chosen", func() (*gpu.Tensor, error) { return sage(q, k, v, Options{}, &chosen) }},
			{"tiled", func() (*gpu.Tensor, error) { return sage(q, k, v, Options{}, &tiled) }},
			{"matrix", func() (*gpu.Tensor, error) { return sage(q, k, v, Options{}, &matrix) }},
			{"portable", func() (*gpu.Tensor, error) { return sage(q, k, v, Options{}, &portable) }},
			{"dense", func() (*gpu.Tensor, error) { return Dense(q, k, v, Options{}) }},
		}
		if os.Getenv("WEBFUSER_BENCH_SAGE") == "tiles" {
			for _, c := range sageSweepTiles(d, D) {
				s := launch.SageTiled(c)
				runs = append(runs, struct {
					name string
					run  func() (*gpu.Tensor, error)
				}{"tiled/" + c.String(), func() (*gpu.Tensor, error) { return sage(q, k, v, Options{}, &s) }})
			}
		}
		for _, r := range runs {
			switch {
			case r.name == "tiled" && (!tiledOK || !tiled.Tiled || tiled == chosen),
				r.name == "matrix" && (!matrix.Matrix || matrix == chosen),
				r.name == "portable" && portable == chosen:
				continue // no such launch, or the same as chosen
			}
			name := fmt.Sprintf("%v/S%d_H%d_D%d/%s", dt, S, H, D, r.name)
			b.Run(name, func(b *testing.B) { reportAttention(b, d, "sage "+name, flops, r.run) })
		}
		release([]*gpu.Tensor{q, k, v})
	}
}

// sageSweepTiles returns the tiles BenchmarkSage sweeps for head dim dh:
// those of launch.AttentionTiles and AttentionVariants without Late
// and Union (neither applies to Sage's variant), each also with DC
// doubled, that fit d, without repeats.
func sageSweepTiles(d *gpu.Device, dh int) []launch.AttentionTile {
	seen := map[launch.AttentionTile]bool{}
	var out []launch.AttentionTile
	for _, c := range append(append([]launch.AttentionTile{}, launch.AttentionTiles...), launch.AttentionVariants...) {
		c.Late, c.Union = false, false
		for _, dc := range []int{c.DC, 2 * c.DC} {
			c.DC = dc
			if !seen[c] && launch.SageTiled(c).Fits(d.Limits, dh) {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}
