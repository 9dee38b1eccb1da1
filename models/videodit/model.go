package videodit

import (
	"fmt"
	"math"

	"github.com/webfuser/webfuser/models/wan"
	"github.com/webfuser/webfuser/ops"
)

// Model is the video DiT with its parameters on a device.
type Model struct {
	Config Config
	DType  ops.DType // the parameters' (and activations') float dtype

	PatchEmbedding                 ops.Projector // [D,P]
	TimeEmbedding0, TimeEmbedding2 ops.Projector // sinusoid -> D, then D -> D (SiLU between)
	TimeProjection                 ops.Projector // time_projection.1: SiLU(e) -> e0 [6D]
	ClassEmbedding                 ops.Projector // one-hot class -> D, added to the time embedding
	Context0, Context2             ops.Projector // context_embedding.0 (GELU tanh) and .2
	Blocks                         []*wan.Block
	HeadModulation                 *ops.Tensor // [1,2,D]: shift, scale added to e
	Head                           ops.Projector

	state     *ops.State
	dev       *ops.Device
	cos, sin  *ops.Tensor // rotary tables [L, D/H/2]
	shiftM    *ops.Tensor // head.modulation[0] [D]
	scaleM    *ops.Tensor // head.modulation[1] [D]
	ones      *ops.Tensor // [D] of 1
	zero      *ops.Tensor // scalar 0
	ownsState bool
	linear    ops.LinearMode    // SetOptions
	int8      []*ops.LinearInt8 // the blocks' W8A8 copies, freed by Release
}

// Load reads the configuration from a state dict's metadata, binds its
// parameters (see Config.Spec) on d and returns the model. The state
// dict may be closed afterwards.
func Load(d *ops.Device, sd *ops.StateDict) (*Model, error) {
	cfg, err := ConfigFromMetadata(sd.Metadata())
	if err != nil {
		return nil, err
	}
	return New(d, sd, cfg)
}

// New binds a state dict's parameters to a model of configuration cfg.
// A missing, unexpected, mis-shaped or mixed-dtype parameter is an
// *ops.Error naming it.
func New(d *ops.Device, sd *ops.StateDict, cfg Config) (*Model, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	st, err := ops.LoadState(d, sd, cfg.Spec())
	if err != nil {
		return nil, fmt.Errorf("videodit: %w", err)
	}
	m, err := FromState(cfg, st)
	if err != nil {
		st.Release()
		return nil, err
	}
	m.ownsState = true
	return m, nil
}

// FromState builds the model from parameters already loaded with
// cfg.Spec(); the model borrows them.
func FromState(cfg Config, st *ops.State) (*Model, error) {
	m := &Model{Config: cfg, DType: st.DType, state: st, HeadModulation: st.Tensor("head.modulation")}
	if m.HeadModulation == nil {
		return nil, errorf("head.modulation", "was not loaded")
	}
	m.dev = m.HeadModulation.Device()
	ok := false
	defer func() {
		if !ok {
			m.releaseOwn()
		}
	}()
	var err error
	for _, p := range []struct {
		n   string
		dst *ops.Projector
	}{{"patch_embedding", &m.PatchEmbedding}, {"time_embedding.0", &m.TimeEmbedding0}, {"time_embedding.2", &m.TimeEmbedding2},
		{"time_projection.1", &m.TimeProjection}, {"class_embedding", &m.ClassEmbedding},
		{"context_embedding.0", &m.Context0}, {"context_embedding.2", &m.Context2}, {"head.head", &m.Head}} {
		if *p.dst, err = st.Linear(p.n); err != nil {
			return nil, fmt.Errorf("videodit: %w", err)
		}
	}
	for i := 0; i < cfg.Layers; i++ {
		b, err := wan.FromState(cfg.Block(), st, fmt.Sprintf("blocks.%d.", i))
		if err != nil {
			return nil, fmt.Errorf("videodit: blocks.%d: %w", i, err)
		}
		m.Blocks = append(m.Blocks, b)
	}
	f, h, w := cfg.Grid()
	if m.cos, m.sin, err = ops.RotaryTables3D(m.dev, m.DType, f, h, w, cfg.Dim/cfg.NumHeads, cfg.RopeTheta); err != nil {
		return nil, err
	}
	hm, err := m.HeadModulation.Reshape(1, 2*cfg.Dim)
	if err != nil {
		return nil, err
	}
	if m.shiftM, err = ops.Narrow(hm, 0, cfg.Dim); err != nil {
		return nil, err
	}
	if m.scaleM, err = ops.Narrow(hm, cfg.Dim, cfg.Dim); err != nil {
		return nil, err
	}
	m.shiftM.Shape, m.scaleM.Shape = []int{cfg.Dim}, []int{cfg.Dim}
	ones := ops.NewHostTensor(m.DType, cfg.Dim)
	for i := range ones.Data {
		ones.Data[i] = 1
	}
	if m.ones, err = ops.Upload(m.dev, ones); err != nil {
		return nil, err
	}
	if m.zero, err = ops.Upload(m.dev, ops.NewHostTensor(m.DType)); err != nil {
		return nil, err
	}
	ok = true
	return m, nil
}

