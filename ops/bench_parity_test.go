package ops

import (
	"fmt"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/launch"
)

// first keeps the first output of a multi-output operator and releases
// the rest, for measureBW.
func first(ts ...*gpu.Tensor) func(error) (*gpu.Tensor, error) {
	return func(err error) (*gpu.Tensor, error) {
		if err != nil {
			return nil, err
		}
		for _, t := range ts[1:] {
			t.Release()
		}
		return ts[0], nil
	}
}

// BenchmarkParity times the TeleFuser-parity operators, each next to a
// copy of its main operand, with GB/s of the bytes each must move at
// least: the three gate-select operators and merge_attn_states at the
// memory-bound shape (x [8,4096,3072] on a GPU; the states [1,4096,24,128]),
// the per-block int8 quantiser of q and of k (smoothed), the grouped MoE
// with bf16 and FP8 experts, and NF4 linear (absmax plain and compressed)
// beside the full-width linear at M=1 and 16, K=N=4096 and 8192 (these
// beside a 256 MiB copy, as BenchmarkSkinnyLinear times them). bench/parity_torch.py times the PyTorch compositions under
// the same names and joins both into a table (bench/device.sh parity).
// On a GPU:
// go test -c -o bin/ops.test ./ops && ./bin/ops.test -test.run '^$' -test.bench BenchmarkParity -test.benchtime 10x
func BenchmarkParity(b *testing.B) {
	d := testDevice(b)
	shape := benchShape(d)
	B, L, C := shape[0], shape[1], shape[2]
	big := d.Info.Class != gpu.ClassCPU
	var gate *copyGate // the linear rows' (newCopyGate)
	for _, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
		x := randomDevice(b, d, dt, shape...)
		res := randomDevice(b, d, dt, shape...)
		rg := randomDevice(b, d, dt, shape...)
		w := randomDevice(b, d, dt, C)
		m := func() *gpu.Tensor { return randomDevice(b, d, dt, B, C) }
		idx := make([]float32, B*L)
		for i := range idx {
			if i%L < L/4 { // the first frame's tokens take set 1
				idx[i] = 1
			}
		}
		index, err := d.Upload(dtype.U8, []int{B, L}, idx)
		if err != nil {
			b.Fatal(err)
		}
		s := GateSelect{m(), m(), m(), m(), m(), m(), index}
		nb := float64(x.Numel() * dt.Size())
		run := func(name string, ref *gpu.Tensor, bytes float64, f func() (*gpu.Tensor, error)) {
			b.Run(fmt.Sprintf("%v/%s", dt, name), func(b *testing.B) { measureBW(b, d, ref, bytes, f) })
		}
		run("scale_shift_gate_select", x, 3*nb, func() (*gpu.Tensor, error) {
			y, g, err := ScaleShiftGateSelect(x, s)
			return first(y, g)(err)
		})
		run("layer_norm_scale_shift_gate_select", x, 3*nb, func() (*gpu.Tensor, error) {
			y, g, err := LayerNormScaleShiftGateSelect(x, w, w, 1e-6, s)
			return first(y, g)(err)
		})
		run("residual_layer_norm_scale_shift_gate_select", x, 6*nb, func() (*gpu.Tensor, error) {
			y, r, g, err := ResidualLayerNormScaleShiftGateSelect(x, res, rg, w, w, 1e-6, s)
			return first(y, r, g)(err)
		})

		st := []int{1, 4096, 24, 128}
		if !big {
			st = []int{1, 64, 4, 64}
		}
		ls := append(append([]int(nil), st[:3]...), 1)
		po, so := randomDevice(b, d, dt, st...), randomDevice(b, d, dt, st...)
		pl, sl := randomDevice(b, d, dtype.F32, ls...), randomDevice(b, d, dtype.F32, ls...)
		nbs := float64(po.Numel() * dt.Size())
		run("merge_attn_states", po, 3*nbs, func() (*gpu.Tensor, error) {
			o, l, err := MergeAttnStates(po, pl, so, sl)
			return first(o, l)(err)
		})
		run("quantize_int8_per_block/q", po, nbs+float64(po.Numel()), func() (*gpu.Tensor, error) {
			q, sc, err := QuantizeInt8PerBlock(po, Int8BlockOptions{Block: 128, Scale: 0.1275})
			return first(q, sc)(err)
		})
		run("quantize_int8_per_block/k_smooth", po, nbs+float64(po.Numel()), func() (*gpu.Tensor, error) {
			q, sc, err := QuantizeInt8PerBlock(po, Int8BlockOptions{Block: 64, SmoothMean: true})
			return first(q, sc)(err)
		})

		// MoE: tokens routed top-2 of 8 experts, gated MLPs 3072 -> 8192 -> 3072 (64 tokens, 256 -> 512 on a CPU driver);
		// on a GPU also 64 tokens (16 rows per expert: the tiled GEMMs' 128-row tiles are mostly padding there).
		tokens, md, mi, me := []int{4096, 64}, 3072, 8192, 8
		if !big {
			tokens, md, mi, me = []int{64}, 256, 512, 8
		}
		mw1, mw3, mw2 := randomDevice(b, d, dt, me, mi, md), randomDevice(b, d, dt, me, mi, md), randomDevice(b, d, dt, me, md, mi)
		fe, err := NewExpertsFP8(mw1, mw2, mw3)
		if err != nil {
			b.Fatal(err)
		}
		for _, mt := range tokens {
			mx := randomDevice(b, d, dt, mt, md)
			mlg := randomDevice(b, d, dtype.F32, mt, me)
			moe := func() (*gpu.Tensor, error) { return MoEForward(mx, mlg, nil, mw1, mw2, mw3, MoEConfig{TopK: 2}) }
			moeFP8 := func() (*gpu.Tensor, error) { return MoEForwardFP8(mx, mlg, nil, fe, MoEConfig{TopK: 2}) }
			for _, mc := range []struct {
				name string
				f    func() (*gpu.Tensor, error)
			}{
				{"moe", moe},
				{"moe_fp8", moeFP8},
				// The same on moe_gemm.wgsl, the fallback where launch.MoETiles does not fit.
				{"moe_simple", moeGEMMSimple(moe)},
				{"moe_fp8_simple", moeGEMMSimple(moeFP8)},
			} {
				b.Run(fmt.Sprintf("%v/%s/T=%d/D=%d/I=%d/E=%d/top2", dt, mc.name, mt, md, mi, me), func(b *testing.B) {
					tm, _, err := d.Measure(5, max(1, b.N), func() error {
						y, err := mc.f()
						if err == nil {
							y.Release()
						}
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(tm.Nanoseconds()), "gpu-ns")
					b.ReportMetric(2*3*2*float64(mt)*float64(md)*float64(mi)/tm.Seconds()/1e12, "TFLOP/s")
				})
			}
		}

		// NF4 beside the same linear layer at full width in dt (bf16 is
		// the comparison: at small M NF4 reads about a quarter of
		// its bytes), square K = N, M = 1 (GEMV) and 16 (tiled); GB/s of
		// the weight bytes each must read.
		sizes := []int{4096, 8192}
		if !big {
			sizes = []int{256}
		}
		// These calls take microseconds: timed in busyMeasure's long
		// submissions beside a 256 MiB copy (copyGate), as
		// BenchmarkSkinnyLinear times them. measureBW's copy of the
		// 16 KB x left the H200 at idle clocks (2026-11-29: the bf16
		// GEMV at 66 µs here, 29 µs there).
		if gate == nil { // one warm-up serves both dtypes
			gate = newCopyGate(b, d)
		}
		skinny := func(name string, bytes float64, f func() (*gpu.Tensor, error)) {
			b.Run(fmt.Sprintf("%v/%s", dt, name), func(b *testing.B) {
				tm, copyBW, err := gate.measure(released(f))
				if err != nil {
					b.Fatal(err)
				}
				reportBW(b, tm, bytes, copyBW, "GB/s")
			})
		}
		for _, n := range sizes {
			k := n
			wf := randomDevice(b, d, dt, n, k)
			q, a, err := QuantizeNF4(wf, NF4BlockSize)
			if err != nil {
				b.Fatal(err)
			}
			l, err := NewLinearNF4(q, a, nil, n, k, 0)
			if err != nil {
				b.Fatal(err)
			}
			st, err := QuantizeNF4Stats(a)
			if err != nil {
				b.Fatal(err)
			}
			lc, err := NewLinearNF4Compressed(q, st, nil, n, k, 0)
			if err != nil {
				b.Fatal(err)
			}
			blocks := n * k / NF4BlockSize
			nf4Bytes := float64(n*k/2 + blocks*4)
			compressedBytes := float64(n*k/2 + blocks + (blocks+NF4StatsBlock-1)/NF4StatsBlock*4 + 1024)
			fullBytes := float64(n * k * dt.Size())
			for _, rows := range []int{1, 16} {
				xs := randomDevice(b, d, dt, rows, k)
				skinny(fmt.Sprintf("linear_nf4/M=%d/N=%d/K=%d", rows, n, k), nf4Bytes, func() (*gpu.Tensor, error) { return l.Forward(xs) })
				skinny(fmt.Sprintf("linear_nf4_compressed/M=%d/N=%d/K=%d", rows, n, k), compressedBytes, func() (*gpu.Tensor, error) { return lc.Forward(xs) })
				skinny(fmt.Sprintf("linear/M=%d/N=%d/K=%d", rows, n, k), fullBytes, func() (*gpu.Tensor, error) { return LinearForward(xs, wf, nil) })
			}
		}
	}
}

// moeGEMMSimple returns f run with the grouped expert GEMMs on
// moe_gemm.wgsl rather than the tiled matmul.
func moeGEMMSimple(f func() (*gpu.Tensor, error)) func() (*gpu.Tensor, error) {
	return func() (*gpu.Tensor, error) {
		defer forceMoETiles(launch.Tile{}, launch.Tile{}, false)()
		return f()
	}
}
