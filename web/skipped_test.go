package web_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/postbackhq/postback/store"
)

// TestSkippedIsItsOwnState: a delivery Postback chose not to send is
// "skipped" in the API, the filter and the event page (grey, with the
// reason, no payload or answer section, no quality), and does not count
// against the platform's success rate.
func TestSkippedIsItsOwnState(t *testing.T) {
	h := newHarness(t)
	b := h.loggedIn(t)
	shop := h.createShop(t, "s3cret")
	var dest struct{ ID int64 }
	if code := h.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID),
		map[string]any{"platform": "fake", "credentials": map[string]any{"pixel": "p1", "token": "t"}}, &dest); code != 201 {
		t.Fatalf("destination: %d", code)
	}
	body := []byte(`{"order":"501","paid":true}`)
	_, out := h.webhook(t, webhookPath(shop), body, map[string]string{"X-Test-Signature": hex.EncodeToString(sign("s3cret", body))})
	ctx := context.Background()
	now := time.Now()
	claimed, err := h.store.Claim(ctx, dest.ID, "w", 10, now, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	if err := h.store.Complete(ctx, "w", []store.Outcome{{DeliveryID: claimed[0].ID, Attempt: 1, CountAttempt: true,
		Status: store.DeliverySkipped, ErrorClass: "invalid", Error: "nothing fake can match on: no email, phone or click id", StartedAt: now}}, now); err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Deliveries []struct{ Status string } `json:"deliveries"`
	}
	if code := h.api(t, "GET", fmt.Sprintf("/api/v1/events/%v", out["event_id"]), nil, &ev); code != 200 || len(ev.Deliveries) != 1 || ev.Deliveries[0].Status != "skipped" {
		t.Fatalf("API event: %d %+v, want one skipped delivery", code, ev)
	}
	var list struct {
		Events []struct{ OrderID string } `json:"events"`
	}
	if code := h.api(t, "GET", "/api/v1/events?delivery_status=skipped", nil, &list); code != 200 || len(list.Events) != 1 {
		t.Errorf("filter skipped: %d %+v", code, list)
	}
	if h.api(t, "GET", "/api/v1/events?delivery_status=failed", nil, &list); len(list.Events) != 0 {
		t.Errorf("filter failed finds the skipped one: %+v", list)
	}
	p := b.get(t, fmt.Sprintf("/admin/events/%v", out["event_id"]))
	mustContain(t, "event page", p.body, `chip-skipped`, "Not sent to fake: nothing fake can match on")
	mustNotContain(t, "event page", p.body, "Payload sent", "’s answer", "chip chip-failed")
	d := b.get(t, "/admin/")
	if !strings.Contains(d.body, "Per platform") || strings.Contains(d.body, `<span class="rate poor">0%</span>`) {
		t.Errorf("dashboard counts the skipped delivery against the success rate: %s", clip(d.body))
	}
}

// TestEventPageRefreshesWhileSending: an event page with a delivery due
// soon asks the browser to reload it (app.js does); once nothing is due it
// does not.
func TestEventPageRefreshesWhileSending(t *testing.T) {
	h := newHarness(t)
	b := h.loggedIn(t)
	shop := h.createShop(t, "s3cret")
	var dest struct{ ID int64 }
	if code := h.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID),
		map[string]any{"platform": "fake", "credentials": map[string]any{"pixel": "p1", "token": "t"}}, &dest); code != 201 {
		t.Fatalf("destination: %d", code)
	}
	body := []byte(`{"order":"777","paid":true}`)
	_, out := h.webhook(t, webhookPath(shop), body, map[string]string{"X-Test-Signature": hex.EncodeToString(sign("s3cret", body))})
	page := fmt.Sprintf("/admin/events/%v", out["event_id"])
	mustContain(t, "queued event", b.get(t, page).body, `id="event-live"`, "refreshes itself")
	ctx, now := context.Background(), time.Now()
	claimed, err := h.store.Claim(ctx, dest.ID, "w", 10, now, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	if err := h.store.Complete(ctx, "w", []store.Outcome{{DeliveryID: claimed[0].ID, Attempt: 1, CountAttempt: true,
		Status: store.DeliveryDelivered, StartedAt: now}}, now); err != nil {
		t.Fatal(err)
	}
	mustNotContain(t, "delivered event", b.get(t, page).body, `id="event-live"`)
}
