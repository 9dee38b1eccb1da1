package dtype

import "math"

// FP8 formats of the OCP 8-bit floating point specification.
//   - E4M3 (E4M3FN): bias 7, largest finite 448, no infinities, S.1111.111 is NaN.
//   - E5M2: bias 15, largest finite 57344, IEEE-style infinities and NaNs.
//
// Encoding rounds to nearest even and saturates to the largest finite value;
// NaN encodes as NaN.

// E4M3Max and E5M2Max are the largest finite values of the two formats.
const (
	E4M3Max = 448.0
	E5M2Max = 57344.0
)

// fp8Format describes one FP8 layout for the shared encoder.
type fp8Format struct {
	manBits uint32
	bias    int32
	maxCode uint8 // the largest finite magnitude code
	nanCode uint8
}

var (
	e4m3 = fp8Format{manBits: 3, bias: 7, maxCode: 0x7e, nanCode: 0x7f}
	e5m2 = fp8Format{manBits: 2, bias: 15, maxCode: 0x7b, nanCode: 0x7e}
)

// F32ToE4M3 encodes an f32 as OCP E4M3FN.
func F32ToE4M3(f float32) uint8 { return e4m3.encode(f) }

// F32ToE5M2 encodes an f32 as OCP E5M2.
func F32ToE5M2(f float32) uint8 { return e5m2.encode(f) }

// E4M3ToF32 decodes an OCP E4M3FN code exactly.
func E4M3ToF32(c uint8) float32 { return e4m3.decode(c) }

// E5M2ToF32 decodes an OCP E5M2 code exactly.
func E5M2ToF32(c uint8) float32 { return e5m2.decode(c) }

func (ft fp8Format) decode(c uint8) float32 {
	sign := float32(1)
	if c&0x80 != 0 {
		sign = -1
	}
	m := uint32(c & 0x7f)
	if m > uint32(ft.maxCode) {
		if ft.manBits == 2 && m == 0x7c {
			return sign * float32(math.Inf(1))
		}
		return float32(math.NaN())
	}
	exp := int32(m >> ft.manBits)
	man := m & (1<<ft.manBits - 1)
	if exp == 0 {
		return sign * float32(man) * float32(math.Ldexp(1, int(1-ft.bias-int32(ft.manBits))))
	}
	return sign * float32(math.Ldexp(float64(man|1<<ft.manBits), int(exp-ft.bias-int32(ft.manBits))))
}

func (ft fp8Format) encode(f float32) uint8 {
	if f != f {
		return ft.nanCode
	}
	var sign uint8
	if math.Signbit(float64(f)) {
		sign = 0x80
	}
	a := math.Abs(float64(f))
	maxv := float64(ft.decode(ft.maxCode))
	if a >= maxv {
		return sign | ft.maxCode
	}
	// Quantum of the binade that holds a (subnormal binade below 2^(1-bias)).
	e := binade(a)
	if a == 0 || e < 1-ft.bias {
		e = 1 - ft.bias
	}
	q := math.Ldexp(1, int(e-int32(ft.manBits)))
	n := math.RoundToEven(a / q) // exact: a/q is a power-of-two scaling
	v := n * q
	if v >= maxv {
		return sign | ft.maxCode
	}
	if v == 0 {
		return sign
	}
	// Re-derive the code from the rounded value.
	ev := binade(v)
	if ev < 1-ft.bias {
		return sign | uint8(v/math.Ldexp(1, int(1-ft.bias-int32(ft.manBits))))
	}
	man := uint32(v/math.Ldexp(1, int(ev-int32(ft.manBits)))) - 1<<ft.manBits
	return sign | uint8(uint32(ev+ft.bias)<<ft.manBits|man)
}

// binade returns e with 2^e <= a < 2^(e+1), exactly, for a > 0.
func binade(a float64) int32 {
	_, e := math.Frexp(a)
	return int32(e - 1)
}
