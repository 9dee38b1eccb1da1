package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/models/videodit"
	"github.com/webfuser/webfuser/ops"
)

// graphTimes are one mode's medians: per forward, the host time to
// record its work and the wall time to the device's end; per sampler
// step, the wall time.
type graphTimes struct{ host, wall, step []time.Duration }

// benchGraph times the video DiT's forward and sampler step eager and
// in graph mode (ops.Record), interleaving the modes trial by trial.
func benchGraph(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("bench graph", flag.ContinueOnError)
	weights := fs.String("weights", defaultWeights, "the video DiT's safetensors state dict (the demo model by default)")
	trials := fs.Int("trials", 3, "trials per mode, interleaved (medians reported)")
	reps := fs.Int("reps", 3, "forwards timed per trial")
	steps := fs.Int("steps", 4, "sampler steps per trial (the first, which records the graph, is not counted)")
	cfg := fs.Float64("cfg", 3, "guidance scale: not 1 runs a batch of two, as the demo does")
	if err := fs.Parse(args); err != nil {
		if errHelp(err) {
			return nil
		}
		return fmt.Errorf("bench graph: %v", err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("bench graph: unexpected arguments %v", fs.Args())
	}
	if *trials < 1 || *reps < 1 || *steps < 2 || *steps > 1000 {
		return fmt.Errorf("bench graph: --trials and --reps must be at least 1 and --steps in [2, 1000] (have %d, %d, %d)", *trials, *reps, *steps)
	}
	sd, err := ops.OpenStateDict(*weights)
	if err != nil {
		return fmt.Errorf("bench graph: %v", err)
	}
	defer sd.Close()
	d, err := openDevice()
	if err != nil {
		return err
	}
	defer d.Close()
	m, err := videodit.Load(d, sd)
	if err != nil {
		return fmt.Errorf("bench graph: %s: %w", *weights, err)
	}
	defer m.Release()
	c := m.Config
	B := 1
	if *cfg != 1 {
		B = 2
	}
	noise := ops.NewHostTensor(m.DType, B, c.Tokens(), c.PatchDim())
	for i, v := range videodit.Noise(1, len(noise.Data)) {
		noise.Data[i] = float64(v)
	}
	x, err := ops.Upload(d, noise.Round(m.DType))
	if err != nil {
		return err
	}
	defer x.Release()
	ts, classes := make([]float64, B), []int{0, c.NumClasses()}[:B]
	for i := range ts {
		ts[i] = 0.5
	}
	ks, err := kernel.Capture(d, func() error {
		v, err := m.Forward(x, ts, classes)
		v.Release()
		return err
	})
	if err != nil {
		return fmt.Errorf("bench graph: %v", err)
	}
	fg := m.NewForwardGraph()
	defer fg.Release()
	modes := []struct {
		name    string
		forward func() (*ops.Tensor, error)
		release bool // the output is the caller's
	}{
		{"eager", func() (*ops.Tensor, error) { return m.Forward(x, ts, classes) }, true},
		{"graph", func() (*ops.Tensor, error) { return fg.Forward(x, ts, classes) }, false},
	}
	times := make([]graphTimes, len(modes))
	for trial := -1; trial < *trials; trial++ { // trial -1 warms up: pipelines, the recording
		for i, md := range modes {
			for r := 0; r < *reps; r++ {
				began := time.Now()
				v, err := md.forward()
				if err != nil {
					return fmt.Errorf("bench graph: %s: %w", md.name, err)
				}
				host := time.Since(began)
				if err := d.Sync(); err != nil {
					return err
				}
				wall := time.Since(began)
				if md.release {
					v.Release()
				}
				if trial >= 0 {
					times[i].host = append(times[i].host, host)
					times[i].wall = append(times[i].wall, wall)
				}
			}
			if trial < 0 {
				continue
			}
			_, err := m.Sample(videodit.SampleOptions{Class: 0, Seed: uint64(trial), Steps: *steps, CFG: *cfg, Graph: md.name == "graph",
				Progress: func(step, n int, took time.Duration) {
					if step > 1 {
						times[i].step = append(times[i].step, took)
					}
				}})
			if err != nil {
				return fmt.Errorf("bench graph: sample %s: %w", md.name, err)
			}
		}
	}
	st := fg.Stats()
	ms := func(t time.Duration) string { return fmt.Sprintf("%.2f", float64(t)/1e6) }
	fmt.Fprintf(w, "# webfuser bench graph\n\ndevice: %s\nmodel: %s, %d blocks of width %d, %d tokens, batch %d, %v\n\n",
		d, *weights, c.Layers, c.Dim, c.Tokens(), B, m.DType)
	fmt.Fprintf(w, "forward: eager launches %d kernels and allocates %d outputs (%.2f MB); the graph replays %d kernels (runs of Narrow copies merged) with an arena of %d buffers (%.2f MB)\n\n",
		len(ks), st.EagerBuffers, float64(st.EagerBytes)/1e6, st.Kernels, st.ArenaBuffers, float64(st.ArenaBytes)/1e6)
	fmt.Fprintf(w, "| mode | kernels/forward | host ms/forward | wall ms/forward | wall ms/sampler step |\n|---|---|---|---|---|\n")
	for i, md := range modes {
		k := len(ks)
		if md.name == "graph" {
			k = st.Kernels
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s |\n", md.name, k, ms(medianDuration(times[i].host)),
			ms(medianDuration(times[i].wall)), ms(medianDuration(times[i].step)))
	}
	ratio := func(f func(graphTimes) []time.Duration) string {
		g := medianDuration(f(times[1]))
		if g == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", float64(medianDuration(f(times[0])))/float64(g))
	}
	fmt.Fprintf(w, "| eager/graph | | %s | %s | %s |\n\n", ratio(func(t graphTimes) []time.Duration { return t.host }),
		ratio(func(t graphTimes) []time.Duration { return t.wall }), ratio(func(t graphTimes) []time.Duration { return t.step }))
	fmt.Fprintf(w, "medians of %d trials x %d forwards and %d trials x %d sampler steps per mode (the first step of each sampling, which records the graph, not counted)\n",
		*trials, *reps, *trials, *steps-1)
	return nil
}
