// Package demo runs every operator of the web demo: on the device, against
// the CPU reference in ops/ref, with timings of both. The table in ops.go
// lists the operators; adding one to the demo is adding one entry there.
// The package is used by the wasm build of the page (web/wasm) and runs
// natively too, so the same table is tested on every runtime.
package demo

import (
	"fmt"
	"math"
	"math/rand"
	"sort"
	"strings"
	"time"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops/ref"
)

// Op is one entry of the demo: a name, the shapes it runs on, and a
// function that makes its inputs and returns how to run it.
type Op struct {
	Name  string
	Shape string   // shapes and dtypes, as shown on the page
	Needs []string // device features the entry cannot run without ("shader-f16", "subgroups")
	// Prepare makes the inputs (through c, which frees them afterwards)
	// and returns the GPU and CPU computations to compare.
	Prepare func(c *Ctx) Run
}

// Run is what an entry computes: the same outputs on the device and on
// the CPU, compared element by element with Tol (or, when Tol is zero, the
// spec's default tolerance of each output's dtype).
type Run struct {
	GPU func() ([]*gpu.Tensor, error)
	CPU func() ([]*ref.Tensor, error)
	Tol Tol
}

// Tol is a tolerance: |got - want| <= Atol + Rtol*|want| passes (dtype.Tolerance).
type Tol = dtype.Tolerance

// One adapts an operator that returns a single tensor to Run.GPU.
func One(t *gpu.Tensor, err error) ([]*gpu.Tensor, error) {
	if err != nil {
		return nil, err
	}
	return []*gpu.Tensor{t}, nil
}

// OneRef adapts a reference that returns a single tensor to Run.CPU.
func OneRef(t *ref.Tensor, err error) ([]*ref.Tensor, error) {
	if err != nil {
		return nil, err
	}
	return []*ref.Tensor{t}, nil
}

// Input is a tensor held both on the CPU (R) and on the device (G).
type Input struct {
	R *ref.Tensor
	G *gpu.Tensor
}

// Ctx hands out inputs for one entry and frees them when it is done.
type Ctx struct {
	Dev *gpu.Device
	rng *rand.Rand
	err error
	own []*gpu.Tensor
}

// Input returns a tensor of values mean + std*N(0,1), rounded to dt and
// uploaded. A failed upload is reported when the entry runs.
func (c *Ctx) Input(dt dtype.DType, shape []int, std, mean float64) Input {
	r := ref.New(dt, shape...)
	for i := range r.Data {
		r.Data[i] = dtype.Round(dt, mean+std*c.rng.NormFloat64())
	}
	return Input{R: r, G: c.Upload(r)}
}

// Upload copies a reference tensor to the device.
func (c *Ctx) Upload(r *ref.Tensor) *gpu.Tensor {
	if c.err != nil {
		return nil
	}
	g, err := c.Dev.Upload(r.DType, r.Shape, r.Float32())
	if err != nil {
		c.err = err
		return nil
	}
	c.own = append(c.own, g)
	return g
}

func (c *Ctx) release() {
	for _, t := range c.own {
		t.Release()
	}
	c.own = nil
}

// Result is the outcome of one entry.
type Result struct {
	Name    string  `json:"name"`
	Shape   string  `json:"shape"`
	Status  string  `json:"status"` // "pass", "fail" or "skip"
	Detail  string  `json:"detail,omitempty"`
	MaxErr  float64 `json:"maxErr"` // largest |got - want| over all outputs
	Elems   int     `json:"elems"`  // output elements compared
	GPUms   float64 `json:"gpuMs"`  // median time of one GPU run
	CPUms   float64 `json:"cpuMs"`  // median time of one CPU reference run
	GPUTime string  `json:"gpuTime,omitempty"`
}

// Options size the timing runs.
type Options struct {
	Trials int    // timed submissions for the GPU median (default 5)
	Reps   int    // runs per submission (default 3)
	Filter string // run only entries whose name contains it
	Seed   int64
}

// RunAll runs every entry of ops on d and reports each result as it comes.
func RunAll(d *gpu.Device, table []Op, opt Options, report func(Result)) []Result {
	if opt.Trials <= 0 {
		opt.Trials = 5
	}
	if opt.Reps <= 0 {
		opt.Reps = 3
	}
	var out []Result
	for i, op := range table {
		if opt.Filter != "" && !strings.Contains(strings.ToLower(op.Name), strings.ToLower(opt.Filter)) {
			continue
		}
		r := runOne(d, op, opt, opt.Seed+int64(i))
		out = append(out, r)
		if report != nil {
			report(r)
		}
	}
	return out
}

