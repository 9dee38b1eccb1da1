package ops

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops/ref"
)

var fp8Formats = []dtype.DType{dtype.FP8E4M3, dtype.FP8E5M2}

func fp8Prefix(f dtype.DType) string {
	if f == dtype.FP8E5M2 {
		return "e5m2"
	}
	return "e4m3"
}

// TestFP8DecodeAllCodes decodes all 256 codes of each format on the GPU
// and requires the exact bits internal/dtype gives (any NaN for NaN).
func TestFP8DecodeAllCodes(t *testing.T) {
	d := testDevice(t)
	codes := make([]byte, 256)
	for i := range codes {
		codes[i] = byte(i)
	}
	for _, f := range fp8Formats {
		x, err := d.UploadBytes(f, []int{256}, codes)
		if err != nil {
			t.Fatal(err)
		}
		k := elementwise(d, "probe_fp8_decode", 1, 256, "fp8").Snippet("BODY", fmt.Sprintf("st_y(i, %s_decode((x_buf[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu));", fp8Prefix(f)))
		y, err := k.In("x", x).Out("y", dtype.F32, 256).RunOne(d)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := y.Float32()
		want := dtype.Decode(f, codes, 256)
		for i := range got {
			g, w := got[i], want[i]
			if (w != w) != (g != g) || (w == w && math.Float32bits(g) != math.Float32bits(w)) {
				t.Errorf("%v code %#02x: got %g, want %g", f, i, g, w)
			}
		}
	}
}

// fp8Sweep returns f32 values that exercise an encoder: every f32 with
// the low 12 bits of its pattern fixed (a stride through all exponents,
// both signs), every midpoint between neighbouring codes (ties) and the
// f32 values on either side of it, subnormals, the saturation boundary,
// infinities and NaN.
func fp8Sweep(f dtype.DType) []float32 {
	var xs []float32
	for i := uint32(0); i < 1<<20; i++ {
		xs = append(xs, math.Float32frombits(i<<12|(i*2654435761)&0xfff))
	}
	for c := 0; c < 0x7f; c++ {
		a := float64(dtype.Decode(f, []byte{byte(c)}, 1)[0])
		b := float64(dtype.Decode(f, []byte{byte(c + 1)}, 1)[0])
		if math.IsNaN(b) || math.IsInf(b, 0) {
			b = a + (a - float64(dtype.Decode(f, []byte{byte(c - 1)}, 1)[0]))
		}
		m := float32((a + b) / 2)
		for _, v := range []float32{float32(a), m, math.Nextafter32(m, 0), math.Nextafter32(m, float32(math.Inf(1)))} {
			xs = append(xs, v, -v)
		}
	}
	inf := float32(math.Inf(1))
	return append(xs, inf, -inf, float32(math.NaN()), float32(math.Copysign(0, -1)), 1e-45, 464, 465, 57344, 61440, 61441, 1e30)
}

// TestFP8EncodeSweep encodes fp8Sweep on the GPU; every code must equal
// internal/dtype's (round to nearest even, saturating, NaN kept).
func TestFP8EncodeSweep(t *testing.T) {
	d := testDevice(t)
	for _, f := range fp8Formats {
		xs := fp8Sweep(f)
		x, err := d.Upload(dtype.F32, []int{len(xs)}, xs)
		if err != nil {
			t.Fatal(err)
		}
		k := elementwise(d, "probe_fp8_encode", 1, len(xs), "fp8").Snippet("BODY", fmt.Sprintf("y_buf[i] = %s_encode(ld_x(i));", fp8Prefix(f)))
		y, err := k.In("x", x).Out("y", dtype.I32, len(xs)).RunOne(d)
		if err != nil {
			t.Fatal(err)
		}
		b, err := y.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for i, v := range xs {
			got := binary.LittleEndian.Uint32(b[4*i:])
			want := uint32(dtype.Encode(f, []float32{v})[0])
			if v != v {
				if !math.IsNaN(float64(dtype.Decode(f, []byte{byte(got)}, 1)[0])) {
					t.Errorf("%v: NaN encoded as %#x", f, got)
				}
				continue
			}
			// Inputs that are f32 subnormals may be flushed to zero by the device.
			if math.Abs(float64(v)) < 1.2e-38 && got&0x7f == 0 {
				continue
			}
			if got != want {
				if bad < 5 {
					t.Errorf("%v: encode(%g [%#08x]) = %#02x, want %#02x", f, v, math.Float32bits(v), got, want)
				}
				bad++
			}
		}
		if bad > 0 {
			t.Fatalf("%v: %d of %d codes differ", f, bad, len(xs))
		}
		t.Logf("%v: %d values encoded exactly", f, len(xs))
	}
}

