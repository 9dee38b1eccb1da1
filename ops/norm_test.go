package ops

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/shapes"
	"github.com/webfuser/webfuser/ops/ref"
)

func TestNormsMatchReference(t *testing.T) {
	d := testDevice(t)
	shapes := [][]int{{1, 1}, {3, 77}, {2, 5, 1000}, {4, 128}, {2, 3, 3072}, {1, 6}, {5, 4100}}
	for _, kind := range []NormKind{KindRMSNorm, KindLayerNorm} {
		for _, dt := range floatStorage {
			for _, shape := range shapes {
				for _, affine := range []int{0, 1, 2} { // none, weight, weight+bias
					name := fmt.Sprintf("%v/%v/%v/affine%d", kind, dt, shape, affine)
					t.Run(name, func(t *testing.T) {
						D := shape[len(shape)-1]
						rng := rand.New(rand.NewSource(int64(len(name))))
						x := randTensor(rng, dt, shape, 3, 0)
						if kind == KindLayerNorm {
							x = randTensor(rng, dt, shape, 2, 500) // large mean
						}
						var w, b *ref.Tensor
						if affine >= 1 {
							w = randTensor(rng, dt, []int{D}, 1, 1)
						}
						if affine == 2 {
							b = randTensor(rng, dt, []int{D}, 1, 0)
						}
						var want *ref.Tensor
						var err error
						if kind == KindRMSNorm {
							want, err = ref.RMSNorm(x, w, b, RMSNormEps)
						} else {
							want, err = ref.LayerNorm(x, w, b, LayerNormEps)
						}
						if err != nil {
							t.Fatal(err)
						}
						gx, gw, gb := upload(t, d, x), upload(t, d, w), upload(t, d, b)
						var y *gpu.Tensor
						if kind == KindRMSNorm {
							y, err = RMSNormForward(gx, gw, gb, RMSNormEps)
						} else {
							y, err = LayerNormForward(gx, gw, gb, LayerNormEps)
						}
						if err != nil {
							t.Fatal(err)
						}
						expectClose(t, y, want, tolFor(dt))
					})
				}
			}
		}
	}
}

func TestModulateBroadcastForms(t *testing.T) {
	d := testDevice(t)
	const B, L = 2, 6
	forms := [][]int{{}, {0}, {B, 0}, {B, 1, 0}, {B, L, 0}, {B, 3, 1, 0}}
	variants := []modulateVariant{{}, {rows: true, wg: 64}, {rows: true}}
	for _, dt := range floatStorage {
		for _, C := range []int{12, 7, 260, 24} { // 24: 16-byte units for 16-bit storage
			for i, fs := range forms {
				for j, fh := range forms {
					for _, v := range variants {
						fs, fh := fixC(fs, C), fixC(fh, C)
						name := fmt.Sprintf("%v/C%d/%v/%v/rows=%v/wg%d", dt, C, fs, fh, v.rows, v.wg)
						t.Run(name, func(t *testing.T) {
							rng := rand.New(rand.NewSource(int64(i*7 + j)))
							x := randTensor(rng, dt, []int{B, L, C}, 2, 0)
							sc := randTensor(rng, dtype.F32, fs, 0.5, 0)
							sh := randTensor(rng, dt, fh, 1, 0)
							want, err := ref.FusedScaleShift(x, sc, sh, 1)
							if err != nil {
								t.Fatal(err)
							}
							bs, _ := shapes.ModulateBroadcast(x.Shape, sc.Shape)
							bh, _ := shapes.ModulateBroadcast(x.Shape, sh.Shape)
							gputest.Guard(t, d)
							y, err := modulateKernel(upload(t, d, x), upload(t, d, sc), upload(t, d, sh), 1, bs, bh, v).RunOne(d)
							if err != nil {
								t.Fatal(err)
							}
							expectClose(t, y, want, tolFor(dt))
						})
					}
				}
			}
		}
	}
}

func fixC(shape []int, c int) []int {
	out := append([]int(nil), shape...)
	if len(out) > 0 {
		out[len(out)-1] = c
	}
	return out
}

func TestNormModulateMatchesComposition(t *testing.T) {
	d := testDevice(t)
	for _, kind := range []NormKind{KindRMSNorm, KindLayerNorm} {
		for _, dt := range floatStorage {
			for _, shape := range [][]int{{2, 4, 64}, {1, 3, 77}, {2, 8, 1000}} {
				t.Run(fmt.Sprintf("%v/%v/%v", kind, dt, shape), func(t *testing.T) {
					rng := rand.New(rand.NewSource(3))
					B, L, C := shape[0], shape[1], shape[2]
					x := randTensor(rng, dt, shape, 2, 0.5)
					w := randTensor(rng, dt, []int{C}, 1, 1)
					sc := randTensor(rng, dt, []int{B, C}, 0.3, 0)
					sh := randTensor(rng, dt, []int{B, L, C}, 1, 0)
					var n *ref.Tensor
					if kind == KindRMSNorm {
						n, _ = ref.RMSNorm(x, w, nil, 1e-6)
					} else {
						n, _ = ref.LayerNorm(x, w, nil, 1e-6)
					}
					want, err := ref.FusedScaleShift(n, sc, sh, 1)
					if err != nil {
						t.Fatal(err)
					}
					y, err := NormModulate(kind, upload(t, d, x), upload(t, d, w), nil, 1e-6,
						ModulateArgs{Scale: upload(t, d, sc), Shift: upload(t, d, sh), Constant: 1})
					if err != nil {
						t.Fatal(err)
					}
					expectClose(t, y, want, tolFor(dt))
				})
			}
		}
	}
}

