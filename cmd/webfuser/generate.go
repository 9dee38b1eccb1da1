package main

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/models/videodit"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

// defaultWeights is the trained model models/train/train.py writes.
const defaultWeights = "testdata/models/videodit.safetensors"

// generate samples a clip from the video DiT and writes it as an
// animated GIF and a PNG strip of its frames. Unless --no-check, it
// first compares the model's first step on the GPU with the float64 CPU
// reference, and reports false when that is outside the spec's
// tolerance.
func generate(args []string, stdout, stderr io.Writer) (bool, error) {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	class := fs.Int("class", 0, "class: (shape*colours + colour)*directions + direction; see the list printed by --list")
	seed := fs.Uint64("seed", 0, "seed of the starting noise (the same noise as train.py's portable_noise)")
	steps := fs.Int("steps", 10, "Euler steps from noise to clip")
	cfg := fs.Float64("cfg", 3, "classifier-free guidance scale (1: the conditional branch alone)")
	shift := fs.Float64("shift", 1, "flow-time shift of the step schedule")
	out := fs.String("out", "clip.gif", "the animated GIF to write")
	strip := fs.String("strip", "", "the PNG strip of the frames (default: --out with .png)")
	weights := fs.String("weights", defaultWeights, "a safetensors state dict saved by models/train/train.py (config in its metadata)")
	scale := fs.Int("scale", 4, "pixels per clip pixel in the GIF and the strip")
	noCheck := fs.Bool("no-check", false, "skip the check of the first step against the float64 CPU reference")
	fp8 := fs.Bool("fp8", false, "quantise every linear layer to FP8 E4M3 (ReplaceLinearLayers) before sampling")
	linear := fs.String("linear", "auto", "the blocks' linear layers: exact (float weights), w8a8 (int8 weights and per-token int8 activations, ops.LinearInt8) or auto (w8a8 where the adapter lists int8 subgroup-matrix configurations, Dawn on NVIDIA; exact elsewhere), as the browser demo picks")
	list := fs.Bool("list", false, "print the classes of the weights and exit")
	graph := fs.String("graph", "auto", "on: record the first step's forward and replay it for the others (graph mode: bind groups made once, an arena, one submission per step); off: eager; auto: on for GPUs (5.5x per step on the H200, bench/results/2026-11-28-h200-s2-graph.md), off for CPU drivers")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	if fs.NArg() != 0 {
		return false, fmt.Errorf("generate: unexpected arguments %v", fs.Args())
	}
	if *graph != "auto" && *graph != "on" && *graph != "off" {
		return false, fmt.Errorf("generate: --graph must be auto, on or off, not %q", *graph)
	}
	linMode, err := ops.ParseLinearMode(*linear)
	if err != nil {
		return false, fmt.Errorf("generate: --linear: %w", err)
	}
	if *fp8 && linMode == ops.LinearModeW8A8 {
		return false, fmt.Errorf("generate: --fp8 and --linear w8a8 both quantise the linears; choose one")
	}
	if *scale < 1 || *scale > 64 {
		return false, fmt.Errorf("generate: --scale must be in [1, 64], not %d", *scale)
	}
	if *strip == "" {
		*strip = strings.TrimSuffix(*out, filepath.Ext(*out)) + ".png"
	}
	sd, err := ops.OpenStateDict(*weights)
	if err != nil {
		if os.IsNotExist(err) || strings.Contains(err.Error(), "no such file") {
			return false, fmt.Errorf("generate: %v (train the model with models/train/train.py, or pass --weights)", err)
		}
		return false, fmt.Errorf("generate: %s: %w", *weights, err)
	}
	defer sd.Close()
	mc, err := videodit.ConfigFromMetadata(sd.Metadata())
	if err != nil {
		return false, fmt.Errorf("generate: %s: %w", *weights, err)
	}
	if *list {
		for c := 0; c < mc.NumClasses(); c++ {
			fmt.Fprintf(stdout, "%3d  %s\n", c, mc.ClassName(c))
		}
		return true, nil
	}
	if *class < 0 || *class >= mc.NumClasses() {
		return false, fmt.Errorf("generate: --class %d is outside [0, %d) (--list prints them)", *class, mc.NumClasses())
	}
	if *steps < 1 || *steps > 1000 {
		return false, fmt.Errorf("generate: --steps must be in [1, 1000], not %d", *steps)
	}

	d, err := openDevice()
	if err != nil {
		return false, err
	}
	fmt.Fprintf(stdout, "device: %s\n", d)
	began := time.Now()
	m, err := videodit.New(d, sd, mc)
	if err != nil {
		return false, fmt.Errorf("generate: %s: %w", *weights, err)
	}
	defer m.Release()
	fmt.Fprintf(stdout, "model: %s, %d blocks of width %d, %d heads, %d tokens of %d values, %.1f MB of %v weights, loaded in %v\n",
		*weights, mc.Layers, mc.Dim, mc.NumHeads, mc.Tokens(), mc.PatchDim(), float64(ops.ParameterBytes(m))/1e6, m.DType,
		time.Since(began).Round(time.Millisecond))

	if *fp8 {
		n, err := ops.ReplaceLinearLayers(m, ops.FP8E4M3)
		if err != nil {
			return false, err
		}
		fmt.Fprintf(stdout, "fp8: %d linear layers quantised to E4M3 (%.1f MB); the check reports its distance from the float reference\n",
			n, float64(ops.ParameterBytes(m))/1e6)
	}

	if !*fp8 {
		if linMode, err = m.SetOptions(linMode, 0); err != nil {
			return false, err
		}
		fmt.Fprintf(stdout, "linear layers: %v (int8 tensor cores: %v)\n", linMode, ops.HasInt8TensorCores(d))
	}
	w8a8 := !*fp8 && linMode == ops.LinearModeW8A8

	useGraph := *graph == "on" || (*graph == "auto" && (d.Info.Class == gpu.ClassDiscrete || d.Info.Class == gpu.ClassIntegrated))
	fmt.Fprintf(stdout, "sampling class %d (%s), seed %d, %d steps, cfg %g, shift %g, graph mode %v\n", *class, mc.ClassName(*class), *seed, *steps, *cfg, *shift, useGraph)
	var total time.Duration
	ok, checkLine := true, "check: none (--no-check)"
	opt := videodit.SampleOptions{Class: *class, Seed: *seed, Steps: *steps, CFG: *cfg, Shift: *shift, Graph: useGraph,
		Progress: func(step, n int, took time.Duration) {
			total += took
			progressBar(stderr, step, n, took, total)
		}}
	if !*noCheck {
		opt.FirstStep = func(x, v *ops.Tensor, t []float64, classes []int) error {
			var err error
			ok, checkLine, err = checkFirstStep(m, sd, x, v, t, classes)
			if (*fp8 || w8a8) && err == nil {
				// FP8 or int8 weights and activations are not the float
				// model: the error is reported, not judged.
				ok, checkLine = true, strings.Replace(checkLine, ": FAIL", ": outside the float tolerance, as quantised linears are", 1)
			}
			return err
		}
	}
	frames, err := m.Sample(opt)
	fmt.Fprintln(stderr)
	if err != nil {
		return false, err
	}
	fmt.Fprintln(stdout, checkLine)
	fmt.Fprintf(stdout, "sampled in %v (%v per step)\n", total.Round(time.Millisecond), (total / time.Duration(*steps)).Round(time.Millisecond))
	imgs := frameImages(mc, frames, *scale)
	for _, p := range []string{*out, *strip} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return false, err
		}
	}
	if err := writeGIF(*out, imgs); err != nil {
		return false, err
	}
	if err := writeStrip(*strip, imgs, *scale); err != nil {
		return false, err
	}
	fmt.Fprintf(stdout, "wrote %s (%d frames, %dx%d) and %s\n", *out, len(imgs), mc.Width**scale, mc.Height**scale, *strip)
	return ok, nil
}

