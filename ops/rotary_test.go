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

// angleTables returns cos and sin [S, w] of random angles.
func angleTables(rng *rand.Rand, s, w int) (*ref.Tensor, *ref.Tensor) {
	c, sn := ref.New(dtype.F32, s, w), ref.New(dtype.F32, s, w)
	for i := range c.Data {
		a := rng.Float64() * 2 * math.Pi
		c.Data[i], sn.Data[i] = dtype.Round(dtype.F32, math.Cos(a)), dtype.Round(dtype.F32, math.Sin(a))
	}
	return c, sn
}

func TestRotaryMatchesReference(t *testing.T) {
	shapes := [][]int{{2, 5, 3, 16}, {1, 7, 2, 6}, {1, 3, 1, 8}, {2, 4, 3, 2}}
	for _, dt := range floatStorage {
		for _, shape := range shapes {
			for _, il := range []bool{true, false} {
				for _, full := range []bool{false, true} {
					t.Run(fmt.Sprintf("%v/%v/interleaved=%v/full=%v", dt, shape, il, full), func(t *testing.T) {
						checkRotary(t, dt, shape, il, full, func(x, c, s *gpu.Tensor, _ int) (*gpu.Tensor, error) {
							return ApplyRotaryEmb(x, c, s, il)
						})
					})
				}
			}
		}
	}
}

func TestRotaryTables3D(t *testing.T) {
	d := testDevice(t)
	const F, H, W, D = 2, 3, 4, 12 // c = 6 pairs: parts 2, 2, 2
	c, s, err := RotaryTables3D(d, dtype.F32, F, H, W, D, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Shape) != 2 || c.Shape[0] != F*H*W || c.Shape[1] != D/2 {
		t.Fatalf("table shape %v", c.Shape)
	}
	cv, _ := c.Float32()
	sv, _ := s.Float32()
	// Token (f=1, h=2, w=3): pair 0 turns by f, pair 2 by h, pair 4 by w;
	// the second pair of each part by pos * theta^(-1/2).
	tok := (1*H+2)*W + 3
	for j, pos := range []float64{1, 1, 2, 2, 3, 3} {
		a := pos * math.Pow(10000, -float64(j%2)/2)
		if math.Abs(float64(cv[tok*6+j])-math.Cos(a)) > 1e-6 || math.Abs(float64(sv[tok*6+j])-math.Sin(a)) > 1e-6 {
			t.Errorf("pair %d: cos %g sin %g, want angle %g", j, cv[tok*6+j], sv[tok*6+j], a)
		}
	}
	// Uneven split: D=16 gives 8 pairs split 4, 2, 2 (Wan's d - 4*(d//6) dims first).
	c2, _, err := RotaryTables3D(d, dtype.F32, 1, 1, 2, 16, 10000)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := c2.Float32()
	// Token w=1: the width part is pairs 6 and 7 with angles 1 and 1e-2.
	if math.Abs(float64(v[8+6])-math.Cos(1)) > 1e-6 || math.Abs(float64(v[8+7])-math.Cos(0.01)) > 1e-6 || v[8+0] != 1 {
		t.Errorf("uneven split wrong: %v", v[8:])
	}
}

// TestRotaryFlatKernel runs the flat rotary kernel, which f32 takes and
// BenchmarkMemoryBound times against the row kernel for every dtype,
// on heads that take packs of four (D%4, interleaved; D%8, half-split)
// and pairs, with many heads and both table widths, every storage dtype,
// into guarded outputs, against ops/ref.
func TestRotaryFlatKernel(t *testing.T) {
	d := testDevice(t)
	shapes := [][]int{{2, 5, 3, 16}, {1, 3, 24, 128}, {2, 3, 5, 12}, {1, 7, 2, 6}}
	for _, dt := range floatStorage {
		for _, shape := range shapes {
			for _, il := range []bool{true, false} {
				for _, full := range []bool{false, true} {
					t.Run(fmt.Sprintf("%v/%v/il=%v/full=%v", dt, shape, il, full), func(t *testing.T) {
						checkRotary(t, dt, shape, il, full, func(x, c, s *gpu.Tensor, w int) (*gpu.Tensor, error) {
							return rotaryFlatKernel(x, c, s, il, w).RunOne(d)
						})
					})
				}
			}
		}
	}
}

// checkRotary rotates random x of the given shape and dtype by random
// angle tables [S, D/2] (or [S, D] when full) with run, which gets the
// uploads and the table width, into guarded outputs, and compares the
// result with ops/ref.
func checkRotary(t *testing.T, dt dtype.DType, shape []int, il, full bool, run func(x, c, s *gpu.Tensor, w int) (*gpu.Tensor, error)) {
	t.Helper()
	d := testDevice(t)
	rng := rand.New(rand.NewSource(int64(shape[3])))
	x := randTensor(rng, dt, shape, 1, 0)
	w := shape[3] / 2
	if full {
		w = shape[3]
	}
	c, s := angleTables(rng, shape[1], w)
	want, err := ref.Rotary(x, c, s, il)
	if err != nil {
		t.Fatal(err)
	}
	gx, gc, gs := upload(t, d, x), upload(t, d, c), upload(t, d, s)
	gputest.Guard(t, d)
	y, err := run(gx, gc, gs, w)
	if err != nil {
		t.Fatal(err)
	}
	expectClose(t, y, want, tolFor(dt))
}
