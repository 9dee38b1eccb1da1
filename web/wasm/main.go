//go:build js

// Command wasm is the WebAssembly side of the web demo: built with
// GOOS=js GOARCH=wasm into web/static/webfuser.wasm, it opens the
// visitor's GPU through navigator.gpu, runs every entry of web/demo's
// table on it and against the CPU reference, and hands each result to
// the page (web/static/app.js) as JSON through globalThis.webfuserUI.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall/js"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/web/demo"
)

// dev is opened once and kept: a browser adapter gives one device only.
var (
	devMu sync.Mutex
	dev   *gpu.Device
)

// busy is a one-slot semaphore: one run at a time.
var busy = make(chan struct{}, 1)

// device returns the device, opening it on first use.
func device() (*gpu.Device, error) {
	devMu.Lock()
	defer devMu.Unlock()
	if dev != nil {
		return dev, nil
	}
	d, err := gpu.Open(gpu.Options{})
	if err != nil {
		return nil, err
	}
	dev = d
	return dev, nil
}

func send(method string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	js.Global().Get("webfuserUI").Call(method, string(b))
}

type summary struct {
	Passed  int    `json:"passed"`
	Failed  int    `json:"failed"`
	Skipped int    `json:"skipped"`
	Error   string `json:"error,omitempty"`
	// Unavailable is set when the failure is the browser's lack of
	// WebGPU rather than a fault of the library.
	Unavailable bool `json:"unavailable,omitempty"`
}

// options reads globalThis.webfuserOptions, which the page fills from its URL.
func options() demo.Options {
	o := demo.Options{Trials: 5, Reps: 3, Seed: 1}
	v := js.Global().Get("webfuserOptions")
	if !v.Truthy() {
		return o
	}
	if t := v.Get("trials"); t.Type() == js.TypeNumber && t.Int() > 0 {
		o.Trials = t.Int()
	}
	if r := v.Get("reps"); r.Type() == js.TypeNumber && r.Int() > 0 {
		o.Reps = r.Int()
	}
	if f := v.Get("filter"); f.Type() == js.TypeString {
		o.Filter = f.String()
	}
	return o
}

func run() {
	busy <- struct{}{}
	defer func() { <-busy }()
	send("status", `"requesting a WebGPU adapter and device…"`)
	dev, err := device()
	if err != nil {
		s := summary{Error: err.Error()}
		var ge *gpu.Error
		if errors.As(err, &ge) {
			s.Error = ge.Msg
			s.Unavailable = strings.HasPrefix(ge.Msg, gpu.Unavailable)
		}
		send("done", s)
		return
	}
	f := dev.Features
	send("device", map[string]any{
		"name": dev.Info.Name, "vendor": dev.Info.Vendor, "driver": dev.Info.Driver,
		"type": dev.Info.Type, "backend": dev.Info.Backend,
		"features": map[string]bool{"shader-f16": f.ShaderF16, "subgroups": f.Subgroups, "timestamp-query": f.Timestamps},
		"limits":   dev.Limits,
	})
	opt := options()
	type planned struct {
		Name    string   `json:"name"`
		Shape   string   `json:"shape"`
		Missing []string `json:"missing,omitempty"`
	}
	var plan []planned
	for _, op := range demo.Ops {
		plan = append(plan, planned{op.Name, op.Shape, demo.Missing(dev, op)})
	}
	send("plan", plan)
	var s summary
	demo.RunAll(dev, demo.Ops, opt, func(r demo.Result) {
		switch r.Status {
		case "pass":
			s.Passed++
		case "skip":
			s.Skipped++
		default:
			s.Failed++
		}
		send("result", r)
	})
	send("done", s)
}

// checkFile reads the bytes of a file the visitor chose (a Uint8Array
// the page read after checking its size) and reports what
// demo.CheckFile found through webfuserUI.file. The size is checked
// again here before the bytes are copied into Go's memory.
func checkFile(name string, data js.Value) {
	res := demo.FileResult{Name: name, Kind: "refused"}
	defer func() { send("file", res) }()
	if data.Type() != js.TypeObject || data.Get("length").Type() != js.TypeNumber {
		res.Summary = "the page passed no file data"
		return
	}
	if n := data.Get("length").Int(); n > demo.MaxFileBytes {
		res.Summary = fmt.Sprintf("%s is %d bytes, over the limit of %d: refused", name, n, demo.MaxFileBytes)
		return
	}
	b := make([]byte, data.Get("length").Int())
	js.CopyBytesToGo(b, data)
	d, err := device()
	if err != nil {
		d = nil // run a case on the CPU reference instead
	}
	res = demo.CheckFile(d, name, b)
	if d == nil && res.Kind == "case" {
		res.Detail = strings.TrimSpace(res.Detail + " (no WebGPU device: " + err.Error() + ")")
	}
}

func main() {
	// A JavaScript callback must not block on a promise: it starts a
	// goroutine and returns at once.
	js.Global().Set("webfuserRerun", js.FuncOf(func(this js.Value, args []js.Value) any {
		go run()
		return nil
	}))
	js.Global().Set("webfuserCheckFile", js.FuncOf(func(this js.Value, args []js.Value) any {
		if len(args) != 2 || args[0].Type() != js.TypeString {
			return nil
		}
		go checkFile(args[0].String(), args[1])
		return nil
	}))
	run()
	select {} // keep the callbacks and the device alive
}
