package web_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/connectors"
	"github.com/postbackhq/postback/delivery"
	"github.com/postbackhq/postback/internal/metrics"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
	"github.com/postbackhq/postback/web"
)

const apiToken = "test-token-0123456789abcdef012345"

// fakeConnector signs with hex HMAC-SHA256 in X-Test-Signature and reads
// {"order": "...", "paid": bool, "test": bool}.
type fakeConnector struct{}

func (fakeConnector) Source() mapping.Source { return mapping.SourceShopify }

func (fakeConnector) Verify(h http.Header, body []byte, secret string) error {
	sig := h.Get("X-Test-Signature")
	if sig == "" {
		return connectors.ErrNotSigned
	}
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, sign(secret, body)) {
		return connectors.ErrNoValidSignature
	}
	return nil
}

func (fakeConnector) Parse(h http.Header, body []byte, rules mapping.ShopRules) (mapping.Webhook, error) {
	var in struct {
		Order string `json:"order"`
		Paid  bool   `json:"paid"`
		Test  bool   `json:"test"`
		Name  string `json:"name"`
		Email string `json:"email"`
		GCLID string `json:"gclid"`
	}
	w := mapping.Webhook{Source: mapping.SourceShopify, Topic: "orders/paid", DeliveryID: h.Get("X-Delivery")}
	if err := json.Unmarshal(body, &in); err != nil {
		return w, fmt.Errorf("%w: %v", connectors.ErrMalformed, err)
	}
	w.OrderID, w.Test = in.Order, in.Test
	if !in.Paid {
		w.Outcome, w.Reason = mapping.OutcomeIgnored, "not paid"
		return w, nil
	}
	w.Outcome = mapping.OutcomeConversion
	w.Conversion = &mapping.Conversion{
		EventID: rules.EventID(in.Order), EventName: mapping.EventPurchase, EventTime: time.Now().UTC(), OrderID: in.Order,
		Value: decimal.RequireFromString("10.50"), Currency: "USD", Test: in.Test, User: mapping.User{Email: "a@example.com"},
		OrderName: in.Name, ClickIDs: mapping.ClickIDs{GCLID: in.GCLID},
	}
	if in.Email != "" {
		w.Conversion.User.Email = in.Email
	}
	return w, nil
}

func (fakeConnector) IsPing(h http.Header, body []byte) bool { return string(body) == "ping" }

