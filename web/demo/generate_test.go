package demo

import (
	"bytes"
	"math"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/webfuser/webfuser/internal/safetensors"
	"github.com/webfuser/webfuser/models/videodit"
	"github.com/webfuser/webfuser/ops"
)

func TestRGBA(t *testing.T) {
	tests := []struct {
		name     string
		values   []float64
		channels int
		want     []byte
	}{
		{"rgb", []float64{-1, 0, 1, 2, -2, math.NaN()}, 3, []byte{0, 128, 255, 255, 255, 0, 0, 255}},
		{"grey", []float64{-1, 1}, 1, []byte{0, 0, 0, 255, 255, 255, 255, 255}},
		{"four channels drop the fourth", []float64{1, -1, 1, 0.5}, 4, []byte{255, 0, 255, 255}},
		{"no channels", []float64{1}, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RGBA(tc.values, tc.channels); !bytes.Equal(got, tc.want) {
				t.Fatalf("RGBA(%v, %d) = %v, want %v", tc.values, tc.channels, got, tc.want)
			}
		})
	}
}

func TestClassesOf(t *testing.T) {
	c := ClassesOf(videodit.DefaultConfig)
	if strings.Join(c.Shapes, ",") != "square,circle,triangle" || len(c.Colors) != 4 || c.Directions[3] != "up" {
		t.Fatalf("default classes %+v", c)
	}
	odd := videodit.DefaultConfig
	odd.Shapes = 2
	if c := ClassesOf(odd); strings.Join(c.Shapes, ",") != "shape 0,shape 1" {
		t.Fatalf("two shapes: %v", c.Shapes)
	}
}

// tinyModel loads random weights of a small configuration on the test device.
func tinyModel(t *testing.T) *videodit.Model {
	cfg := videodit.Config{Frames: 2, Height: 8, Width: 8, Channels: 3, Patch: [3]int{1, 4, 4}, Dim: 16, FFNDim: 32,
		NumHeads: 2, Layers: 1, FreqDim: 8, Shapes: 3, Colors: 4, Directions: 4, Eps: 1e-6, RopeTheta: 10000}
	w := videodit.RandomWeights(cfg, ops.F32, rand.New(rand.NewSource(3)))
	names := make([]string, 0, len(w))
	for n := range w {
		names = append(names, n)
	}
	sort.Strings(names)
	var ts []safetensors.Tensor
	for _, n := range names {
		ts = append(ts, safetensors.FromHost(n, w[n]))
	}
	b, err := safetensors.Encode(ts, cfg.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	sd, err := ops.ParseStateDict(b)
	if err != nil {
		t.Fatal(err)
	}
	m, err := videodit.Load(testDevice(t), sd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Release)
	return m
}

// TestGenerate samples a clip of a small random model: its class from
// the factors, one progress call per step, one opaque RGBA pixel per
// clip pixel; the same request gives the same clip, and another seed
// another.
func TestGenerate(t *testing.T) {
	m := tinyModel(t)
	var steps []int
	r := GenerateRequest{Shape: 2, Color: 1, Direction: 3, Seed: 7, Steps: 2, CFG: 3}
	clip, err := Generate(m, r, func(step, n int, _ time.Duration) { steps = append(steps, step) })
	if err != nil {
		t.Fatal(err)
	}
	if clip.Class != (2*4+1)*4+3 || clip.Name != "green triangle moving up" || clip.Frames != 2 || clip.Width != 8 || clip.Height != 8 {
		t.Fatalf("clip %+v", clip)
	}
	if len(steps) != 2 || steps[1] != 2 {
		t.Errorf("progress steps %v, want [1 2]", steps)
	}
	if len(clip.RGBA) != 2*8*8*4 {
		t.Fatalf("%d RGBA bytes, want %d", len(clip.RGBA), 2*8*8*4)
	}
	for i := 3; i < len(clip.RGBA); i += 4 {
		if clip.RGBA[i] != 255 {
			t.Fatalf("pixel %d is not opaque", i/4)
		}
	}
	again, err := Generate(m, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Seed = 8
	other, err := Generate(m, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.RGBA, clip.RGBA) || bytes.Equal(other.RGBA, clip.RGBA) {
		t.Errorf("same seed same clip: %v; other seed other clip: %v", bytes.Equal(again.RGBA, clip.RGBA), !bytes.Equal(other.RGBA, clip.RGBA))
	}
}

func TestGenerateRefusesBadRequests(t *testing.T) {
	m := tinyModel(t)
	tests := []struct {
		r    GenerateRequest
		want string
	}{
		{GenerateRequest{Shape: 3, Steps: 1}, "shape 3 is outside [0, 3)"},
		{GenerateRequest{Color: -1, Steps: 1}, "colour -1"},
		{GenerateRequest{Direction: 4, Steps: 1}, "direction 4"},
		{GenerateRequest{Steps: 0}, "steps 0"},
		{GenerateRequest{Steps: MaxSteps + 1}, "steps 101"},
		{GenerateRequest{Steps: 1, CFG: math.NaN()}, "guidance NaN"},
		{GenerateRequest{Steps: 1, CFG: 21}, "guidance 21"},
	}
	for _, tc := range tests {
		if _, err := Generate(m, tc.r, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.r, err, tc.want)
		}
	}
}
