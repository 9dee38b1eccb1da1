package dtype

import (
	"encoding/binary"
	"math"
)

// Round returns v rounded to the nearest value representable in t (ties to
// even), as a float64. Integer types round to nearest and clamp to their range.
func Round(t DType, v float64) float64 {
	switch t {
	case F32:
		return float64(float32(v))
	case F16:
		return float64(F16ToF32(F32ToF16(float32(v))))
	case BF16:
		return float64(BF16ToF32(F32ToBF16(float32(v))))
	case FP8E4M3:
		return float64(E4M3ToF32(F32ToE4M3(float32(v))))
	case FP8E5M2:
		return float64(E5M2ToF32(F32ToE5M2(float32(v))))
	case U8:
		return math.Max(0, math.Min(255, math.RoundToEven(v)))
	case I32:
		return math.Max(math.MinInt32, math.Min(math.MaxInt32, math.RoundToEven(v)))
	}
	return v
}

// Encode converts values to t and returns their little-endian bytes.
// Rounding to f32 first and then to a narrower type is exact for f16, bf16
// and FP8 inputs and is what PyTorch does for a float32 tensor's .to(dtype).
func Encode(t DType, v []float32) []byte {
	out := make([]byte, len(v)*t.Size())
	for i, x := range v {
		switch t {
		case F32:
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
		case F16:
			binary.LittleEndian.PutUint16(out[2*i:], F32ToF16(x))
		case BF16:
			binary.LittleEndian.PutUint16(out[2*i:], F32ToBF16(x))
		case FP8E4M3:
			out[i] = F32ToE4M3(x)
		case FP8E5M2:
			out[i] = F32ToE5M2(x)
		case U8:
			out[i] = uint8(Round(U8, float64(x)))
		case I32:
			binary.LittleEndian.PutUint32(out[4*i:], uint32(int32(Round(I32, float64(x)))))
		}
	}
	return out
}

// Decode reads n elements of type t from little-endian bytes. It returns
// nil if b is shorter than n elements.
func Decode(t DType, b []byte, n int) []float32 {
	if len(b) < n*t.Size() {
		return nil
	}
	out := make([]float32, n)
	for i := range out {
		switch t {
		case F32:
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		case F16:
			out[i] = F16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		case BF16:
			out[i] = BF16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		case FP8E4M3:
			out[i] = E4M3ToF32(b[i])
		case FP8E5M2:
			out[i] = E5M2ToF32(b[i])
		case U8:
			out[i] = float32(b[i])
		case I32:
			out[i] = float32(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
	}
	return out
}

// F32ToBF16 rounds an f32 to bfloat16 bits, ties to even; NaN stays a quiet NaN.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// BF16ToF32 widens bfloat16 bits to f32 exactly.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToF16 rounds an f32 to IEEE half-precision bits, ties to even; values
// past the largest half overflow to infinity and NaN stays a quiet NaN.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	man := b & 0x7fffff
	switch {
	case exp == 0xff:
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp-127 > 15:
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 1 {
		// Normal half: keep 10 mantissa bits, round the 13 dropped ones.
		h := uint32(e)<<10 | man>>13
		rest := man & 0x1fff
		if rest > 0x1000 || (rest == 0x1000 && h&1 == 1) {
			h++ // may carry into the exponent, up to infinity: correct
		}
		return sign | uint16(h)
	}
	// Subnormal half or zero: value = m * 2^-24.
	if e < -10 {
		return sign
	}
	m := man | 0x800000
	shift := uint32(14 - e) // 1 - e + 13
	h := m >> shift
	rest := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rest > half || (rest == half && h&1 == 1) {
		h++
	}
	return sign | uint16(h)
}

// F16ToF32 widens IEEE half-precision bits to f32 exactly.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0:
		v := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}
