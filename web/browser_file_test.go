//go:build !js && !wasip1

package web_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/safetensors"
)

// TestBrowserChecksFiles chooses files on the page: one over the size
// limit (lowered to 4096 bytes by ?maxfile), a malformed one, a hostile
// golden case and a good one. Each must end in a message on the page,
// the first three refused, the last run and passed, and the tab must
// still answer afterwards.
func TestBrowserChecksFiles(t *testing.T) {
	ctx, url := openPage(t, 3*time.Minute)

	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, err := os.ReadFile("../testdata/golden/norm/rms_norm_f32_0_w.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	hostile, _ := safetensors.Encode([]safetensors.Tensor{{Name: "out.block_mask", DType: dtype.U8, Shape: []int{1}, Data: []byte{1}}},
		map[string]string{"op": "radial_mask", "attrs": `{"seq_len":16000000,"block_size":1}`})
	files := []struct{ path, kind, want string }{
		{write("big.safetensors", make([]byte, 5000)), "refused", "over the page's limit of 4096 bytes"},
		{write("noise.safetensors", []byte("\x0f\x00\x00\x00\x00\x00\x00\x00{\"x\": nonsense}")), "refused", "not a valid safetensors file"},
		{write("hostile.safetensors", hostile), "refused", "would allocate"},
		{write("case.safetensors", good), "case", "PASS"},
	}
	if len(good) > 4096 {
		t.Fatalf("the good case is %d bytes, over the test's limit", len(good))
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/?filter=no-such-operator&maxfile=4096")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!globalThis.webfuserDone`,
		chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(time.Minute))); err != nil {
		t.Fatalf("waiting for the page: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f.path)
		if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{f.path})); err != nil {
			t.Fatalf("%s: choosing the file: %v", name, err)
		}
		raw, err := chromedp.Run(ctx, chromedp.Poll[string](
			`globalThis.webfuserFile && globalThis.webfuserFile.name === `+jsString(name)+` && JSON.stringify(globalThis.webfuserFile)`,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(time.Minute)))
		if err != nil {
			t.Fatalf("%s: waiting for the verdict: %v", name, err)
		}
		var r struct{ Kind, Summary, Detail string }
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			t.Fatalf("%s: %q: %v", name, raw, err)
		}
		shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("file-status").textContent`))
		t.Logf("%s: %s", name, shown)
		if r.Kind != f.kind || !strings.Contains(r.Summary+" "+r.Detail, f.want) || !strings.Contains(shown, f.want) {
			t.Errorf("%s: kind %q, shown %q; want kind %q and %q", name, r.Kind, shown, f.kind, f.want)
		}
	}
	if alive, err := chromedp.Run(ctx, chromedp.Evaluate[int](`1 + 1`)); err != nil || alive != 2 {
		t.Fatalf("the tab no longer answers: %v %v", alive, err)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
