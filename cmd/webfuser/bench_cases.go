package main

import (
	"fmt"
	"math"
	"math/rand"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops"
)

// caseEnv is what a bench case is set up in: the device, the storage
// dtype, the shape [B,L,C] of x, and the tensors made so far (released
// together when the dtype's cases are done).
type caseEnv struct {
	d       *gpu.Device
	dt      dtype.DType
	shape   []int
	tensors []*gpu.Tensor
}

// random uploads a tensor of random normal values in the env's dtype.
func (e *caseEnv) random(shape ...int) (*gpu.Tensor, error) {
	t, err := e.d.Upload(e.dt, shape, randomValues(gpu.Numel(shape)))
	if err == nil {
		e.tensors = append(e.tensors, t)
	}
	return t, err
}

// keep records tensors made outside random, for release.
func (e *caseEnv) keep(ts ...*gpu.Tensor) { e.tensors = append(e.tensors, ts...) }

// release frees every tensor the env made.
func (e *caseEnv) release() {
	for _, t := range e.tensors {
		t.Release()
	}
	e.tensors = nil
}

// numel is the element count of x.
func (e *caseEnv) numel() int { return gpu.Numel(e.shape) }

// xBytes is the storage size of x.
func (e *caseEnv) xBytes() float64 { return float64(e.numel() * e.dt.Size()) }

// benchCall is a prepared case: the call to time, the bytes it must move
// at least (each input read once, each output written once), and its
// FLOPs per call (a nominal count for elementwise kernels, see flopsPer).
type benchCall struct {
	run   func() error
	bytes float64
	flops float64
}

// benchCase is one kernel to time next to the copy.
type benchCase struct {
	name  string
	setup func(e *caseEnv) (benchCall, error)
}

// flopsPer is the nominal FLOP count per element of x of each
// elementwise kernel (an add or a multiply is one, a transcendental one),
// used only to place the kernels on the roofline. bench/torch_baseline.py
// uses the same counts.
var flopsPer = map[string]float64{
	"rms_norm": 4, "layer_norm": 8, "modulate": 3, "rms_norm+modulate": 7,
	"rotary": 3, "gelu": 8, "gelu_tanh": 9, "silu": 4, "quantize_fp8": 5,
}

