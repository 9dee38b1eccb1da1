package ops

import (
	"math"
	"sort"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// NF4StatsBlock is the block of bitsandbytes' second-level quantisation:
// 256 consecutive absmax values share one scale.
const NF4StatsBlock = 256

// NF4Stats are NF4 statistics compressed as bitsandbytes'
// compress_statistics=True (double quantisation) stores them: the absmax
// of every weight block minus Offset (their mean), quantised in blocks of
// NF4StatsBlock to 8-bit codes of the table Code (f32 [256], sorted;
// NF4DynamicMap is bitsandbytes' default) with one f32 Scale per block:
// absmax = Code[Codes[i]] * Scale[i/256] + Offset, in f32.
type NF4Stats struct {
	Codes  *gpu.Tensor // u8 [blocks]
	Scale  *gpu.Tensor // f32 [ceil(blocks/256)]
	Code   *gpu.Tensor // f32 [256]
	Offset float32
}

// NF4DynamicMap is bitsandbytes' create_dynamic_map() (signed, 7
// exponent bits, 8 bits), the code of its blockwise 8-bit quantisation:
// for i = 0..6, the midpoints of 2^i+1 points spaced evenly over [0.1, 1]
// (torch.linspace in f32) times 10^(i-6), both signs, then 0 and 1,
// sorted.
func NF4DynamicMap() []float32 {
	data := []float32{0, 1}
	for i := 0; i < 7; i++ {
		n := 1<<i + 1
		b := linspace32(0.1, 1, n)
		p := float32(math.Pow(10, float64(i-6)))
		for j := 0; j+1 < n; j++ {
			m := (b[j] + b[j+1]) / 2
			data = append(data, p*m, -p*m)
		}
	}
	sort.Slice(data, func(a, b int) bool { return data[a] < data[b] })
	return data
}

// linspace32 is torch.linspace(start, end, n, dtype=float32): the first
// half counted up from start, the rest down from end, in f32.
func linspace32(start, end float32, n int) []float32 {
	out := make([]float32, n)
	step := (end - start) / float32(n-1)
	for i := range out {
		if i < n/2 {
			out[i] = start + step*float32(i)
		} else {
			out[i] = end - step*float32(n-i-1)
		}
	}
	return out
}

// QuantizeNF4Stats compresses NF4 absmax values (f32 [blocks], as
// QuantizeNF4 returns them) as bitsandbytes' double quantisation does,
// on the host (weights are quantised once): Offset = their mean (here
// in float64, rounded to f32; torch's reduction may differ in the last
// bit), then per block of 256 of absmax - Offset (f32), scale = max|v|
// (floored at 1e-38), v * (1/scale) clamped to [-1, 1] (f32), and the
// code the first of NF4DynamicMap's midpoints at or above it picks
// (torch.bucketize).
func QuantizeNF4Stats(absmax *gpu.Tensor) (NF4Stats, error) {
	const op = "QuantizeNF4Stats"
	if absmax == nil || absmax.DType != dtype.F32 || absmax.Numel() == 0 {
		return NF4Stats{}, errorf(op, "absmax", "want a non-empty f32 tensor, got %v", absmax)
	}
	a, err := absmax.Float32()
	if err != nil {
		return NF4Stats{}, err
	}
	sum := 0.0
	for _, v := range a {
		sum += float64(v)
	}
	offset := float32(sum / float64(len(a)))
	code := NF4DynamicMap()
	bounds := make([]float32, len(code)-1)
	for i := range bounds {
		bounds[i] = (code[i] + code[i+1]) / 2
	}
	nb := (len(a) + NF4StatsBlock - 1) / NF4StatsBlock
	codes := make([]float32, len(a))
	scale := make([]float32, nb)
	for b := 0; b < nb; b++ {
		blk := a[b*NF4StatsBlock : min(len(a), (b+1)*NF4StatsBlock)]
		var m float32
		for _, v := range blk {
			m = max(m, float32(math.Abs(float64(v-offset))))
		}
		m = max(m, 1e-38)
		scale[b] = m
		inv := 1 / m
		for j, v := range blk {
			s := min(max((v-offset)*inv, -1), 1)
			codes[b*NF4StatsBlock+j] = float32(sort.Search(len(bounds), func(i int) bool { return bounds[i] >= s }))
		}
	}
	d := absmax.Device()
	var st NF4Stats
	st.Offset = offset
	if st.Codes, err = d.Upload(dtype.U8, []int{len(a)}, codes); err == nil {
		if st.Scale, err = d.Upload(dtype.F32, []int{nb}, scale); err == nil {
			if st.Code, err = d.Upload(dtype.F32, []int{len(code)}, code); err == nil {
				return st, nil
			}
			st.Scale.Release()
		}
		st.Codes.Release()
	}
	return NF4Stats{}, err
}

// check validates compressed statistics for blocks absmax values.
func (s NF4Stats) check(op string, blocks int, d *gpu.Device) error {
	if s.Codes == nil || s.Codes.DType != dtype.U8 || s.Codes.Numel() != blocks {
		return errorf(op, "stats.codes", "want u8 [%d] (one code per weight block), got %v", blocks, s.Codes)
	}
	if nb := (blocks + NF4StatsBlock - 1) / NF4StatsBlock; s.Scale == nil || s.Scale.DType != dtype.F32 || s.Scale.Numel() != nb {
		return errorf(op, "stats.scale", "want f32 [%d] (one per %d codes), got %v", nb, NF4StatsBlock, s.Scale)
	}
	if s.Code == nil || s.Code.DType != dtype.F32 || s.Code.Numel() != 256 {
		return errorf(op, "stats.code", "want the f32 [256] code table, got %v", s.Code)
	}
	if math.IsNaN(float64(s.Offset)) || math.IsInf(float64(s.Offset), 0) {
		return errorf(op, "stats.offset", "%g is not finite", s.Offset)
	}
	return (operands{{"stats.codes", s.Codes}, {"stats.scale", s.Scale}, {"stats.code", s.Code}}).check(op, d)
}

// DequantizeNF4Stats expands compressed statistics of blocks weight blocks
// to their absmax, f32 [blocks]: Code[Codes[i]] * Scale[i/256] + Offset.
func DequantizeNF4Stats(s NF4Stats, blocks int) (*gpu.Tensor, error) {
	const op = "DequantizeNF4Stats"
	if s.Codes == nil {
		return nil, errorf(op, "stats.codes", "is required")
	}
	if err := s.check(op, blocks, s.Codes.Device()); err != nil {
		return nil, err
	}
	d := s.Codes.Device()
	k := elementwise(d, "nf4_stats", 1, blocks).Snippet("BODY", `let c = (codes_buf[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
  st_absmax(i, ld_code(c) * ld_scale(i / 256u) + p.offset);`)
	k.In("codes", s.Codes).In("scale", s.Scale).In("code", s.Code).Out("absmax", dtype.F32, blocks).F32("offset", s.Offset)
	return k.RunOne(d)
}
