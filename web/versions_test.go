package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/web"
)

// TestVersionWarnings pins a Meta destination to a Marketing API version
// past its end and checks the warning on the destination (API and page), the
// shop page, the dashboard and /metrics, while a destination on the default
// version shows none.
func TestVersionWarnings(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(cfg *web.Config) {
		senders := map[string]platforms.Sender{}
		for k, v := range cfg.Senders {
			senders[k] = v
		}
		senders["meta"] = platforms.NewMeta(platforms.Config{BaseURL: "https://graph.invalid"})
		cfg.Senders = senders
		reg := prometheus.NewRegistry()
		reg.MustRegister(web.NewVersionCollector(cfg.Store, cfg.Now))
		cfg.Gatherer = reg
	})
	shop := h.createShop(t, "s3cret")
	create := func(settings map[string]any) int64 {
		var d struct{ ID int64 }
		if code := h.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID), map[string]any{
			"platform": "meta", "credentials": map[string]any{"pixel_id": "1234567890", "access_token": "EAAB-secret"},
			"settings": settings,
		}, &d); code != http.StatusCreated {
			t.Fatalf("create meta destination: %d", code)
		}
		return d.ID
	}
	old := create(map[string]any{"api_version": "v22.0"})
	current := create(nil)

	var got struct {
		Warnings   []string `json:"warnings"`
		APIVersion struct {
			Version  string  `json:"version"`
			Pinned   bool    `json:"pinned"`
			EndsOn   *string `json:"ends_on"`
			DaysLeft *int    `json:"days_left"`
		} `json:"api_version"`
	}
	h.api(t, "GET", fmt.Sprintf("/api/v1/destinations/%d", old), nil, &got)
	if len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "v22.0 stopped working on 2026-02-19") ||
		got.APIVersion.Version != "v22.0" || !got.APIVersion.Pinned || got.APIVersion.EndsOn == nil || *got.APIVersion.EndsOn != "2026-02-19" ||
		got.APIVersion.DaysLeft == nil || *got.APIVersion.DaysLeft >= 0 {
		t.Errorf("pinned v22.0: warnings %q, api_version %+v", got.Warnings, got.APIVersion)
	}
	got.Warnings = nil
	h.api(t, "GET", fmt.Sprintf("/api/v1/destinations/%d", current), nil, &got)
	if len(got.Warnings) != 0 || got.APIVersion.Version != platforms.DefaultVersion("meta") || got.APIVersion.Pinned {
		t.Errorf("default version: warnings %q, api_version %+v", got.Warnings, got.APIVersion)
	}

	b := h.loggedIn(t)
	p := b.get(t, fmt.Sprintf("/admin/destinations/%d", old))
	mustContain(t, "destination page", p.body, `data-warning="api-version"`, "v22.0 stopped working on 2026-02-19", "clear the api_version setting")
	p = b.get(t, fmt.Sprintf("/admin/destinations/%d", current))
	mustNotContain(t, "current destination page", p.body, `data-warning="api-version"`)
	p = b.get(t, fmt.Sprintf("/admin/shops/%d", shop.ID))
	mustContain(t, "shop page", p.body, "API version ending")
	p = b.get(t, "/admin/")
	mustContain(t, "dashboard", p.body, "API versions to change", fmt.Sprintf(`href="/admin/destinations/%d"`, old), "v22.0 stopped working")

	metrics := h.rawGet(t, "/metrics")
	mustContain(t, "/metrics", metrics,
		fmt.Sprintf(`postback_destination_api_version_days_left{destination_id="%d",platform="meta",version="v22.0"} -`, old))
	mustNotContain(t, "/metrics", metrics, fmt.Sprintf(`destination_id="%d"`, current))

	// Meta refusing the version parks the destination; changing the
	// version (not the credentials) releases it.
	if err := h.store.ParkDestination(context.Background(), old, "Meta no longer serves API version v22.0", time.Now()); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Status   string   `json:"status"`
		Warnings []string `json:"warnings"`
	}
	h.api(t, "GET", fmt.Sprintf("/api/v1/destinations/%d", old), nil, &st)
	if st.Status != "needs_credentials" {
		t.Fatalf("parked destination status %q", st.Status)
	}
	if code := h.api(t, "PATCH", fmt.Sprintf("/api/v1/destinations/%d", old), map[string]any{"settings": map[string]any{"api_version": ""}}, &st); code != http.StatusOK {
		t.Fatalf("PATCH api_version: %d", code)
	}
	if st.Status != "ok" || len(st.Warnings) != 0 {
		t.Errorf("after clearing api_version: status %q warnings %q, want ok and none", st.Status, st.Warnings)
	}
}
