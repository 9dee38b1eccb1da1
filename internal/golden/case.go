// Package golden loads golden cases (safetensors files in the format of
// the operator spec) and runs them against the GPU operators or the CPU
// reference. Each operator family registers its runners in a file of its
// own; an operator with no runner fails with "unsupported op".
//
// Reading a case is bounded by its checks, not by its file: Load reads
// the 8-byte header length and refuses a header over 100 MB, a file
// that is not a regular one, more than MaxCaseTensors tensors and any
// offset outside the file, all before reading a tensor; it then refuses
// an unknown op, an attribute of the wrong kind or outside its bound
// (attrs.go), a tolerance that is not a finite non-negative number and a
// case whose shapes and attributes would drive an allocation over
// MaxElements; only then does it decode the tensors, each allocated once
// at its known size.
package golden

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/safetensors"
	"github.com/webfuser/webfuser/ops/ref"
)

// Case is one golden case: an operator, its attributes, named inputs and
// the expected outputs (names without the in./out. prefixes).
type Case struct {
	Name       string
	Op         string
	Attrs      map[string]any
	Atol, Rtol float64
	Note       string
	Inputs     map[string]*ref.Tensor
	Outputs    map[string]*ref.Tensor
}

// Load reads a case file; see the package comment for what it checks
// and in which order.
func Load(path string) (*Case, error) {
	f, err := safetensors.Open(path, safetensors.WithLimits(caseLimits))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return fromFile(f, path)
}

// Parse reads a case from the bytes of a safetensors file, with the
// checks of Load.
func Parse(b []byte, name string) (*Case, error) {
	f, err := safetensors.Parse(b, safetensors.WithLimits(caseLimits))
	if err != nil {
		return nil, err
	}
	return fromFile(f, name)
}

// fromFile builds a case from a checked header: metadata, op,
// attributes, tolerances and sizes first, the tensors' data last.
func fromFile(f *safetensors.File, name string) (*Case, error) {
	meta := f.Metadata()
	c := &Case{Name: name, Op: meta["op"], Note: meta["note"], Attrs: map[string]any{},
		Inputs: map[string]*ref.Tensor{}, Outputs: map[string]*ref.Tensor{}}
	if c.Op == "" {
		return nil, fmt.Errorf("golden: metadata has no op")
	}
	if a := meta["attrs"]; a != "" {
		if err := json.Unmarshal([]byte(a), &c.Attrs); err != nil {
			return nil, fmt.Errorf("golden: attrs is not a JSON object: %v", err)
		}
		if c.Attrs == nil {
			c.Attrs = map[string]any{}
		}
	}
	ins := map[string][]int{}
	var outDTypes []dtype.DType
	total := 0
	for _, n := range f.Names() {
		info, _ := f.Info(n)
		if !info.Readable {
			return nil, fmt.Errorf("golden: tensor %q: dtype %s is not supported", n, info.Type)
		}
		switch {
		case strings.HasPrefix(n, "in."):
			ins[n[3:]] = info.Shape
		case strings.HasPrefix(n, "out."):
			outDTypes = append(outDTypes, info.DType)
		default:
			return nil, fmt.Errorf("golden: tensor %q is neither in.* nor out.*", n)
		}
		total += info.Numel() // each at most the file's size: no overflow
	}
	if len(outDTypes) == 0 {
		return nil, fmt.Errorf("golden: case has no out.* tensor")
	}
	if _, ok := registry[c.Op]; !ok {
		return nil, fmt.Errorf("unsupported op %q", c.Op)
	}
	c.Atol, c.Rtol = tolFor(c.Op, outDTypes)
	for _, key := range []string{"atol", "rtol"} {
		s, ok := meta[key]
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || !finiteNonNegative(v) {
			return nil, fmt.Errorf("golden: %s %q is not a finite non-negative number", key, s)
		}
		if key == "atol" {
			c.Atol = v
		} else {
			c.Rtol = v
		}
	}
	if err := c.checkAttrs(); err != nil {
		return nil, err
	}
	if err := checkSizes(c, ins); err != nil {
		return nil, err
	}
	if total > limits.elements {
		return nil, fmt.Errorf("golden: the case holds %d elements, over the limit of %d", total, limits.elements)
	}
	for _, n := range f.Names() {
		info, _ := f.Info(n)
		t, err := decode(f, info)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(n, "in.") {
			c.Inputs[n[3:]] = t
		} else {
			c.Outputs[n[4:]] = t
		}
	}
	return c, nil
}

func finiteNonNegative(v float64) bool { return v >= 0 && !math.IsInf(v, 0) }

// validate checks a case built by hand as Load checks a file: tolerances,
// attributes and the sizes its shapes and attributes drive.
func (c *Case) validate() error {
	if !finiteNonNegative(c.Atol) || !finiteNonNegative(c.Rtol) {
		return fmt.Errorf("golden: tolerance atol %v, rtol %v: want finite non-negative numbers", c.Atol, c.Rtol)
	}
	if err := c.checkAttrs(); err != nil {
		return err
	}
	ins := make(map[string][]int, len(c.Inputs))
	for n, t := range c.Inputs {
		if t == nil {
			return fmt.Errorf("golden: input %q is nil", n)
		}
		if len(t.Data) != numelOf(t.Shape) {
			return fmt.Errorf("golden: input %q has %d values for shape %v", n, len(t.Data), t.Shape)
		}
		ins[n] = t.Shape
	}
	return checkSizes(c, ins)
}