func TestBadInputIsAnError(t *testing.T) {
	d := testDevice(t)
	x, _ := d.NewTensor(dtype.F32, 2, 3, 8)
	w5, _ := d.NewTensor(dtype.F32, 5)
	xi, _ := d.NewTensor(dtype.I32, 2, 8)
	sc, _ := d.NewTensor(dtype.F32, 3, 8)
	fr, _ := d.NewTensor(dtype.F32, 2, 2, 1, 8) // F=2 does not divide L=3
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"weight shape", func() error { _, e := RMSNormForward(x, w5, nil, 1e-5); return e }, "ops.RMSNorm: weight: shape [5], want [8]"},
		{"dtype", func() error { _, e := LayerNormForward(xi, nil, nil, 1e-6); return e }, "ops.LayerNorm: x: dtype i32 is not supported"},
		{"broadcast", func() error { _, e := Modulate(x, sc, sc); return e }, "ops.FusedScaleShift: scale: shape [3 8] does not broadcast"},
		{"frames", func() error { _, e := FusedScaleShift(x, fr, sc, 1); return e }, "ops.FusedScaleShift: scale: shape [2 2 1 8]"},
		{"nil", func() error { _, e := RMSNormForward(nil, nil, nil, 1e-5); return e }, "ops.RMSNorm: x: is required"},
		{"rank", func() error { _, e := Modulate(xi, sc, sc); return e }, "ops.FusedScaleShift: x: dtype i32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if err == nil || !contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestNoWritesPastOutputs(t *testing.T) {
	// The kernels run without runtime bounds checks. Run each on odd
	// shapes into guarded outputs and check nothing past them changed.
	d := testDevice(t)
	gputest.Guard(t, d)
	for _, dt := range floatStorage {
		for _, shape := range [][]int{{3, 77}, {1, 1}, {5, 6}, {2, 1001}, {3, 24}, {2, 8}, {2, 8192}} {
			rng := rand.New(rand.NewSource(1))
			x := upload(t, d, randTensor(rng, dt, shape, 1, 0))
			w := upload(t, d, randTensor(rng, dt, shape[1:], 1, 0))
			for _, kind := range []NormKind{KindRMSNorm, KindLayerNorm} {
				for _, once := range []bool{false, true} { // forward_native's rounding, norm_infer's
					if _, err := normalize(&normSpec{op: "norm", kind: kind, x: x, w: w, b: w, eps: 1e-5, once: once}); err != nil {
						t.Fatal(err)
					}
					if err := d.CheckGuards(); err != nil {
						t.Fatalf("%v once=%v %v %v: %v", kind, once, dt, shape, err)
					}
				}
			}
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestNormsWithoutSubgroups(t *testing.T) {
	// The portable reduction (workgroup memory only) must agree with the
	// reference too; force it where the device has subgroups.
	d := testDevice(t)
	saved := d.Features.Subgroups
	d.Features.Subgroups = false
	defer func() { d.Features.Subgroups = saved }()
	for _, kind := range []NormKind{KindRMSNorm, KindLayerNorm} {
		for _, shape := range [][]int{{3, 77}, {2, 1000}, {2, 4100}} {
			rng := rand.New(rand.NewSource(5))
			x := randTensor(rng, dtype.F32, shape, 2, 100)
			w := randTensor(rng, dtype.F32, shape[1:], 1, 1)
			var want *ref.Tensor
			var y *gpu.Tensor
			var err error
			if kind == KindRMSNorm {
				want, _ = ref.RMSNorm(x, w, nil, 1e-5)
				y, err = RMSNormForward(upload(t, d, x), upload(t, d, w), nil, 1e-5)
			} else {
				want, _ = ref.LayerNorm(x, w, nil, 1e-6)
				y, err = LayerNormForward(upload(t, d, x), upload(t, d, w), nil, 1e-6)
			}
			if err != nil {
				t.Fatal(err)
			}
			expectClose(t, y, want, tolFor(dtype.F32))
		}
	}
}

func TestTensorOverBindingLimitIsAnError(t *testing.T) {
	d := testDevice(t)
	limit := d.Limits.MaxBindingSize
	if limit > 256<<20 {
		t.Skipf("binding limit %d MiB: too large to allocate past in a test", limit>>20)
	}
	n := int(limit/4) + 1024
	x, err := d.NewTensor(dtype.F32, n/1024, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Release()
	_, err = RMSNormForward(x, nil, nil, 1e-5)
	if err == nil || !contains(err.Error(), "ops.RMSNorm: x:") || !contains(err.Error(), "maxStorageBufferBindingSize") {
		t.Fatalf("got %v, want an error naming the op, the tensor and the limit", err)
	}
}
