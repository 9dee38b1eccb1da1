package ops

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/launch"
	"github.com/webfuser/webfuser/ops/ref"
)

// expectCodes checks int8 codes and scales exactly against the reference.
func expectCodes(t *testing.T, q, s *Tensor, wantQ, wantS *ref.Tensor) {
	t.Helper()
	got, err := Int8Values(q)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(wantQ.Data) {
		t.Fatalf("got %d codes, want %d", len(got), len(wantQ.Data))
	}
	for i, w := range wantQ.Data {
		if float64(got[i]) != w {
			t.Fatalf("code %d: got %d, want %v", i, got[i], w)
		}
	}
	sv, err := s.Float32()
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range wantS.Data {
		if float64(sv[i]) != w {
			t.Fatalf("scale %d: got %g, want %g", i, sv[i], w)
		}
	}
}

// TestQuantizeInt8MatchesReference quantises odd shapes of every float
// dtype, a zero row and exact halves (which round to even), into
// guarded outputs, and compares codes and scales bit for bit.
func TestQuantizeInt8MatchesReference(t *testing.T) {
	d := testDevice(t)
	gputest.Guard(t, d)
	rng := rand.New(rand.NewSource(8))
	for _, dt := range floatStorage {
		for _, shape := range [][]int{{1, 4}, {3, 8}, {7, 36}, {5, 260}, {2, 1028}} {
			x := randTensor(rng, dt, shape, 1.5, 0.1)
			if shape[0] > 2 {
				for c := 0; c < shape[1]; c++ {
					x.Data[shape[1]+c] = 0 // a zero row: scale 0, codes 0
				}
			}
			wq, ws, err := QuantizeInt8(upload(t, d, x))
			if err != nil {
				t.Fatal(err)
			}
			wantQ, wantS, err := ref.QuantizeInt8Rows(x)
			if err != nil {
				t.Fatal(err)
			}
			expectCodes(t, wq, ws, wantQ, wantS)
		}
	}
	// max 127 gives scale 1: the halves are ties, rounded to even.
	ties := []float32{127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5}
	want := []int8{127, 0, 2, 2, 0, -2, -2, 126}
	x, err := d.Upload(dtype.F32, []int{1, 8}, ties)
	if err != nil {
		t.Fatal(err)
	}
	q, s, err := QuantizeInt8(x)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Int8Values(q)
	if err != nil {
		t.Fatal(err)
	}
	sv, _ := s.Float32()
	for i := range want {
		if got[i] != want[i] || sv[0] != 1 {
			t.Fatalf("ties %v: got codes %v scale %v, want %v scale 1", ties, got, sv, want)
		}
	}
}

// w8a8Case uploads x and the reference's weight codes and scales.
func w8a8Case(t *testing.T, d *gpu.Device, rng *rand.Rand, dt dtype.DType, xShape []int, n int, withBias bool) (x, wq, ws, b *Tensor, rx, rq, rs, rb *ref.Tensor) {
	k := xShape[len(xShape)-1]
	rx = randTensor(rng, dt, xShape, 1, 0.2)
	w := randTensor(rng, dtype.F32, []int{n, k}, 0.05, 0)
	var err error
	if rq, rs, err = ref.QuantizeInt8Rows(w); err != nil {
		t.Fatal(err)
	}
	codes := make([]byte, len(rq.Data))
	for i, v := range rq.Data {
		codes[i] = byte(int8(v))
	}
	if wq, err = d.UploadBytes(dtype.U8, []int{n, k}, codes); err != nil {
		t.Fatal(err)
	}
	ws = upload(t, d, rs)
	if withBias {
		rb = randTensor(rng, dtype.F32, []int{n}, 0.5, 0)
		b = upload(t, d, rb)
	}
	return upload(t, d, rx), wq, ws, b, rx, rq, rs, rb
}

// w8a8Want returns the reference y and, for the tolerance, the product
// without the bias (prod) and the linear output before the epilogue's
// activation or gate (h).
func w8a8Want(t *testing.T, rx, rq, rs, rb *ref.Tensor) (want, prod *ref.Tensor) {
	t.Helper()
	want, err := ref.LinearW8A8(rx, rq, rs, rb)
	if err != nil {
		t.Fatal(err)
	}
	if prod, err = ref.LinearW8A8(rx, rq, rs, nil); err != nil {
		t.Fatal(err)
	}
	return want, prod
}