// benchCases lists the memory-bound kernels. The copy comes first: every
// other case is timed next to it.
var benchCases = []benchCase{
	{"copy", func(e *caseEnv) (benchCall, error) {
		x, err := e.random(e.shape...)
		return benchCall{releasing(func() (*gpu.Tensor, error) { return ops.Copy(x) }), 2 * e.xBytes(), 0}, err
	}},
	{"rms_norm", func(e *caseEnv) (benchCall, error) {
		x, w, err := e.xAndRow()
		return benchCall{releasing(func() (*gpu.Tensor, error) { return ops.RMSNormForward(x, w, nil, ops.RMSNormEps) }),
			2 * e.xBytes(), flopsPer["rms_norm"] * float64(e.numel())}, err
	}},
	{"layer_norm", func(e *caseEnv) (benchCall, error) {
		x, w, err := e.xAndRow()
		if err != nil {
			return benchCall{}, err
		}
		b, err := e.random(e.shape[2])
		return benchCall{releasing(func() (*gpu.Tensor, error) { return ops.LayerNormForward(x, w, b, ops.LayerNormEps) }),
			2 * e.xBytes(), flopsPer["layer_norm"] * float64(e.numel())}, err
	}},
	{"modulate [B,C]", func(e *caseEnv) (benchCall, error) {
		x, sc, sh, err := e.xScaleShift(e.shape[0], e.shape[2])
		return benchCall{releasing(func() (*gpu.Tensor, error) { return ops.Modulate(x, sh, sc) }),
			2 * e.xBytes(), flopsPer["modulate"] * float64(e.numel())}, err
	}},
	{"modulate [B,L,C]", func(e *caseEnv) (benchCall, error) {
		x, sc, sh, err := e.xScaleShift(e.shape...)
		return benchCall{releasing(func() (*gpu.Tensor, error) { return ops.Modulate(x, sh, sc) }),
			4 * e.xBytes(), flopsPer["modulate"] * float64(e.numel())}, err
	}},
	{"rms_norm+modulate", func(e *caseEnv) (benchCall, error) {
		x, w, err := e.xAndRow()
		if err != nil {
			return benchCall{}, err
		}
		sc, err := e.random(e.shape[0], e.shape[2])
		if err != nil {
			return benchCall{}, err
		}
		sh, err := e.random(e.shape[0], e.shape[2])
		return benchCall{releasing(func() (*gpu.Tensor, error) {
			return ops.NormModulate(ops.KindRMSNorm, x, w, nil, 1e-6, ops.ModulateArgs{Scale: sc, Shift: sh, Constant: 1})
		}), 2 * e.xBytes(), flopsPer["rms_norm+modulate"] * float64(e.numel())}, err
	}},
	{"rotary", func(e *caseEnv) (benchCall, error) { return e.rotary(true, false) }},
	{"rotary_half", func(e *caseEnv) (benchCall, error) { return e.rotary(false, false) }},
	{"rotary_3d", func(e *caseEnv) (benchCall, error) { return e.rotary(true, true) }},
	{"gelu", func(e *caseEnv) (benchCall, error) { return e.activation(ops.ActGELU) }},
	{"gelu_tanh", func(e *caseEnv) (benchCall, error) { return e.activation(ops.ActGELUTanh) }},
	{"silu", func(e *caseEnv) (benchCall, error) { return e.activation(ops.ActSiLU) }},
	{"geglu", func(e *caseEnv) (benchCall, error) { return e.gated(ops.ActGELU) }},
	{"geglu_tanh", func(e *caseEnv) (benchCall, error) { return e.gated(ops.ActGELUTanh) }},
	{"swiglu", func(e *caseEnv) (benchCall, error) { return e.gated(ops.ActSiLU) }},
	{"quantize_fp8", func(e *caseEnv) (benchCall, error) {
		M, K := e.shape[0]*e.shape[1], e.shape[2]
		x, err := e.random(M, K)
		return benchCall{func() error {
			q, s, err := ops.QuantizeFP8(x, ops.PerToken, dtype.FP8E4M3)
			if err != nil {
				return err
			}
			q.Release()
			s.Release()
			return nil
		}, e.xBytes() + float64(M*K) + 4*float64(M), flopsPer["quantize_fp8"] * float64(M*K)}, err
	}},
}

// benchCaseNames lists the case names, in order.
func benchCaseNames() []string {
	names := make([]string, len(benchCases))
	for i, c := range benchCases {
		names[i] = c.name
	}
	return names
}

// selectCases returns the cases that only (a comma-separated list, empty
// for all) names, the copy always first. An unknown name is an error.
func selectCases(only string) ([]benchCase, error) {
	if strings.TrimSpace(only) == "" {
		return benchCases, nil
	}
	want := map[string]bool{}
	for _, n := range splitNames(only) {
		found := false
		for _, c := range benchCases {
			found = found || c.name == n
		}
		if !found {
			return nil, fmt.Errorf("bench: --only: no kernel named %q (have %s)", n, strings.Join(benchCaseNames(), ", "))
		}
		want[n] = true
	}
	out := []benchCase{benchCases[0]}
	for _, c := range benchCases[1:] {
		if want[c.name] {
			out = append(out, c)
		}
	}
	return out, nil
}

