package ref

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"runtime"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
)

// referenceHash is the SHA-256 of the outputs below, as the native
// (linux/amd64) build computes them. The same test runs in the
// GOOS=wasip1 build under wazero (make test-wasip1), so both builds must
// produce these bits exactly. If the reference changes on purpose, update
// it from the native run and check that the wasip1 run agrees.
const referenceHash = "2eda58b5b01cac8c280d630c74a6b148bd5693ca10b160b6f9b4788803912a9e"

// fixedInputs returns n values from a xorshift generator: the same on
// every platform, and independent of math/rand.
func fixedInputs(seed uint64, n int, scale, mean float64) []float64 {
	v := make([]float64, n)
	s := seed
	for i := range v {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		u := float64(s>>11) / (1 << 53) // [0,1)
		v[i] = mean + scale*(2*u-1)
	}
	return v
}

func fixedTensor(seed uint64, dt dtype.DType, scale, mean float64, shape ...int) *Tensor {
	t := New(dt, shape...)
	for i, x := range fixedInputs(seed, t.Numel(), scale, mean) {
		t.Data[i] = dtype.Round(dt, x)
	}
	return t
}

// referenceOutputs computes a fixed set of reference results and hashes them.
func referenceOutputs(t *testing.T) string {
	h := sha256.New()
	put := func(name string, y *Tensor, err error) {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h.Write([]byte(name))
		var b [8]byte
		for _, v := range y.Data {
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
			h.Write(b[:])
		}
	}
	for _, dt := range []dtype.DType{dtype.F32, dtype.F16, dtype.BF16} {
		x := fixedTensor(1, dt, 4, 0.5, 3, 5, 96)
		w := fixedTensor(2, dt, 1, 1, 96)
		b := fixedTensor(3, dt, 1, 0, 96)
		y, err := RMSNorm(x, w, b, 1e-5)
		put("rms_norm/"+dt.String(), y, err)
		y, err = RMSNorm(x, nil, nil, 1e-5)
		put("rms_norm_plain/"+dt.String(), y, err)
		y, err = LayerNorm(fixedTensor(4, dt, 2, 300, 3, 5, 96), w, b, 1e-6)
		put("layer_norm/"+dt.String(), y, err)
		sc := fixedTensor(5, dtype.F32, 0.5, 0, 3, 96)
		sh := fixedTensor(6, dt, 1, 0, 3, 5, 1, 96)
		y, err = FusedScaleShift(fixedTensor(7, dt, 3, 0, 3, 5, 96), sc, sh, 1)
		put("fused_scale_shift/"+dt.String(), y, err)
	}
	// Storage conversions, edge cases included: subnormals, ties, overflow.
	vals := fixedInputs(8, 4096, 600, 0)
	vals = append(vals, 0, -0.0, 1e-8, 6e-8, 65504, 65520, 448, 464, 57344, 1e40, -1e40, 0.5+1.0/2048, 1+1.0/256)
	f32 := make([]float32, len(vals))
	for i, v := range vals {
		f32[i] = float32(v)
	}
	for _, dt := range []dtype.DType{dtype.F16, dtype.BF16, dtype.FP8E4M3, dtype.FP8E5M2} {
		h.Write([]byte("encode/" + dt.String()))
		enc := dtype.Encode(dt, f32)
		h.Write(enc)
		for _, v := range dtype.Decode(dt, enc, len(f32)) {
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			h.Write(b[:])
		}
		for _, v := range vals {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(dtype.Round(dt, v)))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestBitIdenticalAcrossBuilds pins the reference's exact output bits, so
// that the wasm build (wasip1 under wazero, and the same Go code in the
// browser) is shown to compute what the native build computes.
func TestBitIdenticalAcrossBuilds(t *testing.T) {
	got := referenceOutputs(t)
	if got != referenceHash {
		t.Fatalf("%s/%s: reference outputs hash to %s, want %s (the native build's)", runtime.GOOS, runtime.GOARCH, got, referenceHash)
	}
}