// Device returns the device the model runs on.
func (m *Model) Device() *ops.Device { return m.dev }

// releaseOwn frees what the model made itself.
func (m *Model) releaseOwn() {
	for _, b := range m.Blocks {
		b.Release()
	}
	for _, t := range []*ops.Tensor{m.cos, m.sin, m.shiftM, m.scaleM, m.ones, m.zero} {
		t.Release()
	}
	for _, l := range m.int8 {
		l.Weight.Release()
		l.WeightScale.Release()
	}
	m.int8 = nil
}

// Release frees the model's device memory: what it made, and its
// parameters when Load or New loaded them.
func (m *Model) Release() {
	m.releaseOwn()
	if m.ownsState {
		m.state.Release()
	}
}

// Projections returns the model's own linear layers (the blocks' are
// their own), for ReplaceLinearLayers.
func (m *Model) Projections() []*ops.Projector {
	return []*ops.Projector{&m.PatchEmbedding, &m.TimeEmbedding0, &m.TimeEmbedding2, &m.TimeProjection,
		&m.ClassEmbedding, &m.Context0, &m.Context2, &m.Head}
}

// Children returns the blocks.
func (m *Model) Children() []ops.Module {
	out := make([]ops.Module, len(m.Blocks))
	for i, b := range m.Blocks {
		out[i] = b
	}
	return out
}

// Parameters returns head.modulation, the one tensor outside the
// projections and blocks.
func (m *Model) Parameters() []*ops.Tensor { return []*ops.Tensor{m.HeadModulation} }

