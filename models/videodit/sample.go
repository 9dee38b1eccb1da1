package videodit

import (
	"math"
	"time"

	"github.com/webfuser/webfuser/ops"
)

// Noise returns n standard normal values that train.py's portable_noise
// reproduces: splitmix64 outputs mix(seed + i*0x9E3779B97F4A7C15) for
// i = 1, 2, ..., turned into uniforms ((z >> 11) + 0.5) / 2^53, two per
// value through Box-Muller, sqrt(-2 ln u1) cos(2 pi u2), rounded to f32.
func Noise(seed uint64, n int) []float32 {
	const golden = 0x9E3779B97F4A7C15
	mix := func(z uint64) float64 {
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		z ^= z >> 31
		return (float64(z>>11) + 0.5) / (1 << 53)
	}
	out := make([]float32, n)
	for k := range out {
		u1 := mix(seed + uint64(2*k+1)*golden)
		u2 := mix(seed + uint64(2*k+2)*golden)
		out[k] = float32(math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2))
	}
	return out
}

// NoiseTokens returns the sampler's starting point for seed: Noise as
// tokens [1, L, P] in dtype dt.
func (c Config) NoiseTokens(dt ops.DType, seed uint64) *ops.HostTensor {
	t := ops.NewHostTensor(dt, 1, c.Tokens(), c.PatchDim())
	for i, v := range Noise(seed, len(t.Data)) {
		t.Data[i] = float64(v)
	}
	return t.Round(dt)
}

// Sigmas returns the flow times of a sampling run: u = 1 - i/steps for
// i = 0..steps, shifted as shift*u / (1 + (shift-1)*u) (shift 1: linear).
func Sigmas(steps int, shift float64) []float64 {
	s := make([]float64, steps+1)
	for i := range s {
		u := 1 - float64(i)/float64(steps)
		s[i] = shift * u / (1 + (shift-1)*u)
	}
	return s
}

// SampleOptions choose a sampling run.
type SampleOptions struct {
	Class int     // in [0, NumClasses)
	Seed  uint64  // the noise (see Noise), unless Noise is set
	Steps int     // Euler steps, at least 1
	CFG   float64 // classifier-free guidance scale; 1 runs the conditional branch alone
	Shift float64 // the flow-time shift of Sigmas; 0 means 1

	Noise *ops.HostTensor // the starting tokens [1,L,P], overriding Seed
	// Graph records the first step's forward and replays it for the
	// others (ops.Record): bind groups made once, intermediates in an
	// arena, one submission per step.
	Graph bool
	// Progress, if set, is called after each step with its duration
	// (the device finished with it).
	Progress func(step, steps int, took time.Duration)
	// FirstStep, if set, is called once with the first forward's inputs
	// (tokens x [B,L,P], times, classes) and its output v [B,L,P], before
	// the step uses them; an error it returns ends the run.
	FirstStep func(x, v *ops.Tensor, t []float64, classes []int) error
}

// Sample integrates the flow from noise at t = 1 to t = 0 with Euler
// steps x += (s[i+1] - s[i]) * v, v = vu + CFG*(vc - vu) (vc the class's
// velocity, vu the null class's; both in one batch of two), and returns
// the clip [F,H,W,C] (values near [-1, 1]) on the host. The state stays
// on the device: the guidance and the step are three FusedScaleShift
// calls on the two velocities.
func (m *Model) Sample(opt SampleOptions) (*ops.HostTensor, error) {
	c := m.Config
	if opt.Class < 0 || opt.Class >= c.NumClasses() {
		return nil, errorf("class", "%d is outside [0, %d)", opt.Class, c.NumClasses())
	}
	if opt.Steps < 1 || opt.Steps > 10000 {
		return nil, errorf("steps", "%d is outside [1, 10000]", opt.Steps)
	}
	if math.IsNaN(opt.CFG) || math.IsInf(opt.CFG, 0) {
		return nil, errorf("cfg", "%g is not a finite number", opt.CFG)
	}
	if opt.Shift == 0 {
		opt.Shift = 1
	}
	if !(opt.Shift > 0) || math.IsInf(opt.Shift, 0) {
		return nil, errorf("shift", "%g must be a positive finite number", opt.Shift)
	}
	L, P := c.Tokens(), c.PatchDim()
	n0 := opt.Noise
	if n0 == nil {
		n0 = c.NoiseTokens(m.DType, opt.Seed)
	} else if n0.Numel() != L*P {
		return nil, errorf("noise", "shape %v, want [1,%d,%d]", n0.Shape, L, P)
	}
	guided := opt.CFG != 1
	B := 1
	if guided {
		B = 2
	}
	start := ops.NewHostTensor(m.DType, B, L, P)
	for b := 0; b < B; b++ {
		copy(start.Data[b*L*P:], n0.Data)
	}
	start.Round(m.DType)
	x, err := ops.Upload(m.dev, start)
	if err != nil {
		return nil, err
	}
	defer func() { x.Release() }()
	ts, classes := make([]float64, B), []int{opt.Class, c.NumClasses()}[:B]
	sg := Sigmas(opt.Steps, opt.Shift)
	var fw forwarder
	if opt.Graph {
		fw = m.NewForwardGraph()
	} else {
		fw = eagerForward{m}
	}
	defer fw.release()
	for i := 0; i < opt.Steps; i++ {
		began := time.Now()
		for b := range ts {
			ts[b] = sg[i]
		}
		v, err := fw.forward(x, ts, classes)
		if err != nil {
			return nil, err
		}
		if i == 0 && opt.FirstStep != nil {
			if err := opt.FirstStep(x, v, ts, classes); err != nil {
				v.Release()
				return nil, err
			}
		}
		xn, err := m.euler(x, v, sg[i+1]-sg[i], opt.CFG, guided)
		v.Release()
		if err != nil {
			return nil, err
		}
		x.Release()
		x = xn
		if opt.Progress != nil {
			if err := m.dev.Sync(); err != nil {
				return nil, err
			}
			opt.Progress(i+1, opt.Steps, time.Since(began))
		}
	}
	out, err := ops.Download(x)
	if err != nil {
		return nil, err
	}
	return c.Unpatchify(out.Data[:L*P]), nil
}