// unitRoundoff is half an ulp at 1 of a storage dtype.
func unitRoundoff(dt dtype.DType) float64 {
	switch dt {
	case dtype.BF16:
		return 0x1p-8
	case dtype.F16:
		return 0x1p-11
	}
	return 0x1p-24
}

// w8a8Tol bounds |got - want| of a W8A8 output: the integer sums are
// exact, so only the f32 epilogue (acc to f32, two products, the bias)
// differs from the float64 reference, by a few f32 units of the product
// prod and of h (the linear output before an activation or gate), plus
// one unit of the output dtype where a rounding of h, of gate * h or of
// y lands on the other side (gate: the largest |gate|, 0 without one),
// plus the f32 activation's own error.
type w8a8Tol struct {
	dt   dtype.DType
	gate float64
	act  bool
}

func (w w8a8Tol) at(want, h, prod float64) float64 {
	u := unitRoundoff(w.dt)
	g := math.Max(w.gate, 1)
	tl := 4*0x1p-24*g*(math.Abs(prod)+math.Abs(h)+math.Abs(want)) + 4*u*(math.Abs(want)+g*math.Abs(h))
	if w.act {
		tl += 2e-6 * (1 + math.Abs(h))
	}
	return tl
}

// expectW8A8 checks y (x's dtype) against the reference want elementwise
// within tl, h and prod as w8a8Tol takes them.
func expectW8A8(t *testing.T, y *Tensor, want, h, prod *ref.Tensor, tl w8a8Tol) {
	t.Helper()
	if y.DType != tl.dt || !sameShape(y.Shape, want.Shape) {
		t.Fatalf("got %v, want %v%v", y, tl.dt, want.Shape)
	}
	got, err := y.Float32()
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want.Data {
		if e := tl.at(w, h.Data[i], prod.Data[i]); math.Abs(float64(got[i])-w) > e || math.IsNaN(float64(got[i])) {
			t.Fatalf("element %d: got %g, want %g (tolerance %g)", i, got[i], w, e)
		}
	}
}

// absMax returns the largest |v| of a reference tensor.
func absMax(r *ref.Tensor) float64 {
	m := 0.0
	for _, v := range r.Data {
		m = math.Max(m, math.Abs(v))
	}
	return m
}

// runW8A8Plan validates s and runs it with the launch p (tests force
// either variant).
func runW8A8Plan(s *w8a8Spec, p launch.W8A8) (*Tensor, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.run(p)
}

// expectW8A8Plans runs s with every launch of plans, then the public
// call, and checks each result with expectW8A8.
func expectW8A8Plans(t *testing.T, plans map[string]launch.W8A8, s w8a8Spec, public func() (*Tensor, error), want, h, prod *ref.Tensor, tl w8a8Tol) {
	t.Helper()
	for name, p := range plans {
		sp := s
		y, err := runW8A8Plan(&sp, p)
		if err != nil {
			t.Fatalf("%s %v x %v, %s launch: %v", s.op, s.x, s.wq.Shape, name, err)
		}
		expectW8A8(t, y, want, h, prod, tl)
	}
	y, err := public()
	if err != nil {
		t.Fatalf("%s %v x %v: %v", s.op, s.x, s.wq.Shape, err)
	}
	expectW8A8(t, y, want, h, prod, tl)
}

// w8a8Plans returns the plain launch and, where the device offers one,
// the tensor-core launch ChooseW8A8 picks for m x n x k.
func w8a8Plans(d *gpu.Device, m, n, k int) map[string]launch.W8A8 {
	plans := map[string]launch.W8A8{"plain": {}}
	if p := launch.ChooseW8A8(d, m, n, k); p.Matrix {
		plans["matrix"] = p
	}
	return plans
}

// TestLinearW8A8MatchesReference runs the plain kernel everywhere and
// the subgroup-matrix kernel where the device offers it, on odd shapes
// with and without bias, into guarded outputs of x's dtype.
func TestLinearW8A8MatchesReference(t *testing.T) {
	d := testDevice(t)
	gputest.Guard(t, d)
	rng := rand.New(rand.NewSource(88))
	cases := []struct {
		x []int
		n int
	}{{[]int{1, 4}, 1}, {[]int{3, 8}, 5}, {[]int{2, 3, 36}, 7}, {[]int{17, 64}, 16}, {[]int{33, 96}, 48}, {[]int{5, 7, 128}, 64}}
	for _, dt := range floatStorage {
		for _, c := range cases {
			for _, withBias := range []bool{false, true} {
				x, wq, ws, b, rx, rq, rs, rb := w8a8Case(t, d, rng, dt, c.x, c.n, withBias)
				k := c.x[len(c.x)-1]
				want, prod := w8a8Want(t, rx, rq, rs, rb)
				tl := w8a8Tol{dt: dt}
				expectW8A8Plans(t, w8a8Plans(d, x.Numel()/k, c.n, k), w8a8Spec{op: "LinearW8A8", x: x, wq: wq, ws: ws, b: b},
					func() (*Tensor, error) { return LinearW8A8(x, wq, ws, b) }, want, want, prod, tl)
			}
		}
	}
}

