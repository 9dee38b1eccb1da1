package videodit

import (
	"errors"
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/safetensors"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/attention"
	"github.com/webfuser/webfuser/ops/ref"
)

// tiny is a configuration small enough for the float64 reference: two
// frames of 8x12 RGB in 4x4 patches (12 tokens), two blocks of width 32.
var tiny = Config{Frames: 2, Height: 8, Width: 12, Channels: 3, Patch: [3]int{1, 4, 4}, Dim: 32, FFNDim: 64,
	NumHeads: 2, Layers: 2, FreqDim: 16, Shapes: 3, Colors: 2, Directions: 2, Eps: 1e-6, RopeTheta: 10000}

// encode writes weights as a safetensors file with cfg's metadata.
func encode(t testing.TB, cfg Config, w map[string]*ops.HostTensor) []byte {
	t.Helper()
	b, err := safetensors.EncodeHost(w, cfg.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// load builds a model from random weights of cfg in dt.
func load(t testing.TB, cfg Config, dt ops.DType, seed int64) (*Model, map[string]*ops.HostTensor) {
	t.Helper()
	w := RandomWeights(cfg, dt, rand.New(rand.NewSource(seed)))
	sd, err := ops.ParseStateDict(encode(t, cfg, w))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(gputest.Device(t), sd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Release)
	return m, w
}

func refConfig(c Config) ref.VideoDiTConfig {
	return ref.VideoDiTConfig{Frames: c.Frames, Height: c.Height, Width: c.Width, PatchT: c.Patch[0], PatchH: c.Patch[1],
		PatchW: c.Patch[2], Layers: c.Layers, NumHeads: c.NumHeads, FreqDim: c.FreqDim, Shapes: c.Shapes,
		Colors: c.Colors, Directions: c.Directions, Eps: c.Eps, RopeTheta: c.RopeTheta}
}

func TestForwardMatchesReference(t *testing.T) {
	d := gputest.Device(t)
	for i, dt := range []ops.DType{ops.F32, ops.BF16} {
		t.Run(dt.String(), func(t *testing.T) {
			if dt != ops.F32 && testing.Short() {
				t.Skip("-short: f32 only (the bf16 kernels compile anew; ops tests cover them)")
			}
			m, w := load(t, tiny, dt, int64(i+1))
			if m.DType != dt || len(m.Blocks) != tiny.Layers {
				t.Fatalf("model %v with %d blocks", m.DType, len(m.Blocks))
			}
			rng := rand.New(rand.NewSource(9))
			B := 3
			x := gputest.Rand(rng, dt, []int{B, tiny.Tokens(), tiny.PatchDim()}, 1, 0)
			ts := []float64{1, 0.37, 0}
			classes := []int{0, tiny.NumClasses() - 1, tiny.NumClasses()} // first, last, null
			want, err := ref.VideoDiT(x, ts, classes, w, refConfig(tiny))
			if err != nil {
				t.Fatal(err)
			}
			xg := gputest.Upload(t, d, x)
			defer xg.Release()
			y, err := m.Forward(xg, ts, classes)
			if err != nil {
				t.Fatal(err)
			}
			defer y.Release()
			gputest.ExpectClose(t, y, want, gputest.For(dt, true))
			// The classes matter: the rows differ.
			if v := want.Data; v[0] == v[len(v)/B] {
				t.Error("the reference gave two classes the same output")
			}
		})
	}
}

// TestSampleMatchesReference runs three guided Euler steps on the GPU and
// the same steps with the float64 reference forward on the host.
func TestSampleMatchesReference(t *testing.T) {
	m, w := load(t, tiny, ops.F32, 3)
	const steps, g, seed = 3, 2.5, 42
	class := tiny.Class(2, 1, 0)
	got, err := m.Sample(SampleOptions{Class: class, Seed: seed, Steps: steps, CFG: g, Shift: 2})
	if err != nil {
		t.Fatal(err)
	}
	x := tiny.NoiseTokens(ops.F32, seed)
	sg := Sigmas(steps, 2)
	for i := 0; i < steps; i++ {
		x2 := ref.New(ops.F32, 2, tiny.Tokens(), tiny.PatchDim())
		copy(x2.Data, x.Data)
		copy(x2.Data[len(x.Data):], x.Data)
		v, err := ref.VideoDiT(x2, []float64{sg[i], sg[i]}, []int{class, tiny.NumClasses()}, w, refConfig(tiny))
		if err != nil {
			t.Fatal(err)
		}
		n := len(x.Data)
		for j := range x.Data {
			vc, vu := v.Data[j], v.Data[n+j]
			x.Data[j] += (sg[i+1] - sg[i]) * (vu + g*(vc-vu))
		}
	}
	want := tiny.Unpatchify(x.Data)
	tol := gputest.Tol{Atol: 5e-3, Rtol: 5e-3}
	for i := range want.Data {
		if !tol.Within(got.Data[i], want.Data[i]) {
			t.Fatalf("frame value %d: got %g, want %g", i, got.Data[i], want.Data[i])
		}
	}
}

func TestSampleDeterministic(t *testing.T) {
	m, _ := load(t, tiny, ops.F32, 4)
	run := func(seed uint64, cfg float64) []float64 {
		calls := 0
		f, err := m.Sample(SampleOptions{Class: 5, Seed: seed, Steps: 2, CFG: cfg, Progress: func(s, n int, took time.Duration) {
			calls++
			if s != calls || n != 2 || took <= 0 {
				t.Errorf("progress %d/%d after %v on call %d", s, n, took, calls)
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		if calls != 2 {
			t.Errorf("progress called %d times for 2 steps", calls)
		}
		if got := f.Shape; len(got) != 4 || got[0] != tiny.Frames || got[1] != tiny.Height || got[2] != tiny.Width || got[3] != 3 {
			t.Fatalf("frames %v", got)
		}
		return f.Data
	}
	for _, cfg := range []float64{1, 4} {
		a, b, c := run(7, cfg), run(7, cfg), run(8, cfg)
		for i := range a {
			if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
				t.Fatalf("cfg %g: two runs with seed 7 differ at %d: %g, %g", cfg, i, a[i], b[i])
			}
		}
		same := 0
		for i := range a {
			if a[i] == c[i] {
				same++
			}
		}
		if same > len(a)/10 {
			t.Errorf("cfg %g: seeds 7 and 8 agree on %d of %d values", cfg, same, len(a))
		}
	}
}

// TestNoise pins the portable noise to train.py's portable_noise.
func TestNoise(t *testing.T) {
	for _, tc := range []struct {
		seed uint64
		want []float32
	}{
		{1234, []float32{-0.6610673069953918, -0.6182602643966675, -0.29452648758888245, 0.16601908206939697, 0.45493465662002563, -0.47076666355133057}},
		{0, []float32{-0.45275774598121643, 2.6506059169769287, -0.9886041283607483}},
	} {
		got := Noise(tc.seed, len(tc.want))
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("seed %d value %d: %v, want %v (numpy)", tc.seed, i, got[i], tc.want[i])
			}
		}
	}
	n := Noise(7, 200000)
	var s, ss float64
	for _, v := range n {
		s += float64(v)
		ss += float64(v) * float64(v)
	}
	mean, std := s/200000, math.Sqrt(ss/200000-(s/200000)*(s/200000))
	if math.Abs(mean) > 0.01 || math.Abs(std-1) > 0.01 {
		t.Errorf("mean %g, std %g", mean, std)
	}
}

func TestPatchify(t *testing.T) {
	c := tiny
	c.Patch = [3]int{2, 4, 2}
	f := ops.NewHostTensor(ops.F32, c.Frames, c.Height, c.Width, c.Channels)
	for i := range f.Data {
		f.Data[i] = float64(i)
	}
	tok := c.Patchify(f)
	if tok.Shape[1] != c.Tokens() || tok.Shape[2] != c.PatchDim() || c.Tokens() != 1*2*6 || c.PatchDim() != 48 {
		t.Fatalf("tokens %v", tok.Shape)
	}
	// Token 1 is frame-patch 0, row-patch 0, column-patch 1; its value
	// (pt=1, ph=2, pw=1, c=2) is frame 1, row 2, column 3, channel 2.
	want := float64(((1*c.Height+2)*c.Width+3)*3 + 2)
	if got := tok.Data[1*48+((1*4+2)*2+1)*3+2]; got != want {
		t.Errorf("token value %g, want %g", got, want)
	}
	back := c.Unpatchify(tok.Data)
	for i := range f.Data {
		if back.Data[i] != f.Data[i] {
			t.Fatalf("round trip differs at %d", i)
		}
	}
}

func TestLoadRefuses(t *testing.T) {
	d := gputest.Device(t)
	w := RandomWeights(tiny, ops.F32, rand.New(rand.NewSource(1)))
	parse := func(b []byte) *ops.StateDict {
		sd, err := ops.ParseStateDict(b)
		if err != nil {
			t.Fatal(err)
		}
		return sd
	}
	// No config in the metadata.
	b, _ := safetensors.Encode(nil, map[string]string{"format": "pt"})
	if _, err := Load(d, parse(b)); err == nil || !strings.Contains(err.Error(), "no \"config\"") {
		t.Errorf("no config: %v", err)
	}
	// A bad config.
	bad := tiny
	bad.NumHeads = 3
	if _, err := Load(d, parse(encode(t, bad, w))); err == nil || !strings.Contains(err.Error(), "num_heads 3") {
		t.Errorf("bad config: %v", err)
	}
	// A mis-shaped block weight, named.
	w["blocks.1.cross_attn.k.weight"] = ops.NewHostTensor(ops.F32, 32, 16)
	_, err := Load(d, parse(encode(t, tiny, w)))
	var e *ops.Error
	if !errors.As(err, &e) || e.Tensor != "blocks.1.cross_attn.k.weight" || !strings.Contains(e.Rule, "want [32 32]") {
		t.Errorf("mis-shaped: %v", err)
	}
	// A weight from a deeper model is unexpected.
	w = RandomWeights(tiny, ops.F32, rand.New(rand.NewSource(1)))
	w["blocks.2.modulation"] = ops.NewHostTensor(ops.F32, 1, 6, 32)
	if _, err := Load(d, parse(encode(t, tiny, w))); !errors.As(err, &e) || e.Tensor != "blocks.2.modulation" {
		t.Errorf("unexpected: %v", err)
	}
}

func TestSampleRefuses(t *testing.T) {
	m, _ := load(t, tiny, ops.F32, 5)
	for _, o := range []SampleOptions{
		{Class: -1, Steps: 1}, {Class: tiny.NumClasses(), Steps: 1}, {Class: 0, Steps: 0},
		{Class: 0, Steps: 1, CFG: math.NaN()}, {Class: 0, Steps: 1, Shift: -1},
		{Class: 0, Steps: 1, Noise: ops.NewHostTensor(ops.F32, 1, 2, 3)},
	} {
		if _, err := m.Sample(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	x, _ := ops.Upload(m.Device(), ops.NewHostTensor(ops.F32, 1, tiny.Tokens(), tiny.PatchDim()))
	defer x.Release()
	if _, err := m.Forward(x, []float64{0.5}, []int{tiny.NumClasses() + 1}); err == nil {
		t.Error("class past the null class accepted")
	}
	if _, err := m.Forward(x, []float64{1.5}, []int{0}); err == nil {
		t.Error("t = 1.5 accepted")
	}
	if _, err := m.Forward(x, []float64{0.5, 0.5}, []int{0, 0}); err == nil {
		t.Error("two times for a batch of one accepted")
	}
}

// TestFP8 quantises every linear of the model through
// ReplaceLinearLayers and checks the velocity stays near the float one.
func TestFP8(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the FP8 kernels are covered by the ops and wan tests")
	}
	m, _ := load(t, tiny, ops.F32, 6)
	run := forwardRunner(t, m, 1)
	full := run()
	n, err := ops.ReplaceLinearLayers(m, ops.FP8E4M3)
	if err != nil || n != 8+10*tiny.Layers {
		t.Fatalf("replaced %d: %v", n, err)
	}
	if r := relRMS(run(), full); !(r < 0.1) {
		t.Errorf("FP8 model differs by %.3g (relative RMS)", r)
	}
}

// TestW8A8 switches the blocks to W8A8 linears: every block projection
// becomes an int8 layer, the embeddings and head stay float, the output
// stays within a relative RMS of 5% of the exact model's but is not the
// same, the attention implementation reaches the blocks, and going back
// to exact is an error.
func TestW8A8(t *testing.T) {
	m, _ := load(t, tiny, ops.F32, 7)
	run := forwardRunner(t, m, 2)
	full := run()
	mode, err := m.SetOptions(ops.LinearModeW8A8, attention.TORCH_SDPA)
	if err != nil || mode != ops.LinearModeW8A8 || m.Linear() != ops.LinearModeW8A8 {
		t.Fatalf("SetOptions: %v, %v", mode, err)
	}
	for i, b := range m.Blocks {
		for j, p := range b.Projections() {
			if _, ok := (*p).(*ops.LinearInt8); !ok {
				t.Errorf("block %d projection %d is %T", i, j, *p)
			}
		}
		if b.AttnImpl != attention.TORCH_SDPA {
			t.Errorf("block %d attention %v", i, b.AttnImpl)
		}
	}
	if _, ok := m.Head.(*ops.Linear); !ok {
		t.Errorf("head is %T, want the float linear", m.Head)
	}
	if r := relRMS(run(), full); !(r < 0.05) || r == 0 {
		t.Errorf("W8A8 model differs by %.3g (relative RMS), want within (0, 0.05)", r)
	}
	if _, err := m.SetOptions(ops.LinearModeExact, 0); err == nil {
		t.Error("back to exact after W8A8: no error")
	}
	if _, err := m.SetOptions(ops.LinearModeW8A8, attention.AttnImplType(99)); err == nil {
		t.Error("an unknown attention implementation: no error")
	}
}

// forwardRunner returns a function that runs m's forward on a fixed
// random batch of two (seeded by seed) and returns its output.
func forwardRunner(t *testing.T, m *Model, seed int64) func() []float32 {
	x := gputest.Upload(t, m.Device(), gputest.Rand(rand.New(rand.NewSource(seed)), ops.F32, []int{2, tiny.Tokens(), tiny.PatchDim()}, 1, 0))
	t.Cleanup(x.Release)
	return func() []float32 {
		y, err := m.Forward(x, []float64{0.8, 0.3}, []int{1, tiny.NumClasses()})
		if err != nil {
			t.Fatal(err)
		}
		defer y.Release()
		v, _ := y.Float32()
		return v
	}
}

// relRMS returns the RMS of got - want relative to the RMS of want.
func relRMS(got, want []float32) float64 {
	var num, den float64
	for i := range got {
		num += float64((got[i] - want[i]) * (got[i] - want[i]))
		den += float64(want[i] * want[i])
	}
	return math.Sqrt(num / den)
}
