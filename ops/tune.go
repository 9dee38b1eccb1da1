package ops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/launch"
	"github.com/webfuser/webfuser/wgsl"
)

// The autotuner. The launch policy's tiles were chosen on one GPU (the
// H200); Tune times every candidate tile of each class of product on the
// device at hand, and a Tuning applied to a device makes the policy take
// the fastest of each class from then on. Every candidate is one the
// tests check against the reference, and Tune compares each one's output
// with the default tile's before timing it, so a table can change speed
// only. A Tuning is plain JSON, meant to be cached per adapter (webfuser
// tune writes it, the other commands load it).

// TuneOptions bound what Tune measures.
type TuneOptions struct {
	// Rows lists the classes to time by row count: 1, 4, 8 and 16 (the
	// GEMV's buckets) and 0 (the tiled products); nil means all five.
	Rows []int
	// Weights lists the weight dtypes to time (F32, BF16, FP8E4M3); nil
	// means all three.
	Weights []DType
	// Small times at small shapes with few repeats: for tests and quick
	// looks, not for a table to keep.
	Small bool
	// Progress, if set, is called after each timing with the count done,
	// the total and the class timed.
	Progress func(done, total int, class string)
}

// Tuning is what Tune measured on one adapter: per class, the default
// tile and the fastest candidate with their times.
type Tuning struct {
	Adapter string      `json:"adapter"` // TuningAdapter of the device it was measured on
	Kernels string      `json:"kernels"` // the kernel sources' digest then
	Date    string      `json:"date"`    // UTC, RFC 3339
	Entries []TuneEntry `json:"entries"`
}

// TuneEntry is one class's result: the products timed, the default
// tile and the chosen one with their times per call on each, how many
// candidates were timed, and those rejected with the reason.
type TuneEntry struct {
	Rows      int      `json:"rows"`   // GEMV row bucket, 0 for tiled products
	Weight    string   `json:"weight"` // weight dtype: f32, bf16, fp8_e4m3
	Shapes    [][3]int `json:"shapes"` // m, n, k of each product timed
	Default   string   `json:"default"`
	DefaultNs []int64  `json:"default_ns"` // per shape
	Tile      string   `json:"tile"`
	TileNs    []int64  `json:"tile_ns"` // per shape
	Timed     int      `json:"timed"`
	Rejected  []string `json:"rejected,omitempty"`
}

// Speedup returns the geometric mean over the shapes of the default's
// time over the chosen tile's.
func (e TuneEntry) Speedup() float64 {
	if len(e.TileNs) == 0 || len(e.TileNs) != len(e.DefaultNs) {
		return 0
	}
	return 1 / tuneScore(e.TileNs, e.DefaultNs)
}

// tuneScore returns the geometric mean of t[i] / def[i].
func tuneScore(t, def []int64) float64 {
	l := 0.0
	for i := range t {
		l += math.Log(float64(t[i]) / float64(def[i]))
	}
	return math.Exp(l / float64(len(t)))
}

// tuneMargin is how much faster than the default a candidate must time
// (geometric mean over the class's shapes) for a table to pick it, and
// tuneSlack how much slower it may be on any one shape: within
// run-to-run noise on the H200. A GEMV tile 1.15x faster at K=N=4096 was
// 1.07x and 1.24x slower at 8192 and at 3072x18432
// (bench/results/2026-11-29-h200-s11-tune1.md), so one shape is not enough.
const (
	tuneMargin = 0.03
	tuneSlack  = 0.02
)

// TuningAdapter names the adapter a Tuning belongs to: its name,
// vendor, driver and backend.
func TuningAdapter(d *Device) string {
	i := d.Info
	return fmt.Sprintf("%s | %s | %s | %s", i.Name, i.Vendor, i.Driver, i.Backend)
}

// TuningID is a short name for d's adapter (12 hex digits of a hash of
// TuningAdapter), under which a table is cached: the CLI's file name, the
// page's localStorage key.
func TuningID(d *Device) string {
	h := sha256.Sum256([]byte(TuningAdapter(d)))
	return hex.EncodeToString(h[:6])
}

// tuneWeights maps the weight dtypes Tune times to the activations they
// meet (an FP8 weight meets bf16 x, as LinearFP8's callers give it).
var tuneWeights = map[DType]DType{F32: F32, BF16: BF16, FP8E4M3: BF16}