// TestLinearW8A8EpiloguesMatchReference checks the activation and the
// gate+residual epilogues (every gate broadcast) against the float64
// composition of ref.LinearW8A8 with ref.Activation and
// ref.GateResidual, with both launches, every float dtype and odd
// shapes, into guarded outputs; the layer (LinearInt8) runs the same.
func TestLinearW8A8EpiloguesMatchReference(t *testing.T) {
	d := testDevice(t)
	gputest.Guard(t, d)
	rng := rand.New(rand.NewSource(89))
	for _, dt := range floatStorage {
		for _, c := range []struct {
			x []int
			n int
		}{{[]int{2, 3, 8}, 5}, {[]int{2, 17, 64}, 48}, {[]int{1, 33, 96}, 64}} {
			x, wq, ws, b, rx, rq, rs, rb := w8a8Case(t, d, rng, dt, c.x, c.n, true)
			k := c.x[len(c.x)-1]
			h, prod := w8a8Want(t, rx, rq, rs, rb)
			plans := w8a8Plans(d, x.Numel()/k, c.n, k)
			layer, err := NewLinearInt8(wq, ws, b)
			if err != nil {
				t.Fatal(err)
			}
			for _, act := range []Activation{ActGELUTanh, ActSiLU, ActGELU} {
				want, err := ref.LinearW8A8Act(rx, rq, rs, rb, act.String())
				if err != nil {
					t.Fatal(err)
				}
				expectW8A8Plans(t, plans, w8a8Spec{op: "LinearW8A8Act", x: x, wq: wq, ws: ws, b: b, act: act},
					func() (*Tensor, error) { return layer.ForwardAct(x, act) }, want, h, prod, w8a8Tol{dt: dt, act: true})
			}
			B, n := c.x[0], c.n
			out := append(append([]int{}, c.x[:len(c.x)-1]...), n)
			for _, gs := range [][]int{{n}, {B, n}, {B, 1, n}, out} {
				rg := randTensor(rng, dt, gs, 0.7, 0)
				rr := randTensor(rng, dt, out, 1, 0)
				g, r := upload(t, d, rg), upload(t, d, rr)
				want, err := ref.LinearW8A8GateResidual(rx, rq, rs, rb, rg, rr)
				if err != nil {
					t.Fatal(err)
				}
				expectW8A8Plans(t, plans, w8a8Spec{op: "LinearW8A8GateResidual", x: x, wq: wq, ws: ws, b: b, gr: &GateResidual{g, r}},
					func() (*Tensor, error) { return layer.ForwardGateResidual(x, g, r) }, want, h, prod, w8a8Tol{dt: dt, gate: absMax(rg)})
			}
		}
	}
}

