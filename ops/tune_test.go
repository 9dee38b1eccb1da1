package ops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/launch"
	"github.com/webfuser/webfuser/ops/ref"
	"github.com/webfuser/webfuser/wgsl"
)

// TestTune runs the autotuner at small shapes on two classes and checks
// what it reports: a candidate that fits for each class, never slower
// than the default by its own timings, and a pick other than the default
// only when that was tuneMargin faster; then that applying the table
// makes the launch policy take those tiles, and resetting it does not.
func TestTune(t *testing.T) {
	d := testDevice(t)
	rows, weights := []int{4, 0}, []DType{F32, FP8E4M3}
	if testing.Short() { // the js suites: each candidate compiles through Tint and SwiftShader
		rows, weights = rows[:1], weights[1:]
	}
	var calls, last, total int
	tu, err := Tune(context.Background(), d, TuneOptions{Small: true, Rows: rows, Weights: weights,
		Progress: func(done, n int, class string) { calls, last, total = calls+1, done, n }})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || last != total || calls != total {
		t.Errorf("progress: %d calls, last %d of %d", calls, last, total)
	}
	if len(tu.Entries) != len(rows)*len(weights) {
		t.Fatalf("%d entries, want %d (%d row classes, %d weights)", len(tu.Entries), len(rows)*len(weights), len(rows), len(weights))
	}
	if tu.Adapter != TuningAdapter(d) || tu.Kernels != wgsl.Digest() {
		t.Errorf("table for %q / %s, device %q / %s", tu.Adapter, tu.Kernels, TuningAdapter(d), wgsl.Digest())
	}
	for _, e := range tu.Entries {
		wdt, err := dtype.Parse(e.Weight)
		if err != nil {
			t.Fatal(err)
		}
		c := launch.TileClass{Rows: e.Rows, WSize: wdt.Size()}
		tile, err := c.ParseTile(e.Tile)
		if err != nil || !tile.Fits(d) {
			t.Errorf("%v: tile %q: %v (fits: %v)", c, e.Tile, err, tile.Fits(d))
		}
		if e.Timed < 2 || len(e.Shapes) == 0 || len(e.TileNs) != len(e.Shapes) || len(e.DefaultNs) != len(e.Shapes) {
			t.Fatalf("%v: %d timed, shapes %v, tile %v ns, default %v ns", c, e.Timed, e.Shapes, e.TileNs, e.DefaultNs)
		}
		if e.Tile != e.Default {
			if score := tuneScore(e.TileNs, e.DefaultNs); score > 1-tuneMargin {
				t.Errorf("%v: picked %s over the default %s at %.3f of its time: within the margin", c, e.Tile, e.Default, score)
			}
			for i := range e.Shapes {
				if float64(e.TileNs[i]) > (1+tuneSlack)*float64(e.DefaultNs[i]) {
					t.Errorf("%v: picked %s, slower than the default on %v (%d against %d ns)", c, e.Tile, e.Shapes[i], e.TileNs[i], e.DefaultNs[i])
				}
			}
		} else if !slices.Equal(e.TileNs, e.DefaultNs) {
			t.Errorf("%v: kept the default, but its times %v differ from the default's %v", c, e.TileNs, e.DefaultNs)
		}
		if len(e.Rejected) > 0 {
			t.Errorf("%v: rejected %v", c, e.Rejected)
		}
		t.Logf("%v at %v: default %s %v ns, tuned %s %v ns (%.2fx), %d timed", c, e.Shapes, e.Default, e.DefaultNs, e.Tile, e.TileNs, e.Speedup(), e.Timed)
	}
	if err := tu.Apply(d); err != nil {
		t.Fatal(err)
	}
	defer ResetTuning(d)
	// Stopped by its context after a few timings: the context's error, no table.
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err = Tune(ctx, d, TuneOptions{Small: true, Rows: []int{4}, Weights: weights,
		Progress: func(done, total int, class string) {
			if n++; n == 3 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) || n != 3 {
		t.Errorf("cancelled after 3 timings: %v after %d", err, n)
	}
	for _, e := range tu.Entries {
		wdt, _ := dtype.Parse(e.Weight)
		m, n, k := e.Shapes[0][0], e.Shapes[0][1], e.Shapes[0][2]
		if e.Rows == 0 {
			m, n = 4096, 4096 // filled by every candidate
		}
		if got := launch.MatmulTile(d, m, n, k, wdt.Size()).String(); got != e.Tile {
			t.Errorf("rows %d %s: with the table MatmulTile = %s, want %s", e.Rows, e.Weight, got, e.Tile)
		}
	}
	ResetTuning(d)
	for _, e := range tu.Entries {
		wdt, _ := dtype.Parse(e.Weight)
		m, n, k := e.Shapes[0][0], e.Shapes[0][1], e.Shapes[0][2]
		if got, def := launch.MatmulTile(d, m, n, k, wdt.Size()), launch.DefaultMatmulTile(d, m, n, k, wdt.Size()); got != def {
			t.Errorf("rows %d %s: after ResetTuning MatmulTile = %v, want the default %v", e.Rows, e.Weight, got, def)
		}
	}
}

// handTuning is a table for d that picks the smallest GEMV and Simple
// tiles (far from the defaults) for f32 weights.
func handTuning(d *Device) *Tuning {
	return &Tuning{Adapter: TuningAdapter(d), Kernels: wgsl.Digest(), Entries: []TuneEntry{
		{Rows: 4, Weight: "f32", Default: "gemv16x4/256", Tile: "gemv4/64"},
		{Rows: 0, Weight: "f32", Default: "blocked128x64x16/8x4/sb/g8", Tile: "simple32x32x16"},
	}}
}

// TestTuningServesLinear applies a table by hand and checks that Linear
// runs with its tiles and still matches the reference, at odd shapes.
func TestTuningServesLinear(t *testing.T) {
	d := testDevice(t)
	if err := handTuning(d).Apply(d); err != nil {
		t.Fatal(err)
	}
	defer ResetTuning(d)
	rng := rand.New(rand.NewSource(3))
	for _, c := range []struct {
		m, n, k int
		tile    string
	}{
		{3, 37, 29, "gemv4/64"},
		{1030, 770, 21, "simple32x32x16"}, // the default tile would get 9 x 13 workgroups
	} {
		if got := launch.MatmulTile(d, c.m, c.n, c.k, 4).String(); got != c.tile {
			t.Fatalf("%dx%dx%d: MatmulTile = %s, want the table's %s", c.m, c.n, c.k, got, c.tile)
		}
		x, w, b := randTensor(rng, F32, []int{c.m, c.k}, 1, 0), randTensor(rng, F32, []int{c.n, c.k}, 1, 0), randTensor(rng, F32, []int{c.n}, 1, 0)
		got, err := LinearForward(upload(t, d, x), upload(t, d, w), upload(t, d, b))
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.Linear(x, w, b)
		if err != nil {
			t.Fatal(err)
		}
		expectClose(t, got, want, matmulTol(F32))
	}
}

// TestTuningErrors checks that Apply refuses a table from another
// adapter or other kernels, an unknown tile, weight or class, and a tile
// over the device's limits, naming the field, and that ReadTuning reads
// back what Write wrote and refuses what is not a table.
func TestTuningErrors(t *testing.T) {
	d := testDevice(t)
	defer ResetTuning(d)
	var tooBig string
	for _, tile := range launch.MatmulCandidates() {
		if !tile.Fits(d) {
			tooBig = tile.String()
			break
		}
	}
	cases := []struct {
		name, field string
		edit        func(*Tuning)
	}{
		{"adapter", "adapter", func(u *Tuning) { u.Adapter = "another GPU" }},
		{"kernels", "kernels", func(u *Tuning) { u.Kernels = "0123456789abcdef" }},
		{"unknown tile", "tile", func(u *Tuning) { u.Entries[0].Tile = "gemv3/7" }},
		{"tiled tile for a GEMV class", "tile", func(u *Tuning) { u.Entries[0].Tile = "simple32x32x16" }},
		{"weight", "weight", func(u *Tuning) { u.Entries[0].Weight = "i8" }},
		{"rows", "rows", func(u *Tuning) { u.Entries[0].Rows = 3 }},
		{"too big", "tile", func(u *Tuning) { u.Entries[1].Tile = tooBig }},
	}
	for _, c := range cases {
		if c.name == "too big" && tooBig == "" {
			continue // every candidate fits this device
		}
		u := handTuning(d)
		c.edit(u)
		err := u.Apply(d)
		var oe *Error
		if !errors.As(err, &oe) || oe.Tensor != c.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Apply = %v, want an ops.Error naming %q", c.name, err, c.field)
		}
		if d.Tuned() != nil {
			t.Errorf("%s: a refused table was attached", c.name)
		}
	}
	var buf bytes.Buffer
	if err := handTuning(d).Write(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := ReadTuning(&buf)
	if err != nil || back.Apply(d) != nil || len(back.Entries) != 2 || back.Entries[1].Tile != "simple32x32x16" {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	for _, bad := range []string{"", "[]", `{"adapter": "x"}`, `{"adapter": "x", "kernels": "y", "extra": 1}`} {
		if _, err := ReadTuning(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadTuning(%q) accepted it", bad)
		}
	}
}

// TestTuneShapes checks that Tune leaves out the shapes whose operands
// do not fit a device's bindings, down to one that fits any device.
func TestTuneShapes(t *testing.T) {
	gpuDev := func(binding uint64) *Device {
		return &Device{Info: gpu.Info{Class: gpu.ClassDiscrete}, Limits: gpu.Limits{MaxBindingSize: binding, MaxBufferSize: 1 << 40}}
	}
	for _, c := range []struct {
		d     *Device
		class launch.TileClass
		want  string
	}{
		{gpuDev(1 << 40), launch.TileClass{Rows: 4, WSize: 4}, "[[4 4096 4096] [4 8192 8192] [4 18432 3072]]"},
		{gpuDev(128 << 20), launch.TileClass{Rows: 4, WSize: 4}, "[[4 4096 4096]]"}, // WebGPU's default binding limit
		{gpuDev(128 << 20), launch.TileClass{Rows: 4, WSize: 1}, "[[4 4096 4096] [4 8192 8192] [4 18432 3072]]"},
		{gpuDev(128 << 20), launch.TileClass{WSize: 4}, "[[4096 4096 4096]]"},
		{gpuDev(1 << 40), launch.TileClass{WSize: 2}, "[[4096 4096 4096] [4096 12288 3072] [4096 3072 12288]]"},
		{gpuDev(16 << 20), launch.TileClass{Rows: 16, WSize: 4}, "[[16 1024 1024]]"},
		{gpuDev(16 << 20), launch.TileClass{WSize: 4}, "[[1024 1024 1024]]"},
	} {
		if got := fmt.Sprint(tuneShapes(c.d, c.class, false)); got != c.want {
			t.Errorf("%v, binding %d MiB: %s, want %s", c.class, c.d.Limits.MaxBindingSize>>20, got, c.want)
		}
	}
}

// TestTuneTimeBound checks that a candidate whose first trial runs
// slower than the bound keeps that trial's time and is timed no further,
// and that without a bound the same tile is timed in full.
func TestTuneTimeBound(t *testing.T) {
	d := testDevice(t)
	c := launch.TileClass{Rows: 4, WSize: 4}
	set, err := newTuneSet(d, c, F32, 4, 512, 512)
	if err != nil {
		t.Fatal(err)
	}
	defer set.release()
	tile := launch.DefaultMatmulTile(d, 4, 512, 512, 4)
	defer func(m func(*Device, int, int, func() error) (time.Duration, bool, error)) { tuneMeasure = m }(tuneMeasure)
	var trials []int
	tuneMeasure = func(d *Device, n, reps int, run func() error) (time.Duration, bool, error) {
		trials = append(trials, n)
		return d.Measure(n, reps, run)
	}
	cut, err := tuneTime(d, set, tile, false, nil, time.Nanosecond)
	if err != nil || cut <= 0 || !slices.Equal(trials, []int{1}) {
		t.Errorf("bounded: %v, %v after submissions of %v trials, want one of 1", cut, err, trials)
	}
	trials = nil
	full, err := tuneTime(d, set, tile, false, nil, 0)
	if err != nil || full <= 0 || !slices.Equal(trials, []int{1, 3}) {
		t.Errorf("unbounded: %v, %v after submissions of %v trials, want 1 then 3", full, err, trials)
	}
}
