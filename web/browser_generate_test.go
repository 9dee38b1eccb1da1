//go:build !js && !wasip1

package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/webfuser/webfuser/web"
)

// TestBrowserGenerates chooses a red circle moving right on the page,
// presses Generate and waits for the clip: the page must fetch the
// trained weights from the server, sample on the browser's GPU (under
// SwiftShader: a CPU) with a progress report per step, and play the
// clip. The screenshot of the playing clip goes to the artifacts folder
// as generate.png. The clip must hold the red shape in every frame. It
// takes 3 steps (2 in -short mode) instead of the page's 8: SwiftShader
// needs 23 to 35 s a step on a loaded 2-core machine.
func TestBrowserGenerates(t *testing.T) {
	exe := chromiumPath(t)
	weights := filepath.Join("..", "testdata", "models", "videodit.safetensors")
	if _, err := os.Stat(weights); err != nil {
		t.Fatalf("the trained weights: %v", err)
	}
	srv := httptest.NewServer(web.WithWeights(web.NewHandler(buildAssets(t)), weights))
	defer srv.Close()
	ctx := browser(t, exe)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	stop := logConsole(t, ctx)
	defer stop()

	steps := 3
	if testing.Short() {
		steps = 2
	}
	// Shape 1, colour 0, direction 0: the red circle moving right (class 16).
	url := fmt.Sprintf("%s/?filter=no-such-operator&shape=1&color=0&direction=0&seed=1&steps=%d", srv.URL, steps)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!globalThis.webfuserDone && !document.getElementById("generate").disabled`,
		chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(time.Minute))); err != nil {
		t.Fatalf("waiting for the page: %v", err)
	}
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#generate"))); err != nil {
		t.Fatalf("clicking Generate: %v", err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Poll[string](`globalThis.webfuserClip && JSON.stringify(globalThis.webfuserClip)`,
		chromedp.WithPollingInterval(500*time.Millisecond), chromedp.WithPollingTimeout(4*time.Minute)))
	status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("gen-status").textContent`))
	if err != nil {
		t.Fatalf("waiting for the clip: %v (status %q)", err, status)
	}
	t.Logf("clip in %v: %s\nstatus: %s", time.Since(start).Round(time.Millisecond), raw, status)
	var clip struct {
		Class, Steps, Frames, Width, Height int
		Name, Error, Linear                 string
	}
	if err := json.Unmarshal([]byte(raw), &clip); err != nil {
		t.Fatalf("clip %q: %v", raw, err)
	}
	if clip.Error != "" {
		t.Fatalf("the page failed to generate: %s", clip.Error)
	}
	if linear, err := chromedp.Run(ctx, chromedp.Evaluate[string](`globalThis.webfuserLinear`)); err != nil || clip.Linear != linear || linear == "" {
		t.Errorf("the clip used %q linears, the adapter panel says %q (%v)", clip.Linear, linear, err)
	}
	if clip.Class != 16 || clip.Steps != steps || clip.Name != "red circle moving right" {
		t.Errorf("clip of class %d (%q) in %d steps, want class 16 (red circle moving right) in %d", clip.Class, clip.Name, clip.Steps, steps)
	}
	progress, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`globalThis.webfuserProgress.map((p) => p.step)`))
	if err != nil || len(progress) != steps || progress[steps-1] != steps {
		t.Errorf("progress reports %v (%v), want steps 1 to %d", progress, err, steps)
	}

	// Let it play a few frames, then keep the screenshot of the generator.
	time.Sleep(600 * time.Millisecond)
	shot, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#gen-box")))
	if err != nil {
		t.Errorf("screenshot: %v", err)
	} else {
		p := filepath.Join(artifactDir(t), "generate.png")
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Error(err)
		}
		t.Logf("screenshot: %s", p)
	}

	// The frames in the strip: every one must show a red shape (pixels
	// with red well above green and blue), whose centre is logged.
	reds, err := chromedp.Run(ctx, chromedp.Evaluate[[][]float64](`(() => {
		const s = document.getElementById("strip"), g = s.getContext("2d");
		const n = globalThis.webfuserClip.frames, w = (s.width + 4) / n - 4, out = [];
		for (let f = 0; f < n; f++) {
			const d = g.getImageData(f * (w + 4), 0, w, s.height).data;
			let count = 0, sx = 0;
			for (let i = 0; i < d.length; i += 4) {
				if (d[i] > 150 && d[i + 1] < 100 && d[i + 2] < 100) { count++; sx += (i / 4) % w; }
			}
			out.push([count, count ? sx / count / w : -1]);
		}
		return out;
	})()`))
	if err != nil {
		t.Fatalf("reading the strip: %v", err)
	}
	t.Logf("red pixels and their mean x (0..1) per frame: %v", reds)
	for f, r := range reds {
		if r[0] < 20 {
			t.Errorf("frame %d has %v red pixels in the strip: no red shape", f, r[0])
		}
	}
}
