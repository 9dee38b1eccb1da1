package ops

import (
	"fmt"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// NF4BlockSize is bitsandbytes' default NF4 block: 64 consecutive weights
// share one absmax.
const NF4BlockSize = 64

// nf4Table is the NormalFloat4 codebook of bitsandbytes (QLoRA), float32.
var nf4Table = [16]float32{
	-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
	-0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
	0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
	0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
}

// nf4TableWGSL is the codebook as a WGSL constant expression.
func nf4TableWGSL() string {
	v := make([]string, len(nf4Table))
	for i, c := range nf4Table {
		v[i] = fmt.Sprintf("%.9g", c)
	}
	return "array<f32, 16>(" + strings.Join(v, ", ") + ")"
}

// nf4EncodeWGSL returns a WGSL expression of the NF4 code of the f32
// expression v (already divided by its absmax): the number of the 15
// midpoints between neighbouring codes (taken in float64, rounded to
// float32: bitsandbytes' dQuantizeNF4 constants) that v exceeds strictly.
func nf4EncodeWGSL(v string) string {
	terms := make([]string, 15)
	for i := range terms {
		t := float32((float64(nf4Table[i]) + float64(nf4Table[i+1])) / 2)
		terms[i] = fmt.Sprintf("select(0u, 1u, %s > %.9g)", v, t)
	}
	return strings.Join(terms, " + ")
}

// checkNF4Block refuses a block size the kernels cannot serve: blocks own
// whole words of eight codes.
func checkNF4Block(op string, bs int) error {
	if bs < 8 || bs%8 != 0 {
		return errorf(op, "", "block size %d must be a positive multiple of 8 (bitsandbytes uses 64)", bs)
	}
	return nil
}

// QuantizeNF4 quantises the weights of w (row-major, any float dtype) with
// bitsandbytes' blockwise NF4 (quant_type="nf4", compress_statistics
// off): absmax = max|w| over each block of blockSize consecutive elements
// of the flattened tensor, each value times 1/absmax (both f32) encoded to
// the nearest of the 16 NF4 values (a value on a midpoint takes the lower
// code; an all-zero block codes 0.0), two codes a byte with the first
// element in the high nibble. It returns packed u8 [ceil(n/2)] and absmax
// f32 [ceil(n/blockSize)].
func QuantizeNF4(w *gpu.Tensor, blockSize int) (packed, absmax *gpu.Tensor, err error) {
	const op = "QuantizeNF4"
	if err := checkFloat(op, "weight", w); err != nil {
		return nil, nil, err
	}
	if err := checkNF4Block(op, blockSize); err != nil {
		return nil, nil, err
	}
	if err := checkBinding(op, "weight", w); err != nil {
		return nil, nil, err
	}
	n := w.Numel()
	nb := (n + blockSize - 1) / blockSize
	d := w.Device()
	k := elementwise(d, "quantize_nf4", 1, nb, "fp8").Snippet("BODY", `let lo = i * p.bs;
  let hi = min(p.total, lo + p.bs);
  var a = 0.0;
  for (var e = lo; e < hi; e = e + 1u) { a = max(a, abs(ld_x(e))); }
  st_am(i, a);
  let r = div_rn_checked(1.0, a);
  let nbytes = (p.total + 1u) / 2u;
  for (var wi = lo / 8u; wi < (hi + 7u) / 8u; wi = wi + 1u) {
    var word = 0u;
    for (var j = 0u; j < 8u; j = j + 1u) {
      let e = wi * 8u + j;
      var c = 0u;
      if (e < hi) {
        let v = ld_x(e) * r;
        c = select(`+nf4EncodeWGSL("v")+`, 7u, a == 0.0);
      }
      word = word | (c << ((j >> 1u) * 8u + select(0u, 4u, (j & 1u) == 0u)));
    }
    let b0 = wi * 4u;
    if (b0 + 4u > nbytes) { // keep the bytes past the tensor
      let keep = 0xffffffffu << (8u * (nbytes - b0));
      word = (word & ~keep) | (q_buf[wi] & keep);
    }
    q_buf[wi] = word;
  }`)
	k.In("x", w).Out("q", dtype.U8, (n+1)/2).Out("am", dtype.F32, nb).U32("total", n).U32("bs", blockSize)
	outs, err := k.Run(d)
	if err != nil {
		return nil, nil, err
	}
	return outs[0], outs[1], nil
}

// LinearNF4 is a linear layer whose weight [Out, In] is held at 4 bits in
// bitsandbytes' NF4 format (QuantizeNF4): Weight u8 [ceil(Out*In/2)] (any
// shape of that many bytes: bitsandbytes keeps [Out*In/2, 1]), Absmax f32
// [ceil(Out*In/BlockSize)], Bias [Out] optional. The weight is
// dequantised to NF4[code]*absmax in f32 and rounded to x's dtype
// (bitsandbytes dequantises to its compute dtype) inside the product:
// by a GEMV that reads the 4-bit words for up to 8 rows of x, else while
// the tiled matmul stages it. It is never held at full width.
type LinearNF4 struct {
	In, Out   int
	BlockSize int
	Weight    *gpu.Tensor
	Absmax    *gpu.Tensor
	Stats     *NF4Stats // the absmax compressed, when Absmax is nil
	Bias      *gpu.Tensor
}

// NewLinearNF4 wraps packed NF4 codes, their absmax and an optional bias
// as a layer with out output and in input features; blockSize 0 means
// NF4BlockSize.
func NewLinearNF4(weight, absmax, bias *gpu.Tensor, out, in, blockSize int) (*LinearNF4, error) {
	return newLinearNF4(weight, absmax, nil, bias, out, in, blockSize)
}

// NewLinearNF4Compressed is NewLinearNF4 with the absmax compressed
// (bitsandbytes' compress_statistics=True, QuantizeNF4Stats): each
// forward expands it (DequantizeNF4Stats) into a temporary.
func NewLinearNF4Compressed(weight *gpu.Tensor, stats NF4Stats, bias *gpu.Tensor, out, in, blockSize int) (*LinearNF4, error) {
	return newLinearNF4(weight, nil, &stats, bias, out, in, blockSize)
}

// newLinearNF4 validates and builds a layer with absmax or stats.
func newLinearNF4(weight, absmax *gpu.Tensor, stats *NF4Stats, bias *gpu.Tensor, out, in, blockSize int) (*LinearNF4, error) {
	const op = "LinearNF4"
	if blockSize == 0 {
		blockSize = NF4BlockSize
	}
	if err := checkNF4Block(op, blockSize); err != nil {
		return nil, err
	}
	if out < 1 || in < 1 {
		return nil, errorf(op, "", "features %d x %d must be positive", out, in)
	}
	if weight == nil || weight.DType != dtype.U8 {
		return nil, errorf(op, "weight", "want u8 packed NF4 codes")
	}
	if n := (out*in + 1) / 2; weight.Numel() != n {
		return nil, errorf(op, "weight", "shape %v, want %d bytes for [%d,%d] at 4 bits", weight.Shape, n, out, in)
	}
	blocks := (out*in + blockSize - 1) / blockSize
	if stats != nil {
		if err := stats.check(op, blocks, weight.Device()); err != nil {
			return nil, err
		}
	} else {
		if err := checkFloat(op, "absmax", absmax); err != nil {
			return nil, err
		}
		if absmax.Numel() != blocks {
			return nil, errorf(op, "absmax", "shape %v, want %d values (one per block of %d)", absmax.Shape, blocks, blockSize)
		}
	}
	if err := checkVector(op, "bias", bias, out); err != nil {
		return nil, err
	}
	var ts operands
	ts.add("weight", weight)
	ts.add("absmax", absmax)
	ts.add("bias", bias)
	if err := ts.check(op, weight.Device()); err != nil {
		return nil, err
	}
	return &LinearNF4{In: in, Out: out, BlockSize: blockSize, Weight: weight, Absmax: absmax, Stats: stats, Bias: bias}, nil
}

// QuantizeLinearNF4 returns an NF4 copy of l (QuantizeNF4 in blocks of
// blockSize, 0 meaning NF4BlockSize), the bias shared.
func QuantizeLinearNF4(l *Linear, blockSize int) (*LinearNF4, error) {
	if blockSize == 0 {
		blockSize = NF4BlockSize
	}
	q, a, err := QuantizeNF4(l.Weight, blockSize)
	if err != nil {
		return nil, err
	}
	f, err := NewLinearNF4(q, a, l.Bias, l.Out, l.In, blockSize)
	if err != nil {
		q.Release()
		a.Release()
		return nil, err
	}
	return f, nil
}

// Forward computes x @ dq(Weight)ᵀ + Bias for x [..., In]; the output has x's dtype.
func (l *LinearNF4) Forward(x *gpu.Tensor) (*gpu.Tensor, error) { return l.forward(x, ActNone) }

// ForwardAct computes act(Forward(x)) with the activation in the product's epilogue.
func (l *LinearNF4) ForwardAct(x *gpu.Tensor, act Activation) (*gpu.Tensor, error) {
	return l.forward(x, act)
}

// Dims returns the input and output features.
func (l *LinearNF4) Dims() (in, out int) { return l.In, l.Out }

// Parameters returns the tensors the layer owns.
func (l *LinearNF4) Parameters() []*gpu.Tensor {
	if l.Stats != nil {
		return nonNil(l.Weight, l.Stats.Codes, l.Stats.Scale, l.Stats.Code, l.Bias)
	}
	return nonNil(l.Weight, l.Absmax, l.Bias)
}

func (l *LinearNF4) forward(x *gpu.Tensor, act Activation) (*gpu.Tensor, error) {
	const op = "LinearNF4"
	if err := checkFloat(op, "x", x); err != nil {
		return nil, err
	}
	if len(x.Shape) == 0 || x.Shape[len(x.Shape)-1] != l.In {
		return nil, errorf(op, "x", "shape %v, want last dimension %d", x.Shape, l.In)
	}
	if err := checkAct(op, act); err != nil {
		return nil, err
	}
	if err := checkBinding(op, "x", x); err != nil {
		return nil, err
	}
	if x.Device() != l.Weight.Device() {
		return nil, errorf(op, "x", "is on another device")
	}
	m := x.Numel() / l.In
	outShape := append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), l.Out)
	if m == 0 {
		return x.Device().NewOutput(x.DType, outShape...)
	}
	if l.Stats != nil {
		a, err := DequantizeNF4Stats(*l.Stats, (l.Out*l.In+l.BlockSize-1)/l.BlockSize)
		if err != nil {
			return nil, err
		}
		defer a.Release()
		c := *l
		c.Absmax, c.Stats = a, nil
		l = &c
	}
	if m <= launch.NF4GEMVMaxRows && l.In%8 == 0 {
		return l.gemv(x, m, act, outShape).RunOne(x.Device())
	}
	return l.tiled(x, m, act, outShape).RunOne(x.Device())
}

