package web_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/web"
)

func TestAPIRequiresToken(t *testing.T) {
	h := newHarness(t)
	for _, auth := range []string{"", "Bearer", "Bearer wrong", "Basic " + apiToken, "Bearer pbk_notissued"} {
		req, _ := http.NewRequest("GET", h.srv.URL+"/api/v1/shops", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]string
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || out["error"] == "" {
			t.Errorf("Authorization %q: %d %v, want 401 with an error", auth, resp.StatusCode, out)
		}
	}
	// A token issued in the store works, and stops working once revoked.
	secret, tok, err := h.store.CreateAPIToken(context.Background(), "ci", nowUTC())
	if err != nil {
		t.Fatal(err)
	}
	call := func() int {
		req, _ := http.NewRequest("GET", h.srv.URL+"/api/v1/shops", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := call(); code != 200 {
		t.Errorf("issued token: %d, want 200", code)
	}
	if err := h.store.RevokeAPIToken(context.Background(), tok.ID, nowUTC()); err != nil {
		t.Fatal(err)
	}
	if code := call(); code != 401 {
		t.Errorf("revoked token: %d, want 401", code)
	}
}

func TestShopAPIValidationAndWriteOnlySecrets(t *testing.T) {
	h := newHarness(t)
	bad := []struct {
		name string
		body any
		want int
	}{
		{"no name", map[string]any{"source": "shopify"}, 422},
		{"unknown source", map[string]any{"name": "x", "source": "magento"}, 422},
		{"bad trigger", map[string]any{"name": "x", "source": "shopify", "trigger": "shipped"}, 422},
		{"template without order id", map[string]any{"name": "x", "source": "shopify", "settings": map[string]any{"event_id_template": "purchase"}}, 422},
		{"unknown field", map[string]any{"name": "x", "source": "shopify", "sigining_secret": "typo"}, 400},
		{"not JSON", "{", 400},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var out map[string]any
			if code := h.api(t, "POST", "/api/v1/shops", tt.body, &out); code != tt.want || out["error"] == nil {
				t.Errorf("POST %v: %d %v, want %d with an error", tt.body, code, out, tt.want)
			}
		})
	}
	var created map[string]any
	if code := h.api(t, "POST", "/api/v1/shops", map[string]any{"name": "Acme", "source": "woocommerce", "signing_secret": "wc-secret-value", "trigger": "fulfilled",
		"settings": map[string]any{"event_id_template": "purchase-{order_id}", "value_rule": "subtotal"}}, &created); code != 201 {
		t.Fatalf("create: %d %v", code, created)
	}
	for _, k := range []string{"id", "name", "source", "trigger", "webhook_url"} {
		if created[k] == nil {
			t.Errorf("created shop lacks %q: %v", k, created)
		}
	}
	url, _ := created["webhook_url"].(string)
	if !strings.HasPrefix(url, "https://postback.example.com/webhooks/woocommerce/") || len(url) < len("https://postback.example.com/webhooks/woocommerce/")+22 {
		t.Errorf("webhook_url = %q, want the public URL with a 128-bit+ key", url)
	}
	id := int64(created["id"].(float64))
	raw := h.rawGet(t, fmt.Sprintf("/api/v1/shops/%d", id))
	if strings.Contains(raw, "wc-secret-value") || !strings.Contains(raw, `"signing_secret_set":true`) {
		t.Errorf("GET shop = %s, want the secret shown only as set", raw)
	}
	if list := h.rawGet(t, "/api/v1/shops"); strings.Contains(list, "wc-secret-value") {
		t.Errorf("shop list leaks the secret: %s", list)
	}
	if code := h.api(t, "PATCH", fmt.Sprintf("/api/v1/shops/%d", id), map[string]any{"source": "shopify"}, nil); code != 422 {
		t.Errorf("changing source: %d, want 422", code)
	}
	if code := h.api(t, "GET", "/api/v1/shops/999", nil, nil); code != 404 {
		t.Errorf("unknown shop: %d, want 404", code)
	}
	if code := h.api(t, "GET", "/api/v1/shops/abc", nil, nil); code != 404 {
		t.Errorf("non-numeric id: %d, want 404", code)
	}
	if code := h.api(t, "DELETE", fmt.Sprintf("/api/v1/shops/%d", id), nil, nil); code != 204 {
		t.Errorf("delete: %d, want 204", code)
	}
	if code := h.api(t, "DELETE", fmt.Sprintf("/api/v1/shops/%d", id), nil, nil); code != 404 {
		t.Errorf("delete again: %d, want 404", code)
	}
}