// TestW8A8DequantizeEpilogues runs the tensor-core launch's epilogue
// kernel on every device: i32 products computed on the host from the
// reference codes (rows padded past M, as the tensor-core GEMM leaves
// them) go through dequantize with bias, activation or gate+residual,
// into guarded outputs, against the float64 composition.
func TestW8A8DequantizeEpilogues(t *testing.T) {
	d := testDevice(t)
	gputest.Guard(t, d)
	rng := rand.New(rand.NewSource(90))
	for _, dt := range floatStorage {
		B, S, k, n := 2, 9, 64, 24
		x, wq, ws, b, rx, rq, rs, rb := w8a8Case(t, d, rng, dt, []int{B, S, k}, n, true)
		m, mp := B*S, B*S+14
		xq, sx, err := ref.QuantizeInt8Rows(rx)
		if err != nil {
			t.Fatal(err)
		}
		sxp := make([]float32, mp)
		acc := make([]byte, 4*mp*n)
		for r := 0; r < mp; r++ {
			for j := 0; j < n; j++ {
				v := int32(-7 * (r + j)) // padding rows: any value, never read
				if r < m {
					sxp[r] = float32(sx.Data[r])
					v = 0
					for c := 0; c < k; c++ {
						v += int32(xq.Data[r*k+c]) * int32(rq.Data[j*k+c])
					}
				}
				binary.LittleEndian.PutUint32(acc[4*(r*n+j):], uint32(v))
			}
		}
		c, err := d.UploadBytes(dtype.I32, []int{mp, n}, acc)
		if err != nil {
			t.Fatal(err)
		}
		sxt, err := d.Upload(dtype.F32, []int{mp}, sxp)
		if err != nil {
			t.Fatal(err)
		}
		h, prod := w8a8Want(t, rx, rq, rs, rb)
		rg := randTensor(rng, dt, []int{B, 1, n}, 0.7, 0)
		rr := randTensor(rng, dt, []int{B, S, n}, 1, 0)
		wantAct, err := ref.LinearW8A8Act(rx, rq, rs, rb, "gelu_tanh")
		if err != nil {
			t.Fatal(err)
		}
		wantGR, err := ref.LinearW8A8GateResidual(rx, rq, rs, rb, rg, rr)
		if err != nil {
			t.Fatal(err)
		}
		for _, c2 := range []struct {
			s    w8a8Spec
			want *ref.Tensor
			tl   w8a8Tol
		}{
			{w8a8Spec{op: "LinearW8A8", x: x, wq: wq, ws: ws, b: b}, h, w8a8Tol{dt: dt}},
			{w8a8Spec{op: "LinearW8A8Act", x: x, wq: wq, ws: ws, b: b, act: ActGELUTanh}, wantAct, w8a8Tol{dt: dt, act: true}},
			{w8a8Spec{op: "LinearW8A8GateResidual", x: x, wq: wq, ws: ws, b: b, gr: &GateResidual{upload(t, d, rg), upload(t, d, rr)}}, wantGR, w8a8Tol{dt: dt, gate: absMax(rg)}},
		} {
			s := c2.s
			if err := s.check(); err != nil {
				t.Fatal(err)
			}
			y, err := s.dequantize(c, sxt)
			if err != nil {
				t.Fatalf("%s %s: %v", dt, s.op, err)
			}
			expectW8A8(t, y, c2.want, h, prod, c2.tl)
		}
	}
}

// TestLinearW8A8Rejects checks that bad operands are errors naming the
// tensor, never panics.
func TestLinearW8A8Rejects(t *testing.T) {
	d := testDevice(t)
	rng := rand.New(rand.NewSource(3))
	x, wq, ws, b, _, _, _, _ := w8a8Case(t, d, rng, dtype.F32, []int{2, 8}, 4, true)
	x6 := upload(t, d, randTensor(rng, dtype.F32, []int{2, 6}, 1, 0))
	wf := upload(t, d, randTensor(rng, dtype.F32, []int{4, 8}, 1, 0))
	b3 := upload(t, d, randTensor(rng, dtype.F32, []int{3}, 1, 0))
	for _, c := range []struct {
		name            string
		x, wq, ws, bias *Tensor
		tensor          string
	}{
		{"nil x", nil, wq, ws, b, "x"},
		{"float weight", x, wf, ws, b, "wq"},
		{"K mismatch", x6, wq, ws, b, "x"},
		{"scale shape", x, wq, b3, nil, "wscale"},
		{"bias shape", x, wq, ws, b3, "bias"},
	} {
		_, err := LinearW8A8(c.x, c.wq, c.ws, c.bias)
		var e *Error
		if !errors.As(err, &e) || e.Tensor != c.tensor {
			t.Errorf("%s: got %v, want an error naming %s", c.name, err, c.tensor)
		}
	}
	// The epilogues' operands: gate and residual shapes, the activation.
	g5 := upload(t, d, randTensor(rng, dtype.F32, []int{5}, 1, 0))
	r24 := upload(t, d, randTensor(rng, dtype.F32, []int{2, 4}, 1, 0))
	r23 := upload(t, d, randTensor(rng, dtype.F32, []int{2, 3}, 1, 0))
	g4 := upload(t, d, randTensor(rng, dtype.F32, []int{4}, 1, 0))
	for _, c := range []struct {
		name   string
		run    func() (*Tensor, error)
		tensor string
	}{
		{"gate shape", func() (*Tensor, error) { return LinearW8A8GateResidual(x, wq, ws, b, g5, r24) }, "gate"},
		{"residual shape", func() (*Tensor, error) { return LinearW8A8GateResidual(x, wq, ws, b, g4, r23) }, "residual"},
		{"nil gate", func() (*Tensor, error) { return LinearW8A8GateResidual(x, wq, ws, b, nil, r24) }, "gate"},
		{"unknown activation", func() (*Tensor, error) { return LinearW8A8Act(x, wq, ws, b, Activation(99)) }, ""},
		{"layer of float weights", func() (*Tensor, error) { _, err := NewLinearInt8(wf, ws, b); return nil, err }, "wq"},
		{"layer scale shape", func() (*Tensor, error) { _, err := NewLinearInt8(wq, b3, nil); return nil, err }, "wscale"},
		{"layer bias shape", func() (*Tensor, error) { _, err := NewLinearInt8(wq, ws, b3); return nil, err }, "bias"},
	} {
		_, err := c.run()
		var e *Error
		if !errors.As(err, &e) || e.Tensor != c.tensor {
			t.Errorf("%s: got %v, want an error naming %q", c.name, err, c.tensor)
		}
	}
	// A tensor-core launch whose blocks do not tile the product is an
	// error before any kernel is built (n = 4 against blocks of 64 columns).
	bad := launch.W8A8{Matrix: true, Shape: gpu.MatrixShape{M: 16, N: 16, K: 32}, RM: 1, RN: 4, WG: 32}
	if _, err := runW8A8Plan(&w8a8Spec{op: "LinearW8A8", x: x, wq: wq, ws: ws, b: b}, bad); err == nil {
		t.Error("a launch that does not tile 2x4x8: no error")
	}
	if _, _, err := QuantizeInt8(nil); err == nil {
		t.Error("QuantizeInt8 of a nil weight: no error")
	}
}

