//go:build !js

package gpu

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// The few wgpu-native declarations this shim needs, written out here because
// wgpu.h lives in the binding's module directory. Layouts follow webgpu.h
// of wgpu-native 29; the binding's own -lwgpu_native resolves the symbols.
typedef struct wfChained { struct wfChained *next; uint32_t sType; } wfChained;
typedef struct { const char *data; size_t length; } wfStringView;
typedef struct { wfChained *nextInChain; wfStringView label; } wfShaderModuleDescriptor;
typedef struct { wfChained chain; wfStringView code; } wfShaderSourceWGSL;
typedef void (*wfPopCallback)(uint32_t status, uint32_t type, wfStringView message, void *u1, void *u2);
typedef struct { wfChained *nextInChain; uint32_t mode; wfPopCallback callback; void *u1; void *u2; } wfPopErrorScopeCallbackInfo;
typedef struct { uint64_t id; } wfFuture;

void *wgpuDeviceCreateShaderModuleTrusted(void *device, const wfShaderModuleDescriptor *d, uint64_t checks);
void wgpuDevicePushErrorScope(void *device, uint32_t filter);
wfFuture wgpuDevicePopErrorScope(void *device, wfPopErrorScopeCallbackInfo info);
void wgpuShaderModuleRelease(void *module);
void wgpuDeviceDestroy(void *device);

static void wf_destroy_device(void *dev) { wgpuDeviceDestroy(dev); }

#define WF_ERRBUF 8192

static void wf_pop_cb(uint32_t status, uint32_t type, wfStringView msg, void *u1, void *u2) {
	char *buf = (char *)u1;
	if (type == 1) return; // WGPUErrorType_NoError
	const char *m = msg.data ? msg.data : "unknown error";
	size_t n = msg.data ? msg.length : strlen(m);
	if (n == SIZE_MAX) n = strlen(m);
	if (n > WF_ERRBUF - 1) n = WF_ERRBUF - 1;
	memcpy(buf, m, n);
	buf[n] = 0;
}

static void wf_push(void *dev) { wgpuDevicePushErrorScope(dev, 1); } // Validation

// wf_pop pops the innermost error scope; wgpu-native calls back at once.
// It returns 1 and fills buf when the scope caught an error.
static int wf_pop(void *dev, char *buf) {
	buf[0] = 0;
	wfPopErrorScopeCallbackInfo info = {0};
	info.mode = 3; // AllowSpontaneous
	info.callback = wf_pop_cb;
	info.u1 = buf;
	wgpuDevicePopErrorScope(dev, info);
	return buf[0] != 0;
}

static void *wf_create_module(void *dev, const char *code, const char *label, uint64_t checks, char *err) {
	wfShaderSourceWGSL src = {0};
	src.chain.sType = 2; // WGPUSType_ShaderSourceWGSL
	src.code.data = code;
	src.code.length = strlen(code);
	wfShaderModuleDescriptor d = {0};
	d.nextInChain = &src.chain;
	d.label.data = label;
	d.label.length = strlen(label);
	wf_push(dev);
	void *m = wgpuDeviceCreateShaderModuleTrusted(dev, &d, checks);
	if (wf_pop(dev, err)) {
		if (m) wgpuShaderModuleRelease(m);
		return 0;
	}
	return m;
}
*/
import "C"

import (
	"runtime"
	"unsafe"

	"github.com/oliverbestmann/webgpu/wgpu"
)

// Runtime check flags of wgpuDeviceCreateShaderModuleTrusted.
const (
	checksBounds      = 0x1
	checksLoopBounded = 0x2
)

// rawHandle reads the C handle that the binding keeps as the first field
// of each of its wrapper types.
func rawHandle[T any](p *T) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(p)) }

// createModule compiles WGSL with naga's runtime checks off (or on, for a
// Checked device). Compile and validation errors come back as Go errors.
func (d *Device) createModule(label, code string) (*wgpu.ShaderModule, error) {
	if err := d.usableLocked("compile " + label); err != nil {
		return nil, err
	}
	ccode, clabel := C.CString(code), C.CString(label)
	defer C.free(unsafe.Pointer(ccode))
	defer C.free(unsafe.Pointer(clabel))
	errbuf := (*C.char)(C.malloc(C.WF_ERRBUF))
	defer C.free(unsafe.Pointer(errbuf))
	var checks C.uint64_t
	if d.checked {
		checks = checksBounds | checksLoopBounded
	}
	m := C.wf_create_module(rawHandle(d.dev), ccode, clabel, checks, errbuf)
	if m == nil {
		return nil, errorf("compile "+label, "%s", C.GoString(errbuf))
	}
	mod := &wgpu.ShaderModule{}
	*(*unsafe.Pointer)(unsafe.Pointer(mod)) = m
	runtime.KeepAlive(d.dev)
	return mod, nil
}

// scope runs f inside a validation error scope and returns what it caught,
// so that errors from submits and encoders become Go errors.
func (d *Device) scope(op string, f func() error) error {
	C.wf_push(rawHandle(d.dev))
	ferr := f()
	errbuf := (*C.char)(C.malloc(C.WF_ERRBUF))
	defer C.free(unsafe.Pointer(errbuf))
	if C.wf_pop(rawHandle(d.dev), errbuf) != 0 {
		return errorf(op, "%s", C.GoString(errbuf))
	}
	return wrap(op, ferr)
}

// createPipeline creates a compute pipeline with an explicit layout. The
// module and the pipeline layout are released afterwards: the pipeline
// keeps what it needs of them, and nothing else uses them.
func (d *Device) createPipeline(label string, layout *wgpu.PipelineLayout, mod *wgpu.ShaderModule, entry string) (*wgpu.ComputePipeline, error) {
	defer mod.Release()
	defer layout.Release()
	return d.dev.TryCreateComputePipeline(&wgpu.ComputePipelineDescriptor{
		Label: label, Layout: layout,
		Compute: wgpu.ProgrammableStageDescriptor{Module: mod, EntryPoint: entry},
	})
}

// destroyDevice destroys a device at once: its memory is freed without
// waiting for the last reference to it to go.
func destroyDevice(dev *wgpu.Device) {
	C.wf_destroy_device(rawHandle(dev))
	runtime.KeepAlive(dev)
}

// waitIdle blocks until submitted work has finished.
func (d *Device) waitIdle() error {
	d.dev.Poll(true, nil)
	return nil
}
