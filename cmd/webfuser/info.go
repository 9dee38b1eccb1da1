package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/webfuser/webfuser/gpu"
)

// openDevice opens the default device with its cached tuning table
// applied (applyTuning).
func openDevice() (*gpu.Device, error) {
	d, err := gpu.Open(gpu.Options{})
	if err == nil {
		applyTuning(d, os.Stderr)
	}
	return d, err
}

func info(args []string) error {
	fs := flag.NewFlagSet("info", flag.ExitOnError)
	fs.Parse(args)
	d, err := openDevice()
	if err != nil {
		return err
	}
	f, l := d.Features, d.Limits
	fmt.Printf("adapter:   %s\n", d.Info.Name)
	fmt.Printf("vendor:    %s\n", d.Info.Vendor)
	fmt.Printf("backend:   %s\n", d.Info.Backend)
	fmt.Printf("type:      %s\n", d.Info.Type)
	fmt.Printf("driver:    %s\n", d.Info.Driver)
	fmt.Printf("features:  shader-f16=%v subgroups=%v timestamp-query=%v\n", f.ShaderF16, f.Subgroups, f.Timestamps)
	fmt.Printf("limits:    maxStorageBufferBindingSize=%d maxBufferSize=%d\n", l.MaxBindingSize, l.MaxBufferSize)
	fmt.Printf("           workgroupStorage=%d invocations=%d workgroupsPerDim=%d storageBuffers=%d\n",
		l.MaxWorkgroupMemory, l.MaxInvocations, l.MaxGroupsPerDim, l.MaxStorageBuffers)
	switch p := tuningPath(d); {
	case d.Tuned() != nil:
		fmt.Printf("tuning:    %s\n", p)
	case p == "":
		fmt.Printf("tuning:    off\n")
	default:
		fmt.Printf("tuning:    none (webfuser tune writes %s)\n", p)
	}
	return nil
}