// TestChooseW8A8 checks the launch choice: the plain kernel without i8
// configurations or subgroup size, the tensor-core kernel where K and N
// fit a configuration, RN as large as N allows.
func TestChooseW8A8(t *testing.T) {
	sm := gpu.Features{SubgroupMatrixI8: []gpu.MatrixShape{{M: 16, N: 16, K: 32}, {M: 16, N: 8, K: 32}}, SubgroupMaxSize: 32}
	smSG := sm // subgroups of one size (NVIDIA): the staged kernel where it tiles
	smSG.Subgroups, smSG.SubgroupMinSize = true, 32
	smVar := smSG
	smVar.SubgroupMinSize = 16
	for _, c := range []struct {
		name    string
		f       gpu.Features
		m, n, k int
		want    launch.W8A8
	}{
		{"no feature", gpu.Features{SubgroupMaxSize: 32}, 64, 64, 64, launch.W8A8{}},
		{"no subgroup size", gpu.Features{SubgroupMatrixI8: sm.SubgroupMatrixI8}, 64, 64, 64, launch.W8A8{}},
		{"K not a multiple of 32", sm, 64, 64, 48, launch.W8A8{}},
		{"N16", sm, 4096, 3072, 4096, launch.W8A8{Matrix: true, Shape: gpu.MatrixShape{M: 16, N: 16, K: 32}, RM: 2, RN: 4, WG: 32}},
		{"N 48", sm, 4096, 48, 64, launch.W8A8{Matrix: true, Shape: gpu.MatrixShape{M: 16, N: 16, K: 32}, RM: 2, RN: 1, WG: 32}},
		{"N 8 only, one row", sm, 3, 24, 64, launch.W8A8{Matrix: true, Shape: gpu.MatrixShape{M: 16, N: 8, K: 32}, RM: 1, RN: 1, WG: 32}},
		{"N 4", sm, 3, 4, 64, launch.W8A8{}},
		{"staged", smSG, 4096, 3072, 4096, launch.W8A8{Matrix: true, Shape: gpu.MatrixShape{M: 16, N: 16, K: 32}, RM: 2, RN: 2, WG: 32, Staged: true, SMY: 2, SNX: 2, KS: 1}},
		{"staged, too few rows", smSG, 32, 3072, 4096, launch.W8A8{Matrix: true, Shape: gpu.MatrixShape{M: 16, N: 16, K: 32}, RM: 2, RN: 4, WG: 32}},
		{"staged, N not 64s", smSG, 4096, 48, 64, launch.W8A8{Matrix: true, Shape: gpu.MatrixShape{M: 16, N: 16, K: 32}, RM: 2, RN: 1, WG: 32}},
		{"subgroup size not fixed", smVar, 4096, 3072, 4096, launch.W8A8{Matrix: true, Shape: gpu.MatrixShape{M: 16, N: 16, K: 32}, RM: 2, RN: 4, WG: 32}},
	} {
		d := &gpu.Device{Features: c.f}
		got := launch.ChooseW8A8(d, c.m, c.n, c.k)
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
		if got.Matrix && (!got.Fits(c.n, c.k) || got.PadRows(c.m)%got.BlockM() != 0 || got.PadRows(c.m) < c.m || got.PadRows(c.m)-c.m >= got.BlockM()) {
			t.Errorf("%s: %+v does not tile %dx%dx%d (rows padded to %d)", c.name, got, c.m, c.n, c.k, got.PadRows(c.m))
		}
		if !got.Matrix && got.PadRows(c.m) != c.m {
			t.Errorf("%s: the plain kernel pads %d rows to %d", c.name, c.m, got.PadRows(c.m))
		}
	}
}