func (h *harness) rawGet(t *testing.T, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDestinationAPI(t *testing.T) {
	h := newHarness(t)
	shop := h.createShop(t, "s")
	path := fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID)
	bad := []struct {
		name string
		body any
	}{
		{"unknown platform", map[string]any{"platform": "myspace", "credentials": map[string]any{}}},
		{"missing credential", map[string]any{"platform": "fake", "credentials": map[string]any{"pixel": "1"}}},
		{"unknown credential", map[string]any{"platform": "fake", "credentials": map[string]any{"pixel": "1", "token": "t", "tokn": "x"}}},
		{"bool setting not bool", map[string]any{"platform": "fake", "credentials": map[string]any{"pixel": "1", "token": "t"}, "settings": map[string]any{"test": "maybe"}}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var out map[string]any
			if code := h.api(t, "POST", path, tt.body, &out); code != 422 || out["error"] == nil {
				t.Errorf("%d %v, want 422 with an error", code, out)
			}
		})
	}
	var d map[string]any
	if code := h.api(t, "POST", path, map[string]any{"platform": "fake", "credentials": map[string]any{"pixel": "px-1", "token": "very-secret-token"},
		"settings": map[string]any{"test": true}, "enabled": true}, &d); code != 201 {
		t.Fatalf("create: %d %v", code, d)
	}
	if d["platform"] != "fake" || d["enabled"] != true || d["id"] == nil || d["test_mode"] != true {
		t.Errorf("created = %v", d)
	}
	id := int64(d["id"].(float64))
	list := h.rawGet(t, path)
	if strings.Contains(list, "very-secret-token") || strings.Contains(list, "px-1") {
		t.Errorf("destination list shows credentials: %s", list)
	}
	if !strings.Contains(list, `"credentials_set":["pixel","token"]`) {
		t.Errorf("destination list = %s, want credentials shown as set", list)
	}
	var upd map[string]any
	if code := h.api(t, "PATCH", fmt.Sprintf("/api/v1/destinations/%d", id), map[string]any{"enabled": false, "credentials": map[string]any{"token": "rotated"}}, &upd); code != 200 {
		t.Fatalf("patch: %d %v", code, upd)
	}
	stored, err := h.store.Destination(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Enabled || stored.Credentials["token"] != "rotated" || stored.Credentials["pixel"] != "px-1" {
		t.Errorf("after patch = %+v, want disabled with the token replaced and the pixel kept", stored)
	}
	var dry map[string]any
	if code := h.api(t, "POST", fmt.Sprintf("/api/v1/destinations/%d/dry-run", id), nil, &dry); code != 200 || dry["request"] == nil {
		t.Errorf("dry run: %d %v", code, dry)
	}
	if code := h.api(t, "DELETE", fmt.Sprintf("/api/v1/destinations/%d", id), nil, nil); code != 204 {
		t.Errorf("delete: %d", code)
	}
}

