package web_test

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestUIShowsReplaysAndSecretExpiry: the event page shows how often a
// webhook was repeated, the shop page until when the previous secret is
// accepted.
func TestUIShowsReplaysAndSecretExpiry(t *testing.T) {
	h := newHarness(t)
	shop := h.createShop(t, "s3cret")
	id := h.paidEvent(t, shop, "77")
	for i := range 3 {
		body := []byte(`{"order":"77","paid":true}`)
		code, _ := h.webhook(t, webhookPath(shop), body, map[string]string{
			"X-Test-Signature": hex.EncodeToString(sign("s3cret", body)), "X-Delivery": fmt.Sprintf("r%d", i)})
		if code != http.StatusOK {
			t.Fatalf("replay: %d", code)
		}
	}
	b := h.loggedIn(t)
	if p := b.get(t, fmt.Sprintf("/admin/events/%d", id)); p.code != 200 || !strings.Contains(p.body, "again 3 more times") {
		t.Errorf("event page: %d, want the 3 repeats shown:\n%s", p.code, p.body)
	}
	if code := h.api(t, "PATCH", fmt.Sprintf("/api/v1/shops/%d", shop.ID), map[string]any{"signing_secret": "new"}, nil); code != 200 {
		t.Fatalf("patch: %d", code)
	}
	if p := b.get(t, fmt.Sprintf("/admin/shops/%d", shop.ID)); p.code != 200 || !strings.Contains(p.body, "previous secret still accepted until") {
		t.Errorf("shop page: %d, want the previous secret's expiry:\n%s", p.code, p.body)
	}
}
