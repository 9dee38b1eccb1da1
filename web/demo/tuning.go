package demo

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops"
)

// The page's autotuner: ops.Tune on the visitor's GPU, its table kept in
// the browser's localStorage under the adapter's key and applied on the
// next visit, as `webfuser tune` keeps one in the user cache directory.

// TuningKey returns the localStorage key of d's table.
func TuningKey(d *gpu.Device) string { return "webfuser-tuning-" + ops.TuningID(d) }

// TuneRequest is what the page's Tune button asks for: Quick times small
// shapes with few repeats (a look, not a table to keep: tests use it);
// Rows and Weights narrow the classes as `webfuser tune`'s flags do (nil:
// all).
type TuneRequest struct {
	Quick   bool     `json:"quick"`
	Rows    []int    `json:"rows"`
	Weights []string `json:"weights"`
}

// TuningReport is what the page shows of the table in use: whether one
// is applied, when it was measured, the classes whose tile it changed,
// and why a stored table was left out (another adapter, other kernels,
// unreadable).
type TuningReport struct {
	Applied bool         `json:"applied"`
	Date    string       `json:"date,omitempty"`
	Classes int          `json:"classes,omitempty"` // classes timed
	Changed []TunedClass `json:"changed,omitempty"`
	Why     string       `json:"why,omitempty"`
}

// TunedClass is one class whose tile a table changed, with its speed-up
// over the default (geometric mean over the shapes timed).
type TunedClass struct {
	Class   string  `json:"class"`
	Default string  `json:"default"`
	Tile    string  `json:"tile"`
	Speedup float64 `json:"speedup"`
}

// report describes an applied table t.
func report(t *ops.Tuning) TuningReport {
	r := TuningReport{Applied: true, Date: t.Date, Classes: len(t.Entries)}
	for _, e := range t.Entries {
		if e.Tile == e.Default {
			continue
		}
		class := "tiled"
		switch {
		case e.Rows == 1:
			class = "GEMV m=1"
		case e.Rows > 1:
			class = fmt.Sprintf("GEMV m<=%d", e.Rows)
		}
		r.Changed = append(r.Changed, TunedClass{Class: class + ", " + e.Weight + " weights", Default: e.Default, Tile: e.Tile, Speedup: e.Speedup()})
	}
	return r
}

// ApplyStored applies the table the page kept for d (its JSON, as Tune
// returned it) and reports it; a table that cannot be read or applied
// is left out, with the reason in the report: the launch policy's own
// tiles are as correct, only maybe slower.
func ApplyStored(d *gpu.Device, stored string) TuningReport {
	t, err := ops.ReadTuning(strings.NewReader(stored))
	if err == nil {
		err = t.Apply(d)
	}
	if err != nil {
		return TuningReport{Why: err.Error()}
	}
	return report(t)
}

// Tune times the candidate tiles on d (ops.Tune), applies the table and
// returns it as JSON for the page to keep, with its report. progress is
// called after each timing; ctx stops the run between two timings.
func Tune(ctx context.Context, d *gpu.Device, r TuneRequest, progress func(done, total int, class string)) (string, TuningReport, error) {
	o := ops.TuneOptions{Small: r.Quick, Progress: progress}
	if len(r.Rows) > 0 {
		o.Rows = r.Rows
	}
	for _, w := range r.Weights {
		dt, err := dtype.Parse(w)
		if err != nil {
			return "", TuningReport{}, fmt.Errorf("tune: weights: %v", err)
		}
		o.Weights = append(o.Weights, dt)
	}
	t, err := ops.Tune(ctx, d, o)
	if err != nil {
		return "", TuningReport{}, err
	}
	if err := t.Apply(d); err != nil {
		return "", TuningReport{}, err
	}
	var b bytes.Buffer
	if err := t.Write(&b); err != nil {
		return "", TuningReport{}, err
	}
	return b.String(), report(t), nil
}
