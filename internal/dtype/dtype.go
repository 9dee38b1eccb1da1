// Package dtype names the storage types of WebFuser tensors and converts
// values between them with the rounding rules of the operator spec:
// narrowing rounds to nearest even, FP8 saturates to its largest finite
// value and keeps NaN. It is pure Go so that it builds for every target.
package dtype

import (
	"fmt"
	"strings"
)

// DType is the storage type of a tensor's elements.
type DType uint8

// The storage types of the spec, plus the integer types used by masks and indices.
const (
	F32 DType = iota
	F16
	BF16
	FP8E4M3
	FP8E5M2
	U8
	I32
)

var names = [...]string{"f32", "f16", "bf16", "fp8_e4m3", "fp8_e5m2", "u8", "i32"}

// String returns the spec's name of the type, for example "bf16".
func (t DType) String() string {
	if int(t) < len(names) {
		return names[t]
	}
	return fmt.Sprintf("dtype(%d)", uint8(t))
}

// Size returns the number of bytes one element occupies.
func (t DType) Size() int {
	switch t {
	case F32, I32:
		return 4
	case F16, BF16:
		return 2
	default:
		return 1
	}
}

// IsFloat reports whether the type holds floating-point values.
func (t DType) IsFloat() bool { return t <= FP8E5M2 }

// Parse reads a type name as the spec or the safetensors format writes it
// ("bf16", "BF16", "F8_E4M3", "fp8_e4m3", ...).
func Parse(s string) (DType, error) {
	switch strings.ToLower(s) {
	case "f32", "float32":
		return F32, nil
	case "f16", "float16":
		return F16, nil
	case "bf16", "bfloat16":
		return BF16, nil
	case "fp8_e4m3", "f8_e4m3", "e4m3":
		return FP8E4M3, nil
	case "fp8_e5m2", "f8_e5m2", "e5m2":
		return FP8E5M2, nil
	case "u8", "uint8":
		return U8, nil
	case "i32", "int32":
		return I32, nil
	}
	return 0, fmt.Errorf("dtype: unknown type %q", s)
}

// SafetensorsName returns the dtype string the safetensors format uses.
func (t DType) SafetensorsName() string {
	switch t {
	case FP8E4M3:
		return "F8_E4M3"
	case FP8E5M2:
		return "F8_E5M2"
	}
	return strings.ToUpper(t.String())
}
