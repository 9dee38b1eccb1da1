package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/golden"
	_ "github.com/webfuser/webfuser/models/dit" // registers the dit_block runners
)

// verify runs golden cases and prints one line each, then "N passed, M failed".
func verify(args []string) (bool, error) { return verifyTo(os.Stdout, args) }

func verifyTo(w io.Writer, args []string) (bool, error) {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	device := fs.String("device", "gpu", "gpu (the WebGPU kernels) or cpu (the float64 reference)")
	fs.Parse(args)
	if fs.NArg() == 0 {
		return false, fmt.Errorf("verify: name case files or folders")
	}
	files, err := golden.Files(fs.Args())
	if err != nil {
		return false, err
	}
	if len(files) == 0 {
		return false, fmt.Errorf("verify: no case files (*.safetensors) in %v", fs.Args())
	}
	var d *gpu.Device
	switch *device {
	case "gpu":
		if d, err = openDevice(); err != nil {
			return false, err
		}
		fmt.Fprintf(w, "device: %s\n", d)
	case "cpu":
	default:
		return false, fmt.Errorf("verify: --device must be gpu or cpu, not %q", *device)
	}
	pass, fail := 0, 0
	for _, f := range files {
		r := golden.RunFile(d, f)
		status := "PASS"
		if !r.Pass {
			status = "FAIL"
			fail++
		} else {
			pass++
		}
		fmt.Fprintf(w, "%-60s %-24s %-8s abs %.3g rel %.3g %s", filepath.Base(f), r.Op, r.DType, r.MaxAbs, r.MaxRel, status)
		if r.Err != nil {
			fmt.Fprintf(w, " (%v)", r.Err)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", pass, fail)
	return fail == 0, nil
}
