package web_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// uiBrowser drives one Chromium tab for a browser test: each step gets its
// own timeout, and a failure names the step.
type uiBrowser struct {
	t   *testing.T
	ctx context.Context
}

// run performs actions as one named step.
func (b uiBrowser) run(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", name, err)
	}
}

// eval evaluates js (awaiting a promise) to a string.
func (b uiBrowser) eval(js string) string {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %.60s: %v", js, err)
	}
	return v
}

// shot saves a full-page screenshot as testdata/screenshots/name.png when
// POSTBACK_SCREENSHOTS=1.
func (b uiBrowser) shot(name string) {
	b.t.Helper()
	if os.Getenv("POSTBACK_SCREENSHOTS") != "1" {
		return
	}
	sctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join("testdata", "screenshots", name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// login signs in as the test admin and waits for the dashboard.
func (b uiBrowser) login(base string) {
	b.t.Helper()
	b.run("log in", chromedp.Navigate(base+"/admin/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), adminUser),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), adminPassword),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".stats")),
	)
}
