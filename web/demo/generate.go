package demo

import (
	"fmt"
	"math"
	"time"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/models/videodit"
	"github.com/webfuser/webfuser/ops"
)

// The page's sampler settings: few steps by default, so that a CPU
// WebGPU driver (SwiftShader) finishes a clip in about a minute.
const (
	DefaultSteps = 8
	DefaultCFG   = 3.0
	MaxSteps     = 100
)

// Classes lists a configuration's class factors for the page's picker.
type Classes struct {
	Shapes     []string `json:"shapes"`
	Colors     []string `json:"colors"`
	Directions []string `json:"directions"`
}

// ClassesOf returns the names of cfg's shapes, colours and directions
// (videodit's names when the counts match, numbered ones otherwise).
func ClassesOf(cfg videodit.Config) Classes {
	names := func(known []string, n int, kind string) []string {
		if len(known) == n {
			return append([]string(nil), known...)
		}
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s %d", kind, i)
		}
		return out
	}
	return Classes{Shapes: names(videodit.ShapeNames, cfg.Shapes, "shape"),
		Colors:     names(videodit.ColorNames, cfg.Colors, "colour"),
		Directions: names(videodit.DirectionNames, cfg.Directions, "direction")}
}

// GenerateRequest is what the visitor chose: a class by its factors, a
// seed, the Euler steps and the guidance scale.
type GenerateRequest struct {
	Shape, Color, Direction int
	Seed                    uint64
	Steps                   int
	CFG                     float64
}

// Clip is a generated clip, ready for a canvas: Frames images of
// Width x Height pixels, RGBA, frame after frame, row after row.
type Clip struct {
	Class  int     `json:"class"`
	Name   string  `json:"name"`
	Seed   uint64  `json:"seed"`
	Steps  int     `json:"steps"`
	CFG    float64 `json:"cfg"`
	Frames int     `json:"frames"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Millis float64 `json:"ms"`     // sampling time, all steps
	Linear string  `json:"linear"` // the model's linear layers: "exact" or "w8a8" (UseLinears)
	RGBA   []byte  `json:"-"`
}

// UseLinears sets the model's linear layers as the page runs them: W8A8
// (int8 tensor cores) where the device lists i8 subgroup-matrix
// configurations (ops.HasInt8TensorCores), the exact float layers
// elsewhere; it returns the mode chosen.
func UseLinears(m *videodit.Model) (ops.LinearMode, error) {
	return m.SetOptions(ops.LinearModeAuto, 0)
}

// LinearLabel describes the linear layers the page uses on d, for its
// device panel: the mode UseLinears picks and why.
func LinearLabel(d *gpu.Device) (mode, why string) {
	if ops.HasInt8TensorCores(d) {
		return ops.LinearModeW8A8.String(), "int8 tensor cores (subgroup-matrix i8)"
	}
	return ops.LinearModeExact.String(), "no int8 tensor cores"
}

// Generate samples the clip r asks for from m, calling progress (if not
// nil) after each step with its duration. A request outside the model's
// classes or the page's step range is an error naming the field.
func Generate(m *videodit.Model, r GenerateRequest, progress func(step, steps int, took time.Duration)) (*Clip, error) {
	c := m.Config
	for _, f := range []struct {
		name string
		v, n int
	}{{"shape", r.Shape, c.Shapes}, {"colour", r.Color, c.Colors}, {"direction", r.Direction, c.Directions}} {
		if f.v < 0 || f.v >= f.n {
			return nil, fmt.Errorf("generate: %s %d is outside [0, %d)", f.name, f.v, f.n)
		}
	}
	if r.Steps < 1 || r.Steps > MaxSteps {
		return nil, fmt.Errorf("generate: steps %d is outside [1, %d]", r.Steps, MaxSteps)
	}
	if !(r.CFG >= 0 && r.CFG <= 20) {
		return nil, fmt.Errorf("generate: guidance %g is outside [0, 20]", r.CFG)
	}
	class := c.Class(r.Shape, r.Color, r.Direction)
	began := time.Now()
	frames, err := m.Sample(videodit.SampleOptions{Class: class, Seed: r.Seed, Steps: r.Steps, CFG: r.CFG, Progress: progress})
	if err != nil {
		return nil, err
	}
	return &Clip{Class: class, Name: c.ClassName(class), Seed: r.Seed, Steps: r.Steps, CFG: r.CFG,
		Frames: c.Frames, Width: c.Width, Height: c.Height,
		Millis: float64(time.Since(began).Microseconds()) / 1000, Linear: m.Linear().String(), RGBA: RGBA(frames.Data, c.Channels)}, nil
}

// RGBA turns pixels of channels values in [-1, 1] into opaque RGBA
// bytes: (v+1)*127.5 rounded and clamped; one channel is grey, and
// channels past the third are dropped.
func RGBA(values []float64, channels int) []byte {
	if channels < 1 {
		return nil
	}
	n := len(values) / channels
	out := make([]byte, 4*n)
	level := func(v float64) byte {
		v = math.Round((v + 1) * 127.5)
		if !(v > 0) { // NaN too
			return 0
		}
		return byte(math.Min(255, v))
	}
	for i := 0; i < n; i++ {
		px := values[i*channels : (i+1)*channels]
		for ch := 0; ch < 3; ch++ {
			out[4*i+ch] = level(px[min(ch, channels-1)])
		}
		out[4*i+3] = 255
	}
	return out
}
