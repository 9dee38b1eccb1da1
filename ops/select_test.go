package ops

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops/ref"
)

// randIndex returns a [B,L] selection index of dtype dt (u8 or i32) with
// random 0/1 entries.
func randIndex(rng *rand.Rand, dt dtype.DType, b, l int) *ref.Tensor {
	t := ref.New(dt, b, l)
	for i := range t.Data {
		t.Data[i] = float64(rng.Intn(2))
	}
	return t
}

// randSelect returns random reference sets for x [B,L,C] and their upload.
func randSelect(t *testing.T, d *gpu.Device, rng *rand.Rand, dt, idt dtype.DType, b, l, c int) (ref.GateSelectSets, GateSelect) {
	r := ref.GateSelectSets{}
	for _, p := range []**ref.Tensor{&r.Scale0, &r.Shift0, &r.Gate0, &r.Scale1, &r.Shift1, &r.Gate1} {
		*p = randTensor(rng, dt, []int{b, c}, 1, 0)
	}
	r.Index = randIndex(rng, idt, b, l)
	g := GateSelect{upload(t, d, r.Scale0), upload(t, d, r.Shift0), upload(t, d, r.Gate0),
		upload(t, d, r.Scale1), upload(t, d, r.Shift1), upload(t, d, r.Gate1), upload(t, d, r.Index)}
	return r, g
}

// TestGateSelectMatchesReference runs the three gate-select operators on
// odd shapes, every float dtype, both index dtypes, with and without
// the LayerNorm's weight and bias, into guarded outputs.
func TestGateSelectMatchesReference(t *testing.T) {
	d := testDevice(t)
	shapes := [][3]int{{1, 1, 1}, {2, 7, 5}, {3, 5, 12}, {2, 3, 16}, {1, 2, 1000}, {2, 3, 520}}
	if testing.Short() {
		shapes = shapes[:4]
	}
	for _, dt := range floatStorage {
		for si, sh := range shapes {
			B, L, C := sh[0], sh[1], sh[2]
			idt := dtype.U8
			if si%2 == 1 {
				idt = dtype.I32
			}
			affine := si % 3 // 0: none, 1: weight, 2: weight and bias
			t.Run(fmt.Sprintf("%v/%dx%dx%d/%v/affine=%d", dt, B, L, C, idt, affine), func(t *testing.T) {
				gputest.Guard(t, d)
				rng := rand.New(rand.NewSource(int64(7 + si)))
				x := randTensor(rng, dt, []int{B, L, C}, 2, 0.5)
				res := randTensor(rng, dt, []int{B, L, C}, 1, 0)
				rg := randTensor(rng, dt, []int{B, L, C}, 1, 0)
				var w, bias *ref.Tensor
				if affine > 0 {
					w = randTensor(rng, dt, []int{C}, 0.5, 1)
				}
				if affine > 1 {
					bias = randTensor(rng, dt, []int{C}, 0.5, 0)
				}
				rs, gs := randSelect(t, d, rng, dt, idt, B, L, C)
				gx, gw, gb := upload(t, d, x), upload(t, d, w), upload(t, d, bias)
				tl := tolFor(dt)

				wy, wg, err := ref.ScaleShiftGateSelect(x, rs)
				if err != nil {
					t.Fatal(err)
				}
				y, g, err := ScaleShiftGateSelect(gx, gs)
				if err != nil {
					t.Fatal(err)
				}
				expectClose(t, y, wy, tl)
				expectClose(t, g, wg, tol{})

				wy, wg, err = ref.LayerNormScaleShiftGateSelect(x, w, bias, 1e-6, rs)
				if err != nil {
					t.Fatal(err)
				}
				y, g, err = LayerNormScaleShiftGateSelect(gx, gw, gb, 1e-6, gs)
				if err != nil {
					t.Fatal(err)
				}
				expectClose(t, y, wy, tl)
				expectClose(t, g, wg, tol{})

				wy, wr, wg, err := ref.ResidualLayerNormScaleShiftGateSelect(x, res, rg, w, bias, 1e-6, rs)
				if err != nil {
					t.Fatal(err)
				}
				y, r, g, err := ResidualLayerNormScaleShiftGateSelect(gx, upload(t, d, res), upload(t, d, rg), gw, gb, 1e-6, gs)
				if err != nil {
					t.Fatal(err)
				}
				expectClose(t, y, wy, tl)
				expectClose(t, r, wr, tl)
				expectClose(t, g, wg, tol{})
			})
		}
	}
}