func TestEventsAPI(t *testing.T) {
	h := newHarness(t)
	shop := h.createShop(t, "s3cret")
	if code := h.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID),
		map[string]any{"platform": "fake", "credentials": map[string]any{"pixel": "p1", "token": "t"}}, nil); code != 201 {
		t.Fatalf("destination: %d", code)
	}
	for i := 0; i < 5; i++ {
		body := []byte(fmt.Sprintf(`{"order":"%d","paid":%v}`, 100+i, i%2 == 0))
		if code, out := h.webhook(t, webhookPath(shop), body, map[string]string{"X-Test-Signature": hex.EncodeToString(sign("s3cret", body))}); code != 200 {
			t.Fatalf("webhook: %d %v", code, out)
		}
	}
	type page struct {
		Events []struct {
			ID                int64  `json:"id"`
			Status            string `json:"status"`
			Value             string `json:"value"`
			ConversionEventID string `json:"conversion_event_id"`
		} `json:"events"`
		NextCursor *string `json:"next_cursor"`
	}
	var p1, p2 page
	if code := h.api(t, "GET", "/api/v1/events?limit=3", nil, &p1); code != 200 || len(p1.Events) != 3 || p1.NextCursor == nil {
		t.Fatalf("page 1: %d %+v", code, p1)
	}
	if code := h.api(t, "GET", "/api/v1/events?limit=3&cursor="+*p1.NextCursor, nil, &p2); code != 200 || len(p2.Events) != 2 || p2.NextCursor != nil {
		t.Fatalf("page 2: %d %+v", code, p2)
	}
	if p1.Events[0].ID <= p1.Events[1].ID {
		t.Errorf("events not newest first: %+v", p1.Events)
	}
	var accepted page
	h.api(t, "GET", fmt.Sprintf("/api/v1/events?shop_id=%d&status=accepted", shop.ID), nil, &accepted)
	if len(accepted.Events) != 3 || accepted.Events[0].Value != "10.5" || accepted.Events[0].ConversionEventID != "104" {
		t.Errorf("accepted events = %+v", accepted.Events)
	}
	for _, q := range []string{"status=weird", "limit=-1", "shop_id=x", "delivery_status=lost"} {
		if code := h.api(t, "GET", "/api/v1/events?"+q, nil, nil); code != 400 {
			t.Errorf("GET events?%s: %d, want 400", q, code)
		}
	}
	var detail map[string]any
	if code := h.api(t, "GET", fmt.Sprintf("/api/v1/events/%d", accepted.Events[0].ID), nil, &detail); code != 200 {
		t.Fatalf("detail: %d", code)
	}
	for _, k := range []string{"id", "shop_id", "source", "topic", "order_id", "status", "reason", "received_at", "value", "currency", "event_name", "conversion_event_id", "match", "deliveries"} {
		if _, ok := detail[k]; !ok {
			t.Errorf("event detail lacks %q", k)
		}
	}
	dels, _ := detail["deliveries"].([]any)
	if len(dels) != 1 {
		t.Fatalf("deliveries = %v", detail["deliveries"])
	}
	del := dels[0].(map[string]any)
	for _, k := range []string{"destination_id", "platform", "status", "attempts", "last_error", "next_attempt_at", "delivered_at", "match"} {
		if _, ok := del[k]; !ok {
			t.Errorf("delivery lacks %q: %v", k, del)
		}
	}
	var ignored page
	h.api(t, "GET", "/api/v1/events?status=ignored", nil, &ignored)
	if code := h.api(t, "POST", fmt.Sprintf("/api/v1/events/%d/redeliver", ignored.Events[0].ID), nil, nil); code != 409 {
		t.Errorf("redeliver an ignored event: %d, want 409", code)
	}
	var re map[string]any
	if code := h.api(t, "POST", fmt.Sprintf("/api/v1/events/%d/redeliver", accepted.Events[0].ID), map[string]any{"all": true}, &re); code != 202 || re["queued"] != float64(1) {
		t.Errorf("redeliver all: %d %v, want 202 queued 1", code, re)
	}
	if code := h.api(t, "POST", "/api/v1/events/424242/redeliver", nil, nil); code != 404 {
		t.Errorf("redeliver unknown: %d, want 404", code)
	}
}

// TestDestinationConfigurationCheckedOnSave uses the real Meta and Reddit
// senders: a configuration they would refuse at send time is refused when
// it is saved.
func TestDestinationConfigurationCheckedOnSave(t *testing.T) {
	h := newHarness(t, func(c *web.Config) {
		c.Senders = map[string]platforms.Sender{
			"meta":   platforms.NewMeta(platforms.Config{BaseURL: "http://127.0.0.1:1"}),
			"reddit": platforms.NewReddit(platforms.Config{BaseURL: "http://127.0.0.1:1"}),
		}
	})
	shop := h.createShop(t, "s")
	path := fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID)
	tests := []struct {
		name string
		body map[string]any
		want int
	}{
		{"meta ok", map[string]any{"platform": "meta", "credentials": map[string]any{"pixel_id": "1234567890", "access_token": "EAAB"}}, 201},
		{"meta bad api version", map[string]any{"platform": "meta", "credentials": map[string]any{"pixel_id": "1234567890", "access_token": "EAAB"}, "settings": map[string]any{"api_version": "25"}}, 422},
		{"reddit both ids", map[string]any{"platform": "reddit", "credentials": map[string]any{"pixel_id": "t2_abc", "ad_account_id": "a2_x", "access_token": "tok"}}, 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out map[string]any
			if code := h.api(t, "POST", path, tt.body, &out); code != tt.want {
				t.Errorf("POST %v: %d %v, want %d", tt.body, code, out, tt.want)
			}
		})
	}
}

