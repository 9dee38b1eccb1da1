// Package videodit is a small class-conditional video diffusion
// transformer built from ops and models/wan only, and its flow-matching
// sampler. It is the Go twin of models/train/train.py: the same modules
// and parameter names, so the state dict that script saves loads as it
// is.
//
// A clip is Frames x Height x Width x Channels in [-1, 1]. It is cut
// into patches of Patch = [pt, ph, pw] and flattened to tokens [L, P]
// (L = F/pt * H/ph * W/pw, frame-major; P = pt*ph*pw*C in (pt, ph, pw, c)
// order). The model maps tokens at flow time t in [0, 1] and a class to
// a velocity; the sampler integrates it from Gaussian noise at t = 1 to
// a clip at t = 0 with Euler steps and classifier-free guidance, all in
// token space, and unpatchifies the result on the host.
package videodit

import (
	"encoding/json"
	"fmt"

	"github.com/webfuser/webfuser/models/wan"
	"github.com/webfuser/webfuser/ops"
)

// Config is the model's configuration, as train.py stores it in the
// weights' __metadata__["config"].
type Config struct {
	Frames     int     `json:"frames"`
	Height     int     `json:"height"`
	Width      int     `json:"width"`
	Channels   int     `json:"channels"`
	Patch      [3]int  `json:"patch"` // pt, ph, pw
	Dim        int     `json:"dim"`
	FFNDim     int     `json:"ffn_dim"`
	NumHeads   int     `json:"num_heads"`
	Layers     int     `json:"layers"`
	FreqDim    int     `json:"freq_dim"` // width of the sinusoidal timestep embedding
	Shapes     int     `json:"shapes"`
	Colors     int     `json:"colors"`
	Directions int     `json:"directions"`
	Eps        float64 `json:"eps"`
	RopeTheta  float64 `json:"rope_theta"`
}

// DefaultConfig is the configuration train.py trains: 8 frames of 32x32
// RGB in patches of 2 frames x 4x4 pixels (256 tokens of 96 values), 4
// blocks of width 256
// with 4 heads and a 1024-wide feed-forward network, 3 shapes x 4
// colours x 4 directions.
var DefaultConfig = Config{Frames: 8, Height: 32, Width: 32, Channels: 3, Patch: [3]int{2, 4, 4},
	Dim: 256, FFNDim: 1024, NumHeads: 4, Layers: 4, FreqDim: 256, Shapes: 3, Colors: 4, Directions: 4,
	Eps: wan.DefaultEps, RopeTheta: 10000}

// The class factors' names, in train.py's order.
var (
	ShapeNames     = []string{"square", "circle", "triangle"}
	ColorNames     = []string{"red", "green", "blue", "yellow"}
	DirectionNames = []string{"right", "left", "down", "up"}
)

// ConfigFromMetadata reads the configuration from a state dict's
// metadata (key "config", JSON) and checks it.
func ConfigFromMetadata(meta map[string]string) (Config, error) {
	s, ok := meta["config"]
	if !ok {
		return Config{}, errorf("config", "the weights' __metadata__ has no \"config\" (train.py writes one)")
	}
	var c Config
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return Config{}, errorf("config", "%v", err)
	}
	return c, c.Check()
}

// Metadata returns the metadata train.py writes for this configuration.
func (c Config) Metadata() map[string]string {
	b, _ := json.Marshal(c)
	return map[string]string{"format": "pt", "config": string(b)}
}

// Block returns the configuration of the model's blocks.
func (c Config) Block() wan.Config {
	return wan.Config{Dim: c.Dim, FFNDim: c.FFNDim, NumHeads: c.NumHeads, Eps: float32(c.Eps)}
}

// Check returns an *Error for a configuration the model cannot take.
func (c Config) Check() error {
	for _, v := range []struct {
		n string
		v int
	}{{"frames", c.Frames}, {"height", c.Height}, {"width", c.Width}, {"channels", c.Channels},
		{"layers", c.Layers}, {"shapes", c.Shapes}, {"colors", c.Colors}, {"directions", c.Directions}} {
		if v.v <= 0 || v.v > 1<<16 {
			return errorf("config", "%s %d must be in [1, 65536]", v.n, v.v)
		}
	}
	for i, p := range c.Patch {
		if p <= 0 || []int{c.Frames, c.Height, c.Width}[i]%p != 0 {
			return errorf("config", "patch %v must divide the clip %dx%dx%d", c.Patch, c.Frames, c.Height, c.Width)
		}
	}
	if c.FreqDim <= 0 || c.FreqDim%2 != 0 {
		return errorf("config", "freq_dim %d must be positive and even", c.FreqDim)
	}
	if !(c.RopeTheta > 1) {
		return errorf("config", "rope_theta %g must be above 1", c.RopeTheta)
	}
	if c.Tokens() > 1<<20 || c.PatchDim() > 1<<16 {
		return errorf("config", "%d tokens of %d values is too large", c.Tokens(), c.PatchDim())
	}
	if err := c.Block().Check(); err != nil {
		return errorf("config", "%v", err)
	}
	return nil
}