// epilogue returns the WGSL of bias and activation on v at output n.
func (l *LinearNF4) epilogue(k *kernel.Kernel, act Activation) string {
	var epi []string
	if l.Bias != nil {
		k.In("b", l.Bias)
		epi = append(epi, "v = v + ld_b(n);")
	}
	if act != ActNone {
		epi = append(epi, "v = rnd1_y(v);", fmt.Sprintf("v = rnd1_y(%s(v));", act.wgslFn()))
	}
	return strings.Join(epi, "\n  ")
}

// gemv declares the small-M kernel (wgsl/nf4_gemv.wgsl).
func (l *LinearNF4) gemv(x *gpu.Tensor, m int, act Activation, outShape []int) *kernel.Kernel {
	wg, nr := launch.NF4GEMV(m)
	vec := 1
	if l.Out%nr == 0 && nr == 4 {
		vec = 4
	}
	dev := x.Device()
	k := &kernel.Kernel{Name: "nf4_gemv", Vec: vec, Files: []string{"act", "nf4_gemv"}, Grid: dev.Groups((l.Out + nr - 1) / nr)}
	k.Uint("WG", wg).Uint("MR", m).Uint("NR", nr).Const("NF4_TABLE", nf4TableWGSL())
	k.In("x", x).In("w", l.Weight).In("am", l.Absmax)
	epi := l.epilogue(k, act)
	k.Out("y", x.DType, outShape...)
	k.U32("n", l.Out).U32("k", l.In).U32("bs", l.BlockSize)
	loadX := "xa[m] = vec4<f32>(ld_x(xi), ld_x(xi + 1u), ld_x(xi + 2u), ld_x(xi + 3u));\n        xb[m] = vec4<f32>(ld_x(xi + 4u), ld_x(xi + 5u), ld_x(xi + 6u), ld_x(xi + 7u));"
	round := ""
	if x.DType != dtype.F32 {
		round = "wa = vec4<f32>(rnd1_x(wa.x), rnd1_x(wa.y), rnd1_x(wa.z), rnd1_x(wa.w));\n          wb = vec4<f32>(rnd1_x(wb.x), rnd1_x(wb.y), rnd1_x(wb.z), rnd1_x(wb.w));"
	}
	store := "if (lid < MR * NR) {\n    let m = lid / NR;\n    let n = n0 + lid % NR;\n    if (n < p.n) { st_y(m * p.n + n, epi(red[lid * WG], m, n)); }\n  }"
	if vec == 4 {
		loadX = "xa[m] = ldv_x(xi / 4u);\n        xb[m] = ldv_x(xi / 4u + 1u);"
		if x.DType != dtype.F32 {
			round = "wa = rnd_x(wa);\n          wb = rnd_x(wb);"
		}
		store = "if (lid < MR) {\n    let m = lid;\n    let r = m * NR * WG;\n    stv_y((m * p.n + n0) / 4u, P(epi(red[r], m, n0), epi(red[r + WG], m, n0 + 1u), epi(red[r + 2u * WG], m, n0 + 2u), epi(red[r + 3u * WG], m, n0 + 3u)));\n  }"
	}
	return k.Snippet("LOAD_X", loadX).Snippet("ROUND_W", round).Snippet("EPILOGUE", epi).Snippet("STORE", store)
}

