package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/gpu"
)

// TestTuneCommand runs webfuser tune at a small shape into a file, then
// checks that the commands' device set-up applies that file, reports one
// it cannot apply, and applies none when WEBFUSER_TUNING is off; and that
// bad flags are errors.
func TestTuneCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tuning.json")
	var out, errb bytes.Buffer
	if err := tune([]string{"--small", "--rows", "1", "--weights", "f32", "--out", path}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| gemv m<=1 | f32 | 1x256x256 |") || !strings.Contains(out.String(), "wrote "+path) {
		t.Errorf("tune printed:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), "] 16/16 gemv m=1 w=4B") {
		t.Errorf("progress bar does not end at 16/16: %q", errb.String())
	}
	d, err := gpu.Open(gpu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ env, applied, says string }{
		{path, path, "applied"},
		{bad, "", "not applied"},
		{filepath.Join(t.TempDir(), "none.json"), "", "not applied"},
		{"off", "", ""},
	} {
		t.Setenv(tuningEnv, c.env)
		d.SetTuned(nil)
		var w bytes.Buffer
		if got := applyTuning(d, &w); got != c.applied || (d.Tuned() != nil) != (c.applied != "") || !strings.Contains(w.String(), c.says) {
			t.Errorf("%s=%s: applied %q (tuned %v), said %q", tuningEnv, c.env, got, d.Tuned() != nil, w.String())
		}
	}
	for _, args := range [][]string{{"--rows", "x"}, {"--rows", "3"}, {"--weights", "i8"}, {"extra"}} {
		if err := tune(append([]string{"--small"}, args...), &out, &errb); err == nil {
			t.Errorf("tune %v: no error", args)
		}
	}
}