// Conditioning returns the host inputs of a batch: the sinusoidal
// embedding [B, FreqDim] of 1000*t (Wan's sinusoidal_embedding_1d:
// cos then sin of position * 10000^(-i/half), in float64), the one-hot
// classes [B, classes+1] and the one-hot context tokens [B, 3, V]
// (shape, colour, direction; the null class's three tokens are all the
// vocabulary's last entry), each rounded to dt.
func (c Config) Conditioning(dt ops.DType, t []float64, class []int) (sinusoid, onehot, context *ops.HostTensor, err error) {
	B, nc, V := len(t), c.NumClasses(), c.ContextVocab()
	if len(class) != B || B == 0 {
		return nil, nil, nil, errorf("class", "%d classes for %d times", len(class), B)
	}
	half := c.FreqDim / 2
	sinusoid, onehot, context = ops.NewHostTensor(dt, B, c.FreqDim), ops.NewHostTensor(dt, B, nc+1), ops.NewHostTensor(dt, B, 3, V)
	for b := 0; b < B; b++ {
		if class[b] < 0 || class[b] > nc {
			return nil, nil, nil, errorf("class", "%d is outside [0, %d] (%d is the null class)", class[b], nc, nc)
		}
		if !(t[b] >= 0 && t[b] <= 1) {
			return nil, nil, nil, errorf("t", "%g is outside [0, 1]", t[b])
		}
		pos := 1000 * t[b]
		for i := 0; i < half; i++ {
			a := pos * math.Pow(10000, -float64(i)/float64(half))
			sinusoid.Data[b*c.FreqDim+i] = math.Cos(a)
			sinusoid.Data[b*c.FreqDim+half+i] = math.Sin(a)
		}
		onehot.Data[b*(nc+1)+class[b]] = 1
		idx := [3]int{V - 1, V - 1, V - 1}
		if class[b] < nc {
			s, col, d := c.Factors(class[b])
			idx = [3]int{s, c.Shapes + col, c.Shapes + c.Colors + d}
		}
		for j, k := range idx {
			context.Data[(b*3+j)*V+k] = 1
		}
	}
	return sinusoid.Round(dt), onehot, context, nil
}

// Forward computes the velocity [B,L,P] of tokens x [B,L,P] (the
// model's dtype) at flow times t[b] in [0,1] for classes class[b]
// (NumClasses is the null class):
//
//	e = time_embedding.2(silu(time_embedding.0(sinusoid(1000 t)))) + class_embedding(onehot(class))
//	e0 = time_projection.1(silu(e))                                   [B,6D], shared by the blocks
//	ctx = context_embedding.2(gelu_tanh(context_embedding.0(onehot(shape, colour, direction))))
//	h = blocks(patch_embedding(x), e0, ctx)
//	y = head.head(layer_norm(h) * (1 + head.modulation[1] + e) + head.modulation[0] + e)
func (m *Model) Forward(x *ops.Tensor, t []float64, class []int) (*ops.Tensor, error) {
	if err := m.checkTokens(x, len(t)); err != nil {
		return nil, err
	}
	sinH, hotH, ctxH, err := m.Config.Conditioning(m.DType, t, class)
	if err != nil {
		return nil, err
	}
	cond, err := m.upload(sinH, hotH, ctxH)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, t := range cond {
			t.Release()
		}
	}()
	return m.forward(x, cond[0], cond[1], cond[2])
}

// checkTokens checks the tokens x [B,L,P] of a forward at n times.
func (m *Model) checkTokens(x *ops.Tensor, n int) error {
	L, P := m.Config.Tokens(), m.Config.PatchDim()
	if x == nil || len(x.Shape) != 3 || x.Shape[1] != L || x.Shape[2] != P {
		return errorf("x", "shape %v, want [B,%d,%d]", shapeOf(x), L, P)
	}
	if x.DType != m.DType {
		return errorf("x", "dtype %v, want the weights' %v", x.DType, m.DType)
	}
	if n != x.Shape[0] {
		return errorf("t", "%d times for a batch of %d", n, x.Shape[0])
	}
	return nil
}

// upload copies the conditioning of a batch to the device.
func (m *Model) upload(hs ...*ops.HostTensor) ([]*ops.Tensor, error) {
	var out []*ops.Tensor
	for _, h := range hs {
		t, err := ops.Upload(m.dev, h)
		if err != nil {
			for _, t := range out {
				t.Release()
			}
			return nil, fmt.Errorf("videodit: upload: %w", err)
		}
		out = append(out, t)
	}
	return out, nil
}