// tiled declares the product on wgsl/matmul.wgsl, decoding the weight as
// it stages it (nf4.wgsl).
func (l *LinearNF4) tiled(x *gpu.Tensor, m int, act Activation, outShape []int) *kernel.Kernel {
	t := launch.NF4Tile(x.Device(), m, l.Out)
	vec := launch.PackWidth(l.Out)
	k := &kernel.Kernel{Name: "nf4_matmul", Vec: vec, Files: []string{"act", "nf4", "matmul"}, Grid: launch.MatmulGrid(x.Device(), t, m, l.Out)}
	k.Uint("WX", t.BN/4).Uint("WY", t.BM/4).Uint("BK", t.BK).Const("NF4_TABLE", nf4TableWGSL())
	k.In("x", x).In("w", l.Weight).In("am", l.Absmax)
	epi := l.epilogue(k, act)
	k.Out("y", x.DType, outShape...)
	k.U32("m", m).U32("n", l.Out).U32("k", l.In).U32("bs", l.BlockSize)
	store := "st_y(m * p.n + n, epi(a.x, m, n)); if (n + 1u < p.n) { st_y(m * p.n + n + 1u, epi(a.y, m, n + 1u)); } if (n + 2u < p.n) { st_y(m * p.n + n + 2u, epi(a.z, m, n + 2u)); } if (n + 3u < p.n) { st_y(m * p.n + n + 3u, epi(a.w, m, n + 3u)); }"
	if vec == 4 {
		store = "stv_y((m * p.n + n) / 4u, P(epi(a.x, m, n), epi(a.y, m, n + 1u), epi(a.z, m, n + 2u), epi(a.w, m, n + 3u)));"
	}
	return k.Snippet("LOAD_A", "ld_x(gm * p.k + gk)").Snippet("LOAD_B", "nf4_weight(gn * p.k + gk)").
		Snippet("EPILOGUE", epi).Snippet("STORE", store)
}

