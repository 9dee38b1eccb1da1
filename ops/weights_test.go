package ops

import (
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/safetensors"
	"github.com/webfuser/webfuser/ops/ref"
)

// stateFile encodes named host tensors (plus raw extras) as a safetensors file.
func stateFile(t *testing.T, w map[string]*ref.Tensor, extra ...safetensors.Tensor) *StateDict {
	t.Helper()
	var ts []safetensors.Tensor
	for n, h := range w {
		ts = append(ts, safetensors.FromHost(n, h))
	}
	b, err := safetensors.Encode(append(ts, extra...), map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	sd, err := ParseStateDict(b)
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

// tinySpec is a two-layer model: a norm weight and two linears, the
// second without a bias, plus an optional tensor.
func tinySpec() *StateSpec {
	s := &StateSpec{}
	s.Param("norm.weight", 8)
	s.Linear("blocks.0.proj", 12, 8, true)
	s.Linear("blocks.1.out", 5, 12, false)
	s.Optional("head.modulation", 1, 2, 8)
	return s
}

func tinyWeights(rng *rand.Rand, dt dtype.DType) map[string]*ref.Tensor {
	return map[string]*ref.Tensor{
		"norm.weight":          randTensor(rng, dt, []int{8}, 0.2, 1),
		"blocks.0.proj.weight": randTensor(rng, dt, []int{12, 8}, 0.3, 0),
		"blocks.0.proj.bias":   randTensor(rng, dt, []int{12}, 0.1, 0),
		"blocks.1.out.weight":  randTensor(rng, dt, []int{5, 12}, 0.3, 0),
	}
}

func TestLoadState(t *testing.T) {
	d := testDevice(t)
	for _, dt := range []dtype.DType{F32, F16, BF16} {
		rng := rand.New(rand.NewSource(int64(dt) + 1))
		w := tinyWeights(rng, dt)
		st, err := LoadState(d, stateFile(t, w), tinySpec())
		if err != nil {
			t.Fatal(err)
		}
		if st.DType != dt || len(st.Names()) != 4 || st.Tensor("head.modulation") != nil {
			t.Fatalf("%v: state %v %v", dt, st.DType, st.Names())
		}
		for n, h := range w {
			expectClose(t, st.Tensor(n), h, tol{})
		}
		// The layers run: proj then out, against the reference.
		x := randTensor(rng, dt, []int{3, 8}, 1, 0)
		xg := upload(t, d, x)
		p, err := st.Linear("blocks.0.proj")
		if err != nil {
			t.Fatal(err)
		}
		o, err := st.Linear("blocks.1.out")
		if err != nil {
			t.Fatal(err)
		}
		h, err := p.Forward(xg)
		if err != nil {
			t.Fatal(err)
		}
		y, err := o.Forward(h)
		if err != nil {
			t.Fatal(err)
		}
		hr, _ := ref.Linear(x, w["blocks.0.proj.weight"], w["blocks.0.proj.bias"])
		yr, _ := ref.Linear(hr, w["blocks.1.out.weight"], nil)
		expectClose(t, y, yr, tolFor(dt))
		st.Release()
		if len(st.Names()) != 0 {
			t.Error("Release left tensors")
		}
	}
}

// TestLoadStateFP8 loads FP8 linear weights with their scales and checks
// them against quantising the float weights with QuantizeLinear, then
// quantises a float state through ReplaceLinearLayers.
func TestLoadStateFP8(t *testing.T) {
	d := testDevice(t)
	rng := rand.New(rand.NewSource(7))
	w := tinyWeights(rng, F32)
	full, err := LoadState(d, stateFile(t, w), tinySpec())
	if err != nil {
		t.Fatal(err)
	}
	defer full.Release()
	lin, err := full.Linear("blocks.0.proj")
	if err != nil {
		t.Fatal(err)
	}
	q, err := QuantizeLinear(lin.(*Linear), FP8E4M3, "per_token")
	if err != nil {
		t.Fatal(err)
	}
	qb, _ := q.Weight.Bytes()
	sb, _ := q.WeightScale.Bytes()
	fp8 := map[string]*ref.Tensor{"norm.weight": w["norm.weight"], "blocks.0.proj.bias": w["blocks.0.proj.bias"], "blocks.1.out.weight": w["blocks.1.out.weight"]}
	sd := stateFile(t, fp8,
		safetensors.Tensor{Name: "blocks.0.proj.weight", DType: FP8E4M3, Shape: []int{12, 8}, Data: qb},
		safetensors.Tensor{Name: "blocks.0.proj.weight_scale", DType: F32, Shape: []int{12, 1}, Data: sb})
	st, err := LoadState(d, sd, tinySpec())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Release()
	if st.DType != F32 {
		t.Errorf("dtype %v, want f32 (FP8 weights aside)", st.DType)
	}
	p, err := st.Linear("blocks.0.proj")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(*LinearFP8); !ok {
		t.Fatalf("an FP8 weight gave a %T", p)
	}
	x := upload(t, d, randTensor(rng, F32, []int{4, 8}, 1, 0))
	a, err := p.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	b, err := q.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	br, _ := Download(b)
	expectClose(t, a, br, tol{})

	// ReplaceLinearLayers quantises a module built from a float state.
	m := &testModule{}
	m.p[0], _ = full.Linear("blocks.0.proj")
	m.p[1], _ = full.Linear("blocks.1.out")
	n, err := ReplaceLinearLayers(m, FP8E4M3)
	if err != nil || n != 2 {
		t.Fatalf("replaced %d: %v", n, err)
	}
	c, err := m.p[0].Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	expectClose(t, c, br, tol{})
}

type testModule struct{ p [2]Projector }

func (m *testModule) Projections() []*Projector { return []*Projector{&m.p[0], &m.p[1]} }
func (m *testModule) Children() []Module        { return nil }
func (m *testModule) Parameters() []*Tensor     { return nil }

func TestLoadStateRefuses(t *testing.T) {
	d := testDevice(t)
	rng := rand.New(rand.NewSource(3))
	raw := func(name string, dt DType, shape []int) safetensors.Tensor {
		n := 1
		for _, s := range shape {
			n *= s
		}
		return safetensors.Tensor{Name: name, DType: dt, Shape: shape, Data: make([]byte, n*dt.Size())}
	}
	tests := []struct {
		name   string
		edit   func(w map[string]*ref.Tensor) []safetensors.Tensor
		tensor string
		kind   error
		rule   string
	}{
		{"missing", func(w map[string]*ref.Tensor) []safetensors.Tensor {
			delete(w, "blocks.0.proj.bias")
			return nil
		}, "blocks.0.proj.bias", ErrInvalid, "is missing (want shape [12])"},
		{"unexpected", func(w map[string]*ref.Tensor) []safetensors.Tensor {
			w["blocks.0.proj.wieght"] = ref.New(F32, 12, 8)
			return nil
		}, "blocks.0.proj.wieght", ErrInvalid, "unexpected tensor F32[12 8]"},
		{"bias where none is declared", func(w map[string]*ref.Tensor) []safetensors.Tensor {
			w["blocks.1.out.bias"] = ref.New(F32, 5)
			return nil
		}, "blocks.1.out.bias", ErrInvalid, "not a parameter"},
		{"mis-shaped", func(w map[string]*ref.Tensor) []safetensors.Tensor {
			w["blocks.1.out.weight"] = ref.New(F32, 12, 5)
			return nil
		}, "blocks.1.out.weight", ErrInvalid, "shape [12 5], want [5 12]"},
		{"optional mis-shaped", func(w map[string]*ref.Tensor) []safetensors.Tensor {
			w["head.modulation"] = ref.New(F32, 2, 8)
			return nil
		}, "head.modulation", ErrInvalid, "want [1 2 8]"},
		{"mixed dtype", func(w map[string]*ref.Tensor) []safetensors.Tensor {
			w["blocks.0.proj.bias"] = ref.New(BF16, 12)
			return nil
		}, "blocks.0.proj.bias", ErrDType, "differs from norm.weight's f32"},
		{"integer dtype", func(w map[string]*ref.Tensor) []safetensors.Tensor {
			delete(w, "norm.weight")
			return []safetensors.Tensor{raw("norm.weight", dtype.I32, []int{8})}
		}, "norm.weight", ErrDType, "dtype I32"},
		{"fp8 outside a linear", func(w map[string]*ref.Tensor) []safetensors.Tensor {
			delete(w, "norm.weight")
			return []safetensors.Tensor{raw("norm.weight", FP8E4M3, []int{8})}
		}, "norm.weight", ErrDType, "dtype F8_E4M3, want F32, F16 or BF16"},
		{"fp8 without its scale", func(w map[string]*ref.Tensor) []safetensors.Tensor {
			delete(w, "blocks.1.out.weight")
			return []safetensors.Tensor{raw("blocks.1.out.weight", FP8E4M3, []int{5, 12})}
		}, "blocks.1.out.weight_scale", ErrInvalid, "is missing"},
		{"fp8 scale shape", func(w map[string]*ref.Tensor) []safetensors.Tensor {
			delete(w, "blocks.1.out.weight")
			return []safetensors.Tensor{raw("blocks.1.out.weight", FP8E4M3, []int{5, 12}), raw("blocks.1.out.weight_scale", F32, []int{5})}
		}, "blocks.1.out.weight_scale", ErrInvalid, "want [5,1] or [1,1]"},
		{"fp8 scale dtype", func(w map[string]*ref.Tensor) []safetensors.Tensor {
			delete(w, "blocks.1.out.weight")
			return []safetensors.Tensor{raw("blocks.1.out.weight", FP8E5M2, []int{5, 12}), raw("blocks.1.out.weight_scale", BF16, []int{5, 1})}
		}, "blocks.1.out.weight_scale", ErrDType, "want F32"},
		{"scale of a float weight", func(w map[string]*ref.Tensor) []safetensors.Tensor {
			return []safetensors.Tensor{raw("blocks.1.out.weight_scale", F32, []int{5, 1})}
		}, "blocks.1.out.weight_scale", ErrInvalid, "not an FP8 weight"},
		{"short vector", func(w map[string]*ref.Tensor) []safetensors.Tensor {
			delete(w, "norm.weight")
			return []safetensors.Tensor{{Name: "norm.weight", DType: F32, Shape: []int{4}, Data: make([]byte, 16)}}
		}, "norm.weight", ErrInvalid, "shape [4], want [8]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tinyWeights(rng, F32)
			extra := tc.edit(w)
			st, err := LoadState(d, stateFile(t, w, extra...), tinySpec())
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tc.kind) {
				if st != nil {
					st.Release()
				}
				t.Fatalf("error %v, want an *ops.Error of %v", err, tc.kind)
			}
			if e.Op != "LoadState" || e.Tensor != tc.tensor || !strings.Contains(e.Rule, tc.rule) {
				t.Fatalf("error %q, want tensor %q and a rule with %q", err, tc.tensor, tc.rule)
			}
		})
	}
	if _, err := LoadState(nil, nil, nil); err == nil {
		t.Error("nil arguments accepted")
	}
}
