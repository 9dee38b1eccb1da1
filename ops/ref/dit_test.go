package ref

import (
	"math"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
)

// ditWeights returns fixed weights of a block of width d, heads h and
// feed-forward inner width inner (proj_in rows inRows).
func ditWeights(dt dtype.DType, d, inRows, inner int) map[string]*Tensor {
	s := 1 / math.Sqrt(float64(d))
	return map[string]*Tensor{
		"norm1.weight":        fixedTensor(11, dt, 0.3, 1, d),
		"norm2.weight":        fixedTensor(12, dt, 0.3, 1, d),
		"adaln.weight":        fixedTensor(13, dt, s, 0, 6*d, d),
		"adaln.bias":          fixedTensor(14, dt, 0.5, 0, 6*d),
		"qkv.weight":          fixedTensor(15, dt, s, 0, 3*d, d),
		"qkv.bias":            fixedTensor(16, dt, 0.2, 0, 3*d),
		"proj.weight":         fixedTensor(17, dt, s, 0, d, d),
		"proj.bias":           fixedTensor(18, dt, 0.2, 0, d),
		"ffn.proj_in.weight":  fixedTensor(19, dt, s, 0, inRows, d),
		"ffn.proj_in.bias":    fixedTensor(20, dt, 0.2, 0, inRows),
		"ffn.proj_out.weight": fixedTensor(21, dt, 1/math.Sqrt(float64(inner)), 0, d, inner),
		"ffn.proj_out.bias":   fixedTensor(22, dt, 0.2, 0, d),
	}
}

// naiveDiT is an independent, loop-by-loop f32 rendering of the spec's
// block with a gelu-approximate feed-forward, rounding where PyTorch
// stores an f32 tensor.
func naiveDiT(x, cond []float64, w map[string]*Tensor, B, S, D, H, I int, eps float64) []float64 {
	r := func(v float64) float64 { return dtype.Round(dtype.F32, v) }
	lin := func(in []float64, rows, k int, name string) []float64 {
		W, bias := w[name+".weight"].Data, w[name+".bias"].Data
		n := len(W) / k
		out := make([]float64, rows*n)
		for i := 0; i < rows; i++ {
			for j := 0; j < n; j++ {
				s := bias[j]
				for c := 0; c < k; c++ {
					s += in[i*k+c] * W[j*k+c]
				}
				out[i*n+j] = r(s)
			}
		}
		return out
	}
	sc := make([]float64, B*D)
	for i, v := range cond {
		sc[i] = r(v / (1 + math.Exp(-v)))
	}
	m := lin(sc, B, D, "adaln") // [B, 6D]
	mod := func(b, i, c int) float64 { return m[b*6*D+i*D+c] }
	normMod := func(in []float64, wn string, shift, scale int) []float64 {
		out := make([]float64, len(in))
		for row := 0; row < B*S; row++ {
			b := row / S
			ss := 0.0
			for c := 0; c < D; c++ {
				ss += in[row*D+c] * in[row*D+c]
			}
			inv := 1 / math.Sqrt(ss/float64(D)+eps)
			for c := 0; c < D; c++ {
				n := r(in[row*D+c] * inv * w[wn].Data[c])
				out[row*D+c] = r(n*(1+mod(b, scale, c)) + mod(b, shift, c))
			}
		}
		return out
	}
	h := normMod(x, "norm1.weight", 0, 1)
	qkv := lin(h, B*S, D, "qkv")
	dh := D / H
	o := make([]float64, B*S*D)
	for b := 0; b < B; b++ {
		for hd := 0; hd < H; hd++ {
			for i := 0; i < S; i++ {
				sc := make([]float64, S)
				mx := math.Inf(-1)
				for j := 0; j < S; j++ {
					for c := 0; c < dh; c++ {
						sc[j] += qkv[(b*S+i)*3*D+hd*dh+c] * qkv[(b*S+j)*3*D+D+hd*dh+c]
					}
					sc[j] /= math.Sqrt(float64(dh))
					mx = math.Max(mx, sc[j])
				}
				sum := 0.0
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				for c := 0; c < dh; c++ {
					acc := 0.0
					for j := 0; j < S; j++ {
						acc += sc[j] * qkv[(b*S+j)*3*D+2*D+hd*dh+c]
					}
					o[(b*S+i)*D+hd*dh+c] = r(acc / sum)
				}
			}
		}
	}
	gateAdd := func(res, y []float64, gate int) []float64 {
		out := make([]float64, len(res))
		for i := range res {
			b, c := i/(S*D), i%D
			out[i] = r(res[i] + r(mod(b, gate, c)*y[i]))
		}
		return out
	}
	x1 := gateAdd(x, lin(o, B*S, D, "proj"), 2)
	h2 := normMod(x1, "norm2.weight", 3, 4)
	f := lin(h2, B*S, D, "ffn.proj_in")
	for i, v := range f {
		f[i] = r(0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v))))
	}
	return gateAdd(x1, lin(f, B*S, I, "ffn.proj_out"), 5)
}

