//go:build js

package gpu

import (
	"fmt"
	"strings"
	"sync"
	"syscall/js"

	"github.com/oliverbestmann/webgpu/wgpu"
)

// createModule compiles WGSL through the browser's compiler (Tint in
// Chrome and Dawn). Its error scope and the module's compilation messages
// turn a rejected kernel into a Go error that names the line.
// Browsers offer no switch for runtime checks, so Checked changes nothing.
func (d *Device) createModule(label, code string) (*wgpu.ShaderModule, error) {
	if err := d.usableLocked("compile " + label); err != nil {
		return nil, err
	}
	dv := jsValue(d.dev)
	dv.Call("pushErrorScope", "validation")
	mv := dv.Call("createShaderModule", map[string]any{"label": label, "code": code})
	waits := []any{dv.Call("popErrorScope")}
	if mv.Get("getCompilationInfo").Type() == js.TypeFunction {
		waits = append(waits, mv.Call("getCompilationInfo"))
	}
	res, err := await("compile "+label, js.Global().Get("Promise").Call("all", waits))
	if err != nil {
		return nil, err
	}
	var msgs []string
	if len(waits) > 1 {
		list := res.Index(1).Get("messages")
		for i := 0; i < list.Length(); i++ {
			m := list.Index(i)
			if m.Get("type").String() != "error" {
				continue
			}
			msgs = append(msgs, fmt.Sprintf("%d:%d: %s", m.Get("lineNum").Int(), m.Get("linePos").Int(), m.Get("message").String()))
		}
	}
	if e := res.Index(0); e.Truthy() && len(msgs) == 0 {
		msgs = append(msgs, jsErrorText(e))
	}
	if len(msgs) > 0 {
		return nil, errorf("compile "+label, "%s", strings.Join(msgs, "\n"))
	}
	return wrapJS[wgpu.ShaderModule](mv), nil
}

// createPipeline creates a compute pipeline with an explicit layout, so
// that a pipeline the browser rejects (a workgroup over the device's
// limits, say) is a Go error. Browsers get the asynchronous form, as they
// prefer; node gets the synchronous one inside error scopes (syncPipelines).
func (d *Device) createPipeline(label string, layout *wgpu.PipelineLayout, mod *wgpu.ShaderModule, entry string) (*wgpu.ComputePipeline, error) {
	desc := map[string]any{
		"label":   label,
		"layout":  jsValue(layout),
		"compute": map[string]any{"module": jsValue(mod), "entryPoint": entry},
	}
	dv := jsValue(d.dev)
	if !syncPipelines() {
		pv, err := await("pipeline "+label, dv.Call("createComputePipelineAsync", desc))
		if err != nil {
			return nil, err
		}
		return wrapJS[wgpu.ComputePipeline](pv), nil
	}
	dv.Call("pushErrorScope", "internal")
	dv.Call("pushErrorScope", "validation")
	pv := dv.Call("createComputePipeline", desc)
	res, err := await("pipeline "+label, js.Global().Get("Promise").Call("all", []any{dv.Call("popErrorScope"), dv.Call("popErrorScope")}))
	if err != nil {
		return nil, err
	}
	var msgs []string
	for i := 0; i < 2; i++ {
		if e := res.Index(i); e.Truthy() {
			msgs = append(msgs, jsErrorText(e))
		}
	}
	if len(msgs) > 0 {
		return nil, errorf("pipeline "+label, "%s", strings.Join(msgs, "\n"))
	}
	return wrapJS[wgpu.ComputePipeline](pv), nil
}

// syncPipelines reports whether the program runs in node (Dawn's
// dawn.node), where createComputePipelineAsync keeps the main thread
// spinning in Dawn's ProcessEvents loop while a worker thread compiles:
// it cost a second core and, on two cores, 2.4 times the wall time of the
// synchronous call (60 of the ops tests' pipelines on SwiftShader: 5.6 s
// against 2.3 s). A browser compiles in its GPU process either way.
var syncPipelines = sync.OnceValue(func() bool {
	p := js.Global().Get("process")
	return p.Truthy() && p.Get("versions").Truthy() && p.Get("versions").Get("node").Truthy()
})

// scope runs f inside validation and out-of-memory error scopes and
// returns what they caught, together with errors the browser raised
// outside any scope since the last call and the loss of the device.
func (d *Device) scope(op string, f func() error) error {
	dv := jsValue(d.dev)
	dv.Call("pushErrorScope", "validation")
	dv.Call("pushErrorScope", "out-of-memory")
	ferr := f()
	oom := dv.Call("popErrorScope")
	val := dv.Call("popErrorScope")
	res, err := await(op, js.Global().Get("Promise").Call("all", []any{val, oom}))
	if err != nil {
		return err
	}
	var msgs []string
	for i := 0; i < 2; i++ {
		if e := res.Index(i); e.Truthy() {
			msgs = append(msgs, jsErrorText(e))
		}
	}
	lost, earlier := stateOf(d).take()
	for _, m := range earlier {
		msgs = append(msgs, "(raised earlier) "+m)
	}
	if lost != "" {
		d.lost = kindf(ErrDeviceLost, op, "%s", lost)
		msgs = append(msgs, lost)
	}
	if len(msgs) > 0 {
		return errorf(op, "%s", strings.Join(msgs, "\n"))
	}
	return wrap(op, ferr)
}

// waitIdle blocks the calling goroutine until the queue has finished the
// work submitted so far (Poll does nothing in a browser).
func (d *Device) waitIdle() error {
	_, err := await("wait", jsValue(d.queue).Call("onSubmittedWorkDone"))
	return err
}
