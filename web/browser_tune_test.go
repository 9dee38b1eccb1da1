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
)

// TestBrowserTunes presses the page's tuner through webfuserTune with
// one class at small shapes (the button's full run takes minutes): the
// table must be applied, kept in localStorage under the adapter's key,
// and applied again when the page is loaded anew; a second run stopped
// after its first timing keeps nothing. The adapter panel's
// screenshot goes to the artifacts folder as tune.png.
func TestBrowserTunes(t *testing.T) {
	ctx, url := openPage(t, 4*time.Minute)
	url += "/?filter=no-such-operator"
	load := func() {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
			t.Fatalf("navigate: %v", err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!globalThis.webfuserDone && !!globalThis.webfuserTuning`,
			chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(time.Minute))); err != nil {
			t.Fatalf("waiting for the page: %v", err)
		}
	}
	type report struct {
		Applied bool
		Date    string
		Classes int
		Why     string
		Error   string
	}
	tuning := func() report {
		t.Helper()
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(globalThis.webfuserTuning)`))
		var r report
		if err == nil {
			err = json.Unmarshal([]byte(raw), &r)
		}
		if err != nil {
			t.Fatalf("webfuserTuning: %v", err)
		}
		return r
	}
	load()
	if r := tuning(); r.Applied {
		t.Fatalf("a fresh profile has a table applied: %+v", r)
	}
	// A request the tuner does not know is refused with the reason.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`globalThis.webfuserTune({quick: true, shapes: 3}), null`)); err != nil {
		t.Fatalf("webfuserTune: %v", err)
	}
	if r := tuning(); !strings.Contains(r.Error, "takes {quick, rows, weights}") {
		t.Errorf("webfuserTune({shapes: 3}): %+v, want an error naming what it takes", r)
	}
	start := time.Now()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`globalThis.webfuserTune({quick: true, rows: [1], weights: ["fp8_e4m3"]}), null`)); err != nil {
		t.Fatalf("webfuserTune: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!globalThis.webfuserTuning.applied`,
		chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatalf("waiting for the tuner: %v", err)
	}
	tuned := tuning()
	if !tuned.Applied || tuned.Classes != 1 || tuned.Why != "" {
		t.Fatalf("after tuning: %+v", tuned)
	}
	t.Logf("tuned in %v: %+v", time.Since(start).Round(time.Millisecond), tuned)
	kept, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Object.keys(localStorage).filter((k) => k.startsWith("webfuser-tuning-")).map((k) => localStorage.getItem(k))`))
	if err != nil || len(kept) != 1 || !strings.Contains(kept[0], `"entries"`) || !strings.Contains(kept[0], tuned.Date) {
		t.Fatalf("localStorage holds %d tables (%v), want the one just made", len(kept), err)
	}
	load()
	if again := tuning(); !again.Applied || again.Date != tuned.Date {
		t.Errorf("after loading the page again: %+v, want the table of %s applied", again, tuned.Date)
	}
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("tuning").textContent`))
	if !strings.HasPrefix(text, "tuned on this GPU") {
		t.Errorf("the page says %q", text)
	}
	// Stop: the run ends with its error and keeps nothing new.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`globalThis.webfuserTune({quick: true, rows: [4, 0]}), null`)); err != nil {
		t.Fatalf("webfuserTune: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`/tuning: [1-9]/.test(document.getElementById("tuning").textContent) && (globalThis.webfuserTuneStop(), true)`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(time.Minute))); err != nil {
		t.Fatalf("waiting for the second run's first timing: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!globalThis.webfuserTuning.error`,
		chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(time.Minute))); err != nil {
		t.Fatalf("waiting for the stopped run to end: %v", err)
	}
	if r := tuning(); !strings.Contains(r.Error, "stopped") || !r.Applied || r.Date != tuned.Date {
		t.Errorf("after Stop: %+v, want an error saying it stopped, the table of %s still applied", r, tuned.Date)
	}
	if after, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Object.keys(localStorage).filter((k) => k.startsWith("webfuser-tuning-")).map((k) => localStorage.getItem(k))`)); err != nil || len(after) != 1 || after[0] != kept[0] {
		t.Errorf("after Stop, localStorage changed (%v)", err)
	}
	if shot, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#device-box"))); err != nil {
		t.Errorf("screenshot: %v", err)
	} else if err := os.WriteFile(filepath.Join(artifactDir(t), "tune.png"), shot, 0o644); err != nil {
		t.Error(err)
	}
}
