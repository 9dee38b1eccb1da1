package ref

import (
	"fmt"

	"github.com/webfuser/webfuser/internal/dtype"
)

// NF4 is the NormalFloat4 codebook of bitsandbytes (QLoRA): code i
// decodes to NF4[i] times its block's absmax. The values are float32.
var NF4 = [16]float32{
	-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
	-0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
	0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
	0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
}

// NF4Thresholds returns the 15 decision thresholds of the NF4 encoder:
// the midpoints of neighbouring codes, taken in float64 and rounded to
// float32 (they equal bitsandbytes' dQuantizeNF4 constants). A value
// encodes to the number of thresholds it exceeds (strictly), so a value
// exactly on a midpoint takes the lower code, as in bitsandbytes.
func NF4Thresholds() [15]float32 {
	var t [15]float32
	for i := range t {
		t[i] = float32((float64(NF4[i]) + float64(NF4[i+1])) / 2)
	}
	return t
}

// EncodeNF4 returns the NF4 code of a value already divided by its absmax.
func EncodeNF4(v float32) byte {
	c := byte(0)
	for _, t := range NF4Thresholds() {
		if v > t {
			c++
		}
	}
	return c
}

// QuantizeNF4 quantises the n elements of w (row-major, any shape) in
// blocks of blockSize consecutive elements, bitsandbytes' blockwise NF4:
// absmax = max|w| per block (f32), each value times 1/absmax (both f32)
// encoded with EncodeNF4 (a block of zeros encodes 0.0, code 7), two codes
// a byte, the first element in the high nibble. It returns packed u8
// [ceil(n/2)] (a last odd element's low nibble is 0) and absmax f32
// [ceil(n/blockSize)].
func QuantizeNF4(w *Tensor, blockSize int) (packed, absmax *Tensor, err error) {
	if blockSize < 1 {
		return nil, nil, fmt.Errorf("ref.QuantizeNF4: block size %d", blockSize)
	}
	n := w.Numel()
	nb := (n + blockSize - 1) / blockSize
	packed, absmax = New(dtype.U8, (n+1)/2), New(dtype.F32, nb)
	codes := make([]byte, n)
	for b := 0; b < nb; b++ {
		lo, hi := b*blockSize, min(n, (b+1)*blockSize)
		var a float32
		for _, v := range w.Data[lo:hi] {
			a = max(a, abs32(float32(v)))
		}
		absmax.Data[b] = float64(a)
		for i := lo; i < hi; i++ {
			if a == 0 {
				codes[i] = 7
				continue
			}
			codes[i] = EncodeNF4(float32(w.Data[i]) * (1 / a))
		}
	}
	for i := range packed.Data {
		hi, lo := codes[2*i], byte(0)
		if 2*i+1 < n {
			lo = codes[2*i+1]
		}
		packed.Data[i] = float64(hi<<4 | lo)
	}
	return packed, absmax, nil
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// DequantizeNF4 returns the n weights that packed and absmax hold,
// NF4[code] * absmax in f32, each rounded to dt (bitsandbytes
// dequantises to its compute dtype, which is x's here).
func DequantizeNF4(packed, absmax *Tensor, n, blockSize int, dt dtype.DType) ([]float64, error) {
	if packed.Numel() != (n+1)/2 || absmax.Numel() != (n+blockSize-1)/blockSize {
		return nil, fmt.Errorf("ref.DequantizeNF4: %d packed bytes and %d absmax values for %d weights in blocks of %d",
			packed.Numel(), absmax.Numel(), n, blockSize)
	}
	w := make([]float64, n)
	for i := range w {
		c := byte(packed.Data[i/2])
		if i%2 == 0 {
			c >>= 4
		}
		w[i] = dtype.Round(dt, float64(NF4[c&15]*float32(absmax.Data[i/blockSize])))
	}
	return w, nil
}

// LinearNF4 computes x @ Wᵀ + bias for x [..., K] and the NF4 weight W
// [outFeatures, K] that packed and absmax hold (DequantizeNF4, rounded to
// x's dtype), in float64; the output has x's dtype.
func LinearNF4(x, packed, absmax, bias *Tensor, outFeatures, blockSize int) (*Tensor, error) {
	if len(x.Shape) == 0 {
		return nil, fmt.Errorf("ref.LinearNF4: x has no last dimension")
	}
	k := x.Shape[len(x.Shape)-1]
	w, err := DequantizeNF4(packed, absmax, outFeatures*k, blockSize, x.DType)
	if err != nil {
		return nil, err
	}
	wt := &Tensor{Shape: []int{outFeatures, k}, DType: dtype.F32, Data: w}
	return Linear(x, wt, bias)
}

// DequantizeNF4Stats expands NF4 statistics compressed by bitsandbytes'
// double quantisation: absmax[i] = code[codes[i]] * scale[i/256] +
// offset, the product and the sum each rounded to f32 (as
// dequantize_blockwise and the offset add do). It returns f32 [blocks].
func DequantizeNF4Stats(codes, scale, code *Tensor, offset float64) (*Tensor, error) {
	n := codes.Numel()
	if scale.Numel() != (n+255)/256 || code.Numel() != 256 {
		return nil, fmt.Errorf("ref.DequantizeNF4Stats: %d codes, %d scales, code table of %d", n, scale.Numel(), code.Numel())
	}
	a := New(dtype.F32, n)
	for i, c := range codes.Data {
		if c < 0 || c > 255 {
			return nil, fmt.Errorf("ref.DequantizeNF4Stats: code %g outside [0,255]", c)
		}
		p := float32(code.Data[int(c)]) * float32(scale.Data[i/256])
		a.Data[i] = float64(p + float32(offset))
	}
	return a, nil
}
