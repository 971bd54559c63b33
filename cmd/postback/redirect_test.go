package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/connectors"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
)

// TestOutboundClientFollowsNoRedirect wires the senders and the Stripe
// enricher the way serve does, against fakes that redirect to a second
// server (307 resends the body, with its tokens): the second server must
// never be asked.
func TestOutboundClientFollowsNoRedirect(t *testing.T) {
	var reached atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()

	cfg := Config{PlatformURLs: map[string]string{}}
	for _, p := range platformURLs {
		cfg.PlatformURLs[p.key] = redirector.URL
	}
	client := newHTTPClient()
	senders := newSenders(cfg, client)
	conv := mapping.Conversion{
		EventID: "o1", EventName: mapping.EventPurchase, EventTime: time.Now().Add(-time.Hour), OrderID: "cs_test_1",
		Value: decimal.RequireFromString("10"), Currency: "USD", User: mapping.User{Email: "a@example.com"},
	}
	creds := map[string]string{
		"pixel_id": "123", "pixel_code": "C1", "access_token": "tok", "ad_account_id": "549755885175",
		"conversion_rule_id": "1", "uet_tag_id": "2", "customer_id": "1234567890", "conversion_action_id": "1",
		"developer_token": "dev", "client_id": "cid", "client_secret": "csecret", "refresh_token": "rt",
	}
	for name, s := range senders {
		res := s.Send(context.Background(), platforms.Destination{ID: 1, ShopID: 1, Platform: name, Credentials: creds, Settings: map[string]string{}}, []mapping.Conversion{conv})
		if len(res) != 1 || res[0].Err == nil {
			t.Errorf("%s: Send = %+v, want a failure", name, res)
		}
	}
	enricher := connectors.NewStripeEnricher(redirector.URL, client)
	if _, err := enricher.Enrich(context.Background(), "rk_test_x", conv); err == nil {
		t.Error("Stripe enricher through a redirect: no error")
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("redirect target got %d requests, want 0", n)
	}
}
