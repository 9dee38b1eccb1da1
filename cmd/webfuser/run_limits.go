package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/webfuser/webfuser/internal/shapes"
	"github.com/webfuser/webfuser/models/dit"
)

// checkRunSizes refuses, before anything is allocated, a run whose
// flags overflow a size (--seq 9223372036854775807 panicked in
// makeslice) or whose host tensors would not fit in this machine's
// memory (--seq 1000000000 died of out-of-memory): run holds the
// weights, x and cond as float64 on the host, and the reference check
// about eight [B,S,D] and two [B,S,inner] float64 tensors more.
func checkRunSizes(cfg dit.Config, batch, seq int, check string) error {
	n, err := cfg.HostElements(batch, seq)
	if err != nil {
		return fmt.Errorf("run: %v", err)
	}
	inner, err := cfg.InnerDim()
	if err != nil {
		return fmt.Errorf("run: %v", err)
	}
	if check != "none" {
		work, err := shapes.Numel([]int{batch, seq, 8*cfg.Dim + 2*inner})
		if err != nil || work > 1<<59-n {
			return fmt.Errorf("run: --batch %d --seq %d --dim %d: the reference's tensors overflow the element count", batch, seq, cfg.Dim)
		}
		n += work
	}
	if n > 1<<59 {
		return fmt.Errorf("run: --batch %d --seq %d --dim %d: %d host elements overflow the byte count", batch, seq, cfg.Dim, n)
	}
	need := uint64(n) * 8
	if avail := memAvailable(); avail > 0 && need > avail/10*8 {
		return fmt.Errorf("run: --batch %d --seq %d --dim %d (mlp inner %d) need about %.1f GB of host memory as float64, more than the %.1f GB available here; "+
			"lower them, or pass --check none to skip the reference", batch, seq, cfg.Dim, inner, float64(need)/1e9, float64(avail)/1e9)
	}
	return nil
}

// memAvailable returns MemAvailable from /proc/meminfo in bytes, or 0
// where that is unknown.
func memAvailable() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
