package attention_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/internal/golden"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops/attention"
)

// TestGoldenThroughTiledKernel runs the attention golden cases with the
// planner choosing the tiled kernel even on a CPU driver, where it would
// otherwise keep the row kernel, so that the cases reach the tiled kernel
// here too (on GPUs `webfuser verify` does).
func TestGoldenThroughTiledKernel(t *testing.T) {
	if runtime.GOOS == "js" && testing.Short() {
		t.Skip("SwiftShader's build of a tiled kernel is too slow for -short")
	}
	d := gputest.Device(t)
	// The cases sit at the repository root: found from the package
	// folder (go test) or from the root (a test binary run there).
	dir := filepath.Join("testdata", "golden", "attention")
	for _, up := range []string{".", "..", filepath.Join("..", "..")} {
		if _, err := os.Stat(filepath.Join(up, dir)); err == nil {
			dir = filepath.Join(up, dir)
			break
		}
	}
	files, err := golden.Files([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	attention.SetTiledEverywhere(true)
	defer attention.SetTiledEverywhere(false)
	gputest.Guard(t, d)
	n := 0
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "radial_mask") {
			continue // masks only, no attention kernel
		}
		r := golden.RunFile(d, f)
		n++
		if !r.Pass {
			t.Errorf("%s: max abs %g rel %g: %v", r.Name, r.MaxAbs, r.MaxRel, r.Err)
		}
	}
	if n == 0 {
		t.Fatal("no attention golden cases found")
	}
	t.Logf("%d cases", n)
}
