package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/web"
)

const beaconRef = "b7c2e91f0d4a4c6e8f3a2d1c9b8e7f60"

func collectShop(t *testing.T, h *harness) store.Shop {
	t.Helper()
	sh, err := h.store.CreateShop(context.Background(), store.Shop{
		Name: "Acme", Source: mapping.SourceShopify, SigningSecret: "s", Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid},
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(sh.PublicID) < 16 || sh.PublicID == sh.WebhookKey {
		t.Fatalf("public id %q: want ≥ 16 characters, not the webhook key", sh.PublicID)
	}
	return sh
}

func postBeacon(t *testing.T, h *harness, publicID string, body string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/collect/"+publicID, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Origin", "https://shop.example")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestCollectAnswers(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h := newHarness(t, func(c *web.Config) {
		c.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	sh := collectShop(t, h)
	const cookie = "fb.1.1715695200123.9988776655"
	valid := `{"order_ref":"` + beaconRef + `","fbp":"` + cookie + `","click_ids":{"gclid":{"value":"Cj0KCQ","seen_at":1764000000}},"consent":{"ad_user_data":true}}`
	deep := `{"order_ref":"` + beaconRef + `","utm":` + strings.Repeat(`{"a":`, 20) + `1` + strings.Repeat(`}`, 20) + `}`
	cases := []struct {
		name, id, body string
		want           int
	}{
		{"well-formed, no order yet", sh.PublicID, valid, http.StatusNoContent},
		{"well-formed, unknown ref", sh.PublicID, `{"order_ref":"0000000000000000nomatch"}`, http.StatusNoContent},
		{"malformed fbc dropped, still 204", sh.PublicID, `{"order_ref":"ref-with-bad-fbc-1","fbc":"fb.1.notatime.x"}`, http.StatusNoContent},
		{"unknown public id", "nosuchshop0000000000", valid, http.StatusNotFound},
		{"webhook key is not a public id", sh.WebhookKey, valid, http.StatusNotFound},
		{"not JSON", sh.PublicID, `order_ref=abc`, http.StatusBadRequest},
		{"no order_ref", sh.PublicID, `{"fbp":"` + cookie + `"}`, http.StatusBadRequest},
		{"short order_ref", sh.PublicID, `{"order_ref":"1042"}`, http.StatusBadRequest},
		{"wrong types", sh.PublicID, `{"order_ref":["x"]}`, http.StatusBadRequest},
		{"nested too deeply", sh.PublicID, deep, http.StatusBadRequest},
		{"over 8 KiB", sh.PublicID, `{"order_ref":"` + beaconRef + `","page_url":"https://x.example/` + strings.Repeat("a", 9000) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		resp := postBeacon(t, h, tc.id, tc.body, nil)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: POST %.60s = %d, want %d", tc.name, tc.body, resp.StatusCode, tc.want)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("%s: Access-Control-Allow-Origin = %q, want *", tc.name, got)
		}
		if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: credentials allowed", tc.name)
		}
	}
	b, _, err := h.store.Beacon(context.Background(), sh.ID, "ref-with-bad-fbc-1")
	if err != nil || b.FBC != "" || len(b.Dropped) != 1 || !strings.HasPrefix(b.Dropped[0], "fbc:") {
		t.Errorf("beacon with a malformed fbc = %+v, %v; want fbc dropped with a reason", b, err)
	}
	b, _, err = h.store.Beacon(context.Background(), sh.ID, beaconRef)
	if err != nil || b.FBP != cookie || b.ClickIDs["gclid"].Value != "Cj0KCQ" || b.UserAgent == "" {
		t.Errorf("stored beacon = %+v, %v", b, err)
	}
	resp, err := http.Get(h.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`postback_beacons_total{outcome="stored"} 3`, `postback_beacons_total{outcome="bad_request"} 5`,
		`postback_beacons_total{outcome="unknown_shop"} 2`, `postback_beacons_total{outcome="too_large"} 1`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(logs.String(), cookie) || strings.Contains(logs.String(), "Cj0KCQ") {
		t.Errorf("logs carry a cookie or click id value:\n%s", logs.String())
	}
}

func TestCollectPreflightAndRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *web.Config) { c.BeaconRate, c.BeaconBurst = 0.001, 3 })
	sh := collectShop(t, h)
	req, _ := http.NewRequest(http.MethodOptions, h.srv.URL+"/collect/"+sh.PublicID, nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Errorf("preflight = %d %v", resp.StatusCode, resp.Header)
	}
	body := `{"order_ref":"` + beaconRef + `"}`
	var codes []int
	for range 5 {
		codes = append(codes, postBeacon(t, h, sh.PublicID, body, nil).StatusCode)
	}
	want := []int{204, 204, 204, 429, 429}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("flood from one address = %v, want %v", codes, want)
		}
	}
	// Unknown shops are limited too, so the limit cannot be dodged by
	// guessing ids.
	if got := postBeacon(t, h, "nosuchshop0000000000", body, nil).StatusCode; got != http.StatusTooManyRequests {
		t.Errorf("flood to an unknown id = %d, want 429", got)
	}
}

func TestCollectClientIPFromTrustedProxiesOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		proxies []string
		want    string
	}{
		{"trusted proxy", []string{"127.0.0.1"}, "203.0.113.50"},
		{"no trusted proxy", nil, ""}, // the connection's loopback address is not a buyer's
	} {
		h := newHarness(t, func(c *web.Config) { c.TrustedProxies = tc.proxies })
		sh := collectShop(t, h)
		postBeacon(t, h, sh.PublicID, `{"order_ref":"`+beaconRef+`"}`, map[string]string{"X-Forwarded-For": "203.0.113.50", "User-Agent": "Mozilla/5.0 beacon"})
		b, _, err := h.store.Beacon(context.Background(), sh.ID, beaconRef)
		if err != nil || b.ClientIP != tc.want || b.UserAgent != "Mozilla/5.0 beacon" {
			t.Errorf("%s: beacon ip %q ua %q, %v; want ip %q", tc.name, b.ClientIP, b.UserAgent, err, tc.want)
		}
	}
}

func TestScriptIsServedWithETag(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	resp, err := http.Get(h.srv.URL + "/js/postback.js")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") || etag == "" ||
		!strings.Contains(resp.Header.Get("Cache-Control"), "max-age") || !bytes.Contains(body, []byte("/collect/")) {
		t.Fatalf("GET /js/postback.js = %d %v", resp.StatusCode, resp.Header)
	}
	if len(body) > 12<<10 {
		t.Errorf("script is %d bytes; keep it small", len(body))
	}
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/js/postback.js", nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation = %d, want 304", resp.StatusCode)
	}
}
