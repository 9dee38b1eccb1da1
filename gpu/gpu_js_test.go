//go:build js

package gpu

import (
	"fmt"
	"strings"
	"testing"

	"github.com/oliverbestmann/webgpu/wgpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// These tests cover what the js side fills in around the binding.

func TestJSAdapterInfoAndFeatures(t *testing.T) {
	d := testDevice(t)
	t.Logf("device %v, vendor %q, driver %q, features %+v, limits %+v", d, d.Info.Vendor, d.Info.Driver, d.Features, d.Limits)
	if d.Info.Name == "" || d.Info.Backend != "webgpu" {
		t.Fatalf("adapter info not filled: %+v", d.Info)
	}
	a := jsValue(d.adapter)
	for name, have := range map[string]bool{"shader-f16": d.Features.ShaderF16, "subgroups": d.Features.Subgroups, "timestamp-query": d.Features.Timestamps} {
		if want := a.Get("features").Call("has", name).Bool(); want != have {
			t.Errorf("feature %s: adapter %v, device records %v", name, want, have)
		}
		if have && !jsValue(d.dev).Get("features").Call("has", name).Bool() {
			t.Errorf("feature %s recorded but not enabled on the device", name)
		}
	}
	if d.Features.Subgroups && !d.Features.SubgroupsEnable {
		t.Error("Tint needs `enable subgroups;`: SubgroupsEnable must be set with Subgroups")
	}
}

// The subgroup-matrix feature is recorded exactly where the adapter lists
// i8 -> i32 configurations, and then enabled on the device.
func TestJSSubgroupMatrixFeature(t *testing.T) {
	d := testDevice(t)
	a := jsValue(d.adapter)
	offered := a.Get("features").Call("has", subgroupMatrixFeature).Bool()
	t.Logf("adapter offers %s: %v; i8 configs %v; max subgroup size %d", subgroupMatrixFeature, offered, d.Features.SubgroupMatrixI8, d.Features.SubgroupMaxSize)
	if !offered && len(d.Features.SubgroupMatrixI8) > 0 {
		t.Fatalf("i8 configs %v recorded without the adapter feature", d.Features.SubgroupMatrixI8)
	}
	on := jsValue(d.dev).Get("features").Call("has", subgroupMatrixFeature).Bool()
	if on != (len(d.Features.SubgroupMatrixI8) > 0) {
		t.Errorf("device feature enabled %v, recorded i8 configs %v", on, d.Features.SubgroupMatrixI8)
	}
	for _, c := range d.Features.SubgroupMatrixI8 {
		if c.M <= 0 || c.N <= 0 || c.K <= 0 || c.K%4 != 0 {
			t.Errorf("config %+v: want positive sizes and K a multiple of 4", c)
		}
	}
}

func TestJSRequiredLimits(t *testing.T) {
	d := testDevice(t)
	al := jsValue(d.adapter).Get("limits")
	for _, c := range []struct {
		name string
		got  uint64
	}{
		{"maxStorageBufferBindingSize", d.Limits.MaxBindingSize},
		{"maxBufferSize", d.Limits.MaxBufferSize},
		{"maxComputeInvocationsPerWorkgroup", uint64(d.Limits.MaxInvocations)},
		{"maxComputeWorkgroupStorageSize", uint64(d.Limits.MaxWorkgroupMemory)},
	} {
		if want := uint64(al.Get(c.name).Float()); c.got != want {
			t.Errorf("%s: device has %d, adapter offers %d", c.name, c.got, want)
		}
	}
}

func TestJSCompileErrorNamesLine(t *testing.T) {
	d := testDevice(t)
	_, err := d.Pipeline(Kernel{Key: "test/badline", Source: "\n\nfn main() { let x: f32 = undefined_thing; }"})
	if err == nil || !strings.Contains(err.Error(), "3:") || !strings.Contains(err.Error(), "test/badline") {
		t.Fatalf("want a compile error at line 3 naming the kernel, got %v", err)
	}
}

func TestJSPipelineOverLimitsIsAnError(t *testing.T) {
	d := testDevice(t)
	src := fmt.Sprintf("@compute @workgroup_size(%d) fn main() {}", d.Limits.MaxWorkgroupSizeX+1)
	if _, err := d.Pipeline(Kernel{Key: "test/toowide", Source: src}); err == nil {
		t.Fatalf("a workgroup of %d invocations was accepted", d.Limits.MaxWorkgroupSizeX+1)
	}
}

func TestJSValidationErrorInScope(t *testing.T) {
	d := testDevice(t)
	x, err := d.NewTensor(dtype.F32, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Release()
	// A copy past the end of the buffer is a validation error that the
	// binding itself reports as nil.
	if _, err := d.readBuffer(x.st.buf, 0, x.st.size+256); err == nil {
		t.Fatal("a copy past the end of a buffer went unreported")
	}
	if _, err := x.Float32(); err != nil {
		t.Fatalf("the device is unusable after a caught error: %v", err)
	}
}

func TestJSUncapturedErrorSurfaces(t *testing.T) {
	d := testDevice(t)
	// MapRead with Storage is invalid; outside a scope the browser raises
	// it as an uncapturederror event, which the next scope must report.
	d.mu.Lock()
	_, err := d.dev.TryCreateBuffer(&wgpu.BufferDescriptor{Size: 256, Usage: wgpu.BufferUsageMapRead | wgpu.BufferUsageStorage})
	d.mu.Unlock()
	if err != nil {
		t.Skipf("the binding now reports it directly (%v): nothing reaches uncapturederror", err)
	}
	x, _ := d.Upload(dtype.F32, []int{1}, []float32{1})
	defer x.Release()
	_, err = x.Float32()
	if err == nil || !strings.Contains(err.Error(), "raised earlier") {
		t.Fatalf("want the earlier validation error reported, got %v", err)
	}
	if _, err := x.Float32(); err != nil {
		t.Fatalf("the error was reported twice: %v", err)
	}
}
