package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/attention"
)

// wgslOps runs one operator on inputs of dtype dt and shape x [.., D]
// (attention: [B,S,H,D]), so that its kernels can be captured.
var wgslOps = map[string]func(d *gpu.Device, dt dtype.DType, s []int) error{
	"rms_norm": func(d *gpu.Device, dt dtype.DType, s []int) error {
		return each(d, dt, [][]int{s, s[len(s)-1:]}, func(t []*gpu.Tensor) (*gpu.Tensor, error) {
			return ops.RMSNormForward(t[0], t[1], nil, ops.RMSNormEps)
		})
	},
	"layer_norm": func(d *gpu.Device, dt dtype.DType, s []int) error {
		return each(d, dt, [][]int{s, s[len(s)-1:]}, func(t []*gpu.Tensor) (*gpu.Tensor, error) {
			return ops.LayerNormForward(t[0], t[1], t[1], ops.LayerNormEps)
		})
	},
	"rms_norm+modulate": func(d *gpu.Device, dt dtype.DType, s []int) error {
		return each(d, dt, [][]int{s, s[len(s)-1:], {s[0], s[len(s)-1]}}, func(t []*gpu.Tensor) (*gpu.Tensor, error) {
			return ops.NormModulate(ops.KindRMSNorm, t[0], t[1], nil, ops.RMSNormEps, ops.ModulateArgs{Scale: t[2], Shift: t[2], Constant: 1})
		})
	},
	"modulate": func(d *gpu.Device, dt dtype.DType, s []int) error {
		return each(d, dt, [][]int{s, {s[0], s[len(s)-1]}}, func(t []*gpu.Tensor) (*gpu.Tensor, error) { return ops.Modulate(t[0], t[1], t[1]) })
	},
	"activation": func(d *gpu.Device, dt dtype.DType, s []int) error {
		return each(d, dt, [][]int{s}, func(t []*gpu.Tensor) (*gpu.Tensor, error) { return ops.Activate(t[0], ops.ActGELUTanh) })
	},
	"gated_activation": func(d *gpu.Device, dt dtype.DType, s []int) error {
		return each(d, dt, [][]int{s}, func(t []*gpu.Tensor) (*gpu.Tensor, error) { return ops.GatedActivation(t[0], ops.ActSiLU) })
	},
	"linear": func(d *gpu.Device, dt dtype.DType, s []int) error {
		k := s[len(s)-1]
		return each(d, dt, [][]int{s, {k, k}, {k}}, func(t []*gpu.Tensor) (*gpu.Tensor, error) { return ops.LinearAct(t[0], t[1], t[2], ops.ActGELUTanh) })
	},
	"linear_w8a8": func(d *gpu.Device, dt dtype.DType, s []int) error {
		k := s[len(s)-1]
		return each(d, dt, [][]int{s, {k, k}, {k}}, func(t []*gpu.Tensor) (*gpu.Tensor, error) {
			wq, ws, err := ops.QuantizeInt8(t[1])
			if err != nil {
				return nil, err
			}
			defer wq.Release()
			defer ws.Release()
			return ops.LinearW8A8Act(t[0], wq, ws, t[2], ops.ActGELUTanh)
		})
	},
	"quantize_fp8": func(d *gpu.Device, dt dtype.DType, s []int) error {
		return each(d, dt, [][]int{{gpu.Numel(s) / s[len(s)-1], s[len(s)-1]}}, func(t []*gpu.Tensor) (*gpu.Tensor, error) {
			q, sc, err := ops.QuantizeFP8(t[0], ops.PerToken, dtype.FP8E4M3)
			sc.Release()
			return q, err
		})
	},
	"attention": func(d *gpu.Device, dt dtype.DType, s []int) error {
		if len(s) != 4 {
			return fmt.Errorf("attention wants --shape B,S,H,D")
		}
		return each(d, dt, [][]int{s, s, s}, func(t []*gpu.Tensor) (*gpu.Tensor, error) {
			return attention.Dense(t[0], t[1], t[2], attention.Options{})
		})
	},
	"sage_attention": func(d *gpu.Device, dt dtype.DType, s []int) error {
		if len(s) != 4 {
			return fmt.Errorf("sage_attention wants --shape B,S,H,D")
		}
		return each(d, dt, [][]int{s, s, s}, func(t []*gpu.Tensor) (*gpu.Tensor, error) {
			return attention.Sage(t[0], t[1], t[2], attention.Options{})
		})
	},
}

// each uploads zero tensors of the given shapes, runs f on them and
// releases everything.
func each(d *gpu.Device, dt dtype.DType, shapes [][]int, f func([]*gpu.Tensor) (*gpu.Tensor, error)) error {
	var ts []*gpu.Tensor
	defer func() {
		for _, t := range ts {
			t.Release()
		}
	}()
	for _, s := range shapes {
		t, err := d.Upload(dt, s, make([]float32, gpu.Numel(s)))
		if err != nil {
			return err
		}
		ts = append(ts, t)
	}
	y, err := f(ts)
	if y != nil {
		y.Release()
	}
	return err
}

// wgslCmd prints the assembled WGSL of every kernel an operator launches
// for the given dtype and shape on this device.
func wgslCmd(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("wgsl", flag.ContinueOnError)
	dtName := fs.String("dtype", "f32", "storage dtype: f32, f16 or bf16")
	shape := fs.String("shape", "2,8,64", "x's shape (attention: B,S,H,D)")
	names := make([]string, 0, len(wgslOps))
	for n := range wgslOps {
		names = append(names, n)
	}
	sort.Strings(names)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: webfuser wgsl OP [--dtype f32|f16|bf16] [--shape 2,8,64]\nOP: %s\n", strings.Join(names, ", "))
		fs.PrintDefaults()
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs.Usage()
		return fmt.Errorf("wgsl: name an operator")
	}
	op, ok := wgslOps[args[0]]
	if !ok {
		return fmt.Errorf("wgsl: unknown operator %q (have %s)", args[0], strings.Join(names, ", "))
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	dt, ok := map[string]dtype.DType{"f32": dtype.F32, "f16": dtype.F16, "bf16": dtype.BF16}[*dtName]
	if !ok {
		return fmt.Errorf("wgsl: --dtype %q: want f32, f16 or bf16", *dtName)
	}
	var s []int
	for _, f := range strings.Split(*shape, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 || v > 1<<16 {
			return fmt.Errorf("wgsl: --shape %q: want positive dimensions up to 65536", *shape)
		}
		s = append(s, v)
	}
	if len(s) < 2 {
		return fmt.Errorf("wgsl: --shape %q: want at least two dimensions", *shape)
	}
	d, err := openDevice()
	if err != nil {
		return err
	}
	ks, err := kernel.Capture(d, func() error { return op(d, dt, s) })
	if err != nil {
		return err
	}
	for _, k := range ks {
		src, err := k.Source(d.Features)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "// kernel %s, grid %v, on %s\n%s\n", k.Key(), k.Grid, d, src)
	}
	return nil
}
