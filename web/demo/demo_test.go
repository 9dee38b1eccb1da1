package demo

import (
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops/ref"
)

func testDevice(t *testing.T) *gpu.Device { return gputest.Device(t) }

// TestEveryOpPasses runs the demo's table on the default device: natively
// on lavapipe or a GPU, and in node on Dawn through web/testrunner.
func TestEveryOpPasses(t *testing.T) {
	d := testDevice(t)
	t.Logf("device: %v, features %+v", d, d.Features)
	res := RunAll(d, Ops, Options{Trials: 1, Reps: 1}, nil)
	if len(res) != len(Ops) {
		t.Fatalf("%d results for %d entries", len(res), len(Ops))
	}
	for _, r := range res {
		switch r.Status {
		case "pass":
			t.Logf("%-20s pass  max err %.3g  gpu %.3f ms (%s)  cpu %.3f ms", r.Name, r.MaxErr, r.GPUms, r.GPUTime, r.CPUms)
		case "skip":
			t.Logf("%-20s SKIP  %s", r.Name, r.Detail)
		default:
			t.Errorf("%s: %s", r.Name, r.Detail)
		}
	}
}

// TestCompareCatchesAWrongResult checks that a wrong GPU result fails.
func TestCompareCatchesAWrongResult(t *testing.T) {
	d := testDevice(t)
	wrong := Ops[0]
	prep := wrong.Prepare
	wrong.Prepare = func(c *Ctx) Run {
		r := prep(c)
		cpu := r.CPU
		r.CPU = func() ([]*ref.Tensor, error) {
			out, err := cpu()
			if err == nil {
				out[0].Data[len(out[0].Data)/2] += 0.5
			}
			return out, err
		}
		return r
	}
	res := RunAll(d, []Op{wrong}, Options{Trials: 1, Reps: 1}, nil)
	if res[0].Status != "fail" {
		t.Fatalf("a result off by 0.5 in one element passed: %+v", res[0])
	}
}
