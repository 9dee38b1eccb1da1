package golden

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops/ref"
)

// GPURunner computes a case's outputs with the GPU operators from its
// inputs, already uploaded with their stored dtypes.
type GPURunner func(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error)

// CPURunner computes a case's outputs with the float64 reference.
type CPURunner func(c *Case) (map[string]*ref.Tensor, error)

type runners struct {
	gpu GPURunner
	cpu CPURunner
}

var registry = map[string]runners{}

// Register installs the runners of an operator; a family of operators
// calls it from an init function in its own file.
func Register(op string, g GPURunner, c CPURunner) { registry[op] = runners{g, c} }

// Supported returns the operators with runners, sorted.
func Supported() []string {
	var ops []string
	for op := range registry {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// Result is the outcome of one case.
type Result struct {
	Name, Op, DType string
	MaxAbs, MaxRel  float64 // largest absolute and relative error over all outputs
	Pass            bool
	Err             error // why the case failed, when it did not get to a comparison
}

// Files expands paths (files or folders, searched recursively) into the
// sorted list of .safetensors files they name.
func Files(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() && strings.HasSuffix(path, ".safetensors") {
				out = append(out, path)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// RunFile loads and runs one case file on d, or on the CPU reference when
// d is nil. Every failure, a malformed file included, is a failed Result.
func RunFile(d *gpu.Device, path string) Result {
	c, err := Load(path)
	if err != nil {
		return Result{Name: path, Op: "?", DType: "?", Err: err}
	}
	return Run(d, c)
}

// Run runs a loaded case on d, or on the CPU reference when d is nil.
func Run(d *gpu.Device, c *Case) Result {
	res := Result{Name: c.Name, Op: c.Op, DType: c.DType().String()}
	r, ok := registry[c.Op]
	if !ok || (d != nil && r.gpu == nil) || (d == nil && r.cpu == nil) {
		res.Err = fmt.Errorf("unsupported op %q", c.Op)
		return res
	}
	if res.Err = c.validate(); res.Err != nil {
		return res
	}
	var got map[string]*ref.Tensor
	res.Err = guard(func() (err error) {
		if d == nil {
			got, err = r.cpu(c)
		} else {
			got, err = runGPU(d, r.gpu, c)
		}
		return err
	})
	if res.Err != nil {
		return res
	}
	res.Pass = true
	for name, want := range c.Outputs {
		g, ok := got[name]
		if !ok || g == nil || want == nil {
			res.Pass, res.Err = false, fmt.Errorf("no output %q", name)
			return res
		}
		if err := compare(name, g, want, c.Atol, c.Rtol, &res); err != nil {
			res.Pass, res.Err = false, err
		}
	}
	return res
}

// ErrPanic marks a case whose runner panicked: a bug in WebFuser that
// the case found, reported as a failed case so that the run goes on.
var ErrPanic = errors.New("runner panicked")

// guard runs f and turns a panic into an error wrapping ErrPanic.
func guard(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, p)
		}
	}()
	return f()
}

func runGPU(d *gpu.Device, run GPURunner, c *Case) (map[string]*ref.Tensor, error) {
	in := map[string]*gpu.Tensor{}
	defer func() {
		for _, t := range in {
			t.Release()
		}
	}()
	for name, t := range c.Inputs {
		g, err := d.Upload(t.DType, t.Shape, t.Float32())
		if err != nil {
			return nil, err
		}
		in[name] = g
	}
	outs, err := run(d, c, in)
	if err != nil {
		return nil, err
	}
	got := map[string]*ref.Tensor{}
	for name, t := range outs {
		if t == nil {
			return nil, fmt.Errorf("the runner returned no tensor for output %q", name)
		}
		v, err := t.Float32()
		if err != nil {
			return nil, err
		}
		r, err := ref.FromFloat32(t.DType, t.Shape, v)
		if err != nil {
			return nil, err
		}
		got[name] = r
		if _, isInput := in[name]; !isInput {
			t.Release()
		}
	}
	return got, nil
}

// compare checks every element of got against want, NaN matching NaN,
// and records the largest errors in res. Float outputs pass when
// |got - want| <= atol + rtol*|want|; FP8 outputs when the two values are
// at most one FP8 unit apart (the spec's rule), so +0, -0 and the two
// sides of zero are neighbours; integer quantisation codes (an I32
// output named q) likewise when at most one code apart: the division
// before the rounding may be one f32 step off where a device's fma is
// not fused (the H200 gave 2 codes of 2 cases one off, 2026-11-28).
func compare(name string, got, want *ref.Tensor, atol, rtol float64, res *Result) error {
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) || len(got.Data) != len(want.Data) {
		return fmt.Errorf("%s: shape %v, want %v", name, got.Shape, want.Shape)
	}
	if got.DType != want.DType {
		return fmt.Errorf("%s: dtype %v, want %v", name, got.DType, want.DType)
	}
	within := func(g, w, diff float64) bool { return diff <= atol+rtol*math.Abs(w) }
	rule := fmt.Sprintf("atol %g, rtol %g", atol, rtol)
	if want.DType == dtype.FP8E4M3 || want.DType == dtype.FP8E5M2 {
		step := func(v float64) int {
			c := dtype.Encode(want.DType, []float32{float32(v)})[0]
			if c&0x80 != 0 {
				return -int(c & 0x7f)
			}
			return int(c)
		}
		within = func(g, w, _ float64) bool { d := step(g) - step(w); return d >= -1 && d <= 1 }
		rule = "more than one FP8 unit apart"
	}
	if want.DType == dtype.I32 && name == "q" {
		within = func(_, _, diff float64) bool { return diff <= 1 }
		rule = "more than one code apart"
	}
	bad := -1
	for i, w := range want.Data {
		g := got.Data[i]
		if math.IsNaN(w) || math.IsNaN(g) {
			if math.IsNaN(w) != math.IsNaN(g) && bad < 0 {
				bad = i
			}
			continue
		}
		diff := math.Abs(g - w)
		if math.IsInf(w, 0) && g == w {
			diff = 0
		}
		res.MaxAbs = math.Max(res.MaxAbs, diff)
		if w != 0 {
			res.MaxRel = math.Max(res.MaxRel, diff/math.Abs(w))
		}
		if !within(g, w, diff) && bad < 0 {
			bad = i
		}
	}
	if bad >= 0 {
		return fmt.Errorf("%s[%d] = %g, want %g (%s)", name, bad, got.Data[bad], want.Data[bad], rule)
	}
	return nil
}
