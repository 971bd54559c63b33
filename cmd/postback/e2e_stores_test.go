package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v79/webhook"
)

// storeShop creates a shop of the given store with a Meta destination.
func storeShop(t *testing.T, in *instance, source, secret string) string {
	t.Helper()
	var shop struct {
		ID         int64  `json:"id"`
		WebhookURL string `json:"webhook_url"`
	}
	if code := in.api(t, "POST", "/api/v1/shops", map[string]any{"name": source, "source": source, "signing_secret": secret, "trigger": "paid"}, &shop); code != 201 {
		t.Fatalf("create %s shop: %d", source, code)
	}
	if code := in.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID), map[string]any{
		"platform": "meta", "credentials": map[string]any{"pixel_id": pixelID, "access_token": metaToken}}, nil); code != 201 {
		t.Fatalf("create destination: %d", code)
	}
	return shop.WebhookURL[strings.Index(shop.WebhookURL, "/webhooks/"):]
}

func rawPost(t *testing.T, url string, body []byte, headers map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = decodeJSON(resp, &out)
	return resp.StatusCode, out
}

func storeFixture(t *testing.T, store, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "connectors", "testdata", store, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	wooDate     = regexp.MustCompile(`"(date_[a-z_]+)":"20\d\d-\d\d-\d\dT`)
	stripeStamp = regexp.MustCompile(`"created": \d+`)
)

// TestWooCommerceAndStripeEndToEnd sends each store's paid order through
// the real service to a fake Meta, and checks the answers the stores rely
// on: WooCommerce's unsigned ping, and a stale Stripe signature.
func TestWooCommerceAndStripeEndToEnd(t *testing.T) {
	meta := newFakeMeta(t)
	in := start(t, map[string]string{"POSTBACK_DATABASE_URL": filepath.Join(t.TempDir(), "p.db"), "POSTBACK_META_URL": meta.srv.URL})
	defer in.stop(t)

	const wooSecret = "wc-s3cret&amp;value"
	wooPath := storeShop(t, in, "woocommerce", wooSecret)
	if code, out := rawPost(t, in.url+wooPath, []byte("webhook_id=7"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); code != 200 {
		t.Errorf("WooCommerce ping: %d %v, want 200", code, out)
	}
	day := time.Now().UTC().Add(-24 * time.Hour).Format("2006-01-02")
	woo := wooDate.ReplaceAll(storeFixture(t, "woocommerce", "order_updated_processing.json"), []byte(`"$1":"`+day+`T`))
	// WooCommerce keys the HMAC with the secret's HTML entities decoded.
	m := hmac.New(sha256.New, []byte(strings.ReplaceAll(wooSecret, "&amp;", "&")))
	m.Write(woo)
	code, out := rawPost(t, in.url+wooPath, woo, map[string]string{
		"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Delivery-ID": "d-1",
		"X-WC-Webhook-Signature": base64.StdEncoding.EncodeToString(m.Sum(nil)),
	})
	if code != 200 || out["status"] != "accepted" {
		t.Fatalf("WooCommerce order: %d %v", code, out)
	}
	waitDelivery(t, in, out["event_id"], "delivered")

	const stripeSecret = "whsec_e2e_secret"
	stripePath := storeShop(t, in, "stripe", stripeSecret)
	now := time.Now()
	session := stripeStamp.ReplaceAll(storeFixture(t, "stripe", "checkout_session_completed.json"), []byte(`"created": `+strconv.FormatInt(now.Unix()-60, 10)))
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: session, Secret: stripeSecret, Timestamp: now})
	code, out = rawPost(t, in.url+stripePath, session, map[string]string{"Content-Type": "application/json", "Stripe-Signature": signed.Header})
	if code != 200 || out["status"] != "accepted" {
		t.Fatalf("Stripe session: %d %v", code, out)
	}
	waitDelivery(t, in, out["event_id"], "delivered")
	stale := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: session, Secret: stripeSecret, Timestamp: now.Add(-time.Hour)})
	if code, _ := rawPost(t, in.url+stripePath, session, map[string]string{"Stripe-Signature": stale.Header}); code != 401 {
		t.Errorf("stale Stripe signature: %d, want 401", code)
	}

	// Only the two orders reached Meta; the ping stored nothing.
	if n := len(meta.received()); n != 2 {
		t.Errorf("Meta received %d events, want 2", n)
	}
	var list struct {
		Events []struct{ Source string } `json:"events"`
	}
	in.api(t, "GET", "/api/v1/events", nil, &list)
	if len(list.Events) != 2 {
		t.Errorf("stored %d events, want 2 (the ping and the stale delivery store nothing): %+v", len(list.Events), list.Events)
	}
}
