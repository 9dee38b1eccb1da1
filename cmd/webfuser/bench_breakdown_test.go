package main

import (
	"math"
	"testing"
	"time"

	"github.com/webfuser/webfuser/gpu"
)

func TestKernelName(t *testing.T) {
	for _, c := range []struct{ key, name, class string }{
		{"matmul/v4x1/[act fp8 matmul]/x:f32", "matmul", classMatmul},
		{"attention/v4x1/q:bf16", "attention", classAttention},
		{"attention_combine/v4x1", "attention_combine", classAttention},
		{"copy", "copy", ""},
		{"norm/v4x2/[reduce]", "norm", ""},
		{"", "", ""},
	} {
		if got := kernelName(c.key); got != c.name {
			t.Errorf("kernelName(%q) = %q, want %q", c.key, got, c.name)
		}
		if got := kernelClass(c.name); got != c.class {
			t.Errorf("kernelClass(%q) = %q, want %q", c.name, got, c.class)
		}
	}
}

func dt(key string, us int, bytes uint64) gpu.DispatchTime {
	return gpu.DispatchTime{Key: key, Duration: time.Duration(us) * time.Microsecond, Bytes: bytes}
}

func TestBreakdown(t *testing.T) {
	block := []gpu.DispatchTime{
		dt("activation/v4", 10, 100),
		dt("matmul/a", 300, 1000),
		dt("norm/v4", 20, 200),
		dt("matmul/b", 500, 1000),
		dt("attention/x", 150, 500),
	}
	flops := map[string]float64{classMatmul: 8e6, classAttention: 3e6}
	rows, total, notes := breakdown(block, flops)
	if math.Abs(total-980e-6) > 1e-12 {
		t.Errorf("total %g s, want 980 µs", total)
	}
	if len(notes) != 0 {
		t.Errorf("notes %v", notes)
	}
	want := []breakdownRow{
		{Kernel: "matmul", Count: 2, Seconds: 800e-6, Bytes: 2000, FLOPs: 8e6},
		{Kernel: "attention", Count: 1, Seconds: 150e-6, Bytes: 500, FLOPs: 3e6},
		{Kernel: "norm", Count: 1, Seconds: 20e-6, Bytes: 200},
		{Kernel: "activation", Count: 1, Seconds: 10e-6, Bytes: 100},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	share := 0.0
	for i, w := range want {
		r := rows[i]
		if r.Kernel != w.Kernel || r.Count != w.Count || math.Abs(r.Seconds-w.Seconds) > 1e-12 || r.Bytes != w.Bytes || r.FLOPs != w.FLOPs {
			t.Errorf("row %d = %+v, want %+v", i, r, w)
		}
		share += r.Share
	}
	if math.Abs(share-1) > 1e-9 {
		t.Errorf("shares add up to %g", share)
	}

	// Two matmul kernel names: the FLOPs go to a summary row.
	rows, _, _ = breakdown([]gpu.DispatchTime{dt("matmul/a", 100, 1), dt("gemv/b", 300, 1)}, map[string]float64{classMatmul: 4e6})
	if len(rows) != 3 || rows[0].Kernel != "matmul (all kernels)" || rows[0].Count != 2 || rows[0].FLOPs != 4e6 || rows[1].FLOPs != 0 {
		t.Errorf("two matmul kernels: %+v", rows)
	}
	// No attention kernel recognised: a note, no FLOPs anywhere.
	rows, _, notes = breakdown([]gpu.DispatchTime{dt("sdpa/x", 100, 1)}, map[string]float64{classAttention: 1e6})
	if len(notes) != 1 || rows[0].FLOPs != 0 {
		t.Errorf("unrecognised attention: rows %+v, notes %v", rows, notes)
	}
}

func TestMedianProfile(t *testing.T) {
	a := []gpu.DispatchTime{dt("x", 10, 0), dt("y", 100, 0)}
	b := []gpu.DispatchTime{dt("x", 30, 0), dt("y", 300, 0)}
	c := []gpu.DispatchTime{dt("x", 20, 0), dt("y", 200, 0)}
	odd := []gpu.DispatchTime{dt("x", 1000, 0)}
	got := medianProfile([][]gpu.DispatchTime{a, b, odd, c})
	if len(got) != 2 || got[0].Duration != 20*time.Microsecond || got[1].Duration != 200*time.Microsecond {
		t.Errorf("median profile %+v, want x 20µs, y 200µs", got)
	}
	if a[0].Duration != 10*time.Microsecond {
		t.Error("medianProfile changed its input")
	}
	if medianProfile(nil) != nil {
		t.Error("no runs should give no profile")
	}
}