// Missing returns the features an entry needs that d lacks.
func Missing(d *gpu.Device, op Op) []string {
	var miss []string
	for _, f := range op.Needs {
		have := false
		switch f {
		case "shader-f16":
			have = d.Features.ShaderF16
		case "subgroups":
			have = d.Features.Subgroups
		case "timestamp-query":
			have = d.Features.Timestamps
		}
		if !have {
			miss = append(miss, f)
		}
	}
	return miss
}

func runOne(d *gpu.Device, op Op, opt Options, seed int64) (res Result) {
	res = Result{Name: op.Name, Shape: op.Shape, Status: "fail"}
	if miss := Missing(d, op); len(miss) > 0 {
		res.Status = "skip"
		res.Detail = "the device lacks " + strings.Join(miss, ", ")
		return res
	}
	c := &Ctx{Dev: d, rng: rand.New(rand.NewSource(seed))}
	defer c.release()
	defer func() {
		if p := recover(); p != nil {
			res.Status, res.Detail = "fail", fmt.Sprintf("panic: %v", p)
		}
	}()
	run := op.Prepare(c)
	if c.err != nil {
		res.Detail = c.err.Error()
		return res
	}
	want, err := run.CPU()
	if err != nil {
		res.Detail = "reference: " + err.Error()
		return res
	}
	got, err := run.GPU()
	if err != nil {
		res.Detail = err.Error()
		return res
	}
	defer func() {
		for _, t := range got {
			t.Release()
		}
	}()
	if res.Detail = compare(got, want, run.Tol, &res); res.Detail != "" {
		return res
	}

	gpuT, timed, err := d.Measure(opt.Trials, opt.Reps, func() error {
		ts, err := run.GPU()
		for _, t := range ts {
			t.Release()
		}
		return err
	})
	if err != nil {
		res.Detail = "timing: " + err.Error()
		return res
	}
	res.GPUms = ms(gpuT)
	res.GPUTime = "wall clock"
	if timed {
		res.GPUTime = "GPU timestamps"
	}
	var cpu []time.Duration
	for i := 0; i < opt.Trials; i++ {
		start := time.Now()
		if _, err := run.CPU(); err != nil {
			res.Detail = "reference: " + err.Error()
			return res
		}
		cpu = append(cpu, time.Since(start))
	}
	sort.Slice(cpu, func(i, j int) bool { return cpu[i] < cpu[j] })
	res.CPUms = ms(cpu[len(cpu)/2])
	res.Status = "pass"
	return res
}

func ms(t time.Duration) float64 { return float64(t) / float64(time.Millisecond) }

// DefaultTol is the spec's default tolerance for an elementwise output of dtype dt.
func DefaultTol(dt dtype.DType) Tol { return dtype.DefaultTolerance(dt, false) }

// compare downloads got and checks it against want; it returns "" when
// every element is within tolerance, else what went wrong.
func compare(got []*gpu.Tensor, want []*ref.Tensor, tol Tol, res *Result) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d outputs, the reference has %d", len(got), len(want))
	}
	for k := range got {
		g, w := got[k], want[k]
		if g.DType != w.DType || fmt.Sprint(g.Shape) != fmt.Sprint(w.Shape) {
			return fmt.Sprintf("output %d is %v%v, the reference %v%v", k, g.DType, g.Shape, w.DType, w.Shape)
		}
		v, err := g.Float32()
		if err != nil {
			return err.Error()
		}
		t := tol
		if t == (Tol{}) {
			t = DefaultTol(w.DType)
		}
		bad, first := 0, -1
		for i, wv := range w.Data {
			gv := float64(v[i])
			e := math.Abs(gv - wv)
			if !(e <= t.Atol+t.Rtol*math.Abs(wv)) {
				if first < 0 {
					first = i
				}
				bad++
			}
			if math.IsNaN(e) || math.IsInf(e, 0) {
				e = math.MaxFloat64 // JSON has no NaN
			}
			if e > res.MaxErr {
				res.MaxErr = e
			}
		}
		res.Elems += len(w.Data)
		if bad > 0 {
			return fmt.Sprintf("output %d: %d of %d elements outside atol %g rtol %g (first: element %d, got %g, want %g)",
				k, bad, len(w.Data), t.Atol, t.Rtol, first, v[first], w.Data[first])
		}
	}
	return ""
}