// LinearNF4Forward is the functional form (the golden op linear_nf4):
// y = x @ dq(weight)ᵀ + bias with weight [out, K] in NF4 (blockSize 0
// means NF4BlockSize).
func LinearNF4Forward(x, weight, absmax, bias *gpu.Tensor, out, blockSize int) (*gpu.Tensor, error) {
	if x == nil || len(x.Shape) == 0 {
		return nil, errorf("LinearNF4", "x", "is required with a last dimension")
	}
	l, err := NewLinearNF4(weight, absmax, bias, out, x.Shape[len(x.Shape)-1], blockSize)
	if err != nil {
		return nil, err
	}
	return l.Forward(x)
}

// LinearNF4CompressedForward is LinearNF4Forward with compressed
// statistics (the golden op linear_nf4_compressed).
func LinearNF4CompressedForward(x, weight *gpu.Tensor, stats NF4Stats, bias *gpu.Tensor, out, blockSize int) (*gpu.Tensor, error) {
	if x == nil || len(x.Shape) == 0 {
		return nil, errorf("LinearNF4", "x", "is required with a last dimension")
	}
	l, err := NewLinearNF4Compressed(weight, stats, bias, out, x.Shape[len(x.Shape)-1], blockSize)
	if err != nil {
		return nil, err
	}
	return l.Forward(x)
}

