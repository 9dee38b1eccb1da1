package dit

import (
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

func TestBlockMatchesReference(t *testing.T) {
	d := testDevice(t)
	tests := []struct {
		name            string
		dt              ops.DType
		batch, seq, dim int
		heads           int
		ratio           float64
		act             string
		dropBiases      bool
	}{
		{"f32 gelu-approximate", ops.F32, 2, 5, 32, 2, 4, "gelu-approximate", false},
		{"f32 swiglu odd ratio", ops.F32, 1, 16, 48, 4, 2.5, "swiglu", false},
		{"f32 geglu no biases", ops.F32, 2, 7, 24, 3, 2, "geglu", true},
		{"bf16 gelu", ops.BF16, 2, 16, 48, 3, 4, "gelu", false},
		{"bf16 linear-silu", ops.BF16, 1, 9, 32, 4, 3, "linear-silu", false},
		{"f16 geglu-approximate", ops.F16, 2, 4, 32, 2, 2, "geglu-approximate", false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(i + 1)))
			cfg := Config{Dim: tc.dim, NumHeads: tc.heads, MLPRatio: tc.ratio, ActivationFn: tc.act, Eps: 1e-5}
			wr, err := RandomWeights(cfg, tc.dt, rng)
			if err != nil {
				t.Fatal(err)
			}
			if tc.dropBiases {
				for n := range wr {
					if strings.HasSuffix(n, ".bias") {
						delete(wr, n)
					}
				}
			}
			xr, cr := RandomInputs(cfg, tc.dt, tc.batch, tc.seq, rng)
			want, err := reference(cfg, xr, cr, wr)
			if err != nil {
				t.Fatal(err)
			}
			moved := 0 // the block must change most of x, or the comparison says little
			for j, v := range want.Data {
				if v != xr.Data[j] {
					moved++
				}
			}
			if moved < len(want.Data)*9/10 {
				t.Fatalf("the reference left %d of %d elements of x unchanged", len(want.Data)-moved, len(want.Data))
			}
			w, err := UploadWeights(d, wr)
			if err != nil {
				t.Fatal(err)
			}
			defer ReleaseWeights(w)
			x, _ := ops.Upload(d, xr)
			cond, _ := ops.Upload(d, cr)
			defer x.Release()
			defer cond.Release()
			b, err := New(cfg, w)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(b.Parameters()), len(w); got != want {
				t.Errorf("Parameters() has %d tensors, want %d", got, want)
			}
			y, err := b.Forward(x, cond)
			if err != nil {
				t.Fatal(err)
			}
			defer y.Release()
			expectClose(t, y, want)
			// The inputs are unchanged (the residual is read, never written).
			xa, err := ops.Download(x)
			if err != nil {
				t.Fatal(err)
			}
			for j, v := range xr.Data {
				if xa.Data[j] != v {
					t.Fatalf("x[%d] changed to %v from %v", j, xa.Data[j], v)
				}
			}
		})
	}
}

// TestBlockBadWeights checks that every malformed weight set is refused
// with an *Error that names the offending tensor or attribute.
func TestBlockBadWeights(t *testing.T) {
	d := testDevice(t)
	cfg := NewConfig(16, 2)
	wr, err := RandomWeights(cfg, ops.F32, rand.New(rand.NewSource(9)))
	if err != nil {
		t.Fatal(err)
	}
	w, err := UploadWeights(d, wr)
	if err != nil {
		t.Fatal(err)
	}
	defer ReleaseWeights(w)
	other, err := ops.Upload(d, ref.New(ops.F32, 3, 16))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	half, err := ops.Upload(d, ref.New(ops.BF16, 16))
	if err != nil {
		t.Fatal(err)
	}
	defer half.Release()
	tests := []struct {
		name   string
		cfg    func(c *Config)
		edit   func(w map[string]*ops.Tensor)
		tensor string // the Error's Tensor
		rule   string // a fragment of its Rule
	}{
		{"missing norm1", nil, func(w map[string]*ops.Tensor) { delete(w, "norm1.weight") }, "norm1.weight", "missing"},
		{"missing ffn out", nil, func(w map[string]*ops.Tensor) { delete(w, "ffn.proj_out.weight") }, "ffn.proj_out.weight", "missing"},
		{"qkv shape", nil, func(w map[string]*ops.Tensor) { w["qkv.weight"] = other }, "qkv.weight", "want [48 16]"},
		{"adaln bias shape", nil, func(w map[string]*ops.Tensor) { w["adaln.bias"] = half }, "adaln.bias", "want [96]"},
		{"mixed dtype", nil, func(w map[string]*ops.Tensor) { w["norm2.weight"] = half }, "norm2.weight", "dtype bf16"},
		{"unknown name", nil, func(w map[string]*ops.Tensor) { w["qkv.wieght"] = other }, "qkv.wieght", "is not a weight"},
		{"ratio mismatch", func(c *Config) { c.MLPRatio = 2 }, nil, "ffn.proj_in.weight", "mlp_ratio 2"},
		{"gated kind", func(c *Config) { c.ActivationFn = "swiglu" }, nil, "ffn.proj_in.weight", "want [128 16]"},
		{"heads", func(c *Config) { c.NumHeads = 3 }, nil, "", "num_heads 3"},
		{"activation", func(c *Config) { c.ActivationFn = "tanh" }, nil, "", "activation_fn"},
		{"eps", func(c *Config) { c.Eps = -1 }, nil, "", "eps"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			if tc.cfg != nil {
				tc.cfg(&c)
			}
			ws := make(map[string]*ops.Tensor, len(w))
			for n, t := range w {
				ws[n] = t
			}
			if tc.edit != nil {
				tc.edit(ws)
			}
			_, err := New(c, ws)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v, want a *dit.Error", err)
			}
			if e.Tensor != tc.tensor || !strings.Contains(e.Rule, tc.rule) {
				t.Fatalf("error %q, want tensor %q and a rule with %q", err, tc.tensor, tc.rule)
			}
		})
	}
}