// Grid returns the token grid: frames, rows and columns of patches.
func (c Config) Grid() (f, h, w int) {
	return c.Frames / c.Patch[0], c.Height / c.Patch[1], c.Width / c.Patch[2]
}

// Tokens returns L, the number of tokens of a clip.
func (c Config) Tokens() int {
	f, h, w := c.Grid()
	return f * h * w
}

// PatchDim returns P, the values of one token.
func (c Config) PatchDim() int { return c.Patch[0] * c.Patch[1] * c.Patch[2] * c.Channels }

// NumClasses returns the number of classes; the null class of
// classifier-free guidance is this number.
func (c Config) NumClasses() int { return c.Shapes * c.Colors * c.Directions }

// ContextVocab returns the size of the context tokens' one-hot
// vocabulary: shapes, colours, directions and the null entry.
func (c Config) ContextVocab() int { return c.Shapes + c.Colors + c.Directions + 1 }

// Class returns the class of a shape, colour and direction:
// (shape*Colors + colour)*Directions + direction.
func (c Config) Class(shape, colour, direction int) int {
	return (shape*c.Colors+colour)*c.Directions + direction
}

// Factors returns the shape, colour and direction of a class.
func (c Config) Factors(class int) (shape, colour, direction int) {
	return class / (c.Directions * c.Colors), (class / c.Directions) % c.Colors, class % c.Directions
}

// ClassName describes a class, e.g. "red circle moving right" (with the
// default factors' names), or "null".
func (c Config) ClassName(class int) string {
	if class < 0 || class > c.NumClasses() {
		return fmt.Sprintf("class %d (out of range)", class)
	}
	if class == c.NumClasses() {
		return "null"
	}
	s, col, d := c.Factors(class)
	name := func(names []string, i int, kind string) string {
		if len(names) == c.factorCount(kind) {
			return names[i]
		}
		return fmt.Sprintf("%s %d", kind, i)
	}
	return fmt.Sprintf("%s %s moving %s", name(ColorNames, col, "colour"), name(ShapeNames, s, "shape"), name(DirectionNames, d, "direction"))
}

func (c Config) factorCount(kind string) int {
	switch kind {
	case "shape":
		return c.Shapes
	case "colour":
		return c.Colors
	}
	return c.Directions
}

// Spec declares every parameter of the model by its PyTorch module
// path:
//
//	patch_embedding.{weight [D,P], bias [D]}
//	time_embedding.0.{weight [D,freq_dim], bias}   time_embedding.2.{weight [D,D], bias}
//	time_projection.1.{weight [6D,D], bias [6D]}
//	class_embedding.weight [D, classes+1]          (a linear over the one-hot class)
//	context_embedding.0.{weight [D,V], bias}       context_embedding.2.{weight [D,D], bias}
//	blocks.N.*                                     (models/wan.Config.Shapes)
//	head.modulation [1,2,D]                        head.head.{weight [P,D], bias [P]}
func (c Config) Spec() *ops.StateSpec {
	D, P := c.Dim, c.PatchDim()
	s := &ops.StateSpec{}
	s.Linear("patch_embedding", D, P, true)
	s.Linear("time_embedding.0", D, c.FreqDim, true)
	s.Linear("time_embedding.2", D, D, true)
	s.Linear("time_projection.1", 6*D, D, true)
	s.Linear("class_embedding", D, c.NumClasses()+1, false)
	s.Linear("context_embedding.0", D, c.ContextVocab(), true)
	s.Linear("context_embedding.2", D, D, true)
	for i := 0; i < c.Layers; i++ {
		c.Block().Declare(s, fmt.Sprintf("blocks.%d.", i))
	}
	s.Param("head.modulation", 1, 2, D)
	s.Linear("head.head", P, D, true)
	return s
}

// ParamShapes returns the shape of every parameter by module path (the
// declarations of Spec, FP8 aside).
func (c Config) ParamShapes() map[string][]int {
	D, P := c.Dim, c.PatchDim()
	s := map[string][]int{
		"patch_embedding.weight": {D, P}, "patch_embedding.bias": {D},
		"time_embedding.0.weight": {D, c.FreqDim}, "time_embedding.0.bias": {D},
		"time_embedding.2.weight": {D, D}, "time_embedding.2.bias": {D},
		"time_projection.1.weight": {6 * D, D}, "time_projection.1.bias": {6 * D},
		"class_embedding.weight":     {D, c.NumClasses() + 1},
		"context_embedding.0.weight": {D, c.ContextVocab()}, "context_embedding.0.bias": {D},
		"context_embedding.2.weight": {D, D}, "context_embedding.2.bias": {D},
		"head.modulation": {1, 2, D}, "head.head.weight": {P, D}, "head.head.bias": {P},
	}
	for i := 0; i < c.Layers; i++ {
		for n, sh := range c.Block().Shapes() {
			s[fmt.Sprintf("blocks.%d.%s", i, n)] = sh
		}
	}
	return s
}
