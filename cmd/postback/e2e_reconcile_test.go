package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postbackhq/postback/connectors/stripetest"
)

// fakeWooREST is a WooCommerce REST API v3 serving a fixed list of orders,
// checking Basic auth and the query the way WooCommerce reads it.
type fakeWooREST struct {
	srv      *httptest.Server
	mu       sync.Mutex
	orders   [][]byte
	status   int // answer this status instead, when non-zero
	requests int
}

const (
	wooKey    = "ck_e2e_key"
	wooSecret = "cs_e2e_secret_value"
)

func newFakeWooREST(t *testing.T) *fakeWooREST {
	f := &fakeWooREST{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.requests++
		user, pass, ok := r.BasicAuth()
		if r.URL.Path != "/wp-json/wc/v3/orders" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		if !ok || user != wooKey || pass != wooSecret || f.status == http.StatusUnauthorized {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"code":"woocommerce_rest_cannot_view","message":"Sorry, you cannot list resources.","data":{"status":401}}`)
			return
		}
		if f.status != 0 {
			w.WriteHeader(f.status)
			return
		}
		q := r.URL.Query()
		if q.Get("status") != "processing,completed" || q.Get("modified_after") == "" || q.Get("dates_are_gmt") != "true" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("X-WP-Total", fmt.Sprint(len(f.orders)))
		w.Header().Set("X-WP-TotalPages", "1")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("[" + string(bytes.Join(f.orders, []byte(","))) + "]"))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWooREST) set(status int, orders ...[]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = status
	if orders != nil {
		f.orders = orders
	}
}

// TestReconcileBackfillsLostWooCommerceOrder: of two paid orders, one
// came by webhook and one was lost. Reconciliation finds and backfills the
// lost one, which reaches Meta once; the one that came is not sent again,
// nor is anything sent twice by a second run. Rejected credentials show on
// the shop and send nothing.
func TestReconcileBackfillsLostWooCommerceOrder(t *testing.T) {
	meta := newFakeMeta(t)
	woo := newFakeWooREST(t)
	in := start(t, map[string]string{"POSTBACK_DATABASE_URL": filepath.Join(t.TempDir(), "p.db"), "POSTBACK_META_URL": meta.srv.URL,
		"POSTBACK_RECONCILE_INTERVAL": "0"})
	defer in.stop(t)

	const hookSecret = "wc-hook-secret"
	var shop struct {
		ID         int64  `json:"id"`
		WebhookURL string `json:"webhook_url"`
	}
	code := in.api(t, "POST", "/api/v1/shops", map[string]any{
		"name": "Woo", "source": "woocommerce", "signing_secret": hookSecret, "trigger": "paid",
		"settings":    map[string]any{"store_url": woo.srv.URL},
		"credentials": map[string]any{"consumer_key": wooKey, "consumer_secret": wooSecret},
	}, &shop)
	if code != 201 {
		t.Fatalf("create shop: %d", code)
	}
	if code := in.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID), map[string]any{
		"platform": "meta", "credentials": map[string]any{"pixel_id": pixelID, "access_token": metaToken}}, nil); code != 201 {
		t.Fatalf("create destination: %d", code)
	}
	day := time.Now().UTC().Add(-24 * time.Hour).Format("2006-01-02")
	came := wooDate.ReplaceAll(storeFixture(t, "woocommerce", "order_updated_processing.json"), []byte(`"$1":"`+day+`T`))
	lost := bytes.ReplaceAll(came, []byte(`"id":5120`), []byte(`"id":7001`))
	lost = bytes.ReplaceAll(lost, []byte(`"order_key":"`), []byte(`"order_key":"lost_`))
	if bytes.Equal(came, lost) {
		t.Fatal("fixture did not change: pick another order id")
	}

	// The first order comes by webhook and is delivered.
	m := hmac.New(sha256.New, []byte(hookSecret))
	m.Write(came)
	path := shop.WebhookURL[strings.Index(shop.WebhookURL, "/webhooks/"):]
	code, out := rawPost(t, in.url+path, came, map[string]string{
		"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Delivery-ID": "d-1",
		"X-WC-Webhook-Signature": base64.StdEncoding.EncodeToString(m.Sum(nil)),
	})
	if code != 200 || out["status"] != "accepted" {
		t.Fatalf("webhook: %d %v", code, out)
	}
	waitDelivery(t, in, out["event_id"], "delivered")

	woo.set(0, came, lost)
	var res map[string]any
	if code := in.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/reconcile", shop.ID), nil, &res); code != 200 {
		t.Fatalf("reconcile: %d %v", code, res)
	}
	for k, want := range map[string]float64{"checked": 2, "missing": 1, "backfilled": 1} {
		if res[k] != want {
			t.Errorf("reconcile %s = %v, want %v (%v)", k, res[k], want, res)
		}
	}
	if res["window_start"] == nil || res["window_end"] == nil {
		t.Errorf("reconcile answer lacks the window: %v", res)
	}
	var list struct {
		Events []struct {
			ID      int64  `json:"id"`
			OrderID string `json:"order_id"`
			Origin  string `json:"origin"`
		} `json:"events"`
	}
	in.api(t, "GET", "/api/v1/events", nil, &list)
	if len(list.Events) != 2 || list.Events[0].Origin != "reconciliation" || list.Events[1].Origin != "webhook" {
		t.Fatalf("events = %+v, want the backfilled one (reconciliation) over the webhook's", list.Events)
	}
	waitDelivery(t, in, list.Events[0].ID, "delivered")

	// A second run finds nothing missing and sends nothing.
	if code := in.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/reconcile", shop.ID), nil, &res); code != 200 || res["missing"] != 0.0 || res["backfilled"] != 0.0 {
		t.Fatalf("second reconcile: %d %v", code, res)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(meta.received()); n != 2 {
		t.Errorf("Meta received %d events, want 2 (each order once)", n)
	}

	// The accounted-for figure: two paid orders, one by webhook, one
	// recovered, both accepted by Meta.
	var acc struct {
		Periods []struct {
			Period                    string `json:"period"`
			PaidInStore               int64  `json:"paid_in_store"`
			ReceivedByWebhook         int64  `json:"received_by_webhook"`
			RecoveredByReconciliation int64  `json:"recovered_by_reconciliation"`
			Platforms                 []struct {
				Platform string   `json:"platform"`
				Accepted int64    `json:"accepted"`
				Share    *float64 `json:"share"`
			} `json:"platforms"`
		} `json:"periods"`
	}
	if code := in.api(t, "GET", fmt.Sprintf("/api/v1/shops/%d/accounted", shop.ID), nil, &acc); code != 200 || len(acc.Periods) != 3 {
		t.Fatalf("accounted: %d %+v", code, acc)
	}
	day1 := acc.Periods[0]
	if day1.Period != "24h" || day1.PaidInStore != 2 || day1.ReceivedByWebhook != 1 || day1.RecoveredByReconciliation != 1 ||
		len(day1.Platforms) != 1 || day1.Platforms[0].Accepted != 2 || day1.Platforms[0].Share == nil || *day1.Platforms[0].Share != 1 {
		t.Errorf("accounted 24h = %+v", day1)
	}
	mresp, err := http.Get(in.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var mbody bytes.Buffer
	mbody.ReadFrom(mresp.Body)
	mresp.Body.Close()
	if want := fmt.Sprintf(`postback_accounted_share{period="24h",platform="meta",shop_id="%d"} 1`, shop.ID); !strings.Contains(mbody.String(), want) {
		t.Errorf("/metrics lacks %s", want)
	}

	// Rejected credentials: a clear status, the run recorded, nothing sent.
	woo.set(http.StatusUnauthorized)
	if code := in.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/reconcile", shop.ID), nil, &res); code != http.StatusBadGateway {
		t.Errorf("reconcile with rejected credentials: %d %v, want 502", code, res)
	}
	var got map[string]any
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/shops/%d", in.url, shop.ID), nil)
	req.Header.Set("Authorization", "Bearer "+testAPIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	raw.ReadFrom(resp.Body)
	resp.Body.Close()
	if strings.Contains(raw.String(), wooSecret) || strings.Contains(raw.String(), wooKey) {
		t.Errorf("shop answer leaks a store credential: %s", raw.String())
	}
	if err := json.Unmarshal(raw.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	api, _ := got["store_api"].(map[string]any)
	if api == nil || api["status"] != "auth_failed" || api["last_reconcile"] == nil {
		t.Errorf("store_api = %v, want status auth_failed and the last run", got["store_api"])
	}
	if set := fmt.Sprint(got["credentials_set"]); set != "[consumer_key consumer_secret]" {
		t.Errorf("credentials_set = %s", set)
	}
	if s, _ := got["settings"].(map[string]any); s["store_url"] != woo.srv.URL {
		t.Errorf("settings.store_url = %v, want %s", s["store_url"], woo.srv.URL)
	}
	if n := len(meta.received()); n != 2 {
		t.Errorf("Meta received %d events after the failed run, want 2", n)
	}
}

// stripeFixtureObject is a Stripe webhook fixture's data.object with id,
// created and the given fields replaced.
func stripeFixtureObject(t *testing.T, name, id string, created time.Time, set map[string]any) map[string]any {
	t.Helper()
	var ev struct {
		Data struct {
			Object map[string]any `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(storeFixture(t, "stripe", name), &ev); err != nil {
		t.Fatal(err)
	}
	o := ev.Data.Object
	o["id"], o["created"] = id, created.Unix()
	for k, v := range set {
		o[k] = v
	}
	return o
}

// TestReconcileStripeThroughStripeURL: the whole program, with stripe-go
// pointed at a fake Stripe by POSTBACK_STRIPE_URL, backfills a Stripe
// shop's lost PaymentIntent and first subscription invoice; each reaches
// Meta once, and the invoice's own PaymentIntent is not a second order.
func TestReconcileStripeThroughStripeURL(t *testing.T) {
	meta := newFakeMeta(t)
	at := time.Now().Add(-3 * time.Hour)
	fake := &stripetest.API{Key: "rk_test_e2e"}
	fake.Add(stripetest.Invoices, stripeFixtureObject(t, "invoice_paid_subscription_create.json", "in_e2e_1", at,
		map[string]any{"payment_intent": "pi_e2e_inv", "status_transitions": map[string]any{"paid_at": at.Unix()}}))
	fake.Add(stripetest.PaymentIntents,
		stripeFixtureObject(t, "payment_intent_succeeded.json", "pi_e2e_inv", at, map[string]any{"invoice": "in_e2e_1"}),
		stripeFixtureObject(t, "payment_intent_succeeded.json", "pi_e2e_lost", at, nil))
	srv := httptest.NewServer(fake)
	defer srv.Close()
	in := start(t, map[string]string{"POSTBACK_DATABASE_URL": filepath.Join(t.TempDir(), "p.db"), "POSTBACK_META_URL": meta.srv.URL,
		"POSTBACK_STRIPE_URL": srv.URL, "POSTBACK_RECONCILE_INTERVAL": "0"})
	defer in.stop(t)

	var shop struct {
		ID int64 `json:"id"`
	}
	if code := in.api(t, "POST", "/api/v1/shops", map[string]any{"name": "Stripe", "source": "stripe", "signing_secret": "whsec_e2e",
		"trigger": "paid", "stripe_api_key": "rk_test_e2e"}, &shop); code != 201 {
		t.Fatalf("create shop: %d", code)
	}
	if code := in.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID), map[string]any{
		"platform": "meta", "credentials": map[string]any{"pixel_id": pixelID, "access_token": metaToken}}, nil); code != 201 {
		t.Fatalf("create destination: %d", code)
	}
	var res map[string]any
	if code := in.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/reconcile", shop.ID), nil, &res); code != 200 {
		t.Fatalf("reconcile: %d %v", code, res)
	}
	for k, want := range map[string]float64{"checked": 2, "missing": 2, "backfilled": 2, "too_old": 0} {
		if res[k] != want {
			t.Errorf("reconcile %s = %v, want %v (%v)", k, res[k], want, res)
		}
	}
	var list struct {
		Events []struct {
			ID      int64  `json:"id"`
			OrderID string `json:"order_id"`
			Origin  string `json:"origin"`
		} `json:"events"`
	}
	in.api(t, "GET", "/api/v1/events", nil, &list)
	orders := map[string]bool{}
	for _, e := range list.Events {
		orders[e.OrderID] = true
		if e.Origin != "reconciliation" {
			t.Errorf("event %d (%s) origin %q", e.ID, e.OrderID, e.Origin)
		}
		waitDelivery(t, in, e.ID, "delivered")
	}
	if len(list.Events) != 2 || !orders["in_e2e_1"] || !orders["pi_e2e_lost"] {
		t.Fatalf("events = %+v, want in_e2e_1 and pi_e2e_lost", list.Events)
	}
	if code := in.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/reconcile", shop.ID), nil, &res); code != 200 || res["missing"] != 0.0 {
		t.Fatalf("second reconcile: %d %v", code, res)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(meta.received()); n != 2 {
		t.Errorf("Meta received %d events, want 2 (each purchase once)", n)
	}
	if calls := fake.Calls(); len(calls) != 6 {
		t.Errorf("Stripe was called %v, want the three lists twice", calls)
	}
}