// TestBlockBadInputs checks Forward's refusals of x and cond.
func TestBlockBadInputs(t *testing.T) {
	d := testDevice(t)
	cfg := NewConfig(16, 2)
	wr, _ := RandomWeights(cfg, ops.F32, rand.New(rand.NewSource(3)))
	w, err := UploadWeights(d, wr)
	if err != nil {
		t.Fatal(err)
	}
	defer ReleaseWeights(w)
	b, err := New(cfg, w)
	if err != nil {
		t.Fatal(err)
	}
	up := func(dt ops.DType, shape ...int) *ops.Tensor {
		g, err := ops.Upload(d, ref.New(dt, shape...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.Release)
		return g
	}
	x, cond := up(ops.F32, 2, 3, 16), up(ops.F32, 2, 16)
	tests := []struct {
		name    string
		x, cond *ops.Tensor
		tensor  string
	}{
		{"x rank", up(ops.F32, 6, 16), cond, "x"},
		{"x width", up(ops.F32, 2, 3, 8), cond, "x"},
		{"x nil", nil, cond, "x"},
		{"cond batch", x, up(ops.F32, 1, 16), "cond"},
		{"cond nil", x, nil, "cond"},
		{"x dtype", up(ops.BF16, 2, 3, 16), cond, "x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.Forward(tc.x, tc.cond)
			var e *Error
			if !errors.As(err, &e) || e.Tensor != tc.tensor {
				t.Fatalf("error %v, want a *dit.Error naming %q", err, tc.tensor)
			}
		})
	}
}

func TestConfigShapes(t *testing.T) {
	tests := []struct {
		cfg           Config
		inRows, inner int
	}{
		{Config{Dim: 32, NumHeads: 2}, 128, 128}, // defaults: ratio 4, gelu-approximate
		{Config{Dim: 32, NumHeads: 2, MLPRatio: 2, ActivationFn: "geglu"}, 128, 64},
		{Config{Dim: 48, NumHeads: 4, MLPRatio: 2.5, ActivationFn: "swiglu"}, 240, 120},
		{Config{Dim: 10, NumHeads: 1, MLPRatio: 1.25, ActivationFn: "gelu"}, 12, 12},
	}
	for _, tc := range tests {
		s, err := tc.cfg.WeightShapes()
		if err != nil {
			t.Fatal(err)
		}
		D := tc.cfg.Dim
		if got := s["ffn.proj_in.weight"]; got[0] != tc.inRows || got[1] != D {
			t.Errorf("%+v: proj_in %v, want [%d %d]", tc.cfg, got, tc.inRows, D)
		}
		if got := s["ffn.proj_out.weight"]; got[0] != D || got[1] != tc.inner {
			t.Errorf("%+v: proj_out %v, want [%d %d]", tc.cfg, got, D, tc.inner)
		}
		if got := s["adaln.weight"]; got[0] != 6*D {
			t.Errorf("%+v: adaln %v, want [%d %d]", tc.cfg, got, 6*D, D)
		}
		if inner, _ := tc.cfg.InnerDim(); inner != tc.inner {
			t.Errorf("%+v: InnerDim %d, want %d", tc.cfg, inner, tc.inner)
		}
	}
	if n := len(WeightNames()); n != 12 {
		t.Errorf("%d weight names, want the spec's 12", n)
	}
}
