package web_test

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/postbackhq/postback/web"
)

// testClock is a settable clock for web.Config.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type rotationShop struct {
	PreviousSet     bool    `json:"previous_signing_secret_set"`
	PreviousExpires *string `json:"previous_signing_secret_expires_at"`
	SecretSet       bool    `json:"signing_secret_set"`
}

// TestPreviousSecretExpires: a rotated-out signing secret is accepted for
// the overlap the rotation asked for (24 hours by default), its expiry is
// shown, and after it the old secret is refused with 401.
func TestPreviousSecretExpires(t *testing.T) {
	start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		patch   map[string]any
		overlap time.Duration
	}{
		{"default 24h", map[string]any{"signing_secret": "new-secret"}, 24 * time.Hour},
		{"asked 2h", map[string]any{"signing_secret": "new-secret", "previous_signing_secret_ttl": "2h"}, 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &testClock{t: start}
			h := newHarness(t, func(c *web.Config) { c.Now = clock.Now })
			shop := h.createShop(t, "old-secret")
			path := fmt.Sprintf("/api/v1/shops/%d", shop.ID)
			if code := h.api(t, "PATCH", path, tt.patch, nil); code != http.StatusOK {
				t.Fatalf("patch: %d", code)
			}
			var got rotationShop
			h.api(t, "GET", path, nil, &got)
			want := start.Add(tt.overlap).Format(time.RFC3339)
			if !got.PreviousSet || got.PreviousExpires == nil || *got.PreviousExpires != want {
				t.Errorf("GET shop = %+v (expires %v), want the previous secret set until %s", got, deref(got.PreviousExpires), want)
			}
			send := func(order int, secret string) int {
				body := []byte(fmt.Sprintf(`{"order":"%d","paid":true}`, order))
				code, _ := h.webhook(t, webhookPath(shop), body, map[string]string{"X-Test-Signature": hex.EncodeToString(sign(secret, body))})
				return code
			}
			clock.Add(tt.overlap - time.Minute)
			if code := send(1, "old-secret"); code != http.StatusOK {
				t.Errorf("old secret a minute before the overlap ends: %d, want 200", code)
			}
			clock.Add(2 * time.Minute)
			if code := send(2, "old-secret"); code != http.StatusUnauthorized {
				t.Errorf("old secret after the overlap: %d, want 401", code)
			}
			if code := send(3, "new-secret"); code != http.StatusOK {
				t.Errorf("new secret: %d, want 200", code)
			}
			h.api(t, "GET", path, nil, &got)
			if got.PreviousSet || got.PreviousExpires != nil {
				t.Errorf("GET shop after expiry = %+v, want no previous secret shown", got)
			}
		})
	}
}

// TestEmptySecretCarriesNothingOver: clearing the signing secret must not
// keep the old one as the previous secret.
func TestEmptySecretCarriesNothingOver(t *testing.T) {
	h := newHarness(t)
	shop := h.createShop(t, "old-secret")
	path := fmt.Sprintf("/api/v1/shops/%d", shop.ID)
	if code := h.api(t, "PATCH", path, map[string]any{"signing_secret": ""}, nil); code != http.StatusOK {
		t.Fatalf("patch: %d", code)
	}
	var got rotationShop
	h.api(t, "GET", path, nil, &got)
	if got.SecretSet || got.PreviousSet {
		t.Errorf("after clearing the secret: %+v, want neither secret set", got)
	}
	body := []byte(`{"order":"1","paid":true}`)
	if code, _ := h.webhook(t, webhookPath(shop), body, map[string]string{"X-Test-Signature": hex.EncodeToString(sign("old-secret", body))}); code != http.StatusUnauthorized {
		t.Errorf("old secret after clearing: %d, want 401", code)
	}
}

// TestPreviousSecretTTLValidated: a bad overlap is refused and changes
// nothing.
func TestPreviousSecretTTLValidated(t *testing.T) {
	h := newHarness(t)
	shop := h.createShop(t, "old-secret")
	path := fmt.Sprintf("/api/v1/shops/%d", shop.ID)
	for _, ttl := range []string{"-1h", "169h", "soon"} {
		if code := h.api(t, "PATCH", path, map[string]any{"signing_secret": "new", "previous_signing_secret_ttl": ttl}, nil); code != http.StatusUnprocessableEntity {
			t.Errorf("ttl %q: %d, want 422", ttl, code)
		}
	}
	var got rotationShop
	h.api(t, "GET", path, nil, &got)
	if got.PreviousSet {
		t.Errorf("after refused patches: %+v, want no previous secret", got)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
