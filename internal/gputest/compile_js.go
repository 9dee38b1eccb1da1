//go:build js

package gputest

import (
	"fmt"
	"strings"
	"syscall/js"
	"unsafe"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/kernel"
)

// CompileOnly hands the kernel's WGSL to the browser's compiler (Tint)
// and returns its errors, without building a pipeline: SwiftShader takes
// from tens of seconds to minutes to build the larger tiled kernels,
// and those over its limits would be refused there anyway.
func CompileOnly(d *gpu.Device, k *kernel.Kernel) error {
	src, err := k.Source(d.Features)
	if err != nil {
		return err
	}
	dv := *(*js.Value)(unsafe.Pointer(d.Raw()))
	dv.Call("pushErrorScope", "validation")
	mv := dv.Call("createShaderModule", map[string]any{"label": k.Key(), "code": src})
	res, err := awaitJS(js.Global().Get("Promise").Call("all", []any{dv.Call("popErrorScope"), mv.Call("getCompilationInfo")}))
	if err != nil {
		return err
	}
	var msgs []string
	list := res.Index(1).Get("messages")
	for i := 0; i < list.Length(); i++ {
		if m := list.Index(i); m.Get("type").String() == "error" {
			msgs = append(msgs, fmt.Sprintf("%d:%d: %s", m.Get("lineNum").Int(), m.Get("linePos").Int(), m.Get("message").String()))
		}
	}
	if e := res.Index(0); e.Truthy() {
		msgs = append(msgs, e.Get("message").String())
	}
	if len(msgs) > 0 {
		return fmt.Errorf("gpu: compile %s: %s", k.Key(), strings.Join(msgs, "\n"))
	}
	return nil
}

func awaitJS(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	ok := js.FuncOf(func(_ js.Value, a []js.Value) any { ch <- result{v: a[0]}; return nil })
	fail := js.FuncOf(func(_ js.Value, a []js.Value) any { ch <- result{err: fmt.Errorf("%v", a[0])}; return nil })
	defer ok.Release()
	defer fail.Release()
	p.Call("then", ok, fail)
	r := <-ch
	return r.v, r.err
}
