// Package web serves the browser demo: a page that loads the GOOS=js
// build of WebFuser (web/wasm), shows the visitor's adapter, runs every
// operator of web/demo on its GPU and compares each with the CPU
// reference. The page, its script and, once built, the wasm module are
// embedded; cmd/webfuser serves them with
//
//	http.ListenAndServe(addr, web.Handler())
//
// Build the module before building the server, or the page will say it
// is missing:
//
//	GOOS=js GOARCH=wasm go build -o web/static/webfuser.wasm ./web/wasm
//	cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" web/static/
//
// (make wasm does both.)
//
// The page's generator fetches the video DiT's weights from WeightsURL;
// WithWeights serves a file there (cmd/webfuser serves
// testdata/models/videodit.safetensors).
package web

import (
	"bytes"
	"compress/gzip"
	"embed"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed static
var static embed.FS

// Module is the name of the wasm build inside the assets.
const Module = "webfuser.wasm"

// Assets returns the embedded page: index.html, app.js, style.css and,
// when they were built before the server, webfuser.wasm and wasm_exec.js.
func Assets() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is part of the source tree
	}
	return sub
}

// Built reports whether assets hold the wasm module and its loader.
func Built(assets fs.FS) bool {
	for _, name := range []string{Module, "wasm_exec.js"} {
		if _, err := fs.Stat(assets, name); err != nil {
			return false
		}
	}
	return true
}

// Handler serves the embedded demo.
func Handler() http.Handler { return NewHandler(Assets()) }

// NewHandler serves the demo from assets, a tree laid out as web/static.
// It serves .wasm as application/wasm, gzipped for clients that accept it,
// and explains a missing build instead of a bare 404.
func NewHandler(assets fs.FS) http.Handler {
	h := &handler{assets: assets, files: http.FileServer(http.FS(assets)), started: time.Now()}
	return h
}

type handler struct {
	assets  fs.FS
	files   http.Handler
	started time.Time

	once sync.Once
	gz   map[string][]byte // gzipped .wasm and .js, made on first request
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	w.Header().Set("Cache-Control", "no-cache")
	if (name == Module || name == "wasm_exec.js") && !Built(h.assets) {
		http.Error(w, name+" is not in this build: run `make wasm` (GOOS=js GOARCH=wasm go build -o web/static/webfuser.wasm ./web/wasm) and rebuild the server", http.StatusNotFound)
		return
	}
	if strings.HasSuffix(name, ".wasm") {
		w.Header().Set("Content-Type", "application/wasm")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			h.once.Do(h.compress)
			if b, ok := h.gz[name]; ok {
				w.Header().Set("Content-Encoding", "gzip")
				w.Header().Set("Vary", "Accept-Encoding")
				http.ServeContent(w, r, name, h.started, bytes.NewReader(b))
				return
			}
		}
	}
	h.files.ServeHTTP(w, r)
}

// compress gzips the wasm module once; it is about a quarter of its size.
func (h *handler) compress() {
	h.gz = map[string][]byte{}
	b, err := fs.ReadFile(h.assets, Module)
	if err != nil {
		return
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(b)
	if zw.Close() == nil {
		h.gz[Module] = buf.Bytes()
	}
}

// WeightsURL is the path, relative to the page, from which the page
// fetches the video DiT's weights (app.js names the same path).
const WeightsURL = "models/videodit.safetensors"

// WithWeights serves the safetensors file at path under /WeightsURL,
// with range requests, and everything else from h. A missing file is a
// 404 that says how to get one.
func WithWeights(h http.Handler, path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+WeightsURL {
			h.ServeHTTP(w, r)
			return
		}
		f, err := os.Open(path)
		if err != nil {
			http.Error(w, "the server has no video DiT weights ("+err.Error()+"): run `webfuser serve` from the repository root or pass --weights", http.StatusNotFound)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			http.Error(w, "the weights are not a regular file", http.StatusNotFound)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, WeightsURL, st.ModTime(), f)
	})
}
