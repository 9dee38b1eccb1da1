//go:build js

// Command wasm is the WebAssembly side of the web demo: built with
// GOOS=js GOARCH=wasm into web/static/webfuser.wasm, it opens the
// visitor's GPU through navigator.gpu, runs every entry of web/demo's
// table on it and against the CPU reference, and hands each result to
// the page (web/static/app.js) as JSON through globalThis.webfuserUI.
// webfuserGenerate samples a clip from the video DiT (models/videodit),
// its weights fetched from the server once, on the same GPU;
// webfuserTune times the matmul tiles there (ops.Tune) and keeps the
// table in localStorage for the next visit (webfuserTuneStop stops it).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/safetensors"
	"github.com/webfuser/webfuser/models/videodit"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/web/demo"
)

// dev is opened once and kept: a browser adapter gives one device only.
// tuning is what the page shows of its tile table: the one stored for
// this adapter is applied when the device opens, a new one by
// webfuserTune.
var (
	devMu  sync.Mutex
	dev    *gpu.Device
	tuning demo.TuningReport
	// stopTune, while a tune runs, stops it (webfuserTuneStop).
	stopTune context.CancelFunc
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
	if stored, err := storage("getItem", demo.TuningKey(d)); err != nil {
		tuning.Why = err.Error()
	} else if stored != "" {
		tuning = demo.ApplyStored(d, stored)
	}
	return dev, nil
}

// acquire waits for the GPU's turn (busy) and returns the device, and
// release, which ends the turn.
func acquire() (*gpu.Device, func(), error) {
	busy <- struct{}{}
	d, err := device()
	if err != nil {
		<-busy
		return nil, nil, err
	}
	return d, func() { <-busy }, nil
}

// tuningNow returns the report of the table in use.
func tuningNow() demo.TuningReport {
	devMu.Lock()
	defer devMu.Unlock()
	return tuning
}

// storage calls localStorage's getItem(key) or setItem(key, value) and
// returns getItem's string ("" for none). A browser without storage, or
// one that refuses (private modes, a full quota), is an error: the page
// then tunes without keeping the table.
func storage(method string, args ...any) (v string, err error) {
	defer func() {
		if r := recover(); r != nil { // a JavaScript exception
			err = fmt.Errorf("localStorage.%s: %v", method, r)
		}
	}()
	ls := js.Global().Get("localStorage")
	if !ls.Truthy() {
		return "", fmt.Errorf("this browser has no localStorage")
	}
	if r := ls.Call(method, args...); r.Type() == js.TypeString {
		v = r.String()
	}
	return v, nil
}

// tune times the tiles on the device (demo.Tune), keeps the table in
// localStorage and reports it through webfuserUI.tuned, each timing
// through webfuserUI.tuneProgress and a failure through
// webfuserUI.tuneError.
func tune(r demo.TuneRequest) {
	fail := func(err error) {
		msg := err.Error()
		if errors.Is(err, context.Canceled) {
			msg = "stopped: the table in use is unchanged"
		}
		send("tuneError", map[string]any{"error": msg, "report": tuningNow()})
	}
	send("tuneProgress", map[string]any{"done": 0, "total": 1, "class": "waiting for the GPU…"})
	d, release, err := acquire()
	if err != nil {
		fail(err)
		return
	}
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	devMu.Lock()
	stopTune = cancel
	devMu.Unlock()
	defer func() {
		devMu.Lock()
		stopTune = nil
		devMu.Unlock()
		cancel()
	}()
	began := time.Now()
	stored, rep, err := demo.Tune(ctx, d, r, func(done, total int, class string) {
		send("tuneProgress", map[string]any{"done": done, "total": total, "class": class, "ms": time.Since(began).Milliseconds()})
	})
	if err != nil {
		fail(err)
		return
	}
	if _, err := storage("setItem", demo.TuningKey(d), stored); err != nil {
		rep.Why = "applied for this visit, not kept: " + err.Error()
	}
	devMu.Lock()
	tuning = rep
	devMu.Unlock()
	send("tuned", map[string]any{"report": rep, "ms": time.Since(began).Milliseconds(), "key": demo.TuningKey(d)})
}

