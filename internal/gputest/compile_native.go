//go:build !js

package gputest

import (
	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/kernel"
)

// CompileOnly builds the kernel's pipeline through naga (and the
// driver) without dispatching it.
func CompileOnly(d *gpu.Device, k *kernel.Kernel) error { return k.Build(d) }