// progressBar redraws one line: a bar, the step, its time and the mean.
func progressBar(w io.Writer, step, n int, took, total time.Duration) {
	const width = 30
	done := step * width / n
	fmt.Fprintf(w, "\r[%s%s] step %d/%d  %v/step (mean %v)  ", strings.Repeat("=", done), strings.Repeat(" ", width-done),
		step, n, took.Round(time.Millisecond), (total / time.Duration(step)).Round(time.Millisecond))
}

// checkFirstStep compares the sampler's first forward on the GPU (its
// inputs x, t, classes and output v) with the float64 reference on the
// host, computed from the weights as stored, and describes the result.
func checkFirstStep(m *videodit.Model, sd *ops.StateDict, x, v *ops.Tensor, t []float64, classes []int) (bool, string, error) {
	c := m.Config
	began := time.Now()
	weights := map[string]*ref.Tensor{}
	for _, n := range sd.Names() {
		h, err := sd.Host(n)
		if err != nil {
			return false, "", err
		}
		if h.DType != ops.F32 && h.DType != ops.F16 && h.DType != ops.BF16 {
			return true, fmt.Sprintf("check: skipped (%s is stored as %v; the reference reads float weights)", n, h.DType), nil
		}
		weights[n] = h
	}
	xh, err := ops.Download(x)
	if err != nil {
		return false, "", err
	}
	got, err := ops.Download(v)
	if err != nil {
		return false, "", err
	}
	want, err := ref.VideoDiT(xh, t, classes, weights, ref.VideoDiTConfig{Frames: c.Frames, Height: c.Height, Width: c.Width,
		PatchT: c.Patch[0], PatchH: c.Patch[1], PatchW: c.Patch[2], Layers: c.Layers, NumHeads: c.NumHeads, FreqDim: c.FreqDim,
		Shapes: c.Shapes, Colors: c.Colors, Directions: c.Directions, Eps: c.Eps, RopeTheta: c.RopeTheta})
	if err != nil {
		return false, "", err
	}
	maxAbs, maxRel, ok := compareTol(got, want)
	status := "PASS"
	if !ok {
		status = "FAIL"
	}
	return ok, fmt.Sprintf("check: first step (batch of %d at t=%g) against the float64 CPU reference: max abs error %.3g, max rel error %.3g: %s (%v on the CPU)",
		len(t), t[0], maxAbs, maxRel, status, time.Since(began).Round(time.Millisecond)), nil
}

