package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops"
)

// tuningEnv names the environment variable that points the commands at
// a tuning table: "off" for none, a path for that file; unset, the
// adapter's file in the user cache directory (tuningPath) when there is one.
const tuningEnv = "WEBFUSER_TUNING"

// tuningPath returns where the table of d's adapter lives: $WEBFUSER_TUNING
// when it is a path, else webfuser/tuning-<hash of the adapter>.json in
// the user cache directory. "" means no table ("off", or no cache directory).
func tuningPath(d *gpu.Device) string {
	switch env := os.Getenv(tuningEnv); env {
	case "off":
		return ""
	case "":
	default:
		return env
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "webfuser", "tuning-"+ops.TuningID(d)+".json")
}

// applyTuning applies d's cached table, if it has one, and says so on w;
// a table that cannot be read or applied (another adapter, kernels
// changed since) is reported on w and left out: the policy's own tiles
// are as correct, only maybe slower. An applied one is reported too. It
// returns the path applied.
func applyTuning(d *gpu.Device, w io.Writer) string {
	path := tuningPath(d)
	if path == "" {
		return ""
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && os.Getenv(tuningEnv) == "" {
		return ""
	}
	if err == nil {
		defer f.Close()
		var t *ops.Tuning
		if t, err = ops.ReadTuning(f); err == nil {
			err = t.Apply(d)
		}
	}
	if err != nil {
		fmt.Fprintf(w, "webfuser: tuning table %s not applied (%v); run webfuser tune to make one\n", path, err)
		return ""
	}
	fmt.Fprintf(w, "webfuser: tuning table %s applied\n", path)
	return path
}

// tune times every candidate tile on the device and writes the table.
func tune(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("tune", flag.ContinueOnError)
	fl.SetOutput(stderr)
	rows := fl.String("rows", "1,4,8,16,0", "classes by rows: the GEMV buckets 1, 4, 8, 16 and 0 for tiled products")
	weights := fl.String("weights", "f32,bf16,fp8_e4m3", "weight dtypes to time")
	small := fl.Bool("small", false, "small shapes and few repeats: a quick look, not a table to keep (not written unless --out)")
	out := fl.String("out", "", "the table to write (default: the adapter's file in the user cache directory, where the other commands look)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() != 0 {
		return fmt.Errorf("tune: unexpected arguments %v", fl.Args())
	}
	var o ops.TuneOptions
	o.Small = *small
	for _, f := range strings.Split(*rows, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("tune: --rows: %q is not a number", f)
		}
		o.Rows = append(o.Rows, r)
	}
	for _, f := range strings.Split(*weights, ",") {
		dt, err := dtype.Parse(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("tune: --weights: %v", err)
		}
		o.Weights = append(o.Weights, dt)
	}
	d, err := gpu.Open(gpu.Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Fprintf(stdout, "device: %s\n", d)
	began := time.Now()
	o.Progress = func(done, total int, class string) {
		const width = 30
		fmt.Fprintf(stderr, "\r[%s%s] %d/%d %-18s %v ", strings.Repeat("=", done*width/total), strings.Repeat(" ", width-done*width/total),
			done, total, class, time.Since(began).Round(time.Second))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	t, err := ops.Tune(ctx, d, o)
	fmt.Fprintln(stderr)
	if err != nil {
		return err
	}
	writeTuning(stdout, t)
	path := *out
	if path == "" && !*small {
		if path = tuningPath(d); path == "" {
			return fmt.Errorf("tune: no user cache directory and %s is off: give --out", tuningEnv)
		}
	}
	if path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := t.Write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (tuned in %v)\n", path, time.Since(began).Round(time.Second))
	return nil
}

// writeTuning prints the table: per class and shape timed, the default
// tile and the tuned one with their times and the speed-up, then each
// class's geometric-mean speed-up.
func writeTuning(w io.Writer, t *ops.Tuning) {
	fmt.Fprintf(w, "\n| class | weight | m x n x k | default | µs | tuned | µs | speed-up | timed | rejected |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|\n")
	for _, e := range t.Entries {
		class := "tiled"
		if e.Rows > 0 {
			class = fmt.Sprintf("gemv m<=%d", e.Rows)
		}
		for i, s := range e.Shapes {
			fmt.Fprintf(w, "| %s | %s | %dx%dx%d | %s | %.1f | %s | %.1f | %.2fx | %d | %d |\n", class, e.Weight, s[0], s[1], s[2],
				e.Default, float64(e.DefaultNs[i])/1e3, e.Tile, float64(e.TileNs[i])/1e3, float64(e.DefaultNs[i])/float64(e.TileNs[i]), e.Timed, len(e.Rejected))
		}
	}
	fmt.Fprintln(w)
	for _, e := range t.Entries {
		fmt.Fprintf(w, "rows %d, %s: %s, %.2fx the default %s (geometric mean over %d shapes)\n", e.Rows, e.Weight, e.Tile, e.Speedup(), e.Default, len(e.Shapes))
		for _, r := range e.Rejected {
			fmt.Fprintf(w, "  rejected: %s\n", r)
		}
	}
}
