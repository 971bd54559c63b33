package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v79/webhook"
)

// recorder is a fake platform that records every request body and answers
// with what its sender expects to hear on success.
type recorder struct {
	mu     sync.Mutex
	bodies []string
	answer func(r *http.Request, body []byte) string
}

func newRecorder(t *testing.T, answer func(r *http.Request, body []byte) string) (*recorder, string) {
	rec := &recorder{answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.bodies = append(rec.bodies, r.URL.Path+" "+string(body))
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, rec.answer(r, body))
	}))
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

// saw waits until some request body holds every want.
func (rec *recorder) saw(t *testing.T, what string, wants ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		rec.mu.Lock()
		for _, b := range rec.bodies {
			ok := true
			for _, w := range wants {
				ok = ok && strings.Contains(b, w)
			}
			if ok {
				rec.mu.Unlock()
				return
			}
		}
		rec.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	t.Errorf("%s never received %q; got:\n%s", what, wants, strings.Join(rec.bodies, "\n"))
}

// bareShopifyOrder is the paid-order fixture stripped of every browser
// trace the store kept (landing site, note attributes, IP, user agent), as
// orders arrive on today's Shopify, with its own id and checkout token.
func bareShopifyOrder(t *testing.T, id int64, token string) []byte {
	t.Helper()
	var o map[string]any
	if err := json.Unmarshal(fixture(t, "orders_paid.json"), &o); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"landing_site", "note_attributes", "browser_ip", "client_details", "referring_site"} {
		delete(o, k)
	}
	o["id"], o["checkout_token"], o["name"] = id, token, fmt.Sprintf("#%d", id)
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sendBeacon(t *testing.T, in *instance, publicID, body string) {
	t.Helper()
	req, _ := http.NewRequest("POST", in.url+"/collect/"+publicID, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("User-Agent", browserUA)
	req.Header.Set("X-Forwarded-For", buyerIP)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("beacon: %d, want 204", resp.StatusCode)
	}
}

const (
	browserUA = "Mozilla/5.0 (X11; Linux x86_64) e2e-browser/1.0"
	buyerIP   = "198.51.100.23"
)