// Tune times the candidate tiles of every class o selects on d and
// returns the fastest of each. It takes minutes (on the H200 about 6.5):
// o.Progress reports it, and ctx stops it between two timings (with
// ctx's error).
func Tune(ctx context.Context, d *Device, o TuneOptions) (*Tuning, error) {
	weights := o.Weights
	if weights == nil {
		weights = []DType{F32, BF16, FP8E4M3}
	}
	type job struct {
		c       launch.TileClass
		w       DType
		cands   []launch.Tile // the default first
		planned int           // timings: every candidate, then the finalists on every shape
	}
	var jobs []job
	total := 0
	for _, r := range o.Rows {
		if !slices.ContainsFunc(launch.TileClasses(), func(c launch.TileClass) bool { return c.Rows == r }) {
			return nil, errorf("Tune", "rows", "%d is no class, want 1, 4, 8, 16 or 0 (tiled)", r)
		}
	}
	for _, w := range weights {
		if _, ok := tuneWeights[w]; !ok {
			return nil, errorf("Tune", "weights", "dtype %v, want f32, bf16 or fp8_e4m3", w)
		}
	}
	for _, c := range launch.TileClasses() {
		if o.Rows != nil && !slices.Contains(o.Rows, c.Rows) {
			continue
		}
		for _, w := range weights {
			if w.Size() != c.WSize {
				continue
			}
			shapes := tuneShapes(d, c, o.Small)
			def := launch.DefaultMatmulTile(d, shapes[0][0], shapes[0][1], shapes[0][2], c.WSize)
			cands := []launch.Tile{def}
			for _, t := range c.Candidates() {
				if t.Fits(d) && t != def {
					cands = append(cands, t)
				}
			}
			j := job{c, w, cands, len(cands) + (min(len(cands)-1, tuneFinalists)+1)*len(shapes)}
			jobs = append(jobs, j)
			total += j.planned
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ops.Tune: %w", err)
	}
	g, err := newTuneGauge(d, o.Small)
	if err != nil {
		return nil, err
	}
	defer g.release()
	if err := g.warm(2 * time.Second); err != nil {
		return nil, err
	}
	tu := &Tuning{Adapter: TuningAdapter(d), Kernels: wgsl.Digest(), Date: time.Now().UTC().Format(time.RFC3339)}
	done := 0
	report := func(class string) {
		if o.Progress != nil {
			o.Progress(done, total, class)
		}
	}
	for _, j := range jobs {
		end := done + j.planned
		step := func(class string) error {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("ops.Tune: stopped at %d of %d timings: %w", done, total, err)
			}
			if done < end {
				done++
				report(class)
			}
			return nil
		}
		e, err := tuneClass(d, j.c, j.w, j.cands, o.Small, g, step)
		if err != nil {
			return nil, err
		}
		if done < end { // rejected candidates left fewer finalists
			done = end
			report(j.c.String())
		}
		tu.Entries = append(tu.Entries, e)
	}
	return tu, nil
}

// Apply attaches the table to d, so that every product of a class it has
// runs with the class's chosen tile where that tile serves the call. A
// table from another adapter or from other kernels is an error, as is a
// tile that is no candidate or does not fit d.
func (t *Tuning) Apply(d *Device) error {
	if a := TuningAdapter(d); t.Adapter != a {
		return errorf("Tuning", "adapter", "the table was measured on %q, this device is %q", t.Adapter, a)
	}
	if k := wgsl.Digest(); t.Kernels != k {
		return errorf("Tuning", "kernels", "the table was measured with kernels %s, these are %s: tune again", t.Kernels, k)
	}
	tb := launch.Tuned{}
	for _, e := range t.Entries {
		wdt, err := dtype.Parse(e.Weight)
		if _, ok := tuneWeights[wdt]; err != nil || !ok {
			return errorf("Tuning", "weight", "%q, want f32, bf16 or fp8_e4m3", e.Weight)
		}
		c := launch.TileClass{Rows: e.Rows, WSize: wdt.Size()}
		if !slices.Contains(launch.TileClasses(), c) {
			return errorf("Tuning", "rows", "%d is no class, want 1, 4, 8, 16 or 0 (tiled)", e.Rows)
		}
		tile, err := c.ParseTile(e.Tile)
		if err != nil {
			return errorf("Tuning", "tile", "%v", err)
		}
		if !tile.Fits(d) {
			return errorf("Tuning", "tile", "%v does not fit this device's limits", tile)
		}
		tb[c] = tile
	}
	d.SetTuned(tb)
	return nil
}

// ResetTuning removes an applied table from d: the launch policy's own
// choices apply again.
func ResetTuning(d *Device) { d.SetTuned(nil) }

// ReadTuning decodes a table written by Tuning.Write.
func ReadTuning(r io.Reader) (*Tuning, error) {
	var t Tuning
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("ops.ReadTuning: %w", err)
	}
	if t.Adapter == "" || t.Kernels == "" {
		return nil, errorf("ReadTuning", "", "no adapter or kernels digest: not a tuning table")
	}
	return &t, nil
}

// Write encodes the table as indented JSON.
func (t *Tuning) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(t)
}
