package web_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
	"github.com/postbackhq/postback/web"
)

// TestUnreadableSecretsBreakOnlyTheirRow: a shop and a destination sealed
// with another key still list (with a clear message), beside a healthy
// shop; the destination can be given new credentials, and saving it
// without them keeps what it could not decrypt.
func TestUnreadableSecretsBreakOnlyTheirRow(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "postback.db")
	otherKey := storetest.OpenKey(t, path, storetest.NewKey(t))
	now := time.Now()
	broken, err := otherKey.CreateShop(ctx, store.Shop{Name: "Broken", Source: mapping.SourceShopify, SigningSecret: "shpss_x",
		Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, now)
	if err != nil {
		t.Fatal(err)
	}
	dest, err := otherKey.CreateDestination(ctx, store.Destination{ShopID: broken.ID, Platform: "fake", Enabled: true,
		Credentials: map[string]string{"pixel": "p1", "token": "t1"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	mine := storetest.OpenKey(t, path, storetest.NewKey(t))
	h := newHarness(t, func(c *web.Config) { c.Store = mine })
	h.store = mine
	if code := h.api(t, "POST", "/api/v1/shops", map[string]any{"name": "Fine", "source": "shopify", "signing_secret": "s", "trigger": "paid"}, nil); code != http.StatusCreated {
		t.Fatalf("create shop: %d", code)
	}

	var shops struct {
		Shops []struct {
			Name         string `json:"name"`
			SecretSet    bool   `json:"signing_secret_set"`
			SecretsError string `json:"secrets_error"`
		} `json:"shops"`
	}
	if code := h.api(t, "GET", "/api/v1/shops", nil, &shops); code != http.StatusOK || len(shops.Shops) != 2 {
		t.Fatalf("GET shops: %d %+v, want both shops", code, shops)
	}
	if s := shops.Shops[0]; s.Name != "Broken" || s.SecretSet || !strings.Contains(s.SecretsError, "another key") {
		t.Errorf("broken shop = %+v, want secrets_error naming another key", s)
	}
	if s := shops.Shops[1]; !s.SecretSet || s.SecretsError != "" {
		t.Errorf("healthy shop = %+v", s)
	}

	type destJSON struct {
		Status       string `json:"status"`
		StatusReason string `json:"status_reason"`
		Enabled      bool   `json:"enabled"`
	}
	var list struct {
		Destinations []destJSON `json:"destinations"`
	}
	if code := h.api(t, "GET", fmt.Sprintf("/api/v1/shops/%d/destinations", broken.ID), nil, &list); code != http.StatusOK || len(list.Destinations) != 1 {
		t.Fatalf("GET destinations: %d %+v", code, list)
	}
	if d := list.Destinations[0]; d.Status != "credentials_unreadable" || !strings.Contains(d.StatusReason, "another key") {
		t.Errorf("destination = %+v, want credentials_unreadable", d)
	}
	// Changing it without new credentials is refused and keeps the
	// credentials it could not decrypt.
	dpath := fmt.Sprintf("/api/v1/destinations/%d", dest.ID)
	if code := h.api(t, "PATCH", dpath, map[string]any{"enabled": false}, nil); code != http.StatusConflict {
		t.Fatalf("PATCH enabled: %d, want 409", code)
	}
	if d, err := otherKey.Destination(ctx, dest.ID); err != nil || d.Credentials["token"] != "t1" {
		t.Errorf("credentials under the original key after PATCH = %v, %v; want kept", d.Credentials, err)
	}
	if p := h.loggedIn(t).get(t, "/admin/shops"); p.code != http.StatusOK || !strings.Contains(p.body, "cannot be decrypted") {
		t.Errorf("shops page: %d, want the broken shop marked:\n%s", p.code, p.body)
	}
	var fixed destJSON
	if code := h.api(t, "PATCH", dpath, map[string]any{"credentials": map[string]any{"pixel": "p2", "token": "t2"}}, &fixed); code != http.StatusOK || fixed.Status != "ok" {
		t.Fatalf("PATCH new credentials: %d %+v", code, fixed)
	}
}
