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

	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/web"
)

// verdictJSON is the quality answer's platform part.
type verdictJSON struct {
	Estimate map[string]any `json:"estimate"`
	Platform *struct {
		Score     *float64       `json:"score"`
		CheckedAt string         `json:"checked_at"`
		Details   map[string]any `json:"details"`
	} `json:"platform"`
}

// TestDestinationQualityFromGoogleRequestStatus: for Google, whose API
// has no quality score, the verdict is what Data Manager reported on the
// requests it processed (requestStatus, recorded by the worker): requests
// per state, events accepted and failed, error reasons with counts.
func TestDestinationQualityFromGoogleRequestStatus(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *web.Config) {
		c.Senders["google_ads"] = platforms.NewGoogleDataManager(platforms.Config{BaseURL: "http://127.0.0.1:1"}, "http://127.0.0.1:1")
	})
	ctx := context.Background()
	sh := collectShop(t, h)
	d, err := h.store.CreateDestination(ctx, store.Destination{ShopID: sh.ID, Platform: "google_ads", Enabled: true,
		Credentials: map[string]string{"customer_id": "1234567890", "conversion_action_id": "42"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v1/destinations/%d/quality", d.ID)
	var a verdictJSON
	if code := h.api(t, "GET", path, nil, &a); code != 200 || a.Platform != nil || a.Estimate == nil {
		t.Fatalf("before any request status: %d %+v; want platform null beside the estimate", code, a)
	}

	now := time.Now().UTC()
	var items []store.Incoming
	for i := range 4 {
		order := fmt.Sprint(6100 + i)
		items = append(items, store.Incoming{ShopID: sh.ID, Source: mapping.SourceShopify, Topic: "orders/paid", ReceivedAt: now, Body: []byte(`{}`),
			Webhook: mapping.Webhook{Source: mapping.SourceShopify, Topic: "orders/paid", OrderID: order, DeliveryID: "g" + order,
				Outcome: mapping.OutcomeConversion, Conversion: &mapping.Conversion{EventID: order, EventName: mapping.EventPurchase,
					EventTime: now, OrderID: order, Value: decimal.RequireFromString("10"), Currency: "USD",
					ClickIDs: mapping.ClickIDs{GCLID: "Cj0-" + order}}}})
	}
	if _, err := h.store.CommitBatch(ctx, items, allRouting{}); err != nil {
		t.Fatal(err)
	}
	claimed, err := h.store.Claim(ctx, d.ID, "w", 10, now.Add(time.Second), time.Minute)
	if err != nil || len(claimed) != 4 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	// Two events in request req-1, one each in req-2 and req-3.
	reqOf := []string{"req-1", "req-1", "req-2", "req-3"}
	var outs []store.Outcome
	ids := map[string][]int64{}
	for i, c := range claimed {
		outs = append(outs, store.Outcome{DeliveryID: c.ID, Attempt: 1, Status: store.DeliveryDelivered, CountAttempt: true,
			StatusCode: 200, StartedAt: now, PlatformRequestID: reqOf[i], PlatformCheckAt: now.Add(time.Minute)})
		ids[reqOf[i]] = append(ids[reqOf[i]], c.ID)
	}
	if err := h.store.Complete(ctx, "w", outs, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// What the status poller records from Data Manager's answers.
	for req, st := range map[string][2]string{
		"req-1": {platforms.StatusPartial, "2 events; errors: INVALID_GCLID ×1"},
		"req-2": {platforms.StatusRejected, "1 events; errors: CONVERSION_ACTION_NOT_ENABLED ×1"},
	} {
		if err := h.store.RecordPlatformStatus(ctx, ids[req], st[0], st[1], time.Time{}, now.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}

	a = verdictJSON{}
	if code := h.api(t, "GET", path, nil, &a); code != 200 || a.Platform == nil {
		t.Fatalf("after request status: %d %+v", code, a)
	}
	p := a.Platform
	requests, _ := p.Details["requests"].(map[string]any)
	events, _ := p.Details["events"].(map[string]any)
	reasons, _ := p.Details["error_reasons"].(map[string]any)
	switch {
	case p.Score != nil:
		t.Errorf("score = %v; Google gives none", *p.Score)
	case p.CheckedAt == "":
		t.Error("no checked_at")
	case requests["partial"] != 1.0 || requests["rejected"] != 1.0 || requests["processing"] != 1.0:
		t.Errorf("requests = %v; want one partial, one rejected, one processing", requests)
	case events["accepted"] != 1.0 || events["failed"] != 2.0 || events["processing"] != 1.0:
		t.Errorf("events = %v; want 1 accepted, 2 failed, 1 processing", events)
	case reasons["INVALID_GCLID"] != 1.0 || reasons["CONVERSION_ACTION_NOT_ENABLED"] != 1.0:
		t.Errorf("error reasons = %v", reasons)
	}
	b := h.loggedIn(t)
	page := b.get(t, fmt.Sprintf("/admin/destinations/%d", d.ID))
	mustContain(t, "Google destination page", page.body, "Postback’s estimate", `id="verdict-requests"`, "partial", "rejected",
		"1 accepted, 2 failed, 1 still processing", "INVALID_GCLID", "CONVERSION_ACTION_NOT_ENABLED")
}

// TestDestinationQualityFromFakePinterest feeds the quality view from a
// fake Pinterest Event Quality Score endpoint: the verdict is Pinterest's
// status and its per-component coverage; no number is made up.
func TestDestinationQualityFromFakePinterest(t *testing.T) {
	t.Parallel()
	answer, err := os.ReadFile(filepath.Join("..", "platforms", "testdata", "pinterest", "conversion_eqs.json"))
	if err != nil {
		t.Fatal(err)
	}
	refuse := false
	calls := 0
	pin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.URL.Path != "/v5/ad_accounts/549755885175/conversion_eqs" || r.Header.Get("Authorization") != "Bearer pina-quality" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"code":1,"message":"bad request"}`)
			return
		}
		if refuse {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"code":29,"message":"You are not permitted to access that resource."}`)
			return
		}
		w.Write(answer)
	}))
	t.Cleanup(pin.Close)
	h := newHarness(t, func(c *web.Config) {
		c.Senders["pinterest"] = platforms.NewPinterest(platforms.Config{BaseURL: pin.URL, Client: &http.Client{Timeout: 5 * time.Second}})
	})
	sh := collectShop(t, h)
	d, err := h.store.CreateDestination(context.Background(), store.Destination{ShopID: sh.ID, Platform: "pinterest", Enabled: true,
		Credentials: map[string]string{"ad_account_id": "549755885175", "access_token": "pina-quality"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v1/destinations/%d/quality", d.ID)
	var a verdictJSON
	if code := h.api(t, "GET", path, nil, &a); code != 200 || a.Platform != nil || calls != 0 {
		t.Fatalf("before Pinterest answered: %d %+v after %d calls", code, a.Platform, calls)
	}
	a = verdictJSON{}
	if code := h.api(t, "GET", path+"?refresh=1", nil, &a); code != 200 || a.Platform == nil || a.Platform.Score != nil ||
		a.Platform.Details["overall_status"] != "NEEDS_IMPROVEMENT" || a.Platform.Details["ingestion_source"] != "CONVERSIONS_API" || a.Platform.CheckedAt == "" {
		t.Fatalf("refresh: %d %+v", code, a.Platform)
	}
	page := h.loggedIn(t).get(t, fmt.Sprintf("/admin/destinations/%d", d.ID))
	mustContain(t, "Pinterest destination page", page.body, `id="verdict-status"`, "NEEDS_IMPROVEMENT", `id="verdict-components"`,
		"click_id_epik", "8%", "external_event_id", "overlap 31%", "Ask Pinterest now")
	mustNotContain(t, "Pinterest destination page", page.body, "pina-quality")
	dash := h.loggedIn(t).get(t, "/admin/")
	mustContain(t, "dashboard", dash.body, "The platforms’ verdict", "NEEDS_IMPROVEMENT")

	refuse = true
	var e map[string]any
	if code := h.api(t, "GET", path+"?refresh=1", nil, &e); code != http.StatusBadGateway || !strings.Contains(fmt.Sprint(e["error"]), "not permitted") {
		t.Errorf("refused token: %d %v; want 502 with Pinterest's message", code, e)
	}
	// The last verdict stays.
	a = verdictJSON{}
	if code := h.api(t, "GET", path, nil, &a); code != 200 || a.Platform == nil || a.Platform.Details["overall_status"] != "NEEDS_IMPROVEMENT" {
		t.Errorf("kept verdict after a refusal: %d %+v", code, a.Platform)
	}
}