func TestDiTBlockMatchesNaiveLoops(t *testing.T) {
	const B, S, D, H, I, eps = 2, 5, 8, 2, 12, 1e-5
	x := fixedTensor(1, dtype.F32, 2, 0.1, B, S, D)
	cond := fixedTensor(2, dtype.F32, 1, 0, B, D)
	w := ditWeights(dtype.F32, D, I, I)
	got, err := DiTBlock(x, cond, w, DiTConfig{NumHeads: H, ActivationFn: "gelu-approximate", Eps: eps})
	if err != nil {
		t.Fatal(err)
	}
	want := naiveDiT(x.Data, cond.Data, w, B, S, D, H, I, eps)
	if len(got.Data) != len(want) || got.DType != dtype.F32 {
		t.Fatalf("got %v %v, want %d f32 values", got.DType, got.Shape, len(want))
	}
	for i := range want {
		if d := math.Abs(got.Data[i] - want[i]); d > 1e-6*(1+math.Abs(want[i])) {
			t.Fatalf("y[%d] = %v, want %v", i, got.Data[i], want[i])
		}
	}
}

func TestDiTBlockZeroGatesIsIdentity(t *testing.T) {
	for _, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
		const B, S, D = 2, 3, 8
		x := fixedTensor(3, dt, 2, 0, B, S, D)
		cond := fixedTensor(4, dt, 1, 0, B, D)
		w := ditWeights(dt, D, 2*16, 16) // geglu: proj_in has 2*inner rows
		w["adaln.weight"] = New(dt, 6*D, D)
		for i := 0; i < 6*D; i++ { // nonzero shifts and scales, zero gates
			if c := i / D; c == 2 || c == 5 {
				w["adaln.bias"].Data[i] = 0
			}
		}
		y, err := DiTBlock(x, cond, w, DiTConfig{NumHeads: 2, ActivationFn: "geglu", Eps: 1e-5})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range y.Data {
			if v != x.Data[i] {
				t.Fatalf("%v: y[%d] = %v, want x = %v", dt, i, v, x.Data[i])
			}
		}
	}
}

func TestDiTBlockErrors(t *testing.T) {
	x := fixedTensor(1, dtype.F32, 1, 0, 1, 2, 8)
	cond := fixedTensor(2, dtype.F32, 1, 0, 1, 8)
	tests := []struct {
		name string
		edit func(w map[string]*Tensor, c *DiTConfig)
		want string
	}{
		{"missing weight", func(w map[string]*Tensor, c *DiTConfig) { delete(w, "qkv.weight") }, "qkv.weight"},
		{"heads", func(w map[string]*Tensor, c *DiTConfig) { c.NumHeads = 3 }, "num_heads"},
		{"ffn kind", func(w map[string]*Tensor, c *DiTConfig) { c.ActivationFn = "tanh" }, "activation_fn"},
		{"adaln rows", func(w map[string]*Tensor, c *DiTConfig) {
			w["adaln.weight"] = New(dtype.F32, 5*8, 8)
			w["adaln.bias"] = nil
		}, "adaln"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := ditWeights(dtype.F32, 8, 32, 32)
			c := DiTConfig{NumHeads: 2, ActivationFn: "gelu", Eps: 1e-5}
			tc.edit(w, &c)
			_, err := DiTBlock(x, cond, w, c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}