// fp8Close compares FP8 outputs: equal up to one unit in the last place.
func fp8Close(t *testing.T, got *gpu.Tensor, want *ref.Tensor) {
	t.Helper()
	b, err := got.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	wb := dtype.Encode(want.DType, want.Float32())
	for i := range wb {
		g, w := int(b[i]), int(wb[i])
		// Same sign, codes one apart (codes are monotonic in magnitude).
		if g != w && !(g&0x80 == w&0x80 && (g-w == 1 || w-g == 1)) && !(g&0x7f == 0 && w&0x7f == 0) {
			t.Fatalf("element %d: code %#02x, want %#02x", i, g, w)
		}
	}
}

func TestQuantizeFP8MatchesReference(t *testing.T) {
	d := testDevice(t)
	for _, f := range fp8Formats {
		for _, g := range []Granularity{PerToken, PerTensor} {
			for _, dt := range floatStorage {
				for _, shape := range [][]int{{3, 77}, {1, 1}, {5, 6}, {2, 300}} {
					t.Run(fmt.Sprintf("%v/%d/%v/%v", f, g, dt, shape), func(t *testing.T) {
						rng := rand.New(rand.NewSource(2))
						x := randTensor(rng, dt, shape, 3, 0)
						if shape[0] > 1 {
							for c := 0; c < shape[1]; c++ {
								x.Data[shape[1]+c] = 0 // an all-zero row: scale 1e-12/fmax
							}
						}
						wq, ws, err := ref.QuantizeFP8(x, g == PerTensor, f)
						if err != nil {
							t.Fatal(err)
						}
						q, s, err := QuantizeFP8(upload(t, d, x), g, f)
						if err != nil {
							t.Fatal(err)
						}
						expectClose(t, s, ws, tol{Atol: 0, Rtol: 1e-6})
						fp8Close(t, q, wq)
					})
				}
			}
		}
	}
}

func TestLinearFP8MatchesReference(t *testing.T) {
	d := testDevice(t)
	for _, dt := range floatStorage {
		for _, perToken := range []bool{true, false} {
			for _, s := range []struct{ m, n, k int }{{5, 7, 33}, {1, 64, 16}, {70, 12, 9}} {
				t.Run(fmt.Sprintf("%v/perToken=%v/%dx%dx%d", dt, perToken, s.m, s.n, s.k), func(t *testing.T) {
					rng := rand.New(rand.NewSource(4))
					x := randTensor(rng, dt, []int{s.m, s.k}, 1, 0)
					w := randTensor(rng, dtype.F32, []int{s.n, s.k}, 0.2, 0)
					b := randTensor(rng, dt, []int{s.n}, 1, 0)
					wq, ws, _ := ref.QuantizeFP8(w, false, dtype.FP8E4M3)
					want, err := ref.LinearFP8(x, wq, ws, b, perToken)
					if err != nil {
						t.Fatal(err)
					}
					aq := "none"
					if perToken {
						aq = "per_token"
					}
					y, err := LinearFP8Forward(upload(t, d, x), upload(t, d, wq), upload(t, d, ws), upload(t, d, b), aq)
					if err != nil {
						t.Fatal(err)
					}
					expectClose(t, y, want, matmulTol(dt))
				})
			}
		}
	}
}