// tuneArgs reads webfuserTune's optional argument, an object {quick,
// rows, weights} (demo.TuneRequest), through JSON.
func tuneArgs(v js.Value) (r demo.TuneRequest, err error) {
	if v.Type() == js.TypeUndefined || v.Type() == js.TypeNull {
		return r, nil
	}
	defer func() {
		if e := recover(); e != nil { // JSON.stringify threw
			err = fmt.Errorf("webfuserTune: %v", e)
		}
	}()
	dec := json.NewDecoder(strings.NewReader(js.Global().Get("JSON").Call("stringify", v).String()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("webfuserTune takes {quick, rows, weights}: %v", err)
	}
	return r, nil
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
	linear, why := demo.LinearLabel(dev)
	send("device", map[string]any{
		"name": dev.Info.Name, "vendor": dev.Info.Vendor, "driver": dev.Info.Driver,
		"type": dev.Info.Type, "backend": dev.Info.Backend,
		"features": map[string]bool{"shader-f16": f.ShaderF16, "subgroups": f.Subgroups, "timestamp-query": f.Timestamps,
			"int8 tensor cores": ops.HasInt8TensorCores(dev)},
		"limits": dev.Limits,
		"linear": linear, "linearWhy": why,
		"tuning": tuningNow(),
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

// The video DiT, loaded on first use and kept with the device.
var (
	modelMu sync.Mutex
	model   *videodit.Model
)

// maxWeightBytes bounds the weights the page fetches (the trained model
// is about 20 MB).
const maxWeightBytes = 256 << 20

// loadModel fetches the weights at url and binds them on d, once.
func loadModel(d *gpu.Device, url string) (*videodit.Model, error) {
	modelMu.Lock()
	defer modelMu.Unlock()
	if model != nil {
		return model, nil
	}
	send("genStatus", "fetching the weights ("+url+")…")
	sd, err := safetensors.Fetch(url, maxWeightBytes)
	if err != nil {
		return nil, err
	}
	defer sd.Close()
	send("genStatus", "uploading the weights to the GPU…")
	m, err := videodit.Load(d, sd)
	if err != nil {
		return nil, err
	}
	if _, err := demo.UseLinears(m); err != nil {
		m.Release()
		return nil, err
	}
	model = m
	return model, nil
}

// generate samples a clip on the device and hands it to the page through
// webfuserUI.clip(meta JSON, RGBA bytes), reporting each step through
// webfuserUI.genProgress and any failure through webfuserUI.genError.
func generate(url string, r demo.GenerateRequest) {
	fail := func(err error) {
		msg := err.Error()
		var ge *gpu.Error
		if errors.As(err, &ge) {
			msg = ge.Msg
		}
		send("genError", map[string]string{"error": msg})
	}
	send("genStatus", "waiting for the GPU…")
	d, release, err := acquire()
	if err != nil {
		fail(err)
		return
	}
	defer release()
	m, err := loadModel(d, url)
	if err != nil {
		fail(err)
		return
	}
	send("genStatus", fmt.Sprintf("sampling %s, seed %d: %d steps (%s linears)…", m.Config.ClassName(m.Config.Class(r.Shape, r.Color, r.Direction)), r.Seed, r.Steps, m.Linear()))
	var total time.Duration
	clip, err := demo.Generate(m, r, func(step, steps int, took time.Duration) {
		total += took
		send("genProgress", map[string]any{"step": step, "steps": steps, "ms": took.Milliseconds(), "totalMs": total.Milliseconds()})
	})
	if err != nil {
		fail(err)
		return
	}
	meta, _ := json.Marshal(clip)
	arr := js.Global().Get("Uint8Array").New(len(clip.RGBA))
	js.CopyBytesToJS(arr, clip.RGBA)
	js.Global().Get("webfuserUI").Call("clip", string(meta), arr)
}

// generateArgs reads webfuserGenerate's one argument, an object
// {weights, shape, color, direction, seed, steps, cfg}.
func generateArgs(v js.Value) (string, demo.GenerateRequest, error) {
	r := demo.GenerateRequest{Steps: demo.DefaultSteps, CFG: demo.DefaultCFG}
	if v.Type() != js.TypeObject {
		return "", r, fmt.Errorf("webfuserGenerate takes one object")
	}
	url := v.Get("weights")
	if url.Type() != js.TypeString || url.String() == "" {
		return "", r, fmt.Errorf("webfuserGenerate: no weights URL")
	}
	num := func(name string, dst *float64) error {
		f := v.Get(name)
		if f.Type() == js.TypeUndefined {
			return nil
		}
		if f.Type() != js.TypeNumber || f.Float() != f.Float() {
			return fmt.Errorf("webfuserGenerate: %s is not a number", name)
		}
		*dst = f.Float()
		return nil
	}
	var shape, color, dir, seed, steps float64
	steps = float64(r.Steps)
	for _, f := range []struct {
		n string
		p *float64
	}{{"shape", &shape}, {"color", &color}, {"direction", &dir}, {"seed", &seed}, {"steps", &steps}, {"cfg", &r.CFG}} {
		if err := num(f.n, f.p); err != nil {
			return "", r, err
		}
	}
	for _, f := range []struct {
		n string
		v float64
	}{{"shape", shape}, {"color", color}, {"direction", dir}, {"seed", seed}, {"steps", steps}} {
		if f.v != float64(int64(f.v)) || f.v < 0 || f.v > 1<<53 {
			return "", r, fmt.Errorf("webfuserGenerate: %s %v is not a whole number in [0, 2^53]", f.n, f.v)
		}
	}
	r.Shape, r.Color, r.Direction, r.Seed, r.Steps = int(shape), int(color), int(dir), uint64(seed), int(steps)
	return url.String(), r, nil
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
	js.Global().Set("webfuserGenerate", js.FuncOf(func(this js.Value, args []js.Value) any {
		var v js.Value
		if len(args) > 0 {
			v = args[0]
		}
		url, r, err := generateArgs(v)
		if err != nil {
			send("genError", map[string]string{"error": err.Error()})
			return nil
		}
		go generate(url, r)
		return nil
	}))
	js.Global().Set("webfuserTune", js.FuncOf(func(this js.Value, args []js.Value) any {
		var v js.Value
		if len(args) > 0 {
			v = args[0]
		}
		r, err := tuneArgs(v)
		if err != nil {
			send("tuneError", map[string]any{"error": err.Error(), "report": tuningNow()})
			return nil
		}
		go tune(r)
		return nil
	}))
	js.Global().Set("webfuserTuneStop", js.FuncOf(func(this js.Value, args []js.Value) any {
		devMu.Lock()
		defer devMu.Unlock()
		if stopTune != nil {
			stopTune()
		}
		return nil
	}))
	send("classes", demo.ClassesOf(videodit.DefaultConfig))
	run()
	select {} // keep the callbacks and the device alive
}
