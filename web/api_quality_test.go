package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/web"
)

// TestDestinationQualityFromFakeMeta feeds the quality view from a fake
// Meta Dataset Quality API.
func TestDestinationQualityFromFakeMeta(t *testing.T) {
	t.Parallel()
	answer, err := os.ReadFile(filepath.Join("..", "platforms", "testdata", "meta", "dataset_quality.json"))
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if !strings.HasSuffix(r.URL.Path, "/dataset_quality") || r.URL.Query().Get("dataset_id") != "1234567890" || r.Header.Get("Authorization") != "Bearer EAAB-quality" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"message":"bad request","code":100}}`)
			return
		}
		w.Write(answer)
	}))
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
	type answerJSON struct {
		Estimate struct {
			Quality float64        `json:"quality"`
			Last24h map[string]any `json:"last_24h"`
			Last7d  map[string]any `json:"last_7d"`
			Advice  string         `json:"advice"`
		} `json:"estimate"`
		Platform *struct {
			Score     *float64       `json:"score"`
			CheckedAt string         `json:"checked_at"`
			Details   map[string]any `json:"details"`
		} `json:"platform"`
	}
	var a answerJSON
	path := fmt.Sprintf("/api/v1/destinations/%d/quality", d.ID)
	if code := h.api(t, "GET", path, nil, &a); code != 200 || a.Platform != nil || a.Estimate.Advice == "" || a.Estimate.Last7d == nil {
		t.Fatalf("before Meta answered: %d %+v; want platform null and an estimate", code, a)
	}
	if calls != 0 {
		t.Errorf("GET without refresh asked Meta %d times", calls)
	}
	a = answerJSON{}
	if code := h.api(t, "GET", path+"?refresh=1", nil, &a); code != 200 || a.Platform == nil || a.Platform.Score == nil || *a.Platform.Score != 7.8 ||
		a.Platform.CheckedAt == "" || a.Platform.Details["dedup_key_feedback"] == nil {
		t.Fatalf("refresh: %d %+v", code, a.Platform)
	}
	a = answerJSON{}
	if code := h.api(t, "GET", path, nil, &a); code != 200 || a.Platform == nil || *a.Platform.Score != 7.8 || calls != 1 {
		t.Errorf("kept verdict: %d %+v after %d calls", code, a.Platform, calls)
	}
	// The destination's page shows both, and its button asks Meta again.
	b := h.loggedIn(t)
	p := b.get(t, fmt.Sprintf("/admin/destinations/%d", d.ID))
	mustContain(t, "destination page", p.body, "Postback’s estimate", "7.8", "Event Match Quality", "fbp", "71%", "86%", "Next step:",
		"of browser events deduplicated")
	if p = b.post(t, fmt.Sprintf("/admin/destinations/%d/quality", d.ID), nil); p.code != http.StatusSeeOther || calls != 2 {
		t.Errorf("Ask Meta now: %d to %q after %d calls", p.code, p.location, calls)
	}
	p = b.get(t, "/admin/")
	mustContain(t, "dashboard", p.body, "The platforms’ verdict", "7.8", fmt.Sprintf("/admin/destinations/%d#quality", d.ID))
	if code := h.api(t, "GET", "/api/v1/destinations/999999/quality", nil, nil); code != 404 {
		t.Errorf("unknown destination: %d, want 404", code)
	}
}
