package ops

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops/ref"
)

// TestNF4DynamicMap checks bitsandbytes' dynamic map against its
// definition in float64: 127 negatives, 0, 127 positives below 1 and 1,
// sorted, each within f32 rounding of 10^(i-6) times a midpoint of
// 2^i+1 points over [0.1, 1].
func TestNF4DynamicMap(t *testing.T) {
	m := NF4DynamicMap()
	if len(m) != 256 || m[0] >= 0 || m[127] != 0 || m[255] != 1 {
		t.Fatalf("%d values, m[0] %g, m[127] %g, m[255] %g; want 256, negative, 0, 1", len(m), m[0], m[127], m[255])
	}
	var want []float64
	for i := 0; i < 7; i++ {
		n := 1<<i + 1
		for j := 0; j+1 < n; j++ {
			a := 0.1 + 0.9*float64(j)/float64(n-1)
			b := 0.1 + 0.9*float64(j+1)/float64(n-1)
			want = append(want, math.Pow(10, float64(i-6))*(a+b)/2)
		}
	}
	pos := m[128:255]
	for i := 1; i < len(m); i++ {
		if m[i] < m[i-1] {
			t.Fatalf("not sorted at %d: %g after %g", i, m[i], m[i-1])
		}
	}
	for i, v := range pos {
		w := want[i]
		if math.Abs(float64(v)-w) > 4e-7*w {
			t.Errorf("positive %d: %g, want %g", i, v, w)
		}
		if m[126-i] != -v {
			t.Errorf("negative %d: %g, want %g", i, m[126-i], -v)
		}
	}
}

// compressedStats quantises the absmax of random weights [n, k] with
// QuantizeNF4 and QuantizeNF4Stats, and returns the packed codes, the
// stats and their reference form (the expanded absmax).
func compressedStats(t *testing.T, d *gpu.Device, rng *rand.Rand, n, k int) (*ref.Tensor, NF4Stats, *ref.Tensor) {
	t.Helper()
	w := randTensor(rng, dtype.F32, []int{n, k}, 0.3, 0)
	for i := range w.Data { // absmax varying over the blocks
		w.Data[i] *= 1 + float64(i/NF4BlockSize%7)
	}
	wq, wa, err := ref.QuantizeNF4(w, NF4BlockSize)
	if err != nil {
		t.Fatal(err)
	}
	st, err := QuantizeNF4Stats(upload(t, d, wa))
	if err != nil {
		t.Fatal(err)
	}
	a, scale := expandStats(t, st)
	// The double quantisation keeps each absmax within half the widest
	// step of the map near ±1 (0.9/64) times its block's scale.
	for i, v := range a.Data {
		if e := math.Abs(v - wa.Data[i]); e > 0.5*0.9/64*scale[i/NF4StatsBlock]+1e-6 {
			t.Fatalf("absmax %d: %g expanded to %g (scale %g)", i, wa.Data[i], v, scale[i/NF4StatsBlock])
		}
	}
	return wq, st, a
}

// expandStats downloads compressed statistics and expands them with
// ops/ref; it returns the absmax and the second-level scales.
func expandStats(t *testing.T, st NF4Stats) (*ref.Tensor, []float64) {
	t.Helper()
	rs := make([]*ref.Tensor, 3)
	for i, g := range []*gpu.Tensor{st.Codes, st.Scale, st.Code} {
		v, err := g.Float32()
		if err != nil {
			t.Fatal(err)
		}
		rs[i] = ref.New(g.DType, g.Shape...)
		for j, x := range v {
			rs[i].Data[j] = float64(x)
		}
	}
	a, err := ref.DequantizeNF4Stats(rs[0], rs[1], rs[2], float64(st.Offset))
	if err != nil {
		t.Fatal(err)
	}
	return a, rs[1].Data
}

// TestReplaceLinearLayersNF4Compressed quantises a FeedForward's two
// projections to NF4 with compressed statistics: fewer parameter bytes
// than plain NF4, and the output of the float64 emulation.
func TestReplaceLinearLayersNF4Compressed(t *testing.T) {
	d := testDevice(t)
	cfg := FeedForwardConfig{Dim: 256, ActivationFn: "gelu"}
	rng := rand.New(rand.NewSource(13))
	inW, inB, outW, outB := ffWeights(rng, dtype.F32, cfg)
	x := randTensor(rng, dtype.F32, []int{3, 256}, 1, 0)
	build := func() *FeedForward {
		pin, _ := NewLinear(upload(t, d, inW), upload(t, d, inB))
		pout, _ := NewLinear(upload(t, d, outW), upload(t, d, outB))
		ff, err := NewFeedForward(cfg, pin, pout)
		if err != nil {
			t.Fatal(err)
		}
		return ff
	}
	plain, packed := build(), build()
	if n, err := ReplaceLinearLayersNF4(plain, nil); err != nil || n != 2 {
		t.Fatalf("plain: replaced %d layers, err %v", n, err)
	}
	if n, err := ReplaceLinearLayersNF4Compressed(packed, nil); err != nil || n != 2 {
		t.Fatalf("compressed: replaced %d layers, err %v", n, err)
	}
	pb, cb := ParameterBytes(plain), ParameterBytes(packed)
	t.Logf("FeedForward(dim 256) NF4 parameters: %d bytes, %d with compressed statistics", pb, cb)
	if cb >= pb {
		t.Fatalf("compressed statistics take %d bytes, plain %d", cb, pb)
	}
	var layers []*LinearNF4 // proj_out (the FeedForward's own), then proj_in (its activation's)
	var walk func(Module)
	walk = func(m Module) {
		for _, p := range m.Projections() {
			l, ok := (*p).(*LinearNF4)
			if !ok || l.Stats == nil || l.Absmax != nil {
				t.Fatalf("%T without compressed statistics", *p)
			}
			layers = append(layers, l)
		}
		for _, c := range m.Children() {
			walk(c)
		}
	}
	walk(packed)
	if len(layers) != 2 || layers[0].Out != outW.Shape[0] {
		t.Fatalf("%d NF4 layers, the first with %d outputs", len(layers), layers[0].Out)
	}
	h := x
	for i, l := range []*LinearNF4{layers[1], layers[0]} {
		a, _ := expandStats(t, *l.Stats)
		w, b := []*ref.Tensor{inW, outW}[i], []*ref.Tensor{inB, outB}[i]
		q, _, _ := ref.QuantizeNF4(w, NF4BlockSize)
		var err error
		if h, err = ref.LinearNF4(h, q, a, b, w.Shape[0], NF4BlockSize); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			h, _ = ref.Activation(h, "gelu")
		}
	}
	y, err := packed.Forward(upload(t, d, x))
	if err != nil {
		t.Fatal(err)
	}
	expectClose(t, y, h, matmulTol(dtype.F32))
}

