package ops

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops/ref"
)

// TestQuantizeNF4MatchesReference quantises odd sizes (an odd element
// count, a partial last block, an all-zero block) into guarded outputs and
// requires the reference's codes and absmax exactly.
func TestQuantizeNF4MatchesReference(t *testing.T) {
	d := testDevice(t)
	for _, dt := range floatStorage {
		for _, c := range []struct {
			shape []int
			bs    int
		}{{[]int{1, 8}, 8}, {[]int{3, 24}, 8}, {[]int{7, 33}, 64}, {[]int{5, 64}, 64}, {[]int{2, 100}, 64}, {[]int{1, 1}, 64}, {[]int{9, 130}, 128}} {
			t.Run(fmt.Sprintf("%v/%v/bs=%d", dt, c.shape, c.bs), func(t *testing.T) {
				gputest.Guard(t, d)
				rng := rand.New(rand.NewSource(11))
				w := randTensor(rng, dt, c.shape, 0.5, 0.1)
				if w.Numel() > 2*c.bs {
					for i := c.bs; i < 2*c.bs; i++ {
						w.Data[i] = 0
					}
				}
				wq, wa, err := ref.QuantizeNF4(w, c.bs)
				if err != nil {
					t.Fatal(err)
				}
				q, a, err := QuantizeNF4(upload(t, d, w), c.bs)
				if err != nil {
					t.Fatal(err)
				}
				expectClose(t, q, wq, tol{})
				expectClose(t, a, wa, tol{})
			})
		}
	}
}

// TestLinearNF4MatchesReference runs the GEMV (M up to 8, K a multiple of
// 8) and the tiled path on odd shapes, every float dtype, with and
// without bias and with an activation, into guarded outputs.
func TestLinearNF4MatchesReference(t *testing.T) {
	d := testDevice(t)
	shapes := []struct{ m, n, k int }{{1, 1, 8}, {1, 5, 64}, {3, 8, 72}, {8, 7, 128}, {5, 64, 64}, {9, 13, 64}, {33, 5, 100}, {2, 3, 7}}
	for _, dt := range floatStorage {
		for i, s := range shapes {
			for _, bias := range []bool{false, true} {
				t.Run(fmt.Sprintf("%v/%dx%dx%d/bias=%v", dt, s.m, s.n, s.k, bias), func(t *testing.T) {
					gputest.Guard(t, d)
					rng := rand.New(rand.NewSource(int64(i)))
					x := randTensor(rng, dt, []int{s.m, s.k}, 1, 0)
					w := randTensor(rng, dtype.F32, []int{s.n, s.k}, 0.3, 0)
					var b *ref.Tensor
					if bias {
						b = randTensor(rng, dt, []int{s.n}, 1, 0)
					}
					wq, wa, _ := ref.QuantizeNF4(w, NF4BlockSize)
					want, err := ref.LinearNF4(x, wq, wa, b, s.n, NF4BlockSize)
					if err != nil {
						t.Fatal(err)
					}
					y, err := LinearNF4Forward(upload(t, d, x), upload(t, d, wq), upload(t, d, wa), upload(t, d, b), s.n, 0)
					if err != nil {
						t.Fatal(err)
					}
					expectClose(t, y, want, matmulTol(dt))
					if !bias {
						return
					}
					l, _ := NewLinearNF4(upload(t, d, wq), upload(t, d, wa), upload(t, d, b), s.n, s.k, 0)
					ya, err := l.ForwardAct(upload(t, d, x), ActGELUTanh)
					if err != nil {
						t.Fatal(err)
					}
					wantA, _ := ref.Activation(want, "gelu_tanh")
					expectClose(t, ya, wantA, matmulTol(dt))
				})
			}
		}
	}
}

// TestReplaceLinearLayersNF4 quantises a FeedForward to NF4, checks the
// output against the float64 emulation and the parameter memory, and that
// keep can spare a layer.
func TestReplaceLinearLayersNF4(t *testing.T) {
	d := testDevice(t)
	cfg := FeedForwardConfig{Dim: 64, ActivationFn: "gelu"}
	rng := rand.New(rand.NewSource(12))
	inW, inB, outW, outB := ffWeights(rng, dtype.F32, cfg)
	x := randTensor(rng, dtype.F32, []int{2, 3, 64}, 1, 0)
	pin, _ := NewLinear(upload(t, d, inW), upload(t, d, inB))
	pout, _ := NewLinear(upload(t, d, outW), upload(t, d, outB))
	ff, err := NewFeedForward(cfg, pin, pout)
	if err != nil {
		t.Fatal(err)
	}
	before := ParameterBytes(ff)
	n, err := ReplaceLinearLayersNF4(ff, func(l *Linear) bool { return l != pout })
	if err != nil || n != 1 {
		t.Fatalf("replaced %d layers, err %v", n, err)
	}
	if n, err = ReplaceLinearLayersNF4(ff, nil); err != nil || n != 1 {
		t.Fatalf("replaced %d more layers, err %v", n, err)
	}
	after := ParameterBytes(ff)
	t.Logf("FeedForward(dim 64) parameters: %d bytes before, %d after NF4 (%.2fx smaller)", before, after, float64(before)/float64(after))
	if pin.Weight != nil || after*5 > before {
		t.Fatalf("full-width weights kept: %d -> %d bytes", before, after)
	}
	qi, ai, _ := ref.QuantizeNF4(inW, NF4BlockSize)
	qo, ao, _ := ref.QuantizeNF4(outW, NF4BlockSize)
	h, _ := ref.LinearNF4(x, qi, ai, inB, inW.Shape[0], NF4BlockSize)
	h, _ = ref.Activation(h, "gelu")
	want, _ := ref.LinearNF4(h, qo, ao, outB, outW.Shape[0], NF4BlockSize)
	y, err := ff.Forward(upload(t, d, x))
	if err != nil {
		t.Fatal(err)
	}
	expectClose(t, y, want, matmulTol(dtype.F32))
}

func TestNF4BadInputIsAnError(t *testing.T) {
	d := testDevice(t)
	w, _ := d.NewTensor(dtype.U8, 12)
	w2, _ := d.NewTensor(dtype.F32, 12)
	a, _ := d.NewTensor(dtype.F32, 1)
	x, _ := d.NewTensor(dtype.F32, 2, 8)
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"block", func() error { _, e := NewLinearNF4(w, a, nil, 3, 8, 12); return e }, "ops.LinearNF4: block size 12 must be a positive multiple of 8"},
		{"weight bytes", func() error { _, e := NewLinearNF4(w, a, nil, 4, 8, 0); return e }, "ops.LinearNF4: weight: shape [12], want 16 bytes for [4,8] at 4 bits"},
		{"weight dtype", func() error { _, e := NewLinearNF4(w2, a, nil, 3, 8, 0); return e }, "ops.LinearNF4: weight: want u8 packed NF4 codes"},
		{"x", func() error { _, e := LinearNF4Forward(x, w, a, nil, 2, 0); return e }, "ops.LinearNF4: weight: shape [12], want 8 bytes"},
		{"quantize dtype", func() error { _, _, e := QuantizeNF4(w, 64); return e }, "ops.QuantizeNF4: weight: dtype u8 is not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if _, ok := err.(*Error); !ok || !contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an *ops.Error containing %q", err, c.want)
			}
		})
	}
}