func sign(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// fakeSender needs a token credential and has a bool test setting.
type fakeSender struct{}

func (fakeSender) Name() string { return "fake" }
func (fakeSender) Fields() []platforms.Field {
	return []platforms.Field{
		{Name: "pixel", Required: true},
		{Name: "token", Required: true, Secret: true},
		{Name: "test", Setting: true, Bool: true},
	}
}
func (fakeSender) BatchSize() int                        { return 10 }
func (fakeSender) MaxAge() time.Duration                 { return 7 * 24 * time.Hour }
func (fakeSender) TestMode(d platforms.Destination) bool { return d.Settings["test"] == "true" }
func (fakeSender) Render(d platforms.Destination, convs []mapping.Conversion) (platforms.Request, error) {
	return platforms.Request{Method: "POST", URL: "https://fake.example/" + d.Credentials["pixel"], Body: json.RawMessage(`{"n":1}`)}, nil
}
func (fakeSender) Send(ctx context.Context, d platforms.Destination, convs []mapping.Conversion) []platforms.Result {
	out := make([]platforms.Result, len(convs))
	for i := range out {
		out[i] = platforms.Result{Payload: json.RawMessage(`{}`), StatusCode: 200}
	}
	return out
}

type harness struct {
	srv        *httptest.Server
	store      *store.Store
	stopCommit context.CancelFunc
}

// newHarness starts a server on SQLite with the fake connector and
// sender; opts adjust its configuration before it starts.
func newHarness(t *testing.T, opts ...func(*web.Config)) *harness {
	t.Helper()
	st := storetest.SQLite(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	senders := map[string]platforms.Sender{"fake": fakeSender{}}
	routing := delivery.NewRouting(senders)
	committer := st.NewCommitter(routing, store.CommitterConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { committer.Run(ctx); close(done) }()
	cfg := web.Config{
		Store: st, Committer: committer, Connectors: map[mapping.Source]connectors.Connector{mapping.SourceShopify: fakeConnector{}},
		Senders: senders, Routing: routing, Log: log, Metrics: metrics.New(reg), Gatherer: reg,
		PublicURL: "https://postback.example.com/", APIToken: apiToken, MaxBody: 1024,
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv := httptest.NewServer(web.NewServer(cfg))
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return &harness{srv: srv, store: st, stopCommit: cancel}
}

// api calls the JSON API and decodes the answer into out (if not nil).
func (h *harness) api(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: answer %q is not JSON: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

func (h *harness) webhook(t *testing.T, path string, body []byte, headers map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("webhook answer is not JSON: %v", err)
	}
	return resp.StatusCode, out
}

type shopResp struct {
	ID               int64  `json:"id"`
	WebhookURL       string `json:"webhook_url"`
	Trigger          string `json:"trigger"`
	SigningSecretSet bool   `json:"signing_secret_set"`
}

func (h *harness) createShop(t *testing.T, secret string) shopResp {
	t.Helper()
	var s shopResp
	if code := h.api(t, "POST", "/api/v1/shops", map[string]any{"name": "Acme", "source": "shopify", "signing_secret": secret, "trigger": "paid"}, &s); code != http.StatusCreated {
		t.Fatalf("create shop: %d", code)
	}
	return s
}

func webhookPath(s shopResp) string {
	return strings.TrimPrefix(s.WebhookURL, "https://postback.example.com")
}

func TestWebhookAnswers(t *testing.T) {
	h := newHarness(t)
	shop := h.createShop(t, "s3cret")
	var dest struct{ ID int64 }
	if code := h.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID),
		map[string]any{"platform": "fake", "credentials": map[string]any{"pixel": "p1", "token": "t"}}, &dest); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}
	path := webhookPath(shop)
	paid := []byte(`{"order":"1001","paid":true}`)
	signed := func(body []byte, delivery string) map[string]string {
		return map[string]string{"X-Test-Signature": hex.EncodeToString(sign("s3cret", body)), "X-Delivery": delivery}
	}
	tests := []struct {
		name       string
		path       string
		body       []byte
		headers    map[string]string
		wantCode   int
		wantStatus string
	}{
		{"paid order accepted", path, paid, signed(paid, "d1"), 200, "accepted"},
		{"same delivery again", path, paid, signed(paid, "d1"), 200, "duplicate"},
		{"same order, other delivery", path, paid, signed(paid, "d2"), 200, "duplicate"},
		{"pending order ignored", path, []byte(`{"order":"1002","paid":false}`), signed([]byte(`{"order":"1002","paid":false}`), "d3"), 200, "ignored"},
		{"signed but unparseable", path, []byte(`{not json`), signed([]byte(`{not json`), "d4"), 200, "error"},
		{"wrong signature", path, paid, map[string]string{"X-Test-Signature": hex.EncodeToString(sign("other", paid))}, 401, ""},
		{"missing signature", path, paid, nil, 401, ""},
		{"undecodable signature", path, paid, map[string]string{"X-Test-Signature": "zz"}, 401, ""},
		{"unknown key", "/webhooks/shopify/nosuchkey", paid, signed(paid, "d5"), 404, ""},
		{"key of another source", strings.Replace(path, "/shopify/", "/stripe/", 1), paid, signed(paid, "d6"), 404, ""},
		{"unknown source", strings.Replace(path, "/shopify/", "/magento/", 1), paid, signed(paid, "d7"), 404, ""},
		{"body over the limit", path, bytes.Repeat([]byte("x"), 2048), signed(bytes.Repeat([]byte("x"), 2048), "d8"), 413, ""},
		{"ping", path, []byte("ping"), nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := h.webhook(t, tt.path, tt.body, tt.headers)
			if code != tt.wantCode {
				t.Fatalf("POST %s: code %d (%v), want %d", tt.name, code, out, tt.wantCode)
			}
			if tt.wantStatus != "" && out["status"] != tt.wantStatus {
				t.Errorf("status = %v, want %s (answer %v)", out["status"], tt.wantStatus, out)
			}
			if code >= 400 && out["error"] == nil {
				t.Errorf("error answer %v has no error field", out)
			}
			if tt.wantStatus != "" {
				if id, ok := out["event_id"].(float64); !ok || id <= 0 {
					t.Errorf("event_id = %v, want a positive id", out["event_id"])
				}
			}
		})
	}
	// The three distinct signed webhooks were stored; the two repeats are
	// counted on the first, and refused ones left nothing.
	var list struct {
		Events []struct {
			Status     string `json:"status"`
			Reason     string `json:"reason"`
			Deliveries []any  `json:"deliveries"`
			Duplicates int    `json:"duplicates"`
		} `json:"events"`
	}
	if code := h.api(t, "GET", "/api/v1/events", nil, &list); code != 200 {
		t.Fatalf("list events: %d", code)
	}
	if len(list.Events) != 3 {
		t.Fatalf("stored %d events, want 3: %+v", len(list.Events), list.Events)
	}
	if list.Events[0].Status != "error" || !strings.Contains(list.Events[0].Reason, "malformed") {
		t.Errorf("newest event = %+v, want the parse error with its reason", list.Events[0])
	}
	if got := list.Events[2]; got.Status != "accepted" || len(got.Deliveries) != 1 || got.Duplicates != 2 {
		t.Errorf("first event = %+v, want accepted with one delivery and 2 duplicates", got)
	}
}

