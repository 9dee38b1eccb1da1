package ops

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// convertKernel stores every f32 of x into y through the generated
// accessors named by STORE: stv_y for whole packs (st_y one element at a
// time when V is 1), stu_y or stu_y_unchecked for whole units.
const convertKernel = `
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nw.x + wid.x) * 64u + lid;
  if (i < p.n) { {{STORE}} }
}
`

// convertModes are the store paths TestStorageConversionsMatchDtype checks.
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
				y, err := d.NewTensor(dt, len(in))
				if err != nil {
					t.Fatal(err)
				}
				pr := newProgram(d, "test_convert", vec)
				pr.units = m.units
				pr.buf("x", dtype.F32, false).buf("y", dt, true)
				pr.uniform = []string{"n: u32"}
				pr.extra = append(pr.extra, strings.ReplaceAll(convertKernel, "{{STORE}}", m.store))
				pipe, err := pr.pipeline()
				if err != nil {
					t.Fatal(err)
				}
				n := len(in) / (vec * m.units)
				if err := d.Dispatch(pipe, d.Groups((n+63)/64), gpu.NewParams().U32(uint32(n)).Bytes(), x, y); err != nil {
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
