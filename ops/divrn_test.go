package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
)

// divCases returns f32 pairs (a, b) whose quotients lie within a few f32
// ulps of a midpoint between neighbouring f32 values, where a division
// that corrects its quotient with an fma that is not fused (lavapipe's)
// rounds the wrong way: a = RN(m * b) for a midpoint m, across
// exponents, both signs, and the quotient shapes of FP8 quantisation (x
// over absmax/448 and absmax/57344, as linear_fp8 per-token divides),
// the binade edges (m just below a power of two), random pairs with
// normal quotients, and zeros.
func divCases(rng *rand.Rand) (as, bs []float32) {
	add := func(a, b float32) { as, bs = append(as, a), append(bs, b) }
	// Pairs the old div_rn (one fma-corrected division) rounded one ulp
	// off on lavapipe, by their bits.
	for _, p := range [][2]uint32{{0x3ba07c06, 0x40993c91}, {0x44fbeb81, 0xc533fedc}, {0x4b329810, 0x4929003c},
		{0x4b32980c, 0x4929003c}, {0x4066f66b, 0x3ba1d510}, {0xbcedff07, 0x3e3df768}} {
		add(math.Float32frombits(p[0]), math.Float32frombits(p[1]))
	}
	for i := 0; i < 1<<15; i++ {
		b := float32(math.Ldexp(1+rng.Float64(), rng.Intn(40)-20))
		if i%3 == 0 { // an FP8 per-token scale
			b = float32(float64(float32(rng.Float64()*8)) / []float64{448, 57344}[i%2])
		}
		q := math.Float32frombits(uint32(rng.Intn(1<<23)) | uint32(rng.Intn(24)+115)<<23)
		if i%64 == 0 {
			q = float32(math.Ldexp(1, rng.Intn(20)-10)) // a power of two: the midpoint below it is closer
		}
		for _, m := range []float64{(float64(q) + float64(math.Nextafter32(q, float32(math.Inf(1))))) / 2,
			(float64(q) + float64(math.Nextafter32(q, 0))) / 2} {
			a := float32(m * float64(b))
			s := float32(1)
			if i%2 == 1 {
				s = -1
			}
			add(s*a, b)
			add(math.Nextafter32(a, 0), -s*b)
			add(math.Nextafter32(a, float32(math.Inf(1))), b)
		}
	}
	for len(as) < 1<<18 {
		a, b := math.Float32frombits(rng.Uint32()&0x7effffff|0x00800000), math.Float32frombits(rng.Uint32()&0x7effffff|0x00800000)
		if q := math.Abs(float64(a) / float64(b)); q >= 0x1p-126 && q < math.MaxFloat32 && math.Abs(float64(b)) < 0x1p126 {
			add(a, b)
		}
	}
	add(0, 3)
	add(float32(math.Copysign(0, -1)), 3)
	add(1, 3)
	add(448, 448)
	add(1e-12, 448)
	return as, bs
}

// TestDivRNCorrectlyRounded runs wgsl/fp8.wgsl's div_rn on quotients
// near f32 midpoints and requires the correctly rounded quotient bit for
// bit (float64 division rounded once to f32 is the correctly rounded f32
// quotient), on the device's own path (gpu.Features.FusedFMA: the
// residual correction alone where fma is fused, integer steps after it
// elsewhere), for divisors below 2^126 as div_rn promises. The fuzz test of
// linear_fp8 per-token found such quotients on lavapipe, whose fma is
// not fused, where a residual computed with fma put FP8 codes one step
// off. Operands and quotients are normal f32 values, so no device may
// flush them.
func TestDivRNCorrectlyRounded(t *testing.T) {
	d := testDevice(t)
	as, bs := divCases(rand.New(rand.NewSource(5)))
	x, err := d.Upload(dtype.F32, []int{len(as)}, as)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Release()
	s, err := d.Upload(dtype.F32, []int{len(bs)}, bs)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	k := elementwise(d, "probe_div_rn", 1, len(as), "fp8").Snippet("BODY", "st_y(i, div_rn(ld_a(i), ld_b(i)));")
	y, err := k.In("a", x).In("b", s).Out("y", dtype.F32, len(as)).RunOne(d)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Release()
	got, err := y.Float32()
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i, g := range got {
		want := float32(float64(as[i]) / float64(bs[i]))
		if math.Float32bits(g) != math.Float32bits(want) {
			if bad < 8 {
				t.Errorf("div_rn(%g [%#08x], %g [%#08x]) = %g [%#08x], want %g [%#08x]",
					as[i], math.Float32bits(as[i]), bs[i], math.Float32bits(bs[i]), g, math.Float32bits(g), want, math.Float32bits(want))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d quotients are not correctly rounded on %v", bad, len(got), d)
	}
	t.Logf("%d quotients correctly rounded on %v", len(got), d)
}