// TestTransposeCodes checks the [N, K] -> [K, N] byte transpose the WT
// tensor-core launches read, against a host transpose, guarded.
func TestTransposeCodes(t *testing.T) {
	d := testDevice(t)
	gputest.Guard(t, d)
	rng := rand.New(rand.NewSource(5))
	for _, c := range [][2]int{{4, 1}, {8, 3}, {12, 36}, {64, 96}} {
		n, k := c[0], c[1]
		src := make([]byte, n*k)
		rng.Read(src)
		wq, err := d.UploadBytes(dtype.U8, []int{n, k}, src)
		if err != nil {
			t.Fatal(err)
		}
		q, err := transposeCodes(wq)
		if err != nil {
			t.Fatal(err)
		}
		got, err := q.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if !sameShape(q.Shape, []int{k, n}) {
			t.Fatalf("shape %v, want [%d %d]", q.Shape, k, n)
		}
		for r := 0; r < k; r++ {
			for j := 0; j < n; j++ {
				if got[r*n+j] != src[j*k+r] {
					t.Fatalf("%dx%d: [%d][%d] = %d, want %d", n, k, r, j, got[r*n+j], src[j*k+r])
				}
			}
		}
	}
}

// TestLinearModes checks the mode names, their parsing and Resolve's
// choice on devices with and without i8 subgroup-matrix configurations
// (the same predicate ChooseW8A8 applies).
func TestLinearModes(t *testing.T) {
	for _, s := range []string{"exact", "W8A8", " auto"} {
		m, err := ParseLinearMode(s)
		if err != nil || !strings.EqualFold(m.String(), strings.TrimSpace(s)) {
			t.Errorf("%q: got %v, %v", s, m, err)
		}
	}
	if _, err := ParseLinearMode("int4"); err == nil {
		t.Error(`"int4": no error`)
	}
	tc := &gpu.Device{Features: gpu.Features{SubgroupMatrixI8: []gpu.MatrixShape{{M: 16, N: 8, K: 32}}, SubgroupMaxSize: 32}}
	noSize := &gpu.Device{Features: gpu.Features{SubgroupMatrixI8: tc.Features.SubgroupMatrixI8}}
	otherShape := &gpu.Device{Features: gpu.Features{SubgroupMatrixI8: []gpu.MatrixShape{{M: 8, N: 8, K: 32}}, SubgroupMaxSize: 32}}
	for _, c := range []struct {
		d    *gpu.Device
		m    LinearMode
		want LinearMode
	}{
		{tc, LinearModeAuto, LinearModeW8A8},
		{noSize, LinearModeAuto, LinearModeExact},
		{otherShape, LinearModeAuto, LinearModeExact},
		{&gpu.Device{}, LinearModeAuto, LinearModeExact},
		{&gpu.Device{}, LinearModeW8A8, LinearModeW8A8},
		{tc, LinearModeExact, LinearModeExact},
	} {
		if got := c.m.Resolve(c.d); got != c.want {
			t.Errorf("%v on %+v: got %v, want %v", c.m, c.d.Features, got, c.want)
		}
		if HasInt8TensorCores(c.d) != launch.ChooseW8A8(c.d, 64, 64, 64).Matrix {
			t.Errorf("%+v: HasInt8TensorCores disagrees with ChooseW8A8 at 64³", c.d.Features)
		}
	}
}