// forward is Forward on the conditioning already on the device: the
// sinusoid, one-hot classes and context tokens of Conditioning. It reads
// nothing else that depends on the batch, so that a graph recorded with
// x and these as inputs replays it.
func (m *Model) forward(x, sinG, hotG, ctxG *ops.Tensor) (*ops.Tensor, error) {
	c := m.Config
	D := c.Dim
	B := x.Shape[0]
	var temps ops.Temps
	defer temps.Release()
	keep := temps.Keep
	step := func(name string, err error) error { return fmt.Errorf("videodit: %s: %w", name, err) }

	// e = time_embedding(sinusoid) + class_embedding(onehot), [B,D].
	te, err := keep(m.TimeEmbedding0.ForwardAct(sinG, ops.ActSiLU))
	if err != nil {
		return nil, step("time_embedding.0+silu", err)
	}
	ce, err := keep(m.ClassEmbedding.Forward(hotG))
	if err != nil {
		return nil, step("class_embedding", err)
	}
	e, err := keep(addInto(m.TimeEmbedding2, te, m.ones, ce, m.zero))
	if err != nil {
		return nil, step("time_embedding.2+class", err)
	}
	se, err := keep(ops.Activate(e, ops.ActSiLU))
	if err != nil {
		return nil, step("silu(e)", err)
	}
	e0, err := keep(m.TimeProjection.Forward(se))
	if err != nil {
		return nil, step("time_projection.1", err)
	}

	// Context tokens [B,3,D].
	c0, err := keep(m.Context0.ForwardAct(ctxG, ops.ActGELUTanh))
	if err != nil {
		return nil, step("context_embedding.0+gelu_tanh", err)
	}
	ctx, err := keep(m.Context2.Forward(c0))
	if err != nil {
		return nil, step("context_embedding.2", err)
	}

	h, err := keep(m.PatchEmbedding.Forward(x))
	if err != nil {
		return nil, step("patch_embedding", err)
	}
	for i, b := range m.Blocks {
		if h, err = keep(b.Forward(h, e0, ctx, m.cos, m.sin)); err != nil {
			return nil, fmt.Errorf("videodit: blocks.%d: %w", i, err)
		}
	}

	// Head: shift, scale = head.modulation + e; y = head(layer_norm(h)*(1+scale)+shift).
	e3, err := e.Reshape(B, 1, D)
	if err != nil {
		return nil, step("head", err)
	}
	shift, err := keep(ops.FusedScaleShift(e3, m.zero, m.shiftM, 1))
	if err != nil {
		return nil, step("head.modulation+e", err)
	}
	scale, err := keep(ops.FusedScaleShift(e3, m.zero, m.scaleM, 1))
	if err != nil {
		return nil, step("head.modulation+e", err)
	}
	hn, err := keep(ops.NormThenModulate(ops.KindLayerNorm, h, nil, nil, float32(c.Eps),
		ops.ModulateArgs{Shift: shift, Scale: scale, Constant: 1}))
	if err != nil {
		return nil, step("head norm+modulate", err)
	}
	y, err := m.Head.Forward(hn)
	if err != nil {
		return nil, step("head.head", err)
	}
	return y, nil
}

// addInto computes residual + p(x): in the product's epilogue with a
// gate of ones for a float Linear or a LinearInt8, otherwise the
// projection followed by FusedScaleShift (y * (1 + 0) + residual). x and
// residual are [B,N].
func addInto(p ops.Projector, x, ones, residual, zero *ops.Tensor) (*ops.Tensor, error) {
	if l, ok := p.(ops.GateResidualProjector); ok {
		return l.ForwardGateResidual(x, ones, residual)
	}
	y, err := p.Forward(x)
	if err != nil {
		return nil, err
	}
	defer y.Release()
	B, N := y.Shape[0], y.Shape[1]
	y3, err := y.Reshape(B, 1, N)
	if err != nil {
		return nil, err
	}
	r3, err := residual.Reshape(B, 1, N)
	if err != nil {
		return nil, err
	}
	s, err := ops.FusedScaleShift(y3, zero, r3, 1)
	if err != nil {
		return nil, err
	}
	s.Shape = []int{B, N}
	return s, nil
}

func shapeOf(t *ops.Tensor) []int {
	if t == nil {
		return nil
	}
	return t.Shape
}
