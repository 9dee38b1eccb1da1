package main

import (
	"bytes"
	"image/gif"
	"image/png"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/internal/safetensors"
	"github.com/webfuser/webfuser/models/videodit"
	"github.com/webfuser/webfuser/ops"
)

// writeRandomModel writes random weights of cfg to a safetensors file
// with train.py's metadata and returns its path.
func writeRandomModel(t testing.TB, dir string, cfg videodit.Config, seed int64) string {
	t.Helper()
	w := videodit.RandomWeights(cfg, ops.F32, rand.New(rand.NewSource(seed)))
	b, err := safetensors.EncodeHost(w, cfg.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model.safetensors")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tinyVideo is a small model of the default clip shape.
var tinyVideo = videodit.Config{Frames: 4, Height: 16, Width: 12, Channels: 3, Patch: [3]int{2, 4, 4}, Dim: 32, FFNDim: 64,
	NumHeads: 2, Layers: 2, FreqDim: 16, Shapes: 3, Colors: 4, Directions: 4, Eps: 1e-6, RopeTheta: 10000}

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	weights := writeRandomModel(t, dir, tinyVideo, 1)
	out := filepath.Join(dir, "sub", "clip.gif")
	var stdout, stderr bytes.Buffer
	ok, err := generate([]string{"--weights", weights, "--class", "21", "--seed", "5", "--steps", "3", "--cfg", "2.5",
		"--scale", "3", "--out", out}, &stdout, &stderr)
	if err != nil || !ok {
		t.Fatalf("generate: ok %v, err %v\n%s%s", ok, err, stdout.String(), stderr.String())
	}
	for _, want := range []string{"check: first step (batch of 2 at t=1)", "PASS", "green circle moving left", "sampled in", "wrote",
		"linear layers: exact (int8 tensor cores: false)"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "step 3/3") {
		t.Errorf("no progress bar:\n%s", stderr.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := gif.DecodeAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != tinyVideo.Frames {
		t.Errorf("%d GIF frames, want %d", len(g.Image), tinyVideo.Frames)
	}
	if b := g.Image[0].Bounds(); b.Dx() != 3*tinyVideo.Width || b.Dy() != 3*tinyVideo.Height {
		t.Errorf("GIF frame %v, want %dx%d", b, 3*tinyVideo.Width, 3*tinyVideo.Height)
	}
	pf, err := os.Open(strings.TrimSuffix(out, ".gif") + ".png")
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	strip, err := png.Decode(pf)
	if err != nil {
		t.Fatal(err)
	}
	if w := strip.Bounds().Dx(); w != tinyVideo.Frames*3*tinyVideo.Width+(tinyVideo.Frames+1) {
		t.Errorf("strip width %d", w)
	}

	// The same seed gives the same GIF; unguided and --no-check run too.
	out2 := filepath.Join(dir, "again.gif")
	if ok, err := generate([]string{"--weights", weights, "--class", "21", "--seed", "5", "--steps", "3", "--cfg", "2.5",
		"--scale", "3", "--out", out2, "--no-check"}, &stdout, &stderr); err != nil || !ok {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(out2)
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave another GIF")
	}
	// Graph mode gives the eager clip.
	out3 := filepath.Join(dir, "graph.gif")
	if ok, err := generate([]string{"--weights", weights, "--class", "21", "--seed", "5", "--steps", "3", "--cfg", "2.5",
		"--scale", "3", "--out", out3, "--graph", "on"}, &stdout, &stderr); err != nil || !ok {
		t.Fatalf("--graph: ok %v, err %v", ok, err)
	}
	if c, _ := os.ReadFile(out3); !bytes.Equal(a, c) {
		t.Error("--graph gave another GIF than eager")
	}
	// W8A8 linears, eager and in graph mode: the same clip.
	w8 := [2]string{filepath.Join(dir, "w8.gif"), filepath.Join(dir, "w8graph.gif")}
	for i, g := range []string{"off", "on"} {
		stdout.Reset()
		if ok, err := generate([]string{"--weights", weights, "--class", "21", "--seed", "5", "--steps", "3", "--cfg", "2.5",
			"--scale", "3", "--out", w8[i], "--graph", g, "--linear", "w8a8"}, &stdout, &stderr); err != nil || !ok {
			t.Fatalf("--linear w8a8 --graph %s: ok %v, err %v\n%s", g, ok, err, stdout.String())
		}
		if !strings.Contains(stdout.String(), "linear layers: w8a8") {
			t.Errorf("--linear w8a8 did not say so:\n%s", stdout.String())
		}
	}
	if c, d := readFile(t, w8[0]), readFile(t, w8[1]); !bytes.Equal(c, d) {
		t.Error("W8A8 in graph mode gave another GIF than eager")
	}
	if ok, err := generate([]string{"--weights", weights, "--steps", "1", "--cfg", "1", "--out", out2, "--fp8"}, &stdout, &stderr); err != nil || !ok {
		t.Fatalf("unguided fp8 run: %v", err)
	}
}

func TestGenerateRefuses(t *testing.T) {
	dir := t.TempDir()
	weights := writeRandomModel(t, dir, tinyVideo, 2)
	var out bytes.Buffer
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--weights", filepath.Join(dir, "absent.safetensors")}, "train the model"},
		{[]string{"--weights", weights, "--class", "48"}, "outside [0, 48)"},
		{[]string{"--weights", weights, "--steps", "0"}, "--steps"},
		{[]string{"--weights", weights, "--scale", "0"}, "--scale"},
		{[]string{"--weights", weights, "extra"}, "unexpected arguments"},
		{[]string{"--weights", dir}, "not a regular file"},
		{[]string{"--weights", weights, "--linear", "int4"}, "unknown linear mode"},
		{[]string{"--weights", weights, "--fp8", "--linear", "w8a8"}, "choose one"},
	} {
		_, err := generate(tc.args, &out, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
	out.Reset()
	if ok, err := generate([]string{"--weights", weights, "--list"}, &out, &out); err != nil || !ok || !strings.Contains(out.String(), " 47  yellow triangle moving up") {
		t.Errorf("--list: %v\n%s", err, out.String())
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
