// Package browser starts headless Chromium for the tests of the bridge's
// pages (admin and survey), and keeps their screenshots as artifacts.
package browser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/chromedp/chromedp"
)

// Start returns a browser context of the given window size, closed when the
// test ends. It skips the test, saying why, when Chromium is not installed
// (test/run installs Debian's chromium).
func Start(tb testing.TB, width, height int) context.Context {
	tb.Helper()
	bin := "/usr/bin/chromium"
	if _, err := os.Stat(bin); err != nil {
		p, err := exec.LookPath("chromium")
		if err != nil {
			tb.Skip("chromium is not installed (/usr/bin/chromium or chromium on PATH): skipping the browser test")
		}
		bin = p
	}
	// The closed network refuses Chromium's own background traffic, so it is
	// switched off rather than left to fail on every start.
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(width, height),
		chromedp.UserDataDir(tb.TempDir()),
	)
	ctx, cancel := chromedp.NewContext(alloc)
	tb.Cleanup(func() { cancel(); cancelAlloc() })
	// Start the browser now, on a context without a deadline.
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// SaveArtifact keeps a screenshot in test/artifacts (ignored by git).
func SaveArtifact(tb testing.TB, name string, png []byte) string {
	tb.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}
