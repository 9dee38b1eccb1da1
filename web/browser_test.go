//go:build !js && !wasip1

package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/webfuser/webfuser/web"
	"github.com/webfuser/webfuser/web/demo"
)

// The browser test drives headless Chromium (Debian's build, which ships
// SwiftShader, so WebGPU runs without a GPU) through the demo page served
// by web.Handler on 127.0.0.1. WEBFUSER_CHROMIUM names another binary;
// WEBFUSER_ARTIFACTS names the folder for the screenshot (default: a
// webfuser-artifacts folder in the temporary directory).

func chromiumPath(t *testing.T) string {
	for _, p := range []string{os.Getenv("WEBFUSER_CHROMIUM"), "/usr/lib/chromium/chromium", "/usr/lib/chromium-browser/chromium-browser"} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	msg := "\n" + strings.Repeat("!", 72) + "\n!!! SKIPPING THE BROWSER TEST: Chromium is not installed.\n" +
		"!!! Install it (apt-get install chromium) or set WEBFUSER_CHROMIUM.\n" + strings.Repeat("!", 72)
	fmt.Fprintln(os.Stderr, msg)
	t.Skip(msg)
	return ""
}

// buildAssets builds the wasm module into a fresh folder next to the
// embedded page, so that the test never serves a stale build.
var (
	assetsOnce sync.Once
	assetsDir  string
	assetsFS   fs.FS
	assetsErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if assetsDir != "" {
		os.RemoveAll(assetsDir)
	}
	os.Exit(code)
}

func buildAssets(t *testing.T) fs.FS {
	t.Helper()
	assetsOnce.Do(func() {
		assetsDir, assetsErr = os.MkdirTemp("", "webfuser-web-")
		if assetsErr == nil {
			assetsFS, assetsErr = build(t, assetsDir)
		}
	})
	if assetsErr != nil {
		t.Fatal(assetsErr)
	}
	return assetsFS
}

func build(t *testing.T, dir string) (fs.FS, error) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", filepath.Join(dir, web.Module), "./wasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the wasm module: %v\n%s", err, out)
	}
	loader, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return nil, fmt.Errorf("wasm_exec.js: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wasm_exec.js"), loader, 0o644); err != nil {
		return nil, err
	}
	err = fs.WalkDir(web.Assets(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == web.Module || p == "wasm_exec.js" {
			return err
		}
		b, err := fs.ReadFile(web.Assets(), p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o644)
	})
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(filepath.Join(dir, web.Module)); err == nil {
		t.Logf("wasm module: %d bytes", st.Size())
	}
	return os.DirFS(dir), nil
}

