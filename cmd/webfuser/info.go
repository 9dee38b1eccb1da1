package main

import (
	"flag"
	"fmt"

	"github.com/webfuser/webfuser/gpu"
)

func openDevice() (*gpu.Device, error) {
	return gpu.Open(gpu.Options{})
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
	return nil
}
