package wan

import (
	"errors"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/rope"
	"github.com/webfuser/webfuser/internal/safetensors"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

// randomWeights draws the block's parameters as RandomInit says.
func randomWeights(cfg Config, dt ops.DType, rng *rand.Rand) map[string]*ref.Tensor {
	return ops.RandomParams(cfg.Shapes(), dt, rng, RandomInit)
}

// stateOf writes weights under prefix to a safetensors file, loads it
// as the block declares its parameters and builds the block.
func stateOf(t *testing.T, d *ops.Device, cfg Config, prefix string, w map[string]*ref.Tensor) (*Block, *ops.State) {
	t.Helper()
	named := make(map[string]*ref.Tensor, len(w))
	for n, x := range w {
		named[prefix+n] = x
	}
	b, err := safetensors.EncodeHost(named, nil)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := ops.ParseStateDict(b)
	if err != nil {
		t.Fatal(err)
	}
	spec := &ops.StateSpec{}
	cfg.Declare(spec, prefix)
	st, err := ops.LoadState(d, sd, spec)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := FromState(cfg, st, prefix)
	if err != nil {
		st.Release()
		t.Fatal(err)
	}
	t.Cleanup(func() { blk.Release(); st.Release() })
	return blk, st
}

func TestBlockMatchesReference(t *testing.T) {
	d := gputest.Device(t)
	tests := []struct {
		name          string
		dt            ops.DType
		cfg           Config
		b, f, h, w, T int
	}{
		{"f32 D32 H2", ops.F32, Config{Dim: 32, FFNDim: 64, NumHeads: 2, Eps: DefaultEps}, 2, 2, 3, 2, 3},
		{"f32 D48 H4 odd grid", ops.F32, Config{Dim: 48, FFNDim: 72, NumHeads: 4, Eps: DefaultEps}, 1, 3, 1, 5, 1},
		{"bf16 D32 H2", ops.BF16, Config{Dim: 32, FFNDim: 96, NumHeads: 2, Eps: DefaultEps}, 2, 2, 2, 2, 2},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(i + 11)))
			w := randomWeights(tc.cfg, tc.dt, rng)
			blk, _ := stateOf(t, d, tc.cfg, "blocks.3.", w)
			D, L := tc.cfg.Dim, tc.f*tc.h*tc.w
			x := gputest.Rand(rng, tc.dt, []int{tc.b, L, D}, 1, 0)
			e0 := gputest.Rand(rng, tc.dt, []int{tc.b, 6 * D}, 0.5, 0)
			ctx := gputest.Rand(rng, tc.dt, []int{tc.b, tc.T, D}, 1, 0)
			cos, sin := rope.Tables3D(tc.f, tc.h, tc.w, D/tc.cfg.NumHeads, 10000)
			want, err := ref.WanBlock(x, e0, ctx, cos.Round(tc.dt), sin.Round(tc.dt), w, ref.WanConfig{NumHeads: tc.cfg.NumHeads, Eps: float64(tc.cfg.Eps)})
			if err != nil {
				t.Fatal(err)
			}
			up := func(r *ref.Tensor) *ops.Tensor { g := gputest.Upload(t, d, r); t.Cleanup(g.Release); return g }
			gc, gs, err := ops.RotaryTables3D(d, tc.dt, tc.f, tc.h, tc.w, D/tc.cfg.NumHeads, 10000)
			if err != nil {
				t.Fatal(err)
			}
			defer gc.Release()
			defer gs.Release()
			y, err := blk.Forward(up(x), up(e0), up(ctx), gc, gs)
			if err != nil {
				t.Fatal(err)
			}
			defer y.Release()
			gputest.ExpectClose(t, y, want, gputest.For(tc.dt, true))
			if got := ops.ParameterBytes(blk); got == 0 {
				t.Error("ParameterBytes is 0")
			}
		})
	}
}

