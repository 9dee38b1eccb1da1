package ops

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
)

// convertModes are the store paths TestStorageConversionsMatchDtype
// checks: stv_y for whole packs (st_y one element at a time when V is
// 1), stu_y or stu_y_unchecked for whole units.
var convertModes = []struct {
	name         string
	vec, units   int
	store        string
	nanUnchecked bool // NaN inputs are outside the accessor's contract
}{
	{"vec4", 4, 1, "stv_y(i, ldv_x(i));", false},
	{"vec1", 1, 1, "stv_y(i, ldv_x(i));", false},
	{"unit8", 4, 2, "stu_y(i, ldu_x(i));", false},
	{"vec4-unchecked", 4, 1, "stu_y_unchecked(i, ldu_x(i));", true},
	{"unit8-unchecked", 4, 2, "stu_y_unchecked(i, ldu_x(i));", true},
}

// TestStorageConversionsMatchDtype checks the WGSL f32 -> f16/bf16
// rounding (vector and scalar accessors) bit for bit against internal/dtype on
// a sweep through every exponent with ties, subnormals, overflow, Inf and NaN.
func TestStorageConversionsMatchDtype(t *testing.T) {
	d := testDevice(t)
	var in []float32
	for e := uint32(0); e < 256; e++ {
		for _, m := range []uint32{0, 1, 0x0fff, 0x1000, 0x1001, 0x3fff, 0x7fff, 0x8000, 0x8001, 0x18000, 0x2fff, 0x7fe000, 0x7ff000, 0x7fffff, 0x400000, 0x401000} {
			for _, s := range []uint32{0, 1 << 31} {
				in = append(in, math.Float32frombits(s|e<<23|m))
			}
		}
	}
	for len(in)%8 != 0 {
		in = append(in, 1)
	}
	x, err := d.Upload(dtype.F32, []int{len(in)}, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range []dtype.DType{dtype.BF16, dtype.F16} {
		for _, m := range convertModes {
			vec := m.vec
			t.Run(fmt.Sprintf("%v/%s", dt, m.name), func(t *testing.T) {
				n := len(in) / (vec * m.units)
				k := elementwise(d, "test_convert", vec, n).Snippet("BODY", m.store)
				k.Units = m.units
				y, err := k.In("x", x).Out("y", dt, len(in)).RunOne(d)
				if err != nil {
					t.Fatal(err)
				}
				b, err := y.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				bad := 0
				for i, f := range in {
					got := binary.LittleEndian.Uint16(b[2*i:])
					want := dtype.F32ToBF16(f)
					if dt == dtype.F16 {
						want = dtype.F32ToF16(f)
					}
					if f != f { // NaN: any NaN will do (PyTorch's bf16 NaN is 0x7fc0 whatever the input)
						isNaN := got&0x7fff > 0x7f80
						if dt == dtype.F16 {
							isNaN = got&0x7fff > 0x7c00
						}
						if !isNaN && !(m.nanUnchecked && dt == dtype.BF16) {
							t.Errorf("%g (%#x): got %#x, not a NaN", f, math.Float32bits(f), got)
						}
						continue
					}
					if got != want && bad < 10 {
						bad++
						t.Errorf("%g (%#x): got %#x, want %#x", f, math.Float32bits(f), got, want)
					}
				}
			})
		}
	}
}
