package web_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/webfuser/webfuser/web"
)

func get(t *testing.T, h http.Handler, path, enc string) *http.Response {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	if enc != "" {
		r.Header.Set("Accept-Encoding", enc)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func TestHandlerServesThePage(t *testing.T) {
	res := get(t, web.Handler(), "/", "")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(body), "app.js") || !strings.Contains(string(body), "wasm_exec.js") {
		t.Fatalf("GET /: %d\n%s", res.StatusCode, body)
	}
	for _, p := range []string{"/app.js", "/style.css"} {
		if res := get(t, web.Handler(), p, ""); res.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, res.StatusCode)
		}
	}
}

func TestHandlerExplainsAMissingBuild(t *testing.T) {
	h := web.NewHandler(fstest.MapFS{"index.html": {Data: []byte("<html>")}})
	res := get(t, h, "/"+web.Module, "")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 404 || !strings.Contains(string(body), "make wasm") {
		t.Fatalf("GET without a build: %d %s", res.StatusCode, body)
	}
}

func TestHandlerServesWasm(t *testing.T) {
	module := []byte("\x00asm\x01\x00\x00\x00" + strings.Repeat("x", 1000))
	h := web.NewHandler(fstest.MapFS{
		"index.html":   {Data: []byte("<html>")},
		web.Module:     {Data: module},
		"wasm_exec.js": {Data: []byte("//")},
	})
	res := get(t, h, "/"+web.Module, "")
	body, _ := io.ReadAll(res.Body)
	if ct := res.Header.Get("Content-Type"); ct != "application/wasm" || string(body) != string(module) {
		t.Fatalf("plain: content type %q, %d bytes", ct, len(body))
	}
	res = get(t, h, "/"+web.Module, "gzip, br")
	if res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("gzip: headers %v", res.Header)
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(zr)
	if string(body) != string(module) {
		t.Fatalf("gzip: %d bytes after decompression, want %d", len(body), len(module))
	}
}