// TestBlockFP8 quantises the block's ten linears through
// ReplaceLinearLayers and checks that it still runs and stays near the
// float block (FP8 weights and per-token activations: a few percent).
func TestBlockFP8(t *testing.T) {
	d := gputest.Device(t)
	cfg := Config{Dim: 32, FFNDim: 64, NumHeads: 2, Eps: DefaultEps}
	rng := rand.New(rand.NewSource(5))
	w := randomWeights(cfg, ops.F32, rng)
	blk, _ := stateOf(t, d, cfg, "", w)
	x := gputest.Rand(rng, ops.F32, []int{1, 8, 32}, 1, 0)
	e0 := gputest.Rand(rng, ops.F32, []int{1, 6 * 32}, 0.5, 0)
	ctx := gputest.Rand(rng, ops.F32, []int{1, 3, 32}, 1, 0)
	up := func(r *ref.Tensor) *ops.Tensor { g := gputest.Upload(t, d, r); t.Cleanup(g.Release); return g }
	gc, gs, err := ops.RotaryTables3D(d, ops.F32, 2, 2, 2, 16, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Release()
	defer gs.Release()
	y, err := blk.Forward(up(x), up(e0), up(ctx), gc, gs)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := y.Float32()
	n, err := ops.ReplaceLinearLayers(blk, ops.FP8E4M3)
	if err != nil || n != 10 {
		t.Fatalf("replaced %d: %v", n, err)
	}
	y8, err := blk.Forward(up(x), up(e0), up(ctx), gc, gs)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := y8.Float32()
	var num, den float64
	for i := range q {
		num += float64((q[i] - full[i]) * (q[i] - full[i]))
		den += float64(full[i] * full[i])
	}
	if r := math.Sqrt(num / den); !(r < 0.1) {
		t.Errorf("FP8 block differs from the float one by %.3g (relative RMS)", r)
	}
}

func TestBlockRefuses(t *testing.T) {
	d := gputest.Device(t)
	cfg := Config{Dim: 16, FFNDim: 32, NumHeads: 2, Eps: DefaultEps}
	blk, _ := stateOf(t, d, cfg, "", randomWeights(cfg, ops.F32, rand.New(rand.NewSource(1))))
	up := func(dt ops.DType, shape ...int) *ops.Tensor {
		g, err := ops.Upload(d, ops.NewHostTensor(dt, shape...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.Release)
		return g
	}
	x, e0, ctx := up(ops.F32, 1, 4, 16), up(ops.F32, 1, 96), up(ops.F32, 1, 2, 16)
	cos, sin := up(ops.F32, 4, 4), up(ops.F32, 4, 4)
	tests := []struct {
		name           string
		x, e0, ctx, cs *ops.Tensor
		tensor         string
	}{
		{"x width", up(ops.F32, 1, 4, 8), e0, ctx, cos, "x"},
		{"x nil", nil, e0, ctx, cos, "x"},
		{"e0 batch", x, up(ops.F32, 2, 96), ctx, cos, "e0"},
		{"e0 width", x, up(ops.F32, 1, 16), ctx, cos, "e0"},
		{"context rank", x, e0, up(ops.F32, 2, 16), cos, "context"},
		{"x dtype", up(ops.BF16, 1, 4, 16), e0, ctx, cos, "x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := blk.Forward(tc.x, tc.e0, tc.ctx, tc.cs, sin)
			var e *Error
			if !errors.As(err, &e) || e.Tensor != tc.tensor {
				t.Fatalf("error %v, want a *wan.Error naming %q", err, tc.tensor)
			}
		})
	}
	// A rotary table of the wrong length is the operator's error, named.
	_, err := blk.Forward(x, e0, ctx, up(ops.F32, 3, 4), up(ops.F32, 3, 4))
	if err == nil || !strings.Contains(err.Error(), "self_attn.rope(q)") {
		t.Errorf("bad table: %v", err)
	}
	for _, c := range []Config{{Dim: 16, FFNDim: 32, NumHeads: 3}, {Dim: 16, FFNDim: 0, NumHeads: 2}, {Dim: 12, FFNDim: 8, NumHeads: 2}, {Dim: 16, FFNDim: 8, NumHeads: 2, Eps: -1}} {
		if err := c.Check(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
