package ops

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
	"github.com/webfuser/webfuser/ops/ref"
)

var (
	roundInt   = unitsVariant{setRnd: true, round: launch.RoundInt}
	roundFloat = unitsVariant{setRnd: true, round: launch.RoundFloat}
	// roundFMA takes every new candidate at once: the fma rounding for
	// intermediate values and for the store, and the erfc GELU.
	roundFMA = unitsVariant{setRnd: true, round: launch.RoundFMA, setStore: true, store: launch.RoundFMA, erf: "erfc"}
)

// unitsVariants are the launch shapes the units kernels are tested in:
// launch's choice, both fast-path roundings, one unit per invocation,
// eight, and packs instead of 16-byte units (and the reverse for f32).
var unitsVariants = []unitsVariant{
	{}, roundInt, roundFloat,
	{wg: 64, nu: 1, setRnd: true, round: launch.RoundFloat},
	{nu: 8, setRnd: true, round: launch.RoundInt},
	{units: 1, setRnd: true, round: launch.RoundFloat},
	{units: 2, setRnd: true, round: launch.RoundFloat},
	roundFMA,
	{units: 1, setStore: true, store: launch.RoundFMA, erf: "erfc"},
	{setRnd: true, round: launch.RoundFloat, setStore: true, store: launch.RoundFMA, erf: "poly"},
}

// variantsFor trims a test's variants in -short runs (the GOOS=js suite,
// where every pipeline compiles through Dawn): the first and those
// named by keep, which between them still take every code path.
func variantsFor[V any](all []V, keep ...int) []V {
	if !testing.Short() {
		return all
	}
	out := []V{all[0]}
	for _, i := range keep {
		out = append(out, all[i])
	}
	return out
}

func (v unitsVariant) String() string { return "[" + v.name() + "]" }

// label names the variant's rounding; launch's choice shows as "launch".
func (v unitsVariant) label() string {
	if !v.setRnd {
		return "launch"
	}
	if v.setStore || v.erf != "" {
		return v.name()
	}
	return v.round.String()
}