// TestAPIChoiceDestinationsCheckedOnSave uses the real Google and Microsoft
// senders behind their settings.api choice: a malformed id is refused on
// save with the field named, and each API asks only for its own fields.
func TestAPIChoiceDestinationsCheckedOnSave(t *testing.T) {
	cfg := platforms.Config{BaseURL: "http://127.0.0.1:1"}
	h := newHarness(t, func(c *web.Config) {
		c.Senders = map[string]platforms.Sender{
			"google_ads": platforms.NewAPIChoice("google_ads",
				platforms.API{Name: "data_manager", Label: "Data Manager", Sender: platforms.NewGoogleDataManager(cfg, "http://127.0.0.1:1")},
				platforms.API{Name: "google_ads_api", Label: "Google Ads API", Sender: platforms.NewGoogleAds(cfg, "http://127.0.0.1:1")}),
			"microsoft": platforms.NewAPIChoice("microsoft",
				platforms.API{Name: "uet_capi", Label: "UET", Sender: platforms.NewMicrosoft(cfg)},
				platforms.API{Name: "offline_conversions", Label: "offline", Sender: platforms.NewMicrosoftOffline(cfg, "http://127.0.0.1:1")}),
		}
	})
	shop := h.createShop(t, "s")
	path := fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID)
	google := func(edit map[string]any, settings map[string]any) map[string]any {
		creds := map[string]any{"customer_id": "123-456-7890", "conversion_action_id": "987654321",
			"client_id": "c.apps.googleusercontent.com", "client_secret": "s", "refresh_token": "r"}
		for k, v := range edit {
			creds[k] = v
		}
		return map[string]any{"platform": "google_ads", "credentials": creds, "settings": settings}
	}
	msOffline := map[string]any{"client_id": "app", "client_secret": "s", "refresh_token": "r",
		"developer_token": "d", "customer_id": "251234567", "account_id": "149876543"}
	tests := []struct {
		name      string
		body      map[string]any
		want      int
		wantInErr string
	}{
		{"data manager without developer token", google(nil, nil), 201, ""},
		{"malformed customer_id", google(map[string]any{"customer_id": "123-45"}, nil), 422, "customer_id"},
		{"malformed conversion_action_id", google(map[string]any{"conversion_action_id": "purchase"}, nil), 422, "conversion_action_id"},
		{"legacy api", google(nil, map[string]any{"api": "google_ads_api"}), 201, ""},
		{"unknown api", google(nil, map[string]any{"api": "soap"}), 422, "api must be one of data_manager, google_ads_api"},
		{"microsoft uet", map[string]any{"platform": "microsoft", "credentials": map[string]any{"uet_tag_id": "343000", "access_token": "t"}}, 201, ""},
		{"microsoft offline", map[string]any{"platform": "microsoft", "credentials": msOffline,
			"settings": map[string]any{"api": "offline_conversions", "conversion_name": "Purchase"}}, 201, ""},
		{"microsoft offline without goal", map[string]any{"platform": "microsoft", "credentials": msOffline,
			"settings": map[string]any{"api": "offline_conversions"}}, 422, "conversion_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out map[string]any
			code := h.api(t, "POST", path, tt.body, &out)
			if code != tt.want {
				t.Fatalf("POST %v: %d %v, want %d", tt.body, code, out, tt.want)
			}
			if msg, _ := out["error"].(string); !strings.Contains(msg, tt.wantInErr) {
				t.Errorf("error %q, want it to name %q", msg, tt.wantInErr)
			}
		})
	}
}

