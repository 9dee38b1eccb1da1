package ops

import (
	"fmt"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// QuantizeInt8 quantises a linear weight w [N, K] (any float dtype, K a
// multiple of 4) per output channel, symmetric, as SmoothQuant's
// quantize_weight_per_channel_absmax does: scale = max|row| / 127 (f32)
// and code = round(w / scale) half to even (torch.round), clamped to
// [-127, 127]; a zero row gets scale 0 and zero codes (SmoothQuant clamps
// the max to 1e-5 instead, which gives the same zero codes). It returns
// the codes as raw two's-complement bytes in a u8 [N, K] tensor
// (Int8Values decodes them) and the f32 scales [N].
func QuantizeInt8(w *gpu.Tensor) (wq, scale *gpu.Tensor, err error) {
	const op = "QuantizeInt8"
	if err := checkFloat(op, "w", w); err != nil {
		return nil, nil, err
	}
	if len(w.Shape) != 2 {
		return nil, nil, errorf(op, "w", "shape %v, want [N, K]", w.Shape)
	}
	return quantizeInt8Rows(op, w, w.Shape[0], w.Shape[0])
}

// quantizeInt8Rows quantises x [rows, K] row by row
// (wgsl/quant_int8_rows.wgsl) into codes u8 [rowsPad, K] and scales f32
// [rowsPad], the rows past rows zero.
func quantizeInt8Rows(op string, x *gpu.Tensor, rows, rowsPad int) (q, scale *gpu.Tensor, err error) {
	k := x.Shape[len(x.Shape)-1]
	if k%4 != 0 {
		return nil, nil, errorf(op, "x", "shape %v: the last dimension must be a multiple of 4 (four int8 codes to a word)", x.Shape)
	}
	if err := checkBinding(op, "x", x); err != nil {
		return nil, nil, err
	}
	dev := x.Device()
	if rowsPad == 0 || k == 0 {
		if q, err = dev.NewOutput(dtype.U8, rowsPad, k); err != nil {
			return nil, nil, err
		}
		if scale, err = dev.NewOutput(dtype.F32, rowsPad); err != nil {
			q.Release()
			return nil, nil, err
		}
		return q, scale, nil
	}
	kq := &kernel.Kernel{Name: "quant_int8_rows", Files: []string{"fp8", "wg_absmax", "quant_int8_rows"}, Grid: dev.Groups(rowsPad)}
	kq.In("x", x).Out("s", dtype.F32, rowsPad).Out("q", dtype.U8, rowsPad, k)
	kq.U32("rows", rows).U32("rows_pad", rowsPad).U32("k", k)
	outs, err := kq.Run(dev)
	if err != nil {
		return nil, nil, err
	}
	return outs[1], outs[0], nil
}

// LinearW8A8 is a linear layer on int8 tensor cores where the device has
// them: x [..., K] (any float dtype) is quantised per token on the fly
// like the weight (QuantizeInt8's rule, one scale per row), multiplied by
// the weight codes wq u8 [N, K] (from QuantizeInt8) with exact i32 sums,
// and dequantised in f32: y = acc * sx[token] * wscale[n] (+ bias[n]),
// stored in x's dtype [..., N] (as LinearFP8 does). Devices listing i8
// subgroup-matrix configurations (Dawn on NVIDIA) run
// wgsl/matmul_w8a8_sm.wgsl; every other device the plain kernel, one
// output per invocation with dot4I8Packed (naga and Tint both have it),
// launch.ChooseW8A8 decides.
func LinearW8A8(x, wq, wscale, bias *gpu.Tensor) (*gpu.Tensor, error) {
	return runW8A8(&w8a8Spec{op: "LinearW8A8", x: x, wq: wq, ws: wscale, b: bias})
}

// LinearW8A8Act computes act(LinearW8A8(x, wq, wscale, bias)) with the
// activation in the dequantising epilogue: the linear output is rounded
// to x's dtype before the activation, as LinearAct does.
func LinearW8A8Act(x, wq, wscale, bias *gpu.Tensor, act Activation) (*gpu.Tensor, error) {
	return runW8A8(&w8a8Spec{op: "LinearW8A8Act", x: x, wq: wq, ws: wscale, b: bias, act: act})
}

// LinearW8A8GateResidual computes residual + gate * LinearW8A8(x, wq,
// wscale, bias) in the dequantising epilogue, with LinearGateResidual's
// rounding and gate broadcasts ([N], [B,N], [B,1,N] or the output's shape).
func LinearW8A8GateResidual(x, wq, wscale, bias, gate, residual *gpu.Tensor) (*gpu.Tensor, error) {
	return runW8A8(&w8a8Spec{op: "LinearW8A8GateResidual", x: x, wq: wq, ws: wscale, b: bias, gr: &GateResidual{gate, residual}})
}

// w8a8Spec is one W8A8 product with its epilogue (bias, activation,
// gate+residual), validated by check.
type w8a8Spec struct {
	op          string
	x, wq, ws   *gpu.Tensor
	b           *gpu.Tensor
	act         Activation
	gr          *GateResidual
	m, n, k     int
	gdiv, gstep int
	shape       []int
}

// runW8A8 validates s and runs it with the launch ChooseW8A8 picks.
func runW8A8(s *w8a8Spec) (*gpu.Tensor, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.run(launch.ChooseW8A8(s.x.Device(), s.m, s.n, s.k))
}

// check validates the operands and fills M, N, K, the output shape and
// the gate broadcast.
func (s *w8a8Spec) check() error {
	op := s.op
	if err := checkFloat(op, "x", s.x); err != nil {
		return err
	}
	wq := s.wq
	if wq == nil || wq.DType != dtype.U8 || len(wq.Shape) != 2 {
		return errorf(op, "wq", "%v: want the u8 [N, K] codes of QuantizeInt8", wq)
	}
	s.n, s.k = wq.Shape[0], wq.Shape[1]
	if len(s.x.Shape) == 0 || s.x.Shape[len(s.x.Shape)-1] != s.k {
		return errorf(op, "x", "shape %v, want [..., %d] (wq is %v)", s.x.Shape, s.k, wq.Shape)
	}
	if s.k == 0 || s.k%4 != 0 {
		return errorf(op, "wq", "shape %v: K must be a positive multiple of 4", wq.Shape)
	}
	if s.ws == nil || s.ws.DType != dtype.F32 || len(s.ws.Shape) != 1 || s.ws.Shape[0] != s.n {
		return errorf(op, "wscale", "%v: want f32 [%d]", s.ws, s.n)
	}
	if err := checkVector(op, "bias", s.b, s.n); err != nil {
		return err
	}
	if err := checkAct(op, s.act); err != nil {
		return err
	}
	s.m = s.x.Numel() / s.k
	s.shape = append(append([]int{}, s.x.Shape[:len(s.x.Shape)-1]...), s.n)
	var ts operands
	ts.add("x", s.x)
	ts.add("wq", wq)
	ts.add("wscale", s.ws)
	ts.add("bias", s.b)
	if s.gr != nil {
		ms := &matmulSpec{op: op, m: s.m, n: s.n, outShape: s.shape, gr: s.gr}
		if err := ms.checkGateResidual(&ts); err != nil {
			return err
		}
		s.gdiv, s.gstep = ms.gdiv, ms.gstride
	}
	return ts.check(op, s.x.Device())
}

// epilogue declares the bindings and uniforms of wgsl/w8a8.wgsl's
// w8a8_out on k (the activation scales sx, then the weight scales, bias,
// gate and residual, and y) and its EPILOGUE snippet: the exact linear's
// rounding (operands.epilogue) after the dequantisation.
func (s *w8a8Spec) epilogue(k *kernel.Kernel, sx *gpu.Tensor) {
	k.In("sx", sx).In("sw", s.ws)
	var epi []string
	if s.b != nil {
		k.In("b", s.b)
		epi = append(epi, "y = y + ld_b(n);")
	}
	if s.act != ActNone || s.gr != nil {
		epi = append(epi, "y = rnd1_y(y);")
	}
	if s.act != ActNone {
		epi = append(epi, fmt.Sprintf("y = rnd1_y(%s(y));", s.act.wgslFn()))
	}
	if s.gr != nil {
		k.In("g", s.gr.Gate).In("res", s.gr.Residual)
		k.U32("gdiv", max(1, s.gdiv)).U32("gstride", s.gstep)
		epi = append(epi, "y = ld_res(m * p.cols + n) + rnd1_y(ld_g((m / p.gdiv) * p.gstride + n) * y);")
	}
	k.Out("y", s.x.DType, s.shape...).Snippet("EPILOGUE", strings.Join(epi, "\n  "))
}

// run runs the validated s with the launch w (tests force either variant).
func (s *w8a8Spec) run(w launch.W8A8) (*gpu.Tensor, error) {
	x, wq := s.x, s.wq
	dev := x.Device()
	m, n, k := s.m, s.n, s.k
	if m == 0 || n == 0 {
		return dev.NewOutput(x.DType, s.shape...)
	}
	if err := checkBinding(s.op, "wq", wq); err != nil {
		return nil, err
	}
	mp := w.PadRows(m)
	xq, sx, err := quantizeInt8Rows(s.op, x, m, mp)
	if err != nil {
		return nil, err
	}
	defer xq.Release()
	defer sx.Release()
	if !w.Matrix {
		kp := elementwise(dev, "linear_w8a8", 1, m*n, "act", "w8a8")
		kp.In("xq", xq).In("wq", wq)
		s.epilogue(kp, sx)
		kp.U32("cols", n).U32("kw", k/4).Snippet("BODY", `let r = i / p.cols;
  let c = i - r * p.cols;
  var acc = 0i;
  for (var j = 0u; j < p.kw; j = j + 1u) {
    acc = acc + dot4I8Packed(xq_buf[r * p.kw + j], wq_buf[c * p.kw + j]);
  }
  st_y(i, w8a8_out(acc, r, c));`)
		return kp.RunOne(dev)
	}
	wm := wq
	if w.WT && !w.Staged {
		if wm, err = transposeCodes(wq); err != nil {
			return nil, err
		}
		defer wm.Release()
	}
	c, err := gemmInt8Matrix(xq, wm, mp, n, k, w)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	return s.dequantize(c, sx)
}

// dequantize is the tensor-core launch's second kernel: the epilogue
// (w8a8_out) over the first M rows of the i32 products c [Mp, N].
func (s *w8a8Spec) dequantize(c, sx *gpu.Tensor) (*gpu.Tensor, error) {
	dev := s.x.Device()
	ke := elementwise(dev, "linear_w8a8_epilogue", 1, s.m*s.n, "act", "w8a8")
	ke.In("c", c).Ints()
	s.epilogue(ke, sx)
	ke.U32("cols", s.n).Snippet("BODY", "st_y(i, w8a8_out(c_buf[i], i / p.cols, i % p.cols));")
	return ke.RunOne(dev)
}

// gemmInt8Matrix multiplies the int8 codes a [mp, k] by w [n, k]^T on
// subgroup matrices (wgsl/matmul_w8a8_sm.wgsl) into i32 [mp, n].
func gemmInt8Matrix(a, wq *gpu.Tensor, mp, n, k int, w launch.W8A8) (*gpu.Tensor, error) {
	dev := a.Device()
	if !w.Fits(n, k) || mp%w.BlockM() != 0 {
		return nil, errorf("LinearW8A8", "wq", "%dx%dx%d does not tile into the tensor-core launch %+v", mp, n, k, w)
	}
	gx, gy := n/w.BlockN(), mp/w.BlockM()
	if max := int(dev.Limits.MaxGroupsPerDim); max > 0 && (gx > max || gy > max) {
		return nil, &Error{Op: "LinearW8A8", Tensor: "x", Err: gpu.ErrLimit, Rule: fmt.Sprintf("%d x %d tile blocks pass the device's %d workgroups per dimension; split the rows", gx, gy, max)}
	}
	return gemmInt8Kernel(a, wq, mp, n, k, w).RunOne(dev)
}

// transposeCodes turns int8 codes wq u8 [N, K] into u8 [K, N] (N a
// multiple of 4), for the tensor-core launches with WT.
func transposeCodes(wq *gpu.Tensor) (*gpu.Tensor, error) {
	n, k := wq.Shape[0], wq.Shape[1]
	dev := wq.Device()
	kt := elementwise(dev, "w8a8_transpose", 1, k*n/4)
	kt.In("wq", wq).Out("q", dtype.U8, k, n).U32("cols", n).U32("k", k)
	return kt.Snippet("BODY", `let r = (4u * i) / p.cols;
  let c = 4u * i - r * p.cols;
  var word = 0u;
  for (var j = 0u; j < 4u; j = j + 1u) {
    let src = (c + j) * p.k + r;
    word = word | (((wq_buf[src >> 2u] >> ((src & 3u) * 8u)) & 0xffu) << (8u * j));
  }
  q_buf[i] = word;`).RunOne(dev)
}

// gemmInt8Kernel declares the subgroup-matrix GEMM of gemmInt8Matrix.
func gemmInt8Kernel(a, wq *gpu.Tensor, mp, n, k int, w launch.W8A8) *kernel.Kernel {
	s := w.Shape
	gx, gy := n/w.BlockN(), mp/w.BlockM()
	// Operands straight from storage (offsets in the global arrays), or
	// from the staged slices (row0 and col0 within the block).
	srcA, srcB, kOff, stride, outRow, outCol := "a_buf", "w_buf", "k", "kw", "row0", "col0"
	if w.Staged {
		srcA, srcB, kOff, stride, outRow, outCol = "TA", "TB", "s", "KW", "grow + row0", "gcol + col0"
	}
	var decl, step, store strings.Builder
	for i := 0; i < w.RM; i++ {
		fmt.Fprintf(&step, "let a%d = subgroupMatrixLoad<subgroup_matrix_left<i8, TK, TM>, row_major>(&%s, (row0 + %du * TM) * %s + %s, %s);\n    ", i, srcA, i, stride, kOff, stride)
	}
	for j := 0; j < w.RN; j++ {
		if w.WT && !w.Staged {
			// [K, N]: K row 4k (k counts words), columns col0 + j*TN on.
			fmt.Fprintf(&step, "let b%d = subgroupMatrixLoad<subgroup_matrix_right<i8, TN, TK>, row_major>(&w_buf, k * p.n + (col0 + %du * TN) / 4u, p.n / 4u);\n    ", j, j)
			continue
		}
		fmt.Fprintf(&step, "let b%d = subgroupMatrixLoad<subgroup_matrix_right<i8, TN, TK>, col_major>(&%s, (col0 + %du * TN) * %s + %s, %s);\n    ", j, srcB, j, stride, kOff, stride)
	}
	for i := 0; i < w.RM; i++ {
		for j := 0; j < w.RN; j++ {
			fmt.Fprintf(&decl, "var c%d%d = subgroup_matrix_result<i32, TN, TM>();\n  ", i, j)
			fmt.Fprintf(&step, "c%d%d = subgroupMatrixMultiplyAccumulate(a%d, b%d, c%d%d);\n    ", i, j, i, j, i, j)
			fmt.Fprintf(&store, "subgroupMatrixStore<row_major>(&c_buf, (%s + %du * TM) * p.n + %s + %du * TN, c%d%d, p.n);\n  ", outRow, i, outCol, j, i, j)
		}
	}
	file := "matmul_w8a8_sm"
	if w.Staged {
		file = "matmul_w8a8_smw"
	}
	km := &kernel.Kernel{Name: file, Files: []string{file}, SubgroupMatrix: true, Subgroups: w.Staged, Grid: gpu.Grid{uint32(gx), uint32(gy), 1}}
	km.Uint("WG", w.WG).Uint("TM", s.M).Uint("TN", s.N).Uint("TK", s.K).Uint("RM", w.RM).Uint("RN", w.RN)
	if w.Staged {
		km.Uint("SY", w.SMY*w.SNX).Uint("SMY", w.SMY).Uint("SNX", w.SNX).Uint("KS", w.KS)
	}
	if w.WT && !w.Staged {
		km.Name += "_wt"
	}
	km.In("a", a).Ints().In("w", wq).Ints().Out("c", dtype.I32, mp, n).Ints()
	km.U32("n", n).U32("k", k)
	return km.Snippet("DECL", decl.String()).Snippet("STEP", step.String()).Snippet("STORE", store.String())
}
