package golden

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/rope"
	"github.com/webfuser/webfuser/internal/safetensors"
	"github.com/webfuser/webfuser/models/videodit"
	"github.com/webfuser/webfuser/models/wan"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

// The golden runners of the video models (testdata/golden_wan.py):
//
//	wan_block: in.x [B,L,D], in.e0 [B,6,D], in.context [B,T,D] and the
//	  block's weights by module path (models/wan.Config.Shapes); out.y
//	  [B,L,D]; attrs num_heads, eps, grid [f,h,w] (L = f*h*w) and
//	  rope_theta.
//	video_dit: in.x [B,L,P], in.t [B] (flow times), in.class [B] (I32,
//	  the null class included) and the model's weights by module path;
//	  out.v [B,L,P]; attrs: the model's configuration, as train.py
//	  stores it (models/videodit.Config).
//
// The GPU runners bind the weights as the models load a state dict (by
// module path, through ops.LoadState), so the cases check the loader's
// binding too.
func init() {
	Register("wan_block", wanGPU, wanCPU)
	Register("video_dit", videoDiTGPU, videoDiTCPU)
}

// wanCase holds a wan_block case's attributes and the shapes they imply.
type wanCase struct {
	cfg     wan.Config
	eps     float64
	grid    [3]int
	theta   float64
	b, l, d int
}

// readWan reads and checks a wan_block case's attributes against in.x.
func readWan(c *Case) (wanCase, error) {
	var w wanCase
	x, err := c.Input("x")
	if err != nil {
		return w, err
	}
	if len(x.Shape) != 3 {
		return w, fmt.Errorf("golden: in.x shape %v, want [B,L,D]", x.Shape)
	}
	w.b, w.l, w.d = x.Shape[0], x.Shape[1], x.Shape[2]
	p := c.Read()
	heads := p.Int("num_heads", 0)
	w.eps = p.Float("eps", wan.DefaultEps)
	w.theta = p.Float("rope_theta", 10000)
	if p.Err != nil {
		return w, p.Err
	}
	if w.grid, err = ints3(c, "grid"); err != nil {
		return w, err
	}
	if g := w.grid; g[0]*g[1]*g[2] != w.l {
		return w, fmt.Errorf("golden: attr grid %v holds %d tokens, in.x has %d", g, g[0]*g[1]*g[2], w.l)
	}
	if !(w.theta > 1) {
		return w, fmt.Errorf("golden: attr rope_theta %g must be above 1", w.theta)
	}
	ffn, ok := c.Inputs["ffn.0.weight"]
	if !ok || len(ffn.Shape) != 2 {
		return w, fmt.Errorf("golden: case has no in.ffn.0.weight [F,D]")
	}
	w.cfg = wan.Config{Dim: w.d, FFNDim: ffn.Shape[0], NumHeads: heads, Eps: float32(w.eps)}
	if err := w.cfg.Check(); err != nil {
		return w, err
	}
	return w, checkWeights(c, w.cfg.Shapes(), "x", "e0", "context")
}

// checkWeights refuses a case whose weights (its inputs but skip) are
// not exactly the parameters of want, each of its shape, as the model's
// loader does; the CPU runners check with it before the reference runs.
func checkWeights(c *Case, want map[string][]int, skip ...string) error {
	names := make([]string, 0, len(c.Inputs))
	for n := range c.Inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	seen := 0
	for _, n := range names {
		if slices.Contains(skip, n) {
			continue
		}
		sh, ok := want[n]
		if !ok {
			return fmt.Errorf("golden: in.%s is not a parameter of the model", n)
		}
		if !slices.Equal(sh, c.Inputs[n].Shape) {
			return fmt.Errorf("golden: in.%s shape %v, want %v", n, c.Inputs[n].Shape, sh)
		}
		seen++
	}
	if seen != len(want) {
		for n, sh := range want {
			if _, ok := c.Inputs[n]; !ok {
				return fmt.Errorf("golden: in.%s is missing (want shape %v)", n, sh)
			}
		}
	}
	return nil
}

// ints3 reads a list of three integers (checked against its bounds by
// checkAttrs when the case was loaded).
func ints3(c *Case, name string) ([3]int, error) {
	var out [3]int
	l, ok := c.Attrs[name].([]any)
	if !ok || len(l) != 3 {
		return out, fmt.Errorf("golden: attr %s: %v is not a list of 3 integers", name, c.Attrs[name])
	}
	for i, v := range l {
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) || f < 1 || f > 1<<16 {
			return out, fmt.Errorf("golden: attr %s: %v is not a list of 3 integers in [1, 65536]", name, c.Attrs[name])
		}
		out[i] = int(f)
	}
	return out, nil
}

// stateDict encodes the case's inputs other than skip as a state dict
// in memory, by their names (module paths), with metadata meta.
func stateDict(c *Case, meta map[string]string, skip ...string) (*ops.StateDict, map[string]*ref.Tensor, error) {
	w := map[string]*ref.Tensor{}
	var names []string
	for n, t := range c.Inputs {
		if !slices.Contains(skip, n) {
			w[n] = t
			names = append(names, n)
		}
	}
	sort.Strings(names)
	ts := make([]safetensors.Tensor, len(names))
	for i, n := range names {
		ts[i] = safetensors.FromHost(n, w[n])
	}
	b, err := safetensors.Encode(ts, meta)
	if err != nil {
		return nil, nil, err
	}
	sd, err := ops.ParseStateDict(b)
	return sd, w, err
}

func wanGPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	w, err := readWan(c)
	if err != nil {
		return nil, err
	}
	sd, _, err := stateDict(c, nil, "x", "e0", "context")
	if err != nil {
		return nil, err
	}
	defer sd.Close()
	spec := &ops.StateSpec{}
	w.cfg.Declare(spec, "")
	st, err := ops.LoadState(d, sd, spec)
	if err != nil {
		return nil, err
	}
	defer st.Release()
	blk, err := wan.FromState(w.cfg, st, "")
	if err != nil {
		return nil, err
	}
	defer blk.Release()
	e0, err := in["e0"].Reshape(w.b, 6*w.d)
	if err != nil {
		return nil, err
	}
	cos, sin, err := ops.RotaryTables3D(d, blk.DType, w.grid[0], w.grid[1], w.grid[2], w.d/w.cfg.NumHeads, w.theta)
	if err != nil {
		return nil, err
	}
	defer cos.Release()
	defer sin.Release()
	y, err := blk.Forward(in["x"], e0, in["context"], cos, sin)
	return map[string]*gpu.Tensor{"y": y}, err
}

func wanCPU(c *Case) (map[string]*ref.Tensor, error) {
	w, err := readWan(c)
	if err != nil {
		return nil, err
	}
	e0, err := c.Input("e0")
	if err != nil {
		return nil, err
	}
	ctx, err := c.Input("context")
	if err != nil {
		return nil, err
	}
	x := c.Inputs["x"]
	cos, sin := rope.Tables3D(w.grid[0], w.grid[1], w.grid[2], w.d/w.cfg.NumHeads, w.theta)
	y, err := ref.WanBlock(x, e0, ctx, cos.Round(x.DType), sin.Round(x.DType), c.Inputs, ref.WanConfig{NumHeads: w.cfg.NumHeads, Eps: w.eps})
	return map[string]*ref.Tensor{"y": y}, err
}

// videoDiTConfig reads a video_dit case's configuration from its
// attributes (checked as the model checks the metadata of weights) and
// its times and classes from in.t and in.class.
func videoDiTConfig(c *Case) (videodit.Config, []float64, []int, error) {
	b, err := json.Marshal(c.Attrs)
	if err != nil {
		return videodit.Config{}, nil, nil, err
	}
	cfg, err := videodit.ConfigFromMetadata(map[string]string{"config": string(b)})
	if err != nil {
		return cfg, nil, nil, err
	}
	t, err := c.Input("t")
	if err != nil {
		return cfg, nil, nil, err
	}
	cl, err := c.Input("class")
	if err != nil {
		return cfg, nil, nil, err
	}
	if len(t.Shape) != 1 || len(cl.Shape) != 1 || t.Shape[0] != cl.Shape[0] {
		return cfg, nil, nil, fmt.Errorf("golden: in.t %v and in.class %v must both be [B]", t.Shape, cl.Shape)
	}
	classes := make([]int, len(cl.Data))
	for i, v := range cl.Data {
		if v != math.Trunc(v) || v < 0 || v > float64(cfg.NumClasses()) {
			return cfg, nil, nil, fmt.Errorf("golden: in.class[%d] = %v is not a class in [0, %d]", i, v, cfg.NumClasses())
		}
		classes[i] = int(v)
	}
	if err := checkWeights(c, cfg.ParamShapes(), "x", "t", "class"); err != nil {
		return cfg, nil, nil, err
	}
	return cfg, append([]float64(nil), t.Data...), classes, nil
}

func videoDiTGPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	cfg, t, classes, err := videoDiTConfig(c)
	if err != nil {
		return nil, err
	}
	sd, _, err := stateDict(c, cfg.Metadata(), "x", "t", "class")
	if err != nil {
		return nil, err
	}
	defer sd.Close()
	m, err := videodit.Load(d, sd)
	if err != nil {
		return nil, err
	}
	defer m.Release()
	v, err := m.Forward(in["x"], t, classes)
	return map[string]*gpu.Tensor{"v": v}, err
}

func videoDiTCPU(c *Case) (map[string]*ref.Tensor, error) {
	cfg, t, classes, err := videoDiTConfig(c)
	if err != nil {
		return nil, err
	}
	x, err := c.Input("x")
	if err != nil {
		return nil, err
	}
	v, err := ref.VideoDiT(x, t, classes, c.Inputs, ref.VideoDiTConfig{Frames: cfg.Frames, Height: cfg.Height, Width: cfg.Width,
		PatchT: cfg.Patch[0], PatchH: cfg.Patch[1], PatchW: cfg.Patch[2], Layers: cfg.Layers, NumHeads: cfg.NumHeads,
		FreqDim: cfg.FreqDim, Shapes: cfg.Shapes, Colors: cfg.Colors, Directions: cfg.Directions, Eps: cfg.Eps, RopeTheta: cfg.RopeTheta})
	return map[string]*ref.Tensor{"v": v}, err
}
