package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/webfuser/webfuser/gpu"
)

// breakdownRow is one kernel's part of a profiled run: its dispatches,
// their summed GPU time and share of the profiled total, the bytes of the
// tensors they bind (a lower bound on their traffic) and, for matmul and
// attention, their FLOPs.
type breakdownRow struct {
	Kernel  string  `json:"kernel"`
	Count   int     `json:"count"`
	Seconds float64 `json:"seconds"`
	Share   float64 `json:"share"`
	Bytes   float64 `json:"bytes"`
	FLOPs   float64 `json:"flops,omitempty"`
}

// kernelName is a pipeline key up to its first '/': the kernel's name.
func kernelName(key string) string {
	name, _, _ := strings.Cut(key, "/")
	return name
}

// The classes of kernels whose FLOPs the block bench computes from shapes.
const (
	classMatmul    = "matmul"
	classAttention = "attention"
)

// kernelClass says which FLOP class a kernel name belongs to, if any.
func kernelClass(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.Contains(n, "matmul"), strings.Contains(n, "linear"), strings.Contains(n, "gemm"), strings.Contains(n, "gemv"):
		return classMatmul
	case strings.Contains(n, "attention"), strings.Contains(n, "attn"), strings.Contains(n, "flash"):
		return classAttention
	}
	return ""
}

// medianProfile combines profiles of the same work into one: each
// dispatch gets the median of its durations. Runs whose dispatches differ
// from the first run's (in number or keys) are left out.
func medianProfile(runs [][]gpu.DispatchTime) []gpu.DispatchTime {
	if len(runs) == 0 {
		return nil
	}
	first := runs[0]
	var same [][]gpu.DispatchTime
	for _, r := range runs {
		ok := len(r) == len(first)
		for i := 0; ok && i < len(r); i++ {
			ok = r[i].Key == first[i].Key
		}
		if ok {
			same = append(same, r)
		}
	}
	out := append([]gpu.DispatchTime(nil), first...)
	ts := make([]time.Duration, len(same))
	for i := range out {
		for j, r := range same {
			ts[j] = r[i].Duration
		}
		sort.Slice(ts, func(a, b int) bool { return ts[a] < ts[b] })
		out[i].Duration = ts[len(ts)/2]
	}
	return out
}

// breakdown groups dispatches by kernel name, the longest total first.
// classFLOPs holds the FLOPs of the matmul and attention work: they go to
// the one kernel of that class, or, where several kernel names share a
// class, to an added row "<class> (all kernels)". A class with FLOPs but
// no kernel recognised as its own gives a note instead.
func breakdown(ds []gpu.DispatchTime, classFLOPs map[string]float64) (rows []breakdownRow, total float64, notes []string) {
	byName := map[string]*breakdownRow{}
	var order []string
	for _, d := range ds {
		n := kernelName(d.Key)
		r := byName[n]
		if r == nil {
			r = &breakdownRow{Kernel: n}
			byName[n] = r
			order = append(order, n)
		}
		r.Count++
		r.Seconds += d.Duration.Seconds()
		r.Bytes += float64(d.Bytes)
		total += d.Duration.Seconds()
	}
	for _, n := range order {
		rows = append(rows, *byName[n])
	}
	classes := make([]string, 0, len(classFLOPs))
	for c := range classFLOPs {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	for _, c := range classes {
		var members []int
		for i, r := range rows {
			if kernelClass(r.Kernel) == c {
				members = append(members, i)
			}
		}
		switch len(members) {
		case 0:
			notes = append(notes, fmt.Sprintf("no kernel name looks like %s: its %.3g FLOPs are not attributed", c, classFLOPs[c]))
		case 1:
			rows[members[0]].FLOPs = classFLOPs[c]
		default:
			all := breakdownRow{Kernel: c + " (all kernels)", FLOPs: classFLOPs[c]}
			for _, i := range members {
				all.Count += rows[i].Count
				all.Seconds += rows[i].Seconds
				all.Bytes += rows[i].Bytes
			}
			rows = append(rows, all)
		}
	}
	for i := range rows {
		if total > 0 {
			rows[i].Share = rows[i].Seconds / total
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Seconds > rows[j].Seconds })
	return rows, total, notes
}

// printBreakdown writes the breakdown as a markdown table.
func printBreakdown(w io.Writer, rows []breakdownRow) {
	fmt.Fprintln(w, "| kernel | dispatches | total | % of profiled | GB/s (bound tensors) | FLOP/s |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range rows {
		gbs := ""
		if r.Seconds > 0 {
			gbs = fmtGBs(r.Bytes / r.Seconds)
		}
		fmt.Fprintf(w, "| %s | %d | %.3f ms | %.1f%% | %s | %s |\n", r.Kernel, r.Count, r.Seconds*1e3, 100*r.Share, gbs, fmtRate(r.FLOPs, r.Seconds))
	}
}

// fmtGBs prints bytes/s as GB/s, with decimals below 10 GB/s.
func fmtGBs(bps float64) string {
	if bps < 10e9 {
		return fmt.Sprintf("%.2f", bps/1e9)
	}
	return fmt.Sprintf("%.0f", bps/1e9)
}