func TestWebhookAnswers503WhenNothingCanCommit(t *testing.T) {
	h := newHarness(t)
	shop := h.createShop(t, "s3cret")
	h.stopCommit()
	time.Sleep(10 * time.Millisecond)
	body := []byte(`{"order":"1","paid":true}`)
	code, out := h.webhook(t, webhookPath(shop), body, map[string]string{"X-Test-Signature": hex.EncodeToString(sign("s3cret", body))})
	if code != http.StatusServiceUnavailable {
		t.Fatalf("code %d (%v), want 503", code, out)
	}
	events, err := h.store.Events(context.Background(), store.EventFilter{})
	if err != nil || len(events) != 0 {
		t.Errorf("events after 503 = %v, %v; want none", events, err)
	}
}

func TestSecretRotationAcceptsPreviousSecret(t *testing.T) {
	h := newHarness(t)
	shop := h.createShop(t, "old-secret")
	if code := h.api(t, "PATCH", fmt.Sprintf("/api/v1/shops/%d", shop.ID), map[string]any{"signing_secret": "new-secret"}, nil); code != 200 {
		t.Fatalf("patch: %d", code)
	}
	for i, secret := range []string{"new-secret", "old-secret"} {
		body := []byte(fmt.Sprintf(`{"order":"%d","paid":true}`, i))
		code, out := h.webhook(t, webhookPath(shop), body, map[string]string{"X-Test-Signature": hex.EncodeToString(sign(secret, body))})
		if code != 200 {
			t.Errorf("signed with %s: %d %v, want 200", secret, code, out)
		}
	}
	if code := h.api(t, "PATCH", fmt.Sprintf("/api/v1/shops/%d", shop.ID), map[string]any{"previous_signing_secret": ""}, nil); code != 200 {
		t.Fatalf("patch: %d", code)
	}
	body := []byte(`{"order":"9","paid":true}`)
	if code, _ := h.webhook(t, webhookPath(shop), body, map[string]string{"X-Test-Signature": hex.EncodeToString(sign("old-secret", body))}); code != 401 {
		t.Errorf("old secret after revoking it: %d, want 401", code)
	}
}

func nowUTC() time.Time { return time.Now().UTC() }