func metaEventFor(t *testing.T, meta *fakeMeta, orderID string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, ev := range meta.received() {
			if cd, _ := ev["custom_data"].(map[string]any); cd["order_id"] == orderID {
				return ev
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("Meta never received order %s", orderID)
	return nil
}

// TestBeaconJoinEndToEnd: the browser's beacon reaches every platform
// through the real service. A beacon then a Shopify order with that
// checkout token gives Meta fbp, fbc with the click time, the browser's
// user agent and IP, TikTok the ttclid and Google the gclid; an order
// before its beacon (inside the hold) is joined too; after the hold the
// order goes without; a Stripe session with a beacon goes to Meta as a
// website event.
func TestBeaconJoinEndToEnd(t *testing.T) {
	meta := newFakeMeta(t)
	tiktok, tiktokURL := newRecorder(t, func(*http.Request, []byte) string {
		return `{"code":0,"message":"OK","request_id":"e2e","data":{}}`
	})
	google, googleURL := newRecorder(t, func(r *http.Request, body []byte) string {
		if strings.HasSuffix(r.URL.Path, "/token") {
			return `{"access_token":"ya29.e2e","expires_in":3600,"token_type":"Bearer"}`
		}
		return `{"results":[{"gclid":"x","conversionAction":"customers/1234567890/conversionActions/42"}],"requestId":"e2e"}`
	})
	const hold = 3 * time.Second
	in := start(t, map[string]string{
		"POSTBACK_DATABASE_URL": filepath.Join(t.TempDir(), "p.db"), "POSTBACK_META_URL": meta.srv.URL,
		"POSTBACK_TIKTOK_URL": tiktokURL, "POSTBACK_GOOGLE_ADS_URL": googleURL, "POSTBACK_GOOGLE_OAUTH_URL": googleURL,
		"POSTBACK_GOOGLE_DATA_MANAGER_URL": googleURL,
		"POSTBACK_TRUSTED_PROXIES":         "127.0.0.1", "POSTBACK_BEACON_HOLD": hold.String(),
	})
	defer in.stop(t)

	var shop struct {
		ID         int64  `json:"id"`
		WebhookURL string `json:"webhook_url"`
		PublicID   string `json:"public_id"`
		ScriptTag  string `json:"script_tag"`
	}
	if code := in.api(t, "POST", "/api/v1/shops", map[string]any{"name": "Acme", "source": "shopify", "signing_secret": shopSecret, "trigger": "paid"}, &shop); code != 201 {
		t.Fatalf("create shop: %d", code)
	}
	if len(shop.PublicID) < 16 || strings.Contains(shop.WebhookURL, shop.PublicID) || !strings.Contains(shop.ScriptTag, `data-shop="`+shop.PublicID+`"`) {
		t.Fatalf("shop answer: public_id %q, script_tag %q", shop.PublicID, shop.ScriptTag)
	}
	for _, d := range []map[string]any{
		{"platform": "meta", "credentials": map[string]any{"pixel_id": pixelID, "access_token": metaToken}},
		{"platform": "tiktok", "credentials": map[string]any{"pixel_code": "CE2ETIKTOKPIXEL", "access_token": "tt-e2e-token"}},
		{"platform": "google_ads", "credentials": map[string]any{"customer_id": "1234567890", "conversion_action_id": "42",
			"developer_token": "dev-token", "client_id": "cid", "client_secret": "csecret", "refresh_token": "1//refresh"}},
	} {
		var out map[string]any
		if code := in.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID), d, &out); code != 201 {
			t.Fatalf("create %s destination: %d %v", d["platform"], code, out)
		}
	}
	path := shop.WebhookURL[strings.Index(shop.WebhookURL, "/webhooks/"):]
	clickAt := time.Now().Add(-26 * time.Hour).Unix()
	beacon := func(ref string) string {
		return fmt.Sprintf(`{"order_ref":%q,"event_id":"pixel-evt","page_url":"https://acme.example/checkouts/thank-you","fbp":"fb.1.1764000000000.5550001112",
			"click_ids":{"fbclid":{"value":"IwAR-e2e-click","seen_at":%d},"ttclid":{"value":"E.C.P.e2e-ttclid","seen_at":%d},"gclid":{"value":"Cj0-e2e-gclid","seen_at":%d}},
			"consent":{"ad_user_data":true,"ad_personalization":true,"analytics":true}}`, ref, clickAt, clickAt, clickAt)
	}

	// 1. The beacon first, then the order that names it.
	sendBeacon(t, in, shop.PublicID, beacon("token-beacon-first-0001"))
	code, out := post(t, in, path, "orders/paid", "ev-1", bareShopifyOrder(t, 9001, "token-beacon-first-0001"), shopSecret)
	if code != 200 || out["status"] != "accepted" {
		t.Fatalf("order 9001: %d %v", code, out)
	}
	ev := metaEventFor(t, meta, "9001")
	ud := ev["user_data"].(map[string]any)
	wantFBC := fmt.Sprintf("fb.1.%d.IwAR-e2e-click", clickAt*1000)
	if ud["fbp"] != "fb.1.1764000000000.5550001112" || ud["fbc"] != wantFBC || ud["client_user_agent"] != browserUA || ud["client_ip_address"] != buyerIP {
		t.Errorf("Meta user_data = %v; want the beacon's fbp, fbc %s (click time), user agent and IP", ud, wantFBC)
	}
	// The store's own page URL (the shop's domain) stays: a beacon only adds.
	if ev["action_source"] != "website" || ev["event_source_url"] == nil {
		t.Errorf("Meta action_source %v, event_source_url %v", ev["action_source"], ev["event_source_url"])
	}
	tiktok.saw(t, "TikTok", "E.C.P.e2e-ttclid")
	google.saw(t, "Google", "Cj0-e2e-gclid")

	// 2. The order first: held, then joined when its beacon comes.
	sent := time.Now()
	code, out = post(t, in, path, "orders/paid", "ev-2", bareShopifyOrder(t, 9002, "token-order-first-0002"), shopSecret)
	if code != 200 || out["status"] != "accepted" {
		t.Fatalf("order 9002: %d %v", code, out)
	}
	var held struct {
		Deliveries []struct {
			Status        string `json:"status"`
			NextAttemptAt string `json:"next_attempt_at"`
		} `json:"deliveries"`
	}
	in.api(t, "GET", fmt.Sprintf("/api/v1/events/%v", out["event_id"]), nil, &held)
	for _, d := range held.Deliveries {
		next, err := time.Parse(time.RFC3339Nano, d.NextAttemptAt)
		if err != nil || d.Status != "pending" || next.Before(sent.Add(hold-time.Second)) {
			t.Errorf("delivery of a conversion waiting for its beacon = %+v (%v); want pending until received + %s", d, err, hold)
		}
	}
	sendBeacon(t, in, shop.PublicID, beacon("token-order-first-0002"))
	ev = metaEventFor(t, meta, "9002")
	if ud := ev["user_data"].(map[string]any); ud["client_user_agent"] != browserUA || ud["fbc"] != wantFBC {
		t.Errorf("held order's Meta user_data = %v; want the late beacon joined", ud)
	}

	// 3. No beacon within the hold: sent without, and a late beacon
	// changes nothing.
	code, out = post(t, in, path, "orders/paid", "ev-3", bareShopifyOrder(t, 9003, "token-no-beacon-0003"), shopSecret)
	if code != 200 || out["status"] != "accepted" {
		t.Fatalf("order 9003: %d %v", code, out)
	}
	ev = metaEventFor(t, meta, "9003")
	if ud := ev["user_data"].(map[string]any); ud["client_user_agent"] != nil || ud["fbp"] != nil {
		t.Errorf("order without a beacon: Meta user_data = %v", ud)
	}
	if waited := time.Since(sent); waited < hold {
		t.Errorf("order without a beacon sent after %s, want after the %s hold", waited, hold)
	}
	sendBeacon(t, in, shop.PublicID, beacon("token-no-beacon-0003"))
	var after struct {
		Reason string `json:"reason"`
	}
	in.api(t, "GET", fmt.Sprintf("/api/v1/events/%v", out["event_id"]), nil, &after)
	if strings.Contains(after.Reason, "beacon joined") {
		t.Errorf("a beacon after the send changed the event: %q", after.Reason)
	}

	// 4. Stripe: the session's beacon turns an "other" event into a website
	// event with the browser's context.
	const stripeSecret = "whsec_e2e_capture"
	var sshop struct {
		ID         int64  `json:"id"`
		WebhookURL string `json:"webhook_url"`
		PublicID   string `json:"public_id"`
	}
	if code := in.api(t, "POST", "/api/v1/shops", map[string]any{"name": "Summit", "source": "stripe", "signing_secret": stripeSecret, "trigger": "paid"}, &sshop); code != 201 {
		t.Fatalf("create stripe shop: %d", code)
	}
	if code := in.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", sshop.ID), map[string]any{
		"platform": "meta", "credentials": map[string]any{"pixel_id": pixelID, "access_token": metaToken}}, nil); code != 201 {
		t.Fatalf("create destination: %d", code)
	}
	var session map[string]any
	if err := json.Unmarshal(storeFixture(t, "stripe", "checkout_session_completed.json"), &session); err != nil {
		t.Fatal(err)
	}
	obj := session["data"].(map[string]any)["object"].(map[string]any)
	obj["metadata"] = map[string]any{} // no attribution from the merchant's server
	now := time.Now()
	session["created"], obj["created"] = now.Unix()-60, now.Unix()-120
	body, _ := json.Marshal(session)
	sessionID := obj["id"].(string)
	sendBeacon(t, in, sshop.PublicID, beacon(sessionID))
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: stripeSecret, Timestamp: now})
	code, out = rawPost(t, in.url+sshop.WebhookURL[strings.Index(sshop.WebhookURL, "/webhooks/"):], body, map[string]string{"Content-Type": "application/json", "Stripe-Signature": signed.Header})
	if code != 200 || out["status"] != "accepted" {
		t.Fatalf("Stripe session: %d %v", code, out)
	}
	var got map[string]any
	deadline := time.Now().Add(15 * time.Second)
	for got == nil && time.Now().Before(deadline) {
		for _, e := range meta.received() {
			if e["event_id"] == sessionID {
				got = e
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got == nil {
		t.Fatalf("Meta never received the Stripe session %s", sessionID)
	}
	ud = got["user_data"].(map[string]any)
	if got["action_source"] != "website" || ud["client_user_agent"] != browserUA || ud["client_ip_address"] != buyerIP || ud["fbc"] != wantFBC {
		t.Errorf("Stripe session at Meta: action_source %v, user_data %v; want website with the browser's context", got["action_source"], ud)
	}
	if bytes.Contains([]byte(in.stderr.String()), []byte("5550001112")) {
		t.Errorf("logs carry the fbp cookie:\n%s", in.stderr)
	}
}

// TestBeaconJoinWooCommerceEndToEnd: the mu-plugin's thank-you beacon
// (order_ref = the order key) joins a WooCommerce order that arrives with
// no browser trace: Meta gets the browser's fbp, fbc with the click time,
// user agent and IP, and Reddit the rdt_cid click id and the _rdt_uuid
// cookie as user.uuid.
func TestBeaconJoinWooCommerceEndToEnd(t *testing.T) {
	meta := newFakeMeta(t)
	reddit, redditURL := newRecorder(t, func(*http.Request, []byte) string { return `{"data":{}}` })
	in := start(t, map[string]string{
		"POSTBACK_DATABASE_URL": filepath.Join(t.TempDir(), "p.db"), "POSTBACK_META_URL": meta.srv.URL, "POSTBACK_REDDIT_URL": redditURL,
		"POSTBACK_TRUSTED_PROXIES": "127.0.0.1", "POSTBACK_BEACON_HOLD": "5s",
	})
	defer in.stop(t)

	const wooSecret = "wc-e2e-capture-secret"
	var shop struct {
		ID         int64  `json:"id"`
		WebhookURL string `json:"webhook_url"`
		PublicID   string `json:"public_id"`
	}
	if code := in.api(t, "POST", "/api/v1/shops", map[string]any{"name": "Woo", "source": "woocommerce", "signing_secret": wooSecret, "trigger": "paid"}, &shop); code != 201 {
		t.Fatalf("create shop: %d", code)
	}
	for _, d := range []map[string]any{
		{"platform": "meta", "credentials": map[string]any{"pixel_id": pixelID, "access_token": metaToken}},
		{"platform": "reddit", "credentials": map[string]any{"pixel_id": "a2_e2e_pixel", "access_token": "reddit-e2e-token"}},
	} {
		var out map[string]any
		if code := in.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID), d, &out); code != 201 {
			t.Fatalf("create %s destination: %d %v", d["platform"], code, out)
		}
	}
	// The order as a block checkout sends it: no IP, user agent or cookies
	// kept by the store.
	var o map[string]any
	if err := json.Unmarshal(storeFixture(t, "woocommerce", "order_updated_processing.json"), &o); err != nil {
		t.Fatal(err)
	}
	const orderKey = "wc_order_e2eCaptureK3y"
	o["id"], o["order_key"], o["customer_ip_address"], o["customer_user_agent"] = 7331, orderKey, "", ""
	var meta2 []any
	for _, m := range o["meta_data"].([]any) {
		if k := m.(map[string]any)["key"].(string); k != "_fbp" && k != "_fbc" && k != "_wc_order_attribution_user_agent" && k != "_wc_order_attribution_session_entry" {
			meta2 = append(meta2, m)
		}
	}
	o["meta_data"] = meta2
	day := time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04:05")
	for _, k := range []string{"date_created", "date_modified", "date_paid", "date_completed"} {
		if _, ok := o[k]; ok {
			o[k] = day
		}
		if _, ok := o[k+"_gmt"]; ok {
			o[k+"_gmt"] = day
		}
	}
	body, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	clickAt := time.Now().Add(-3 * time.Hour).Unix()
	sendBeacon(t, in, shop.PublicID, fmt.Sprintf(`{"order_ref":%q,"event_id":"7331","page_url":"https://woo.example/checkout/order-received/7331/",
		"fbp":"fb.1.1764000000000.7770001112","click_ids":{"fbclid":{"value":"IwAR-woo-click","seen_at":%d},"rdt_cid":{"value":"rdt-woo-click"},
		"rdt_uuid":{"value":"1764000000000.woo-rdt-uuid"}},"consent":{"ad_user_data":true,"ad_personalization":true}}`, orderKey, clickAt))

	m := hmac.New(sha256.New, []byte(wooSecret))
	m.Write(body)
	path := shop.WebhookURL[strings.Index(shop.WebhookURL, "/webhooks/"):]
	code, out := rawPost(t, in.url+path, body, map[string]string{
		"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Delivery-ID": "woo-e2e-1",
		"X-WC-Webhook-Signature": base64.StdEncoding.EncodeToString(m.Sum(nil)),
	})
	if code != 200 || out["status"] != "accepted" {
		t.Fatalf("WooCommerce order: %d %v", code, out)
	}
	ev := metaEventFor(t, meta, "7331")
	ud := ev["user_data"].(map[string]any)
	wantFBC := fmt.Sprintf("fb.1.%d.IwAR-woo-click", clickAt*1000)
	if ud["fbp"] != "fb.1.1764000000000.7770001112" || ud["fbc"] != wantFBC || ud["client_user_agent"] != browserUA || ud["client_ip_address"] != buyerIP {
		t.Errorf("Meta user_data = %v; want the beacon's fbp, fbc %s, user agent and IP", ud, wantFBC)
	}
	if ev["event_id"] != "7331" {
		t.Errorf("Meta event_id = %v, want the order id the thank-you pixel also uses", ev["event_id"])
	}
	reddit.saw(t, "Reddit", `"click_id":"rdt-woo-click"`, `"uuid":"1764000000000.woo-rdt-uuid"`, `"conversion_id":"7331"`)
}