// splitNames splits a comma-separated list of kernel names at the commas
// outside brackets, so that "modulate [B,C]" stays one name.
func splitNames(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// xAndRow makes x and a row vector [C].
func (e *caseEnv) xAndRow() (x, w *gpu.Tensor, err error) {
	if x, err = e.random(e.shape...); err != nil {
		return nil, nil, err
	}
	w, err = e.random(e.shape[2])
	return x, w, err
}

// xScaleShift makes x and a scale and a shift of the given shape.
func (e *caseEnv) xScaleShift(shape ...int) (x, sc, sh *gpu.Tensor, err error) {
	if x, err = e.random(e.shape...); err != nil {
		return
	}
	if sc, err = e.random(shape...); err != nil {
		return
	}
	sh, err = e.random(shape...)
	return
}

// headDim picks the head size for rotary: 128 where C allows, else the
// largest power of two below it that divides C.
func headDim(c int) int {
	for hd := 128; hd >= 2; hd /= 2 {
		if c%hd == 0 {
			return hd
		}
	}
	return 0
}

// grid3 factors n into frames x height x width, as close to a cube as
// the factors allow (frames the smallest), for the 3-D rotary tables.
func grid3(n int) (f, h, w int) {
	f = 1
	for c := int(math.Cbrt(float64(n))) + 1; c >= 1; c-- {
		if n%c == 0 && c*c*c <= n {
			f = c
			break
		}
	}
	h = 1
	for c := int(math.Sqrt(float64(n/f))) + 1; c >= 1; c-- {
		if (n/f)%c == 0 && c*c <= n/f {
			h = c
			break
		}
	}
	return f, h, n / f / h
}

// rotary sets up RoPE on x viewed as [B,L,H,hd]: interleaved pairs or
// half-split ones, with random [L,hd/2] tables or Wan's 3-D tables
// (RotaryTables3D over a grid of L tokens).
func (e *caseEnv) rotary(interleaved, wan3d bool) (benchCall, error) {
	B, L, C := e.shape[0], e.shape[1], e.shape[2]
	hd := headDim(C)
	if hd == 0 {
		return benchCall{}, fmt.Errorf("C=%d is odd: no head size for rotary", C)
	}
	x, err := e.random(e.shape...)
	if err != nil {
		return benchCall{}, err
	}
	xv, err := x.Reshape(B, L, C/hd, hd)
	if err != nil {
		return benchCall{}, err
	}
	var cos, sin *gpu.Tensor
	if wan3d {
		f, h, w := grid3(L)
		if cos, sin, err = ops.RotaryTables3D(e.d, e.dt, f, h, w, hd, 10000); err != nil {
			return benchCall{}, err
		}
		e.keep(cos, sin)
	} else {
		if cos, err = e.random(L, hd/2); err != nil {
			return benchCall{}, err
		}
		if sin, err = e.random(L, hd/2); err != nil {
			return benchCall{}, err
		}
	}
	tables := float64(2 * L * hd / 2 * e.dt.Size())
	return benchCall{releasing(func() (*gpu.Tensor, error) { return ops.ApplyRotaryEmb(xv, cos, sin, interleaved) }),
		2*e.xBytes() + tables, flopsPer["rotary"] * float64(e.numel())}, nil
}

// activation sets up an elementwise activation of x.
func (e *caseEnv) activation(fn ops.Activation) (benchCall, error) {
	x, err := e.random(e.shape...)
	return benchCall{releasing(func() (*gpu.Tensor, error) { return ops.Activate(x, fn) }),
		2 * e.xBytes(), flopsPer[fn.String()] * float64(e.numel())}, err
}

// gated sets up a gated unit on x [B,L,C]: act(x[..., :C/2]) * x[..., C/2:].
func (e *caseEnv) gated(fn ops.Activation) (benchCall, error) {
	if e.shape[2]%2 != 0 {
		return benchCall{}, fmt.Errorf("C=%d is odd: a gated unit halves it", e.shape[2])
	}
	x, err := e.random(e.shape...)
	return benchCall{releasing(func() (*gpu.Tensor, error) { return ops.GatedActivation(x, fn) }),
		1.5 * e.xBytes(), (flopsPer[fn.String()] + 1) * float64(e.numel()/2)}, err
}

// releasing turns an op call into a timed closure that frees its output.
func releasing(f func() (*gpu.Tensor, error)) func() error {
	return func() error {
		y, err := f()
		if err != nil {
			return err
		}
		y.Release()
		return nil
	}
}

// randomCache holds the normal values every random tensor starts from:
// each tensor takes a prefix of the same seeded sequence, so that large
// shapes are drawn once.
var randomCache []float32

// randomValues returns n normal values of the seeded sequence.
func randomValues(n int) []float32 {
	if len(randomCache) < n {
		rng := rand.New(rand.NewSource(1))
		randomCache = make([]float32, n)
		for i := range randomCache {
			randomCache[i] = float32(rng.NormFloat64())
		}
	}
	return randomCache[:n]
}