// TestGateSelectSpecialValues checks TeleFuser's own cases: an all-ones x
// whose gated residual is constant (LayerNorm of a constant row is 0),
// and scale/shift/gate sets of zeros and ones.
func TestGateSelectSpecialValues(t *testing.T) {
	d := testDevice(t)
	gputest.Guard(t, d)
	B, L, C := 2, 16, 64
	fill := func(v float64, shape ...int) *ref.Tensor {
		r := ref.New(dtype.BF16, shape...)
		for i := range r.Data {
			r.Data[i] = v
		}
		return r
	}
	rs := ref.GateSelectSets{Scale0: fill(0, B, C), Shift0: fill(0, B, C), Gate0: fill(0, B, C),
		Scale1: fill(1, B, C), Shift1: fill(1, B, C), Gate1: fill(1, B, C), Index: ref.New(dtype.U8, B, L)}
	for b := 0; b < B; b++ {
		for l := L / 2; l < L; l++ {
			rs.Index.Data[b*L+l] = 1
		}
	}
	gs := GateSelect{upload(t, d, rs.Scale0), upload(t, d, rs.Shift0), upload(t, d, rs.Gate0),
		upload(t, d, rs.Scale1), upload(t, d, rs.Shift1), upload(t, d, rs.Gate1), upload(t, d, rs.Index)}
	x := fill(1, B, L, C)
	y, r, g, err := ResidualLayerNormScaleShiftGateSelect(upload(t, d, x), upload(t, d, fill(0, B, L, C)), upload(t, d, fill(1, B, L, C)), nil, nil, 1e-6, gs)
	if err != nil {
		t.Fatal(err)
	}
	// Set 0 is the identity, set 1 gives 2*0+1 = 1 on a normalised zero row.
	wy := ref.New(dtype.BF16, B, L, C)
	for i := range wy.Data {
		if (i/C)%L >= L/2 {
			wy.Data[i] = 1
		}
	}
	expectClose(t, y, wy, tol{})
	expectClose(t, r, fill(1, B, L, C), tol{})
	expectClose(t, g, wy, tol{})
}

func TestGateSelectBadInputIsAnError(t *testing.T) {
	d := testDevice(t)
	x, _ := d.NewTensor(dtype.F32, 2, 3, 8)
	m, _ := d.NewTensor(dtype.F32, 2, 8)
	m3, _ := d.NewTensor(dtype.F32, 3, 8)
	idx, _ := d.NewTensor(dtype.U8, 2, 3)
	fidx, _ := d.NewTensor(dtype.F32, 2, 3)
	good := GateSelect{m, m, m, m, m, m, idx}
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"set shape", func() error {
			s := good
			s.Gate1 = m3
			_, _, e := ScaleShiftGateSelect(x, s)
			return e
		}, "ops.ScaleShiftGateSelect: gate1: shape [3 8], want [B,C] = [2,8]"},
		{"index dtype", func() error {
			s := good
			s.Index = fidx
			_, _, e := ScaleShiftGateSelect(x, s)
			return e
		}, "ops.ScaleShiftGateSelect: index: dtype f32 is not supported"},
		{"nil index", func() error {
			s := good
			s.Index = nil
			_, _, e := LayerNormScaleShiftGateSelect(x, nil, nil, 1e-6, s)
			return e
		}, "ops.LayerNormScaleShiftGateSelect: index: is required"},
		{"x rank", func() error { _, _, e := ScaleShiftGateSelect(m, good); return e }, "ops.ScaleShiftGateSelect: x: shape [2 8], want [B,L,C]"},
		{"residual shape", func() error {
			_, _, _, e := ResidualLayerNormScaleShiftGateSelect(x, m, m, nil, nil, 1e-6, good)
			return e
		}, "ops.ResidualLayerNormScaleShiftGateSelect: residual: shape [2 8], want x's [2 3 8]"},
		{"weight", func() error { _, _, e := LayerNormScaleShiftGateSelect(x, m, nil, 1e-6, good); return e }, "weight: shape [2 8], want [8]"},
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
