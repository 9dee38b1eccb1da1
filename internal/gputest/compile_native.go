//go:build !js

package gputest

import (
	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/kernel"
)

// CompileOnly builds the kernel's pipeline through naga (and the
// driver) without dispatching it.
func CompileOnly(d *gpu.Device, k *kernel.Kernel) error {
	src, err := k.Source(d.Features)
	if err != nil {
		return err
	}
	acc := make([]gpu.Access, 0, len(k.Bindings)+1)
	for _, b := range k.Bindings {
		if b.Write {
			acc = append(acc, gpu.ReadWrite)
		} else {
			acc = append(acc, gpu.Read)
		}
	}
	if len(k.Uniforms) > 0 {
		acc = append(acc, gpu.Uniform)
	}
	_, err = d.Pipeline(gpu.Kernel{Key: k.Key(), Source: src, Bindings: acc})
	return err
}
