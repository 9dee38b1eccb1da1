// Package golden loads golden cases (safetensors files in the format of
// the operator spec) and runs them against the GPU operators or the CPU
// reference. Each operator family registers its runners in a file of its
// own; an operator with no runner fails with "unsupported op".
package golden

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/webfuser/webfuser/internal/dtype"
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

// Load reads a case file.
func Load(path string) (*Case, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b, path)
}

// Parse reads a case from the bytes of a safetensors file.
func Parse(b []byte, name string) (*Case, error) {
	ts, meta, err := parseSafetensors(b)
	if err != nil {
		return nil, err
	}
	c := &Case{Name: name, Op: meta["op"], Note: meta["note"], Attrs: map[string]any{},
		Inputs: map[string]*ref.Tensor{}, Outputs: map[string]*ref.Tensor{}}
	if c.Op == "" {
		return nil, fmt.Errorf("golden: metadata has no op")
	}
	if a := meta["attrs"]; a != "" {
		if err := json.Unmarshal([]byte(a), &c.Attrs); err != nil {
			return nil, fmt.Errorf("golden: attrs is not a JSON object: %v", err)
		}
	}
	for name, r := range ts {
		t := &ref.Tensor{Shape: r.Shape, DType: r.DType, Data: make([]float64, 0)}
		for _, v := range dtype.Decode(r.DType, r.Data, len(r.Data)/r.DType.Size()) {
			t.Data = append(t.Data, float64(v))
		}
		switch {
		case strings.HasPrefix(name, "in."):
			c.Inputs[name[3:]] = t
		case strings.HasPrefix(name, "out."):
			c.Outputs[name[4:]] = t
		default:
			return nil, fmt.Errorf("golden: tensor %q is neither in.* nor out.*", name)
		}
	}
	if len(c.Outputs) == 0 {
		return nil, fmt.Errorf("golden: case has no out.* tensor")
	}
	c.Atol, c.Rtol = defaultTol(c)
	for key, dst := range map[string]*float64{"atol": &c.Atol, "rtol": &c.Rtol} {
		if s, ok := meta[key]; ok {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("golden: %s %q is not a non-negative number", key, s)
			}
			*dst = v
		}
	}
	return c, nil
}

// matrixOps use the looser f32 tolerance of products and softmax.
var matrixOps = map[string]bool{"linear": true, "feed_forward": true, "linear_fp8": true, "attention": true,
	"block_sparse_attention": true, "local_sparse_attention": true, "ada_layer_norm_continuous": true, "dit_block": true}

// defaultTol returns the spec's tolerance for the case's widest-rounding output.
func defaultTol(c *Case) (float64, float64) {
	atol, rtol := 1e-4, 1e-4
	if matrixOps[c.Op] {
		atol, rtol = 2e-3, 2e-3
	}
	for _, o := range c.Outputs {
		switch o.DType {
		case dtype.F16:
			atol, rtol = math.Max(atol, 1e-2), math.Max(rtol, 1e-2)
		case dtype.BF16:
			atol, rtol = math.Max(atol, 3e-2), math.Max(rtol, 3e-2)
		}
	}
	return atol, rtol
}

// DType returns the dtype of the case's first output, for reports.
func (c *Case) DType() dtype.DType {
	names := make([]string, 0, len(c.Outputs))
	for n := range c.Outputs {
		names = append(names, n)
	}
	sort.Strings(names)
	if x, ok := c.Inputs["x"]; ok {
		return x.DType
	}
	return c.Outputs[names[0]].DType
}

// Float returns a numeric attribute, or def when absent.
func (c *Case) Float(name string, def float64) (float64, error) {
	v, ok := c.Attrs[name]
	if !ok || v == nil {
		return def, nil
	}
	f, ok := v.(float64)
	if !ok {
		return 0, fmt.Errorf("attr %s: %v is not a number", name, v)
	}
	return f, nil
}

// Int returns an integer attribute, or def when absent.
func (c *Case) Int(name string, def int) (int, error) {
	f, err := c.Float(name, float64(def))
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) {
		return 0, fmt.Errorf("attr %s: %v is not an integer", name, f)
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
