package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// benchReport is what --json writes. The PyTorch scripts in bench/ write
// the same form, which --torch reads back to place their rows beside ours.
type benchReport struct {
	Tool    string        `json:"tool"`    // "webfuser bench", "webfuser bench block" or the script's name
	Device  string        `json:"device"`  // the adapter, as the tool names it
	Date    string        `json:"date"`    // RFC 3339, when the run started
	Command string        `json:"command"` // the command line
	Warmup  []warmReport  `json:"warmup,omitempty"`
	Rows    []benchResult `json:"rows"`
}

// benchResult is one timed row. Seconds is the median time per call;
// Bytes the least memory traffic per call (inputs read once, outputs
// written once); FLOPs the arithmetic per call (nominal for elementwise
// kernels). CopyGBs is the median bandwidth of the copies timed next to
// the row's trials and VsCopy the median of the per-trial ratios of its
// bandwidth to that copy's.
type benchResult struct {
	Source      string         `json:"source"`           // webfuser or pytorch
	Name        string         `json:"name"`             // what was timed
	Kernel      string         `json:"kernel,omitempty"` // the webfuser bench case a PyTorch row stands beside
	Size        string         `json:"size,omitempty"`   // block rows: "D=3072 H=24 S=4096 B=1"
	DType       string         `json:"dtype"`
	Mode        string         `json:"mode,omitempty"` // trusted or checked modules; PyTorch: eager_f32, compile_bf16, ...
	Shape       []int          `json:"shape,omitempty"`
	Seconds     float64        `json:"seconds"`
	WallSeconds float64        `json:"wall_seconds,omitempty"`
	Bytes       float64        `json:"bytes,omitempty"`
	FLOPs       float64        `json:"flops,omitempty"`
	CopyGBs     float64        `json:"copy_gbs,omitempty"`
	VsCopy      float64        `json:"vs_copy,omitempty"`
	Repeats     int            `json:"repeats,omitempty"`    // trials run again because their copy was low
	LowTrials   int            `json:"low_trials,omitempty"` // trials whose copy stayed low after every repeat
	Breakdown   []breakdownRow `json:"breakdown,omitempty"`
	Note        string         `json:"note,omitempty"`
}

// newReport starts a report for a tool run on device now.
func newReport(tool, device string, args []string) *benchReport {
	return &benchReport{Tool: tool, Device: device, Date: time.Now().Format(time.RFC3339),
		Command: strings.Join(append([]string{"webfuser"}, args...), " ")}
}

// writeJSON writes the report to path, indented.
func (r *benchReport) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: --json: %v", err)
	}
	return nil
}

// readReports reads the reports in a comma-separated list of files (the
// --torch flag), giving each row without a source the source "pytorch".
func readReports(list string) ([]*benchReport, error) {
	var out []*benchReport
	for _, path := range strings.Split(list, ",") {
		path = strings.TrimSpace(path)
		if path == "" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("bench: --torch: %v", err)
		}
		var r benchReport
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("bench: --torch %s: not a bench JSON report: %v", path, err)
		}
		for i := range r.Rows {
			if r.Rows[i].Source == "" {
				r.Rows[i].Source = "pytorch"
			}
		}
		out = append(out, &r)
	}
	return out, nil
}

// allRows returns the rows of several reports, in order.
func allRows(reports []*benchReport) []benchResult {
	var out []benchResult
	for _, r := range reports {
		out = append(out, r.Rows...)
	}
	return out
}

// fmtRate prints FLOP/s as TFLOP/s, or GFLOP/s below one TFLOP/s.
func fmtRate(flops, seconds float64) string {
	if flops <= 0 || seconds <= 0 {
		return ""
	}
	r := flops / seconds
	if r < 1e12 {
		return fmt.Sprintf("%.1f GFLOP/s", r/1e9)
	}
	return fmt.Sprintf("%.1f TFLOP/s", r/1e12)
}

// fmtDur prints seconds as a rounded duration.
func fmtDur(s float64) string {
	d := time.Duration(s * 1e9)
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(time.Microsecond).String()
	}
	return d.Round(time.Microsecond / 10).String()
}
