//go:build !js

package attention

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/launch"
)

// TestSageMatrixCompilesInTint assembles the tensor-core Sage kernel for
// Dawn on NVIDIA's features (i8 configurations M16N16K32 and M16N8K32,
// subgroups of 32), and the tiled one ChooseSage takes there, and has
// the tint binary validate them, uniformity of
// the subgroup-matrix calls included; no local device runs it. It skips
// where tint is not installed.
func TestSageMatrixCompilesInTint(t *testing.T) {
	tint, err := exec.LookPath("tint")
	if err != nil {
		t.Skip("tint is not installed")
	}
	d := testDevice(t)
	f := gpu.Features{Subgroups: true, SubgroupsEnable: true, SubgroupMinSize: 32, SubgroupMaxSize: 32,
		SubgroupMatrixI8: []gpu.MatrixShape{{M: 16, N: 16, K: 32}, {M: 16, N: 8, K: 32}}}
	lim := gpu.Limits{MaxWorkgroupMemory: 32768, MaxInvocations: 1024, MaxWorkgroupSizeX: 1024}
	mk := func(dt dtype.DType, shape ...int) *gpu.Tensor {
		x, err := d.NewOutput(dt, shape...)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	dir := t.TempDir()
	for _, c := range []struct {
		d      int
		dt     dtype.DType
		causal bool
	}{{128, dtype.BF16, true}, {128, dtype.F32, false}, {64, dtype.F16, false}, {256, dtype.F32, true}} {
		for _, sh := range f.SubgroupMatrixI8 {
			f1 := f
			f1.SubgroupMatrixI8 = []gpu.MatrixShape{sh}
			s, ok := launch.SageRows(f1, lim, c.d)
			if !ok || !s.Matrix {
				t.Fatalf("D=%d %v: SageRows gave %+v, %v; want a tensor-core launch", c.d, sh, s, ok)
			}
			x := mk(c.dt, 1, 200, 2, c.d)
			l := &call{op: "SageAttention", q: x, k: x, v: x, causal: c.causal}
			if err := l.validate(); err != nil {
				t.Fatal(err)
			}
			codes := mk(dtype.U8, 1, 200, 2, c.d)
			k := l.sageKernel(s, codes, mk(dtype.F32, 1, 2, 2), codes, mk(dtype.F32, 1, 2, 4))
			src, err := k.Source(f1)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Join(dir, fmt.Sprintf("sage_d%d_%v_%dx%d.wgsl", c.d, c.dt, sh.M, sh.N))
			if err := os.WriteFile(name, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(tint, "--validate", "--format", "wgsl", "-o", os.DevNull, name).CombinedOutput(); err != nil {
				t.Errorf("%s (%+v): %v\n%s", filepath.Base(name), s, err, out)
			}
		}
		// The tiled kernel ChooseSage takes on the H200 (48 KiB).
		s, ok := launch.ChooseSage(f, gpu.Limits{MaxWorkgroupMemory: 49152, MaxInvocations: 1024, MaxWorkgroupSizeX: 1024}, gpu.ClassDiscrete, c.d)
		if !ok || !s.Tiled {
			t.Fatalf("D=%d: ChooseSage gave %+v, %v; want the tiled kernel", c.d, s, ok)
		}
		x := mk(c.dt, 1, 200, 2, c.d)
		l := &call{op: "SageAttention", q: x, k: x, v: x, causal: c.causal}
		if err := l.validate(); err != nil {
			t.Fatal(err)
		}
		codes := mk(dtype.U8, 1, 200, 2, c.d)
		src, err := l.sageTiledKernel(s.Tile, codes, mk(dtype.F32, 1, 2, 2), codes, mk(dtype.F32, 1, 2, 4)).Source(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, fmt.Sprintf("sage_tiled_d%d_%v.wgsl", c.d, c.dt))
		if err := os.WriteFile(name, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(tint, "--validate", "--format", "wgsl", "-o", os.DevNull, name).CombinedOutput(); err != nil {
			t.Errorf("%s (%+v): %v\n%s", filepath.Base(name), s, err, out)
		}
	}
}