// TestPlatformVerdictShown: a delivery the platform processes later shows
// the platform's own verdict in the API and on the event page.
func TestPlatformVerdictShown(t *testing.T) {
	h := newHarness(t)
	shop := h.createShop(t, "s3cret")
	destID := h.createDest(t, shop.ID, false)
	eventID := h.paidEvent(t, shop, "9001")
	ctx := context.Background()
	now := time.Now()
	claimed, err := h.store.Claim(ctx, destID, "t", 10, now.Add(time.Minute), time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	out := store.Outcome{DeliveryID: claimed[0].ID, Attempt: 1, CountAttempt: true, Status: store.DeliveryDelivered,
		Response: `{"requestId":"dm-req-9"}`, StatusCode: 200, StartedAt: now, PlatformRequestID: "dm-req-9", PlatformCheckAt: now}
	if err := h.store.Complete(ctx, "t", []store.Outcome{out}, now); err != nil {
		t.Fatal(err)
	}
	if err := h.store.RecordPlatformStatus(ctx, []int64{claimed[0].ID}, "partial", "1 events; errors: INVALID_GCLID ×1", time.Time{}, now); err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Deliveries []map[string]any `json:"deliveries"`
	}
	if code := h.api(t, "GET", fmt.Sprintf("/api/v1/events/%d", eventID), nil, &ev); code != 200 || len(ev.Deliveries) != 1 {
		t.Fatalf("get event: %d %v", code, ev)
	}
	d := ev.Deliveries[0]
	if d["platform_status"] != "partial" || d["platform_detail"] != "1 events; errors: INVALID_GCLID ×1" || d["platform_request_id"] != "dm-req-9" {
		t.Errorf("delivery = %v, want the platform's verdict", d)
	}
	b := h.loggedIn(t)
	p := b.get(t, fmt.Sprintf("/admin/events/%d", eventID))
	mustContain(t, "event page", p.body, "’s verdict", "partial", "INVALID_GCLID ×1", "request dm-req-9")
}

// TestGoogleFormShowsFieldError: the admin form puts Google's configuration
// error beside the field it names, and explains the Data Manager setup.
func TestGoogleFormShowsFieldError(t *testing.T) {
	cfg := platforms.Config{BaseURL: "http://127.0.0.1:1"}
	h := newHarness(t, func(c *web.Config) {
		c.Senders = map[string]platforms.Sender{
			"google_ads": platforms.NewAPIChoice("google_ads",
				platforms.API{Name: "data_manager", Label: "Google's Data Manager API", Sender: platforms.NewGoogleDataManager(cfg, "http://127.0.0.1:1")},
				platforms.API{Name: "google_ads_api", Label: "Google Ads API", Sender: platforms.NewGoogleAds(cfg, "http://127.0.0.1:1")}),
		}
	})
	shop := h.createShop(t, "s")
	b := h.loggedIn(t)
	form := b.get(t, fmt.Sprintf("/admin/shops/%d/destinations/new?platform=google_ads", shop.ID))
	mustContain(t, "google form", form.body, "https://www.googleapis.com/auth/datamanager", "Data Manager API is enabled",
		"website conversion action your Google tag already uses", "data_manager (Google&#39;s Data Manager API), the default")
	p := b.post(t, fmt.Sprintf("/admin/shops/%d/destinations", shop.ID), url.Values{
		"platform": {"google_ads"}, "credentials.customer_id": {"123-45"}, "credentials.conversion_action_id": {"987654321"},
		"credentials.client_id": {"c"}, "credentials.client_secret": {"s"}, "credentials.refresh_token": {"r"}, "enabled": {"true"},
	})
	at := strings.Index(p.body, `name="credentials.customer_id"`)
	if at < 0 {
		t.Fatalf("form not shown again (%d):\n%s", p.code, clip(p.body))
	}
	if label := p.body[max(0, at-600):at]; !strings.Contains(label, "has-error") {
		t.Errorf("customer_id is not flagged:\n%s", label)
	}
	mustContain(t, "error", p.body, "customer_id must be a 10-digit Google Ads customer id")
}
