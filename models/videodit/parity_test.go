package videodit

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/safetensors"
	"github.com/webfuser/webfuser/ops"
)

// errShort ends a sampling run after its first step in -short mode.
var errShort = errors.New("short")

// TestPyTorchParity loads weights that models/train/train.py saved and
// the reference clip it sampled with the float64 PyTorch sampler from the
// same portable noise, and requires the Go sampler on the GPU to give the
// same noise, the same first guided velocity and the same frames.
// videodit_smoke is a tiny model from `train.py --smoke` (always there);
// videodit is the trained model (skipped until it is committed, and in
// -short mode).
func TestPyTorchParity(t *testing.T) {
	for _, name := range []string{"videodit_smoke", "videodit"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "..", "testdata", "models")
			wpath := filepath.Join(dir, name+".safetensors")
			if _, err := os.Stat(wpath); err != nil && name == "videodit" {
				t.Skipf("%s is not there yet (train it with models/train/train.py)", wpath)
			}
			if name == "videodit" && testing.Short() {
				t.Skip("the full model in -short mode")
			}
			sd, err := ops.OpenStateDict(wpath)
			if err != nil {
				t.Fatal(err)
			}
			defer sd.Close()
			m, err := Load(gputest.Device(t), sd)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Release()
			rf, err := safetensors.Open(filepath.Join(dir, name+"_reference.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer rf.Close()
			meta := rf.Metadata()
			seed, _ := strconv.ParseUint(meta["seed"], 10, 64)
			class, _ := strconv.Atoi(meta["class"])
			steps, _ := strconv.Atoi(meta["steps"])
			cfg, _ := strconv.ParseFloat(meta["cfg"], 64)
			shift, _ := strconv.ParseFloat(meta["shift"], 64)
			host := func(n string) *ops.HostTensor {
				h, err := rf.Host(n)
				if err != nil {
					t.Fatal(err)
				}
				return h
			}
			noise, v0, frames := host("noise"), host("velocity0"), host("frames")
			c := m.Config

			// The noise: the same function in both languages.
			mine := c.NoiseTokens(ops.F32, seed)
			for i := range mine.Data {
				if math.Abs(mine.Data[i]-noise.Data[i]) > 1e-6 {
					t.Fatalf("noise value %d: %g here, %g in PyTorch", i, mine.Data[i], noise.Data[i])
				}
			}

			// The first guided velocity, from the sampler's first forward,
			// then the clip.
			n := len(noise.Data)
			worst := 0.0
			first := func(x, vg *ops.Tensor, _ []float64, classes []int) error {
				v, err := ops.Download(vg)
				if err != nil {
					return err
				}
				if len(classes) != 2 || classes[0] != class || classes[1] != c.NumClasses() {
					t.Fatalf("first step classes %v, want [%d %d]", classes, class, c.NumClasses())
				}
				tol := gputest.Tol{Atol: 2e-3, Rtol: 2e-3}
				for i := 0; i < n; i++ {
					got := v.Data[n+i] + cfg*(v.Data[i]-v.Data[n+i])
					worst = math.Max(worst, math.Abs(got-v0.Data[i]))
					if !tol.Within(got, v0.Data[i]) {
						t.Fatalf("velocity0 value %d: %g here, %g in PyTorch", i, got, v0.Data[i])
					}
				}
				t.Logf("first guided velocity: largest difference %.2g", worst)
				if testing.Short() {
					return errShort
				}
				return nil
			}
			got, err := m.Sample(SampleOptions{Class: class, Seed: seed, Steps: steps, CFG: cfg, Shift: shift, FirstStep: first})
			if err == errShort {
				t.Skip("-short: noise and first velocity only, not the whole clip")
			}
			if err != nil {
				t.Fatal(err)
			}
			worst = 0
			ftol := gputest.Tol{Atol: 1e-2, Rtol: 1e-2}
			for i := range frames.Data {
				worst = math.Max(worst, math.Abs(got.Data[i]-frames.Data[i]))
				if !ftol.Within(got.Data[i], frames.Data[i]) {
					t.Fatalf("frame value %d: %g here, %g in PyTorch", i, got.Data[i], frames.Data[i])
				}
			}
			t.Logf("%s, %d steps, cfg %g: largest frame difference %.2g", meta["description"], steps, cfg, worst)
		})
	}
}
