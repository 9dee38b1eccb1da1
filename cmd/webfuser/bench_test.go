package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/gpu"
)

func TestMain(m *testing.M) {
	if os.Getenv("XDG_RUNTIME_DIR") == "" {
		os.Setenv("XDG_RUNTIME_DIR", os.TempDir())
	}
	os.Exit(m.Run())
}

// TestBenchBadFlagsAreErrors checks that bad input to `webfuser bench`
// and `webfuser bench block` ends in an error naming what was wrong,
// before any device is opened: none of these may panic.
func TestBenchBadFlagsAreErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--trials", "0"}, "--trials"},
		{[]string{"--reps", "-3"}, "--reps"},
		{[]string{"--only", "no_such_kernel"}, `no kernel named "no_such_kernel"`},
		{[]string{"--only", "rms_norm,nope"}, `"nope"`},
		{[]string{"--only", "copy"}, ""}, // valid: checked below with a device
		{[]string{"--shape", "9223372036854775807,2,2"}, "more than"},
		{[]string{"--shape", "4294967296,4294967296,4294967296"}, "more than"},
		{[]string{"--shape", "99999999999999999999,1,1"}, "bad shape"},
		{[]string{"--shape", "0,1,1"}, "bad shape"},
		{[]string{"--shape", "8,4096"}, "B,L,C"},
		{[]string{"--shape", "a,b,c"}, "bad shape"},
		{[]string{"--dtypes", "fp8_e4m3"}, "--dtypes"},
		{[]string{"--dtypes", "f32,"}, "--dtypes"},
		{[]string{"--matmul", "-1"}, "--matmul"},
		{[]string{"--matmul", "1000000"}, "--matmul"},
		{[]string{"--peak", "0"}, "--peak"},
		{[]string{"--warmup", "-1s"}, "--warmup"},
		{[]string{"--torch", "/no/such/file.json"}, "--torch"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"stray"}, "unexpected arguments"},
		{[]string{"block", "--trials", "0"}, "--trials"},
		{[]string{"block", "--profile-runs", "0"}, "--profile-runs"},
		{[]string{"block", "--size", "huge"}, `no preset "huge"`},
		{[]string{"block", "--dim", "0"}, "--dim"},
		{[]string{"block", "--dim", "100", "--heads", "3"}, "num_heads"},
		{[]string{"block", "--seq", "9223372036854775807"}, "too large"},
		{[]string{"block", "--batch", "4611686018427387904"}, "too large"},
		{[]string{"block", "--dim", "4611686018427387904", "--heads", "1"}, "dim 4611686018427387904"},
		{[]string{"block", "--mlp-ratio", "1e30"}, "inner"},
		{[]string{"block", "--mlp-ratio", "1e12"}, "too large"},
		{[]string{"block", "--copy-mb", "0"}, "--copy-mb"},
		{[]string{"block", "--dtypes", "int8"}, "--dtypes"},
		{[]string{"block", "--activation", "nope"}, "nope"},
		{[]string{"block", "extra"}, "unexpected arguments"},
		{[]string{"graph", "--trials", "0"}, "--trials"},
		{[]string{"graph", "--steps", "1"}, "--steps"},
		{[]string{"graph", "--weights", "/no/such/file.safetensors"}, "no/such/file"},
		{[]string{"graph", "extra"}, "unexpected arguments"},
	} {
		if c.want == "" {
			continue
		}
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := benchTo(&out, c.args)
			if err == nil {
				t.Fatalf("no error; output:\n%s", out.String())
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// openOrSkip opens the default device, or skips the test where none is.
func openOrSkip(t *testing.T) {
	t.Helper()
	d, err := gpu.Open(gpu.Options{})
	if err != nil {
		t.Skipf("no WebGPU device: %v", err)
	}
	_ = d
}

func TestBenchCopyOnly(t *testing.T) {
	openOrSkip(t)
	dir := t.TempDir()
	js := filepath.Join(dir, "bench.json")
	var out bytes.Buffer
	if err := benchTo(&out, []string{"--shape", "1,16,64", "--trials", "2", "--reps", "1", "--matmul", "0", "--only", "copy", "--dtypes", "f32", "--json", js}); err != nil {
		t.Fatal(err)
	}
	var r benchReport
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != 1 || r.Rows[0].Name != "copy" || r.Rows[0].Seconds <= 0 || r.Rows[0].CopyGBs <= 0 || r.Rows[0].VsCopy != 1 {
		t.Errorf("rows %+v, want one timed copy row", r.Rows)
	}
	if r.Device == "" || r.Date == "" || !strings.HasPrefix(r.Command, "webfuser bench --shape 1,16,64") || !strings.Contains(r.Command, "--only copy") || len(r.Warmup) != 1 {
		t.Errorf("report header %+v lacks device, date, command or warm-up", r)
	}
}

func TestBenchBlockTiny(t *testing.T) {
	openOrSkip(t)
	dir := t.TempDir()
	js, svg := filepath.Join(dir, "block.json"), filepath.Join(dir, "block.svg")
	torch := filepath.Join(dir, "torch.json")
	size := "D=32 H=2 S=32 B=1 I=128"
	tr := benchReport{Tool: "pytorch", Rows: []benchResult{
		{Name: "dit_block", Mode: "eager_f32", Size: size, DType: "f32", Seconds: 1e-3, Bytes: 1e5, FLOPs: 1e6},
		{Name: "dit_block", Mode: "eager_f32", Size: "D=1 H=1 S=1 B=1 I=4", DType: "f32", Seconds: 1e-3, Bytes: 1e5, FLOPs: 1e6},
	}}
	b, _ := json.Marshal(tr)
	if err := os.WriteFile(torch, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := benchTo(&out, []string{"block", "--dim", "32", "--heads", "2", "--seq", "32", "--dtypes", "f32", "--trials", "1", "--reps", "1",
		"--profile-runs", "2", "--copy-mb", "1", "--json", js, "--svg", svg, "--torch", torch})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{size, "per block", "| matmul |", "| attention |", "PyTorch (from --torch)", "| " + size + " | dit_block eager_f32 |"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	var r benchReport
	b, err = os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != 1 || r.Rows[0].Size != size || r.Rows[0].Seconds <= 0 || r.Rows[0].FLOPs <= 0 {
		t.Fatalf("rows %+v, want one timed block of %s", r.Rows, size)
	}
	share, flopRows := 0.0, 0
	for _, bd := range r.Rows[0].Breakdown {
		share += bd.Share
		if bd.FLOPs > 0 {
			flopRows++
		}
	}
	if len(r.Rows[0].Breakdown) == 0 || share < 0.999 || share > 1.001 || flopRows != 2 {
		t.Errorf("breakdown %+v: shares add to %g, %d rows with FLOPs (want 1 and 2)", r.Rows[0].Breakdown, share, flopRows)
	}
	sb, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	// The block, its matmuls and its attention; both PyTorch rows.
	if s := parseSVG(t, sb); s.webfuser != 3 || s.pytorch != 2 {
		t.Errorf("SVG has %d WebFuser and %d PyTorch points, want 3 and 2", s.webfuser, s.pytorch)
	}
}

func TestBenchBlockWithoutTimestamps(t *testing.T) {
	openOrSkip(t)
	defer func(f func() (*gpu.Device, error)) { openBlockDevice = f }(openBlockDevice)
	openBlockDevice = func() (*gpu.Device, error) {
		d, err := openDevice()
		if err == nil {
			d.Features.Timestamps = false // as in the browser
		}
		return d, err
	}
	js := filepath.Join(t.TempDir(), "block.json")
	var out bytes.Buffer
	if err := benchTo(&out, []string{"block", "--dim", "32", "--heads", "2", "--seq", "32", "--dtypes", "f32", "--trials", "1", "--reps", "1", "--copy-mb", "1", "--json", js}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "breakdown unavailable") || strings.Contains(out.String(), "| matmul |") {
		t.Errorf("output does not say the breakdown is unavailable, or has one:\n%s", out.String())
	}
	var r benchReport
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != 1 || r.Rows[0].Seconds <= 0 || r.Rows[0].Breakdown != nil || r.Rows[0].Note == "" {
		t.Errorf("rows %+v, want one wall-clock block with a note and no breakdown", r.Rows)
	}
}

func TestSplitNamesKeepsBrackets(t *testing.T) {
	got := strings.Join(splitNames("copy, modulate [B,C],modulate [B,L,C] ,rotary"), "|")
	if want := "copy|modulate [B,C]|modulate [B,L,C]|rotary"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := selectCases("modulate [B,C],rms_norm"); err != nil {
		t.Fatal(err)
	}
}

// TestBenchGraph runs `webfuser bench graph` on a small random model and
// checks the report's rows.
func TestBenchGraph(t *testing.T) {
	weights := writeRandomModel(t, t.TempDir(), tinyVideo, 2)
	var out bytes.Buffer
	if err := benchTo(&out, []string{"graph", "--weights", weights, "--trials", "1", "--reps", "1", "--steps", "2"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| eager | ", "| graph | ", "| eager/graph |", "with an arena of"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
