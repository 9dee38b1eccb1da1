package golden

import (
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops/ref"
)

func TestCompareFP8AllowsOneUnit(t *testing.T) {
	want := &ref.Tensor{Shape: []int{4}, DType: dtype.FP8E4M3, Data: []float64{1, 0, -0.001953125, 448}}
	cases := []struct {
		name string
		got  []float64
		ok   bool
	}{
		{"equal", []float64{1, 0, -0.001953125, 448}, true},
		{"one unit", []float64{1.125, 0.001953125, 0, 416}, true},
		{"two units", []float64{1.25, 0, -0.001953125, 448}, false},
		{"across zero by two", []float64{1, 0, 0.001953125, 448}, false},
	}
	for _, c := range cases {
		got := &ref.Tensor{Shape: []int{4}, DType: dtype.FP8E4M3, Data: c.got}
		var res Result
		err := compare("q", got, want, 0, 0, &res)
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func TestMalformedCasesAreErrors(t *testing.T) {
	cases := map[string][]byte{
		"empty":        {},
		"short header": {8, 0, 0, 0, 0, 0, 0, 0, '{'},
		"huge header":  {0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0},
		"bad offsets":  append([]byte{byte(len(badOffsets)), 0, 0, 0, 0, 0, 0, 0}, badOffsets...),
		"no op":        append([]byte{byte(len(noOp)), 0, 0, 0, 0, 0, 0, 0}, noOp...),
	}
	for name, b := range cases {
		if _, err := Parse(b, name); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

var (
	badOffsets = []byte(`{"__metadata__":{"op":"rms_norm"},"out.y":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}}`)
	noOp       = []byte(`{"out.y":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`)
)

func TestCompareIntCodesOneApart(t *testing.T) {
	want := ref.New(dtype.I32, 3)
	want.Data = []float64{63, -5, 0}
	for _, c := range []struct {
		name string
		got  []float64
		ok   bool
	}{{"q", []float64{64, -5, 0}, true}, {"q", []float64{65, -5, 0}, false}, {"idx", []float64{64, -5, 0}, false}} {
		got := ref.New(dtype.I32, 3)
		got.Data = c.got
		err := compare(c.name, got, want, 0, 0, &Result{})
		if (err == nil) != c.ok {
			t.Errorf("%s %v: err %v, want ok %v", c.name, c.got, err, c.ok)
		}
	}
}
