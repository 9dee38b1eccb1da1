package gpu_test

import (
	"errors"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/attention"
)

// TestOperatorsRefuseZeroAndReleasedTensors: every operator given a
// gpu.Tensor{} made by hand, or a released tensor, returns a short error
// (for a released one, wrapping gpu.ErrReleased and naming the kernel
// and binding), never a nil-pointer panic, and never one that carries
// the pipeline key or WGSL.
func TestOperatorsRefuseZeroAndReleasedTensors(t *testing.T) {
	d := gputest.Device(t)
	live := func(shape ...int) *gpu.Tensor {
		x, err := d.NewTensor(dtype.F32, shape...)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	w, lw := live(8), live(8, 8)
	defer w.Release()
	defer lw.Release()
	released, released4 := live(2, 4, 8), live(2, 4, 2, 4)
	released.Release()
	released4.Release()
	bad := map[string]func() *gpu.Tensor{
		"zero":     func() *gpu.Tensor { return &gpu.Tensor{} },
		"shaped":   func() *gpu.Tensor { return &gpu.Tensor{Shape: []int{2, 4, 8}, DType: dtype.F32} },
		"released": func() *gpu.Tensor { return released },
	}
	for name, mk := range bad {
		calls := map[string]func() error{
			"RMSNorm":  func() error { _, err := ops.RMSNormForward(mk(), w, nil, 1e-5); return err },
			"Modulate": func() error { _, err := ops.Modulate(mk(), w, w); return err },
			"Linear":   func() error { _, err := ops.LinearForward(mk(), lw, nil); return err },
			"Activate": func() error { _, err := ops.Activate(mk(), ops.ActSiLU); return err },
			"Copy":     func() error { _, err := ops.Copy(mk()); return err },
			"Attention": func() error {
				q := mk()
				if q == released {
					q = released4
				}
				_, err := attention.Dense(q, q, q, attention.Options{})
				return err
			},
			"Download": func() error { _, err := ops.Download(mk()); return err },
		}
		for call, f := range calls {
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("%s tensor, %s: panic: %v", name, call, p)
					}
				}()
				err = f()
			}()
			if err == nil {
				t.Errorf("%s tensor, %s: no error", name, call)
				continue
			}
			if len(err.Error()) > 160 {
				t.Errorf("%s tensor, %s: error of %d characters: %v", name, call, len(err.Error()), err)
			}
			// A released tensor of the right shape is refused as released;
			// one made by hand may be refused first for its shape or
			// (having no device) as on another device than its operands.
			if !errors.Is(err, gpu.ErrReleased) && name == "released" {
				t.Errorf("%s tensor, %s: %v does not wrap ErrReleased", name, call, err)
			}
			t.Logf("%s tensor, %s: %v", name, call, err)
		}
	}
}