// frameImages turns frames [F,H,W,C] with values in [-1, 1] into RGB
// images scaled up by scale (nearest neighbour).
func frameImages(c videodit.Config, frames *ops.HostTensor, scale int) []*image.RGBA {
	F, H, W, C := c.Frames, c.Height, c.Width, c.Channels
	out := make([]*image.RGBA, F)
	level := func(v float64) uint8 {
		v = math.Round((v + 1) * 127.5)
		return uint8(math.Max(0, math.Min(255, v)))
	}
	for f := 0; f < F; f++ {
		img := image.NewRGBA(image.Rect(0, 0, W*scale, H*scale))
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				i := ((f*H+y)*W + x) * C
				var rgb [3]uint8
				for ch := 0; ch < 3; ch++ {
					rgb[ch] = level(frames.Data[i+min(ch, C-1)])
				}
				draw.Draw(img, image.Rect(x*scale, y*scale, (x+1)*scale, (y+1)*scale),
					&image.Uniform{color.RGBA{rgb[0], rgb[1], rgb[2], 255}}, image.Point{}, draw.Src)
			}
		}
		out[f] = img
	}
	return out
}

// writeGIF writes the frames as a looping animated GIF (Plan 9 palette,
// nearest colour, 120 ms a frame).
func writeGIF(path string, imgs []*image.RGBA) error {
	a := &gif.GIF{LoopCount: 0}
	for _, img := range imgs {
		p := image.NewPaletted(img.Bounds(), palette.Plan9)
		draw.Draw(p, p.Rect, img, image.Point{}, draw.Src)
		a.Image = append(a.Image, p)
		a.Delay = append(a.Delay, 12)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := gif.EncodeAll(f, a); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeStrip writes the frames side by side as one PNG, a grey gap
// between them.
func writeStrip(path string, imgs []*image.RGBA, scale int) error {
	if len(imgs) == 0 {
		return fmt.Errorf("generate: no frames")
	}
	b := imgs[0].Bounds()
	gap := max(1, scale/2)
	strip := image.NewRGBA(image.Rect(0, 0, len(imgs)*b.Dx()+(len(imgs)+1)*gap, b.Dy()+2*gap))
	draw.Draw(strip, strip.Rect, &image.Uniform{color.RGBA{128, 128, 128, 255}}, image.Point{}, draw.Src)
	for i, img := range imgs {
		at := image.Pt(gap+i*(b.Dx()+gap), gap)
		draw.Draw(strip, b.Add(at), img, image.Point{}, draw.Src)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, strip); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
