package web_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/web"
)

// TestHealthAtAGlance: a destination whose credentials were refused and a
// webhook with a wrong signature lead the dashboard as problems with their
// counts and fixes, mark the shop on the shops list, and show on the
// shop's page with the last webhook received.
func TestHealthAtAGlance(t *testing.T) {
	var rej *store.Rejections
	h := newHarness(t, func(c *web.Config) {
		rej = c.Store.NewRejections(nil)
		c.Rejections = rej
	})
	b := h.loggedIn(t)
	shop := h.createShop(t, "s3cret")

	p := b.get(t, "/admin/")
	mustContain(t, "dashboard before anything", p.body, "Tracking is healthy")

	var dest struct{ ID int64 }
	if code := h.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID),
		map[string]any{"platform": "fake", "credentials": map[string]any{"pixel": "p1", "token": "t"}}, &dest); code != 201 {
		t.Fatalf("destination: %d", code)
	}
	for i := range 3 {
		body := []byte(fmt.Sprintf(`{"order":"%d","paid":true}`, 100+i))
		if code, out := h.webhook(t, webhookPath(shop), body, map[string]string{"X-Test-Signature": hex.EncodeToString(sign("s3cret", body))}); code != 200 {
			t.Fatalf("webhook: %d %v", code, out)
		}
	}
	body := []byte(`{"order":"999","paid":true}`)
	for range 2 {
		if code, _ := h.webhook(t, webhookPath(shop), body, map[string]string{"X-Test-Signature": hex.EncodeToString(sign("wrong", body))}); code != 401 {
			t.Fatalf("bad signature: %d, want 401", code)
		}
	}
	rej.Flush(context.Background())
	// The refusal as the worker records it (platforms.Error's text).
	refusal := platforms.Auth(401, "190", "fake: Invalid OAuth access token").Error()
	if err := h.store.ParkDestination(context.Background(), dest.ID, refusal, time.Now()); err != nil {
		t.Fatal(err)
	}

	p = b.get(t, "/admin/")
	mustContain(t, "dashboard", p.body,
		"2 problems need you",
		"fake for Acme needs new credentials — 3 orders waiting, the oldest leaves fake&#39;s window in 6 days.",
		// One headline, the platform's own words folded under it, once.
		`<span class="muted small problem-detail">fake refused the access token.</span>`,
		"code 190 · HTTP 401 · Invalid OAuth access token",
		fmt.Sprintf(`href="/admin/destinations/%d">Update the credentials`, dest.ID),
		"2 webhooks for Acme were refused in the last hour: a signature that does not match the secret.",
		"Check the secret",
		"Shops × platforms", "3 need credentials", "cell-bad",
	)
	mustNotContain(t, "dashboard", p.body, "Tracking is healthy", "credentials rejected", "fake: Invalid")
	// Parked deliveries count as failing now.
	mustContain(t, "failing now", p.body, `<span class="stat-value">3</span>`)

	p = b.get(t, "/admin/shops")
	mustContain(t, "shops list", p.body, "needs attention", "fake for Acme needs new credentials")

	p = b.get(t, fmt.Sprintf("/admin/shops/%d", shop.ID))
	mustContain(t, "shop page", p.body, "Last received", "orders/paid", "Refused (7 days)", "<strong>2</strong> with a signature that does not match the secret",
		"needs new credentials")
	mustNotContain(t, "shop page on a public https URL", p.body, "cannot reach", "plain http")
}

// TestHealthQuietShop: a shop that sent about six webhooks a day and none
// for two days is a problem on the dashboard.
func TestHealthQuietShop(t *testing.T) {
	h := newHarness(t)
	b := h.loggedIn(t)
	ctx := context.Background()
	now := time.Now().UTC()
	sh, err := h.store.CreateShop(ctx, store.Shop{Name: "Birch & Bloom", Source: "shopify", SigningSecret: "x",
		Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, now.Add(-30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var items []store.Incoming
	for i := range 40 {
		at := now.Add(-7*24*time.Hour + time.Duration(i)*3*time.Hour) // every 3 h, the last 2 days ago
		// Distinct bodies: the same signed body again is a replay, counted
		// on its first event rather than stored.
		items = append(items, store.Incoming{ShopID: sh.ID, Source: "shopify", Topic: "orders/paid", ReceivedAt: at, Body: []byte(fmt.Sprintf(`{"n":%d}`, i)),
			Webhook: mapping.Webhook{Source: "shopify", Topic: "orders/paid", DeliveryID: fmt.Sprint("d", i), Outcome: mapping.OutcomeIgnored, Reason: "test"}})
	}
	if _, err := h.store.CommitBatch(ctx, items, nil); err != nil {
		t.Fatal(err)
	}
	p := b.get(t, "/admin/")
	mustContain(t, "dashboard", p.body, "No webhook from Birch &amp; Bloom for 2 days; it usually sends 6 a day.")
}