// forwarder computes the velocities of the sampler's steps.
type forwarder interface {
	forward(x *ops.Tensor, t []float64, classes []int) (*ops.Tensor, error)
	release()
}

// eagerForward calls Forward at every step.
type eagerForward struct{ m *Model }

func (e eagerForward) forward(x *ops.Tensor, t []float64, classes []int) (*ops.Tensor, error) {
	return e.m.Forward(x, t, classes)
}

func (eagerForward) release() {}

// euler returns x + dt*v for the unguided batch of one, and for the
// guided batch of two (rows: class, null; x's rows equal)
// x + dt*(1-g)*vu + dt*g*vc in both rows.
func (m *Model) euler(x, v *ops.Tensor, dt, g float64, guided bool) (*ops.Tensor, error) {
	L, P := m.Config.Tokens(), m.Config.PatchDim()
	n := L * P
	if !guided {
		v3, _ := v.Reshape(1, 1, n)
		x3, _ := x.Reshape(1, 1, n)
		y, err := ops.FusedScaleShift(v3, m.zero, x3, float32(dt))
		if err != nil {
			return nil, err
		}
		y.Shape = []int{1, L, P}
		return y, nil
	}
	flat, _ := v.Reshape(1, 2*n)
	vc, err := ops.Narrow(flat, 0, n)
	if err != nil {
		return nil, err
	}
	defer vc.Release()
	vu, err := ops.Narrow(flat, n, n)
	if err != nil {
		return nil, err
	}
	defer vu.Release()
	vu3, _ := vu.Reshape(1, 1, n)
	vc3, _ := vc.Reshape(1, 1, n)
	a, err := ops.FusedScaleShift(vu3, m.zero, m.zero, float32(dt*(1-g))) // dt(1-g) vu
	if err != nil {
		return nil, err
	}
	defer a.Release()
	d, err := ops.FusedScaleShift(vc3, m.zero, a, float32(dt*g)) // + dt g vc
	if err != nil {
		return nil, err
	}
	defer d.Release()
	dv, _ := d.Reshape(n)
	x3, _ := x.Reshape(2, 1, n)
	y, err := ops.FusedScaleShift(x3, m.zero, dv, 1) // x + the step, both rows
	if err != nil {
		return nil, err
	}
	y.Shape = []int{2, L, P}
	return y, nil
}

// Unpatchify turns the tokens of one clip (L*P values, token-major, each
// token's values in (pt, ph, pw, c) order) into frames [F,H,W,C].
func (c Config) Unpatchify(tokens []float64) *ops.HostTensor {
	pt, ph, pw := c.Patch[0], c.Patch[1], c.Patch[2]
	f, h, w := c.Grid()
	C := c.Channels
	out := ops.NewHostTensor(ops.F32, c.Frames, c.Height, c.Width, C)
	i := 0
	for tf := 0; tf < f; tf++ {
		for th := 0; th < h; th++ {
			for tw := 0; tw < w; tw++ {
				for a := 0; a < pt; a++ {
					for b := 0; b < ph; b++ {
						for d := 0; d < pw; d++ {
							row := ((tf*pt+a)*c.Height+th*ph+b)*c.Width + tw*pw + d
							copy(out.Data[row*C:(row+1)*C], tokens[i:i+C])
							i += C
						}
					}
				}
			}
		}
	}
	return out
}

// Patchify is the inverse of Unpatchify: frames [F,H,W,C] to tokens [1,L,P].
func (c Config) Patchify(frames *ops.HostTensor) *ops.HostTensor {
	pt, ph, pw := c.Patch[0], c.Patch[1], c.Patch[2]
	f, h, w := c.Grid()
	C := c.Channels
	out := ops.NewHostTensor(frames.DType, 1, c.Tokens(), c.PatchDim())
	i := 0
	for tf := 0; tf < f; tf++ {
		for th := 0; th < h; th++ {
			for tw := 0; tw < w; tw++ {
				for a := 0; a < pt; a++ {
					for b := 0; b < ph; b++ {
						for d := 0; d < pw; d++ {
							row := ((tf*pt+a)*c.Height+th*ph+b)*c.Width + tw*pw + d
							copy(out.Data[i:i+C], frames.Data[row*C:(row+1)*C])
							i += C
						}
					}
				}
			}
		}
	}
	return out
}