func artifactDir(t *testing.T) string {
	dir := os.Getenv("WEBFUSER_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "webfuser-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts headless Chromium with WebGPU on and returns a context
// for its first tab.
func browser(t *testing.T, exe string) context.Context {
	tmp := t.TempDir() // Chromium leaves folders in TMPDIR
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("enable-unsafe-webgpu", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
		chromedp.Flag("window-size", "1200,1000"),
		chromedp.UserDataDir(filepath.Join(tmp, "profile")),
		chromedp.Env("TMPDIR=" + tmp),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	return ctx
}

// openPage serves the demo page (the wasm module built fresh) on
// 127.0.0.1, starts headless Chromium (skipping the test where there is
// none) with the page's console copied to the test log, and returns the
// tab's context, ended after timeout, and the page's URL; all of it is
// stopped when the test ends.
func openPage(t *testing.T, timeout time.Duration) (context.Context, string) {
	exe := chromiumPath(t)
	srv := httptest.NewServer(web.NewHandler(buildAssets(t)))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(browser(t, exe), timeout)
	t.Cleanup(cancel)
	t.Cleanup(logConsole(t, ctx))
	return ctx, srv.URL
}

type summary struct {
	Passed, Failed, Skipped int
	Error                   string
	Unavailable             bool
}

// logConsole copies the page's console to the test log until ctx ends.
func logConsole(t *testing.T, ctx context.Context) func() {
	var wg sync.WaitGroup
	ctx, stop := context.WithCancel(ctx)
	msgs := chromedp.Console(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for m, err := range msgs {
			if err != nil || ctx.Err() != nil {
				return
			}
			t.Logf("console: %v", m)
		}
	}()
	return func() { stop(); wg.Wait() }
}

func TestBrowserRunsEveryOp(t *testing.T) {
	ctx, url := openPage(t, 4*time.Minute)
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/?trials=3&reps=2")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Poll[string](`globalThis.webfuserDone && JSON.stringify(globalThis.webfuserDone)`,
		chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(3*time.Minute)))
	if err != nil {
		t.Fatalf("waiting for the page to finish: %v", err)
	}
	t.Logf("page finished in %v: %s", time.Since(start).Round(time.Millisecond), raw)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot: %v", err)
	} else {
		p := filepath.Join(artifactDir(t), "browser.png")
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Error(err)
		}
		t.Logf("screenshot: %s", p)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#results tbody").innerText`))
	if err == nil {
		t.Logf("results table:\n%s", rows)
	}
	status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
	device, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("device").innerText`))
	t.Logf("status: %s\nadapter:\n%s", status, device)
	checkLinearChoice(t, ctx, device)

	var s summary
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatalf("summary %q: %v", raw, err)
	}
	if s.Error != "" {
		t.Fatalf("the page failed: %s", s.Error)
	}
	resJSON, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(globalThis.webfuserResults)`))
	if err != nil {
		t.Fatalf("reading the results: %v", err)
	}
	var results []demo.Result
	if err := json.Unmarshal([]byte(resJSON), &results); err != nil {
		t.Fatalf("results %q: %v", resJSON, err)
	}
	for _, r := range results {
		switch r.Status {
		case "pass":
		case "skip":
			t.Logf("SKIPPED %s: %s", r.Name, r.Detail)
		default:
			t.Errorf("%s failed in the browser: %s", r.Name, r.Detail)
		}
	}
	if s.Failed != 0 || s.Passed+s.Skipped != len(demo.Ops) || s.Passed == 0 {
		t.Fatalf("%d passed, %d failed, %d skipped of %d operators", s.Passed, s.Failed, s.Skipped, len(demo.Ops))
	}
	if s.Skipped > 0 {
		t.Logf("NOTE: %d operators skipped for features this browser lacks", s.Skipped)
	}
	for _, op := range demo.Ops {
		if !strings.Contains(rows, op.Name) {
			t.Errorf("operator %s is missing from the page's table", op.Name)
		}
	}
}

// TestBrowserSaysWhenWebGPUIsMissing hides navigator.gpu before the page
// loads: the page must say so instead of failing silently.
func TestBrowserSaysWhenWebGPUIsMissing(t *testing.T) {
	ctx, url := openPage(t, 2*time.Minute)
	hide := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `delete Navigator.prototype.gpu;`,
		})
		return err
	})
	if err := chromedp.Do(ctx, hide, chromedp.Navigate(url+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Poll[string](`globalThis.webfuserDone && JSON.stringify(globalThis.webfuserDone)`,
		chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(time.Minute)))
	if err != nil {
		t.Fatalf("waiting for the page to finish: %v", err)
	}
	status, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	var s summary
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatal(err)
	}
	if !s.Unavailable || !strings.Contains(status, "WebGPU is unavailable") || !strings.Contains(status, "navigator.gpu") {
		t.Fatalf("want the page to say WebGPU is unavailable because navigator.gpu is missing; summary %s, status %q", raw, status)
	}
	t.Logf("status shown: %s", status)
}

// checkLinearChoice checks the page's choice of linear layers: W8A8
// exactly where the adapter reports int8 tensor cores, and the exact
// fallback on SwiftShader, which has none.
func checkLinearChoice(t *testing.T, ctx context.Context, device string) {
	t.Helper()
	linear, err := chromedp.Run(ctx, chromedp.Evaluate[string](`globalThis.webfuserLinear`))
	if err != nil {
		t.Fatalf("reading webfuserLinear: %v", err)
	}
	tc, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll("#features li")].some((li) => li.className === "yes" && li.textContent.includes("int8 tensor cores"))`))
	if err != nil {
		t.Fatalf("reading the features: %v", err)
	}
	want := "exact"
	if tc {
		want = "w8a8"
	}
	if linear != want || !strings.Contains(device, "linear layers\n"+want) {
		t.Errorf("linear layers %q (panel %q), want %q (int8 tensor cores: %v)", linear, device, want, tc)
	}
	if strings.Contains(strings.ToLower(device), "swiftshader") && linear != "exact" {
		t.Errorf("SwiftShader has no int8 tensor cores, yet the page chose %q linears", linear)
	}
	t.Logf("linear layers: %s", linear)
}