// TestDequantizeNF4StatsMatchesReference expands compressed statistics of
// 1, 300 and 1000 blocks (not whole blocks of 256) into guarded outputs.
func TestDequantizeNF4StatsMatchesReference(t *testing.T) {
	d := testDevice(t)
	for i, nk := range [][2]int{{1, 64}, {300, 64}, {125, 512}} {
		t.Run(fmt.Sprint(nk), func(t *testing.T) {
			gputest.Guard(t, d)
			_, st, want := compressedStats(t, d, rand.New(rand.NewSource(int64(80+i))), nk[0], nk[1])
			a, err := DequantizeNF4Stats(st, want.Numel())
			if err != nil {
				t.Fatal(err)
			}
			expectClose(t, a, want, tol{Rtol: 2e-7}) // an fma may fuse the product and the offset
		})
	}
}

// TestLinearNF4CompressedMatchesReference runs NF4 layers with compressed
// statistics through the GEMV (M <= 8) and the tiled path, every float
// dtype, into guarded outputs.
func TestLinearNF4CompressedMatchesReference(t *testing.T) {
	d := testDevice(t)
	shapes := []struct{ m, n, k int }{{1, 5, 64}, {3, 40, 512}, {33, 70, 100}, {8, 600, 64}}
	for _, dt := range floatStorage {
		for i, s := range shapes {
			t.Run(fmt.Sprintf("%v/%dx%dx%d", dt, s.m, s.n, s.k), func(t *testing.T) {
				gputest.Guard(t, d)
				rng := rand.New(rand.NewSource(int64(90 + i)))
				x := randTensor(rng, dt, []int{s.m, s.k}, 1, 0)
				b := randTensor(rng, dt, []int{s.n}, 1, 0)
				wq, st, a := compressedStats(t, d, rng, s.n, s.k)
				want, err := ref.LinearNF4(x, wq, a, b, s.n, NF4BlockSize)
				if err != nil {
					t.Fatal(err)
				}
				y, err := LinearNF4CompressedForward(upload(t, d, x), upload(t, d, wq), st, upload(t, d, b), s.n, 0)
				if err != nil {
					t.Fatal(err)
				}
				expectClose(t, y, want, matmulTol(dt))
			})
		}
	}
}

func TestNF4StatsBadInputIsAnError(t *testing.T) {
	d := testDevice(t)
	w, _ := d.NewTensor(dtype.U8, 64)
	codes, _ := d.NewTensor(dtype.U8, 2)
	scale, _ := d.NewTensor(dtype.F32, 1)
	code, _ := d.NewTensor(dtype.F32, 256)
	short, _ := d.NewTensor(dtype.F32, 16)
	ok := NF4Stats{Codes: codes, Scale: scale, Code: code}
	cases := []struct {
		name  string
		stats NF4Stats
		want  string
	}{
		{"codes", NF4Stats{Codes: scale, Scale: scale, Code: code}, "ops.LinearNF4: stats.codes: want u8 [2]"},
		{"scale", NF4Stats{Codes: codes, Code: code}, "ops.LinearNF4: stats.scale: want f32 [1]"},
		{"code", NF4Stats{Codes: codes, Scale: scale, Code: short}, "ops.LinearNF4: stats.code: want the f32 [256] code table"},
		{"offset", NF4Stats{Codes: codes, Scale: scale, Code: code, Offset: float32(math.Inf(1))}, "ops.LinearNF4: stats.offset: +Inf is not finite"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewLinearNF4Compressed(w, c.stats, nil, 2, 64, 0)
			if _, isOps := err.(*Error); !isOps || !contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an *ops.Error containing %q", err, c.want)
			}
		})
	}
	if _, err := NewLinearNF4Compressed(w, ok, nil, 2, 64, 0); err != nil {
		t.Fatalf("valid stats: %v", err)
	}
	if _, err := QuantizeNF4Stats(codes); err == nil || !contains(err.Error(), "ops.QuantizeNF4Stats: absmax: want a non-empty f32 tensor") {
		t.Fatalf("u8 absmax: %v", err)
	}
}
