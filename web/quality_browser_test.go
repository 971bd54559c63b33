package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/web"
)

// TestBrowserQualityView opens a Meta destination's page in Chromium after
// a fake Dataset Quality API answered, and checks that Meta's score sits
// beside ours (POSTBACK_SCREENSHOTS=1 saves testdata/screenshots/quality.png).
func TestBrowserQualityView(t *testing.T) {
	ctx := chromium(t)
	answer, err := os.ReadFile(filepath.Join("..", "platforms", "testdata", "meta", "dataset_quality.json"))
	if err != nil {
		t.Fatal(err)
	}
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(answer) }))
	t.Cleanup(meta.Close)
	h := newHarness(t, func(c *web.Config) {
		c.Senders["meta"] = platforms.NewMeta(platforms.Config{BaseURL: meta.URL, Client: &http.Client{Timeout: 5 * time.Second}})
	})
	sh := collectShop(t, h)
	d, err := h.store.CreateDestination(context.Background(), store.Destination{ShopID: sh.ID, Platform: "meta", Enabled: true,
		Credentials: map[string]string{"pixel_id": "1234567890", "access_token": "EAAB-quality"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.CreateUser(context.Background(), adminUser, adminPassword, time.Now()); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = chromedp.Do(sctx,
		chromedp.Navigate(h.srv.URL+"/admin/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), adminUser),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), adminPassword),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".stats")),
		chromedp.Navigate(fmt.Sprintf("%s/admin/destinations/%d", h.srv.URL, d.ID)),
		chromedp.WaitVisible(chromedp.CSS("#quality")),
		chromedp.Click(chromedp.CSS(`#quality form button`)),
		chromedp.WaitVisible(chromedp.CSS(`#verdict-keys`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS("#quality")))
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "quality section", text, "Postback’s estimate", "7.8", "Event Match Quality", "fbc", "38%", "Next step:")
	if os.Getenv("POSTBACK_SCREENSHOTS") == "1" {
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join("testdata", "screenshots"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", "screenshots", "quality.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