// ReplaceLinearLayersNF4 walks a module tree and swaps every Linear
// projection that keep accepts (nil keeps all) for a LinearNF4 quantised
// from its weight in blocks of NF4BlockSize, as TeleFuser's
// replace_linear_layers_with_bnb_nf4 does; the full-width weight is
// released once quantised. WebFuser's modules carry no names, so
// TeleFuser's include/exclude lists by module path (it excludes "head",
// "time_embedding", "time_projection", "patch_embedding") become the keep
// function. It returns the number of layers replaced.
func ReplaceLinearLayersNF4(m Module, keep func(*Linear) bool) (int, error) {
	return replaceLinears(m, keep, func(l *Linear) (Projector, error) { return QuantizeLinearNF4(l, NF4BlockSize) })
}

// ReplaceLinearLayersNF4Compressed is ReplaceLinearLayersNF4 with the
// statistics compressed as well (TeleFuser's compress_statistics=True):
// each layer's absmax becomes QuantizeNF4Stats' 8-bit codes.
func ReplaceLinearLayersNF4Compressed(m Module, keep func(*Linear) bool) (int, error) {
	return replaceLinears(m, keep, func(l *Linear) (Projector, error) {
		f, err := QuantizeLinearNF4(l, NF4BlockSize)
		if err != nil {
			return nil, err
		}
		defer f.Absmax.Release()
		st, err := QuantizeNF4Stats(f.Absmax)
		if err != nil {
			f.Weight.Release()
			return nil, err
		}
		c, err := NewLinearNF4Compressed(f.Weight, st, f.Bias, f.Out, f.In, f.BlockSize)
		if err != nil {
			for _, t := range []*gpu.Tensor{f.Weight, st.Codes, st.Scale, st.Code} {
				t.Release()
			}
			return nil, err
		}
		return c, nil
	})
}
