package web_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
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

func TestWithWeights(t *testing.T) {
	dir := t.TempDir()
	weights := dir + "/w.safetensors"
	data := []byte("0123456789abcdef")
	if err := os.WriteFile(weights, data, 0o644); err != nil {
		t.Fatal(err)
	}
	page := web.NewHandler(fstest.MapFS{"index.html": {Data: []byte("<html>page")}})
	tests := []struct {
		name, file, path, rng string
		code                  int
		want                  string
	}{
		{"whole file", weights, "/" + web.WeightsURL, "", 200, string(data)},
		{"a range", weights, "/" + web.WeightsURL, "bytes=4-7", 206, "4567"},
		{"other paths go to the page", weights, "/", "", 200, "<html>page"},
		{"missing weights", dir + "/none.safetensors", "/" + web.WeightsURL, "", 404, "no video DiT weights"},
		{"a folder is not weights", dir, "/" + web.WeightsURL, "", 404, "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.path, nil)
			if tc.rng != "" {
				r.Header.Set("Range", tc.rng)
			}
			w := httptest.NewRecorder()
			web.WithWeights(page, tc.file).ServeHTTP(w, r)
			body := w.Body.String()
			if w.Code != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("GET %s: %d %q, want %d with %q", tc.path, w.Code, body, tc.code, tc.want)
			}
		})
	}
}
