package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestShopifyJourneyFillsMissingClickID: a Shopify order whose webhook has
// no landing URL and no cookies reaches Meta with the fbclid Shopify saw in
// the customer journey, read through the shop's Admin API token.
func TestShopifyJourneyFillsMissingClickID(t *testing.T) {
	var mu sync.Mutex
	lookups := 0
	gql := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Query     string         `json:"query"`
			Variables map[string]any `json:"variables"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		if r.Header.Get("X-Shopify-Access-Token") != "shpat_e2e" || req.Variables["id"] != "gid://shopify/Order/6318840291389" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		lookups++
		mu.Unlock()
		fmt.Fprint(w, `{"data":{"order":{"customerJourneySummary":{"firstVisit":null,
			"lastVisit":{"landingPage":"https://acme.myshopify.com/products/x?fbclid=IwJourneyFbclid","referrerUrl":"https://facebook.com/"}}}}}`)
	}))
	defer gql.Close()
	meta := newFakeMeta(t)
	in := start(t, map[string]string{"POSTBACK_DATABASE_URL": filepath.Join(t.TempDir(), "p.db"), "POSTBACK_META_URL": meta.srv.URL,
		"POSTBACK_RECONCILE_INTERVAL": "0"})
	defer in.stop(t)
	path := setup(t, in, meta)
	var shops struct {
		Shops []struct{ ID int64 } `json:"shops"`
	}
	in.api(t, "GET", "/api/v1/shops", nil, &shops)
	if code := in.api(t, "PATCH", fmt.Sprintf("/api/v1/shops/%d", shops.Shops[0].ID), map[string]any{
		"settings": map[string]any{"store_url": gql.URL}, "credentials": map[string]any{"admin_api_token": "shpat_e2e"}}, nil); code != 200 {
		t.Fatalf("connect store API: %d", code)
	}
	var order map[string]any
	if err := json.Unmarshal(fixture(t, "orders_paid.json"), &order); err != nil {
		t.Fatal(err)
	}
	order["landing_site"], order["note_attributes"] = nil, []any{}
	body, _ := json.Marshal(order)
	code, out := post(t, in, path, "orders/paid", "evt-journey", body, shopSecret)
	if code != 200 || out["status"] != "accepted" {
		t.Fatalf("orders/paid: %d %v", code, out)
	}
	waitDelivery(t, in, out["event_id"], "delivered")
	meta.mu.Lock()
	sent := string(meta.bodies[0])
	meta.mu.Unlock()
	if !strings.Contains(sent, "IwJourneyFbclid") {
		t.Errorf("Meta payload lacks the journey's fbclid: %s", sent)
	}
	if lookups == 0 {
		t.Error("the customer journey was never read")
	}
}