// expectNonFinite checks got against want elementwise: a NaN must be a
// NaN, an infinity the same infinity, anything else within tl.
func expectNonFinite(t *testing.T, got *gpu.Tensor, want *ref.Tensor, tl tol) {
	t.Helper()
	v, err := got.Float32()
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != len(want.Data) {
		t.Fatalf("got %d elements, want %d", len(v), len(want.Data))
	}
	bad := 0
	for i, w := range want.Data {
		g := float64(v[i])
		ok := false
		switch {
		case math.IsNaN(w):
			ok = math.IsNaN(g)
		case math.IsInf(w, 0):
			ok = g == w
		default:
			ok = tl.Within(g, w)
		}
		if !ok {
			if bad < 5 {
				t.Errorf("element %d: got %g, want %g", i, g, w)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d elements wrong", bad, len(want.Data))
	}
}

// roundSweep is f32 values through every exponent: ties, values either
// side of them, subnormals, infinities and NaN.
func roundSweep() []float32 {
	var in []float32
	for e := uint32(0); e < 256; e++ {
		for _, m := range []uint32{0, 1, 0x7fff, 0x8000, 0x8001, 0x18000, 0x17fff, 0x10000, 0x7f8000, 0x7fffff, 0x7f7fff, 0x400000, 0x3fffff} {
			for _, s := range []uint32{0, 1 << 31} {
				in = append(in, math.Float32frombits(s|e<<23|m))
			}
		}
	}
	for len(in)%4 != 0 {
		in = append(in, 1)
	}
	return in
}

// TestFloatPipeRoundingIsExact runs wgsl/round_fp.wgsl's bf16 rounding
// over roundSweep: every normal value below 2^112 must round to exactly
// internal/dtype's bits (-0 may become +0); zeros and subnormals may pass
// through or flush to zero; infinities, NaN and larger values must give
// NaN or an infinity (either sends a kernel to its checked path). It also shows that the
// compiler did not fold the rounding away.
func TestFloatPipeRoundingIsExact(t *testing.T) {
	if err := checkFloatPipeRounding(testDevice(t)); err != nil {
		t.Fatal(err)
	}
}

// TestFMARoundingIsExact runs wgsl/round_fp.wgsl's bf16x4_round_fma
// over roundSweep: every finite value below 2^112, subnormals included,
// must round to exactly internal/dtype's bits (zeros give +0, and a
// driver that flushes subnormals may give a zero for them); infinities,
// NaN and larger values must give NaN. It also shows that the compiler
// did not fold the rounding away.
func TestFMARoundingIsExact(t *testing.T) {
	if err := checkFMARounding(testDevice(t)); err != nil {
		t.Fatal(err)
	}
}

// checkFMARounding is TestFMARoundingIsExact's check, which
// BenchmarkMemoryBound runs before it times the fma variants.
func checkFMARounding(d *gpu.Device) error {
	return checkRounding(d, "bf16x4_round_fma", "p.one", func(k *kernel.Kernel) { k.F32("one", 1) }, func(f float32, g, want uint32) bool {
		b := math.Float32bits(f)
		e := b >> 23 & 0xff
		switch {
		case e == 0xff || e >= 127+112:
			return math.IsNaN(float64(math.Float32frombits(g)))
		case b&0x7fffffff == 0:
			return g == 0
		case e == 0:
			// A driver that flushes subnormals may give a zero of either sign.
			return g == want || g&0x7fffffff == 0
		}
		return g == want
	})
}

// TestFP8FiniteEncoderIsExact runs the float-pipe FP8 encoder of the
// quantisation fast path over fp8Sweep's finite values: every code must
// be internal/dtype's (values past the largest finite saturate).
func TestFP8FiniteEncoderIsExact(t *testing.T) {
	if err := checkFP8FiniteEncoder(testDevice(t)); err != nil {
		t.Fatal(err)
	}
}

// label names a quantisation variant's settings for benchmark rows:
// "scale=every", "rows=4/wg=128", "scale=none/noenc".
func (v quantVariant) label() string {
	var parts []string
	if v.scale != "" {
		parts = append(parts, "scale="+v.scale)
	}
	if v.rows != 0 {
		parts = append(parts, fmt.Sprintf("rows=%d", v.rows))
	}
	if v.wg != 0 {
		parts = append(parts, fmt.Sprintf("wg=%d", v.wg))
	}
	if v.noEnc {
		parts = append(parts, "noenc")
	}
	return strings.Join(parts, "/")
}

// checkFloatPipeRounding is TestFloatPipeRoundingIsExact's check, which
// BenchmarkMemoryBound also runs on the device it times.
func checkFloatPipeRounding(d *gpu.Device) error {
	return checkRounding(d, "bf16x4_round_fp", "p.zero", func(k *kernel.Kernel) { k.U32("zero", 0) }, func(f float32, g, want uint32) bool {
		b := math.Float32bits(f)
		switch e := b >> 23 & 0xff; {
		case e == 0xff || e >= 127+112: // NaN, or an infinity where the driver contracts into fma
			return g&0x7f800000 == 0x7f800000
		case e == 0:
			return g&0x7fffffff == 0 || g == b || g == want
		}
		return g == want
	})
}

// checkRounding runs the float-pipe rounding fn of wgsl/round_fp.wgsl
// (its second argument arg, a uniform that uniform declares) over
// roundSweep on d and checks each result's bits g with ok, given the
// input and internal/dtype's rounding of it, want.
func checkRounding(d *gpu.Device, fn, arg string, uniform func(*kernel.Kernel), ok func(in float32, g, want uint32) bool) error {
	in := roundSweep()
	x, err := d.Upload(dtype.F32, []int{len(in)}, in)
	if err != nil {
		return err
	}
	defer x.Release()
	k := elementwise(d, "probe_"+fn, 4, len(in)/4, "round_fp").Snippet("BODY", fmt.Sprintf("stv_y(i, %s(ldv_x(i), %s));", fn, arg))
	k.In("x", x).Out("y", dtype.F32, len(in))
	uniform(k)
	y, err := k.RunOne(d)
	if err != nil {
		return err
	}
	defer y.Release()
	got, err := y.Float32()
	if err != nil {
		return err
	}
	var bad []string
	for i, f := range in {
		g, want := math.Float32bits(got[i]), uint32(dtype.F32ToBF16(f))<<16
		if !ok(f, g, want) {
			bad = append(bad, fmt.Sprintf("%s(%g [%#08x]) = %#08x, want %#08x", fn, f, math.Float32bits(f), g, want))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: %d of %d values wrong, e.g. %s", fn, len(bad), len(in), strings.Join(bad[:min(len(bad), 5)], "; "))
	}
	return nil
}

// checkFP8FiniteEncoder is TestFP8FiniteEncoderIsExact's check, which
// BenchmarkMemoryBound also runs on the device it times.
func checkFP8FiniteEncoder(d *gpu.Device) error {
	for _, f := range fp8Formats {
		var xs []float32
		for _, v := range fp8Sweep(f) {
			if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) {
				xs = append(xs, v)
			}
		}
		x, err := d.Upload(dtype.F32, []int{len(xs)}, xs)
		if err != nil {
			return err
		}
		k := elementwise(d, "probe_fp8_finite", 1, len(xs), "fp8").Snippet("BODY", fmt.Sprintf("y_buf[i] = %s_encode_finite(ld_x(i));", fp8Prefix(f)))
		y, err := k.In("x", x).Out("y", dtype.I32, len(xs)).RunOne(d)
		x.Release()
		if err != nil {
			return err
		}
		b, err := y.Bytes()
		y.Release()
		if err != nil {
			return err
		}
		var bad []string
		for i, v := range xs {
			got := binary.LittleEndian.Uint32(b[4*i:])
			want := uint32(dtype.Encode(f, []float32{v})[0])
			if math.Abs(float64(v)) < 1.2e-38 && got&0x7f == 0 { // a flushed f32 subnormal
				continue
			}
			if got != want {
				bad = append(bad, fmt.Sprintf("encode(%g [%#08x]) = %#02x, want %#02x", v, math.Float32bits(v), got, want))
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("%v finite encoder: %d of %d codes differ, e.g. %s", f, len(bad), len(xs), strings.Join(bad[:min(len(bad), 5)], "; "))
		}
	}
	return nil
}

// TestActivationUnitsVariants runs the activation kernels in every
// launch variant on shapes that take each packing (16-byte units, packs
// of four, scalars) and more than one workgroup, into guarded outputs.
func TestActivationUnitsVariants(t *testing.T) {
	d := testDevice(t)
	shapes := [][]int{{3, 77}, {2, 8}, {1}, {5, 3, 12}, {3, 5000}, {2, 20}}
	for _, fn := range allActivations {
		variants := variantsFor(unitsVariants, 3, 5, 7)
		if fn != ActGELU && fn != ActGELUTanh && fn != ActSiLU {
			variants = []unitsVariant{roundFloat}
		}
		for _, dt := range floatStorage {
			for _, shape := range shapes {
				for _, v := range variants {
					t.Run(fmt.Sprintf("%v/%v/%v/%v", fn, dt, shape, v), func(t *testing.T) {
						rng := rand.New(rand.NewSource(int64(fn)))
						x := randTensor(rng, dt, shape, 4, 0)
						if len(x.Data) > 8 {
							copy(x.Data, []float64{-30, -12, 0, 25, dtype.Round(dt, -0.5), 100, -100, 1e-3})
						}
						want, err := ref.Activation(x, fn.String())
						if err != nil {
							t.Fatal(err)
						}
						gx := upload(t, d, x)
						gputest.Guard(t, d)
						y, err := biasActKernel(gx, nil, fn, v, 0, 0).RunOne(d)
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

// TestBiasActivationMatchesReference checks act(rnd(x + bias)), the row
// kernel of the composed linear+activation path, in its variants.
func TestBiasActivationMatchesReference(t *testing.T) {
	d := testDevice(t)
	for _, dt := range floatStorage {
		for _, shape := range [][]int{{3, 7}, {2, 24}, {4, 12}, {3, 1000}, {1, 1}} {
			for _, v := range variantsFor([]unitsVariant{{}, roundInt, roundFloat, {nu: 1}}, 2) {
				t.Run(fmt.Sprintf("%v/%v/%v", dt, shape, v), func(t *testing.T) {
					rng := rand.New(rand.NewSource(9))
					n := shape[len(shape)-1]
					x := randTensor(rng, dt, shape, 2, 0)
					b := randTensor(rng, dt, []int{n}, 1, 0)
					sum := ref.New(dt, shape...)
					for i := range x.Data {
						sum.Data[i] = dtype.Round(dt, x.Data[i]+b.Data[i%n])
					}
					want, err := ref.Activation(sum, "gelu_tanh")
					if err != nil {
						t.Fatal(err)
					}
					gx, gb := upload(t, d, x), upload(t, d, b)
					gputest.Guard(t, d)
					y, err := biasActKernel(gx, gb, ActGELUTanh, v, len(x.Data)/n, n).RunOne(d)
					if err != nil {
						t.Fatal(err)
					}
					expectClose(t, y, want, tolFor(dt))
				})
			}
		}
	}
}

// TestGatedUnitsVariants runs the gated kernel's variants on widths
// that take each packing and rows of more than one unit per invocation.
func TestGatedUnitsVariants(t *testing.T) {
	d := testDevice(t)
	for _, fn := range []Activation{ActGELU, ActGELUTanh, ActSiLU} {
		for _, dt := range floatStorage {
			for _, shape := range [][]int{{3, 14}, {2, 5, 16}, {1, 2}, {4, 48}, {3, 2000}, {2, 24}} {
				for _, v := range variantsFor(unitsVariants, 2, 4, 6, 8) {
					t.Run(fmt.Sprintf("%v/%v/%v/%v", fn, dt, shape, v), func(t *testing.T) {
						rng := rand.New(rand.NewSource(5))
						x := randTensor(rng, dt, shape, 2, 0)
						want, err := ref.GatedActivation(x, fn.String())
						if err != nil {
							t.Fatal(err)
						}
						gx := upload(t, d, x)
						n2 := shape[len(shape)-1]
						gputest.Guard(t, d)
						y, err := gatedKernel(gx, fn, v, len(x.Data)/n2, n2/2).RunOne(d)
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

// nonFiniteValues are the inputs that leave the fast paths: NaN, both
// infinities, and finite values too large for the float-pipe rounding.
var nonFiniteValues = []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Ldexp(1, 115), -math.Ldexp(1.5, 120), 3e38}

// TestStreamNonFiniteInputs puts NaN, infinities and huge values into
// the activation, gated, bias and rotary kernels in both fast-path
// roundings: the reference's NaNs must come out as NaNs, its infinities
// as the same infinities, and the rest as usual (the invocations that
// meet them take the checked path).
func TestStreamNonFiniteInputs(t *testing.T) {
	d := testDevice(t)
	for _, dt := range floatStorage {
		for _, v := range []unitsVariant{roundInt, roundFloat, roundFMA} {
			for _, n := range []int{24, 20, 7} {
				name := fmt.Sprintf("%v/%v/N%d", dt, v.label(), n)
				rng := rand.New(rand.NewSource(11))
				x := randTensor(rng, dt, []int{3, 2 * n}, 2, 0)
				for i, f := range nonFiniteValues {
					x.Data[(5*i)%len(x.Data)] = dtype.Round(dt, f)
					x.Data[(5*i+n+3)%len(x.Data)] = dtype.Round(dt, f) // the gated units' second half
				}
				gx := upload(t, d, x)
				for _, fn := range allActivations {
					t.Run(name+"/"+fn.String(), func(t *testing.T) {
						want, err := ref.Activation(x, fn.String())
						if err != nil {
							t.Fatal(err)
						}
						gputest.Guard(t, d)
						y, err := biasActKernel(gx, nil, fn, v, 0, 0).RunOne(d)
						if err != nil {
							t.Fatal(err)
						}
						expectNonFinite(t, y, want, tolFor(dt))
					})
				}
				for _, fn := range []Activation{ActGELU, ActGELUTanh, ActSiLU} {
					t.Run(name+"/gated-"+fn.String(), func(t *testing.T) {
						want, err := ref.GatedActivation(x, fn.String())
						if err != nil {
							t.Fatal(err)
						}
						gputest.Guard(t, d)
						y, err := gatedKernel(gx, fn, v, 3, n).RunOne(d)
						if err != nil {
							t.Fatal(err)
						}
						expectNonFinite(t, y, want, tolFor(dt))
					})
				}
				t.Run(name+"/bias", func(t *testing.T) {
					b := randTensor(rng, dt, []int{2 * n}, 1, 0)
					sum := ref.New(dt, x.Shape...)
					for i := range x.Data {
						sum.Data[i] = dtype.Round(dt, x.Data[i]+b.Data[i%(2*n)])
					}
					want, err := ref.Activation(sum, "relu")
					if err != nil {
						t.Fatal(err)
					}
					gputest.Guard(t, d)
					y, err := biasActKernel(gx, upload(t, d, b), ActReLU, v, 3, 2*n).RunOne(d)
					if err != nil {
						t.Fatal(err)
					}
					expectNonFinite(t, y, want, tolFor(dt))
				})
			}
			for _, D := range []int{16, 32, 8} {
				for _, il := range []bool{true, false} {
					t.Run(fmt.Sprintf("%v/%v/rotary-D%d-interleaved=%v", dt, v.label(), D, il), func(t *testing.T) {
						rng := rand.New(rand.NewSource(12))
						x := randTensor(rng, dt, []int{2, 3, 2, D}, 1, 0)
						for i, f := range nonFiniteValues {
							x.Data[(7*i+1)%len(x.Data)] = dtype.Round(dt, f)
						}
						c, s := angleTables(rng, 3, D/2)
						want, err := ref.Rotary(x, c, s, il)
						if err != nil {
							t.Fatal(err)
						}
						gx, gc, gs := upload(t, d, x), upload(t, d, c), upload(t, d, s)
						gputest.Guard(t, d)
						var y *gpu.Tensor
						if (il && D%8 == 0) || (!il && D%16 == 0) {
							y, err = rotaryRowsKernel(gx, gc, gs, il, D/2, rotaryVariant{store: v.store, setStore: v.setStore}).RunOne(d)
						} else {
							y, err = ApplyRotaryEmb(gx, gc, gs, il)
						}
						if err != nil {
							t.Fatal(err)
						}
						expectNonFinite(t, y, want, tolFor(dt))
					})
				}
			}
		}
	}
}

// TestNormModulateFastPaths runs the fused RMSNorm/LayerNorm+modulate in
// both bf16 fast-path roundings and two workgroup sizes against the
// composition, with non-finite values in some rows and operands.
func TestNormModulateFastPaths(t *testing.T) {
	d := testDevice(t)
	nan, inf := math.NaN(), math.Inf(1)
	for _, kind := range []NormKind{KindRMSNorm, KindLayerNorm} {
		for _, dt := range floatStorage {
			for _, c := range []int{24, 20, 7, 1000} {
				for _, v := range variantsFor([]normVariant{{setRnd: true, round: launch.RoundInt}, {setRnd: true, round: launch.RoundFloat}, {wg: 64, setRnd: true, round: launch.RoundFloat},
					{setRnd: true, round: launch.RoundFMA, setStore: true, store: launch.RoundFMA}, {setRnd: true, round: launch.RoundFloat, setStore: true, store: launch.RoundFMA},
					{rpw: 2, setRnd: true, round: launch.RoundFloat}, {rpw: 2, setRnd: true, round: launch.RoundFMA, setStore: true, store: launch.RoundFMA}}, 1, 3, 6) {
					for _, nonFinite := range []bool{false, true} {
						name := fmt.Sprintf("%v/%v/C%d/%v/store=%v/wg%d/rpw%d/nonfinite=%v", kind, dt, c, v.round, v.store, v.wg, v.rpw, nonFinite)
						t.Run(name, func(t *testing.T) {
							rng := rand.New(rand.NewSource(3))
							// Two rows per workgroup need pairs of rows that share
							// their operands: L even, the shift per frame of two tokens.
							B, L, shShape := 2, 3, []int{2, 3, c}
							if v.rpw == 2 {
								L, shShape = 4, []int{2, 2, 1, c}
							}
							x := randTensor(rng, dt, []int{B, L, c}, 2, 0.5)
							w := randTensor(rng, dt, []int{c}, 1, 1)
							sc := randTensor(rng, dt, []int{B, c}, 0.3, 0)
							sh := randTensor(rng, dt, shShape, 1, 0)
							if nonFinite {
								x.Data[1] = nan                        // row 0
								x.Data[c+2] = inf                      // row 1
								w.Data[c-1] = nan                      // last column everywhere
								sc.Data[c+1] = inf                     // batch 1, column 1
								sh.Data[2*c+3] = dtype.Round(dt, 3e38) // row 2: an output too large for the float-pipe rounding
							}
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
							gx, gw, gsc, gsh := upload(t, d, x), upload(t, d, w), upload(t, d, sc), upload(t, d, sh)
							gputest.Guard(t, d)
							s := &normSpec{op: "norm+mod", kind: kind, x: gx, w: gw, eps: 1e-6,
								mod: &ModulateArgs{Scale: gsc, Shift: gsh, Constant: 1}, variant: v}
							if err := s.validate(); err != nil {
								t.Fatal(err)
							}
							y, err := s.run()
							if err != nil {
								t.Fatal(err)
							}
							expectNonFinite(t, y, want, tolFor(dt))
						})
					}
				}
			}
		}
	}
}

// TestQuantizeRowsVariants runs the row quantisation kernel fused, in
// two passes and per tensor, on rows that take each layout, against the
// reference: scales as exact as div_rn, codes within one unit in the
// last place (fp8CloseNaN).
func TestQuantizeRowsVariants(t *testing.T) {
	d := testDevice(t)
	for _, f := range fp8Formats {
		for _, dt := range floatStorage {
			for _, shape := range [][]int{{3, 16}, {2, 24}, {5, 8}, {1, 4}, {7, 3072}, {2, 40}, {3, 12}, {4, 2056}} {
				for _, g := range []Granularity{PerToken, PerTensor} {
					for _, v := range variantsFor([]quantVariant{{}, {want: 1}, {want: 8}, {twoPass: true}, {approx: true}, {pairs: true}, {want: 1, pairs: true}, {twoPass: true, pairs: true},
						{rows: 1}, {rows: 2}, {rows: 3, pairs: true}, {rows: 8, want: 1}, {scale: "every"}, {wg: 128, rows: 2}}, 3, 4, 5, 7, 9, 10, 12) {
						if g == PerTensor && v != (quantVariant{}) && v != (quantVariant{pairs: true}) {
							continue
						}
						t.Run(fmt.Sprintf("%v/%v/%v/g%d/%+v", f, dt, shape, g, v), func(t *testing.T) {
							rng := rand.New(rand.NewSource(2))
							x := randTensor(rng, dt, shape, 3, 0)
							if shape[0] > 1 {
								for c := 0; c < shape[1]; c++ {
									x.Data[shape[1]+c] = 0 // an all-zero row
								}
							}
							wq, ws, err := ref.QuantizeFP8(x, g == PerTensor, f)
							if err != nil {
								t.Fatal(err)
							}
							gx := upload(t, d, x)
							gputest.Guard(t, d)
							var q, s *gpu.Tensor
							if shape[1]*dt.Size()%16 == 0 {
								q, s, err = quantizeRows(gx, g, f, v)
							} else {
								q, s, err = QuantizeFP8(gx, g, f)
							}
							if err != nil {
								t.Fatal(err)
							}
							expectClose(t, s, ws, tol{Atol: 0, Rtol: 1e-6}) // div_rn is exact where the driver keeps its correction
							if v.scale == "" && g == PerToken && !v.twoPass {
								expectClose(t, s, ws, tol{}) // div_rn with a divisor no compiler sees: correctly rounded
							}
							fp8CloseNaN(t, q, wq)
						})
					}
				}
			}
		}
	}
}

// TestQuantizeNonFiniteRows puts a NaN, +inf and -inf in three rows: the
// reference's scale is NaN, inf, inf there and its codes NaN, zero or NaN;
// a clean row next to them and a row with a huge value quantise as usual.
func TestQuantizeNonFiniteRows(t *testing.T) {
	d := testDevice(t)
	for _, f := range fp8Formats {
		for _, dt := range floatStorage {
			for _, k := range []int{16, 24, 6} {
				for _, v := range []quantVariant{{}, {twoPass: true}, {pairs: true}, {twoPass: true, pairs: true}, {rows: 2}, {rows: 3, pairs: true}, {scale: "every"}} {
					t.Run(fmt.Sprintf("%v/%v/K%d/%+v", f, dt, k, v), func(t *testing.T) {
						rng := rand.New(rand.NewSource(8))
						x := randTensor(rng, dt, []int{5, k}, 2, 0)
						x.Data[1] = math.NaN()
						x.Data[k+2] = math.Inf(1)
						x.Data[2*k+3] = math.Inf(-1)
						x.Data[4*k+1] = dtype.Round(dt, 6e4)
						wq, ws, err := ref.QuantizeFP8(x, false, f)
						if err != nil {
							t.Fatal(err)
						}
						gx := upload(t, d, x)
						gputest.Guard(t, d)
						var q, s *gpu.Tensor
						if k*dt.Size()%16 == 0 {
							q, s, err = quantizeRows(gx, PerToken, f, v)
						} else {
							q, s, err = QuantizeFP8(gx, PerToken, f)
						}
						if err != nil {
							t.Fatal(err)
						}
						sv, _ := s.Float32()
						for i, w := range ws.Data {
							g := float64(sv[i])
							if !(math.IsNaN(w) && math.IsNaN(g)) && g != w && !(math.Abs(g-w) <= 1e-6*math.Abs(w)) {
								t.Errorf("scale %d: got %g, want %g", i, g, w)
							}
						}
						b, _ := q.Bytes()
						wb := dtype.Encode(f, wq.Float32())
						for i := range wb {
							gn := math.IsNaN(float64(dtype.Decode(f, b[i:i+1], 1)[0]))
							wn := math.IsNaN(float64(dtype.Decode(f, wb[i:i+1], 1)[0]))
							if gn != wn || (!gn && b[i]&0x7f != wb[i]&0x7f) {
								t.Errorf("code %d: got %#02x, want %#02x", i, b[i], wb[i])
							}
						}
					})
				}
			}
		}
	}
}

// TestRotaryRowsVariants runs the row rotary kernel on head sizes whose
// units per head do and do not divide the workgroup (FIXED), with many
// heads (several units per invocation) and both table widths.
func TestRotaryRowsVariants(t *testing.T) {
	d := testDevice(t)
	shapes := [][]int{{2, 5, 3, 16}, {1, 3, 2, 24}, {2, 3, 5, 48}, {1, 2, 40, 16}, {1, 3, 24, 128}, {2, 2, 7, 8}}
	for _, dt := range floatStorage {
		for _, shape := range shapes {
			for _, il := range []bool{true, false} {
				D := shape[3]
				if (il && D%8 != 0) || (!il && D%16 != 0) {
					continue
				}
				for _, full := range []bool{false, true} {
					for _, v := range variantsFor([]rotaryVariant{{}, {want: 1}, {want: 8}, {setStore: true, store: launch.RoundFMA}, {want: 1, setStore: true, store: launch.RoundFMA}, {want: 16}}, 2, 3, 5) {
						t.Run(fmt.Sprintf("%v/%v/il=%v/full=%v/%+v", dt, shape, il, full, v), func(t *testing.T) {
							checkRotary(t, dt, shape, il, full, func(x, c, s *gpu.Tensor, w int) (*gpu.Tensor, error) {
								return rotaryRowsKernel(x, c, s, il, w, v).RunOne(d)
							})
						})
					}
				}
			}
		}
	}
}

// TestQuantizeWithoutSubgroups runs the fused quantisation with the
// portable reduction (workgroup memory only), forced where the device
// has subgroups.
func TestQuantizeWithoutSubgroups(t *testing.T) {
	d := testDevice(t)
	saved := d.Features.Subgroups
	d.Features.Subgroups = false
	defer func() { d.Features.Subgroups = saved }()
	for _, dt := range floatStorage {
		for _, shape := range [][]int{{3, 16}, {2, 3072}, {5, 200}} {
			rng := rand.New(rand.NewSource(6))
			x := randTensor(rng, dt, shape, 3, 0)
			x.Data[len(x.Data)-1] = math.NaN() // the last row's maximum is NaN
			wq, ws, err := ref.QuantizeFP8(x, false, dtype.FP8E4M3)
			if err != nil {
				t.Fatal(err)
			}
			gputest.Guard(t, d)
			q, s, err := quantizeRows(upload(t, d, x), PerToken, dtype.FP8E4M3, quantVariant{})
			if err != nil {
				t.Fatal(err)
			}
			sv, _ := s.Float32()
			for i, w := range ws.Data {
				g := float64(sv[i])
				if !(math.IsNaN(w) && math.IsNaN(g)) && !(math.Abs(g-w) <= 1e-6*math.Abs(w)) {
					t.Errorf("%v %v: scale %d: got %g, want %g", dt, shape, i, g, w)
				}
			}
			fp8CloseNaN(t, q, wq)
		}
	}
}

// fp8CloseNaN compares FP8 codes as the spec does, exact up to one unit
// in the last place, with NaN codes equal to NaN codes; it fails when
// more than 1% of the codes (plus two) are the one-off kind, which a
// quotient within an ulp of a tie gives (where the driver's division or
// its residual correction is not exact), so a systematic error shows.
func fp8CloseNaN(t *testing.T, got *gpu.Tensor, want *ref.Tensor) {
	t.Helper()
	b, err := got.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	f := want.DType
	wb := dtype.Encode(f, want.Float32())
	off := 0
	for i := range wb {
		g, w := int(b[i]), int(wb[i])
		gn := math.IsNaN(float64(dtype.Decode(f, b[i:i+1], 1)[0]))
		wn := math.IsNaN(float64(dtype.Decode(f, wb[i:i+1], 1)[0]))
		switch {
		case gn || wn:
			if gn != wn {
				t.Fatalf("element %d: code %#02x, want %#02x", i, g, w)
			}
		case g == w || (g&0x7f == 0 && w&0x7f == 0):
		case g&0x80 == w&0x80 && (g-w == 1 || w-g == 1):
			off++
		default:
			t.Fatalf("element %d: code %#02x, want %#02x", i, g, w)
		}
	}
	if off > 2+len(wb)/100 {
		t.Fatalf("%d of %d codes one unit off the reference", off, len(wb))
	}
	if off > 0 {
		t.Logf("%d of %d codes one unit off the reference", off, len(wb))
	}
}

// TestRMSNormPairedRows runs the norm kernel with two rows per workgroup
// (normVariant.rpw) without modulate, on odd row counts (the last
// workgroup's second row is absent), each packing, with and without a
// weight, into guarded outputs, against the reference.
func TestRMSNormPairedRows(t *testing.T) {
	d := testDevice(t)
	for _, dt := range floatStorage {
		for _, shape := range [][]int{{3, 24}, {5, 7}, {4, 1000}, {1, 16}, {7, 3072}} {
			for _, weighted := range []bool{true, false} {
				t.Run(fmt.Sprintf("%v/%v/weight=%v", dt, shape, weighted), func(t *testing.T) {
					rng := rand.New(rand.NewSource(8))
					x := randTensor(rng, dt, shape, 2, 0.5)
					var w *ref.Tensor
					if weighted {
						w = randTensor(rng, dt, shape[1:], 1, 1)
					}
					want, err := ref.RMSNorm(x, w, nil, 1e-6)
					if err != nil {
						t.Fatal(err)
					}
					gx := upload(t, d, x)
					var gw *gpu.Tensor
					if weighted {
						gw = upload(t, d, w)
					}
					gputest.Guard(t, d)
					s := &normSpec{op: "RMSNorm", kind: KindRMSNorm, x: gx, w: gw, eps: 1e-6, variant: normVariant{rpw: 2}}
					if err := s.validate(); err != nil {
						t.Fatal(err)
					}
					y, err := s.run()
					if err != nil {
						t.Fatal(err)
					}
					expectClose(t, y, want, tolFor(dt))
				})
			}
		}
	}
}