// numelOf returns the element count of a shape, or -1 when it is invalid or
// overflows.
func numelOf(shape []int) int {
	n := 1
	for _, s := range shape {
		if s < 0 || (s > 0 && n > math.MaxInt/s) {
			return -1
		}
		n *= s
	}
	return n
}

// matrixOps use the looser f32 tolerance of products and softmax.
var matrixOps = map[string]bool{"linear": true, "feed_forward": true, "linear_fp8": true, "linear_w8a8": true, "attention": true,
	"block_sparse_attention": true, "local_sparse_attention": true, "ada_layer_norm_continuous": true, "dit_block": true,
	"wan_block": true, "video_dit": true}

// defaultTol returns the spec's tolerance for the case's widest-rounding output.
func defaultTol(c *Case) (float64, float64) {
	var dts []dtype.DType
	for _, o := range c.Outputs {
		if o != nil {
			dts = append(dts, o.DType)
		}
	}
	return tolFor(c.Op, dts)
}

// tolFor returns the spec's tolerance for an op with outputs of dtypes outs.
func tolFor(op string, outs []dtype.DType) (float64, float64) {
	atol, rtol := 1e-4, 1e-4
	if matrixOps[op] {
		atol, rtol = 2e-3, 2e-3
	}
	for _, dt := range outs {
		switch dt {
		case dtype.F16:
			atol, rtol = math.Max(atol, 1e-2), math.Max(rtol, 1e-2)
		case dtype.BF16:
			atol, rtol = math.Max(atol, 3e-2), math.Max(rtol, 3e-2)
		}
	}
	return atol, rtol
}

// DType returns the dtype of the case's input x, or else of its first
// output by name, for reports.
func (c *Case) DType() dtype.DType {
	if x, ok := c.Inputs["x"]; ok && x != nil {
		return x.DType
	}
	names := make([]string, 0, len(c.Outputs))
	for n := range c.Outputs {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 || c.Outputs[names[0]] == nil {
		return dtype.F32
	}
	return c.Outputs[names[0]].DType
}

// Float returns a numeric attribute, or def when absent. NaN and the
// infinities cannot come from JSON; a case built by hand is refused them.
func (c *Case) Float(name string, def float64) (float64, error) {
	v, ok := c.Attrs[name]
	if !ok || v == nil {
		return def, nil
	}
	f, ok := v.(float64)
	if !ok {
		return 0, fmt.Errorf("attr %s: %v is not a number", name, v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("attr %s: %v is not a finite number", name, f)
	}
	return f, nil
}

// Int returns an integer attribute, or def when absent. A value with a
// fraction, or one that does not fit an int, is an error.
func (c *Case) Int(name string, def int) (int, error) {
	f, err := c.Float(name, float64(def))
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) {
		return 0, fmt.Errorf("attr %s: %v is not an integer", name, f)
	}
	if !(f >= math.MinInt && f < -float64(math.MinInt)) {
		return 0, fmt.Errorf("attr %s: %v does not fit an int", name, f)
	}
	return int(f), nil
}

// String returns a string attribute, or def when absent.
func (c *Case) String(name, def string) (string, error) {
	v, ok := c.Attrs[name]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("attr %s: %v is not a string", name, v)
	}
	return s, nil
}

// Bool returns a boolean attribute, or def when absent.
func (c *Case) Bool(name string, def bool) (bool, error) {
	v, ok := c.Attrs[name]
	if !ok || v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("attr %s: %v is not a boolean", name, v)
	}
	return b, nil
}

// Input returns a required input tensor.
func (c *Case) Input(name string) (*ref.Tensor, error) {
	t, ok := c.Inputs[name]
	if !ok {
		return nil, fmt.Errorf("case has no input in.%s", name)
	}
	return t, nil
}

// AttrReader reads several attributes and keeps the first error, so a
// runner can read them in a row and check once.
type AttrReader struct {
	c   *Case
	Err error
}

// Read starts reading the case's attributes.
func (c *Case) Read() *AttrReader { return &AttrReader{c: c} }

// Int reads an integer attribute (def when absent).
func (r *AttrReader) Int(name string, def int) int {
	if r.Err != nil {
		return def
	}
	v, err := r.c.Int(name, def)
	r.Err = err
	return v
}

// Float reads a numeric attribute (def when absent).
func (r *AttrReader) Float(name string, def float64) float64 {
	if r.Err != nil {
		return def
	}
	v, err := r.c.Float(name, def)
	r.Err = err
	return v
}

// String reads a string attribute (def when absent).
func (r *AttrReader) String(name, def string) string {
	if r.Err != nil {
		return def
	}
	v, err := r.c.String(name, def)
	r.Err = err
	return v
}
