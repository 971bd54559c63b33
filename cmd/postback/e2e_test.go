package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postbackhq/postback/internal/testutil"
	"github.com/postbackhq/postback/platforms"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	testAPIToken = "e2e-api-token-0123456789abcdef0123"
	shopSecret   = "shpss_0123456789abcdef0123456789abcdef"
	pixelID      = "1234567890"
	metaToken    = "EAAB-e2e-token"
)

// fakeMeta is an httptest server that checks requests as Meta's
// Conversions API does and answers with a scripted status per request.
type fakeMeta struct {
	t   *testing.T
	srv *httptest.Server
	mu  sync.Mutex
	// answers are popped per request; empty means 200.
	answers  []int
	events   []map[string]any // every event received with a 200
	bodies   [][]byte
	requests int
}

func newFakeMeta(t *testing.T) *fakeMeta {
	f := &fakeMeta{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (f *fakeMeta) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	body, _ := io.ReadAll(r.Body)
	fail := func(code int, msg string) {
		f.t.Errorf("fake Meta: %s", msg)
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"message":%q,"type":"OAuthException","code":100}}`, msg)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/"+platforms.DefaultVersion("meta")+"/"+pixelID+"/events" {
		fail(404, "unexpected "+r.Method+" "+r.URL.Path)
		return
	}
	var req struct {
		Data        []map[string]any `json:"data"`
		AccessToken string           `json:"access_token"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		fail(400, "body is not JSON")
		return
	}
	if req.AccessToken != metaToken {
		w.WriteHeader(401)
		fmt.Fprint(w, `{"error":{"message":"Invalid OAuth access token","type":"OAuthException","code":190}}`)
		return
	}
	for _, ev := range req.Data {
		for _, k := range []string{"event_name", "event_time", "event_id", "action_source", "user_data", "custom_data"} {
			if ev[k] == nil {
				fail(400, "event lacks "+k)
				return
			}
		}
		ud := ev["user_data"].(map[string]any)
		for _, k := range []string{"em", "ph", "fn", "ln", "ct", "st", "zp", "country", "external_id"} {
			vals, _ := ud[k].([]any)
			for _, v := range vals {
				if s, _ := v.(string); !hex64.MatchString(s) {
					fail(400, fmt.Sprintf("user_data.%s %v is not a SHA-256 hex digest", k, v))
					return
				}
			}
		}
	}
	if len(f.answers) > 0 {
		code := f.answers[0]
		f.answers = f.answers[1:]
		if code != 200 {
			w.WriteHeader(code)
			if code >= 500 {
				fmt.Fprint(w, `{"error":{"message":"An unexpected error has occurred.","type":"OAuthException","code":2,"is_transient":true}}`)
			} else {
				fmt.Fprint(w, `{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":2804003}}`)
			}
			return
		}
	}
	f.events = append(f.events, req.Data...)
	f.bodies = append(f.bodies, body)
	fmt.Fprintf(w, `{"events_received":%d,"messages":[],"fbtrace_id":"AbCdEf"}`, len(req.Data))
}

func (f *fakeMeta) script(codes ...int) {
	f.mu.Lock()
	f.answers = append(f.answers, codes...)
	f.mu.Unlock()
}

func (f *fakeMeta) received() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.events...)
}

// instance is one running postback (run() in-process).
type instance struct {
	url    string
	cancel context.CancelFunc
	done   chan error
	stderr *syncBuffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func start(t *testing.T, env map[string]string) *instance {
	t.Helper()
	addr := freeAddr(t)
	full := map[string]string{"POSTBACK_ADDR": addr, "POSTBACK_API_TOKEN": testAPIToken, "POSTBACK_RETRY_BACKOFF": "200ms", "POSTBACK_LOG_LEVEL": "warn"}
	for k, v := range env {
		full[k] = v
	}
	if strings.HasPrefix(full["POSTBACK_DATABASE_URL"], "postgres") && full["POSTBACK_SETUP_URL_FILE"] == "" {
		// On PostgreSQL the first-run link would go to the working
		// directory: this package's source.
		full["POSTBACK_SETUP_URL_FILE"] = filepath.Join(t.TempDir(), "postback.setup-url")
	}
	ctx, cancel := context.WithCancel(context.Background())
	inst := &instance{url: "http://" + addr, cancel: cancel, done: make(chan error, 1), stderr: &syncBuffer{}}
	go func() { inst.done <- run(ctx, nil, func(k string) string { return full[k] }, io.Discard, inst.stderr) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(inst.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-inst.done:
			t.Fatalf("postback exited: %v\n%s", err, inst.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("postback did not come up\n%s", inst.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return inst
}

func (in *instance) stop(t *testing.T) {
	t.Helper()
	in.cancel()
	if err := <-in.done; err != nil {
		t.Errorf("postback stopped with %v", err)
	}
}

// syncBuffer is a buffer safe for a writer goroutine and the test at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (in *instance) api(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, in.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+testAPIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// setup creates a Shopify shop with a Meta destination and returns the
// shop's webhook path.
func setup(t *testing.T, in *instance, meta *fakeMeta) string {
	t.Helper()
	var shop struct {
		ID         int64  `json:"id"`
		WebhookURL string `json:"webhook_url"`
	}
	if code := in.api(t, "POST", "/api/v1/shops", map[string]any{"name": "Acme", "source": "shopify", "signing_secret": shopSecret, "trigger": "paid"}, &shop); code != 201 {
		t.Fatalf("create shop: %d", code)
	}
	var dest map[string]any
	if code := in.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID), map[string]any{
		"platform": "meta", "credentials": map[string]any{"pixel_id": pixelID, "access_token": metaToken}, "enabled": true}, &dest); code != 201 {
		t.Fatalf("create destination: %d %v", code, dest)
	}
	i := strings.Index(shop.WebhookURL, "/webhooks/")
	return shop.WebhookURL[i:]
}

var fixtureDate = regexp.MustCompile(`"20\d\d-\d\d-\d\dT`)

// fixture reads a Shopify fixture and moves its dates to yesterday, so the
// order is inside Meta's 7-day window.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "connectors", "testdata", "shopify", name))
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC().Add(-24 * time.Hour).Format("2006-01-02")
	return fixtureDate.ReplaceAll(b, []byte(`"`+day+"T"))
}

func post(t *testing.T, in *instance, path, topic, eventID string, body []byte, secret string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", in.url+path, bytes.NewReader(body))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(m.Sum(nil)))
	req.Header.Set("X-Shopify-Topic", topic)
	req.Header.Set("X-Shopify-Shop-Domain", "acme.myshopify.com")
	req.Header.Set("X-Shopify-Event-Id", eventID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

type eventView struct {
	Status     string `json:"status"`
	Reason     string `json:"reason"`
	Deliveries []struct {
		Status    string `json:"status"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
	} `json:"deliveries"`
}

// waitDelivery polls an event until its first delivery reaches want.
func waitDelivery(t *testing.T, in *instance, eventID any, want string) eventView {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var ev eventView
	for time.Now().Before(deadline) {
		in.api(t, "GET", fmt.Sprintf("/api/v1/events/%v", eventID), nil, &ev)
		if len(ev.Deliveries) > 0 && ev.Deliveries[0].Status == want {
			return ev
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("event %v: delivery never became %s: %+v", eventID, want, ev)
	return ev
}

var (
	eventTime = regexp.MustCompile(`"event_time":\s*\d+`)
	fbcTime   = regexp.MustCompile(`fb\.1\.\d+\.`)
)

// TestShopifyToMetaEndToEnd is the spine: a signed Shopify webhook through
// the real HTTP stack and a real SQLite file, to a fake Meta.
func TestShopifyToMetaEndToEnd(t *testing.T) {
	meta := newFakeMeta(t)
	dir := t.TempDir()
	in := start(t, map[string]string{"POSTBACK_DATABASE_URL": filepath.Join(dir, "postback.db"), "POSTBACK_META_URL": meta.srv.URL})
	defer in.stop(t)
	path := setup(t, in, meta)

	paid := fixture(t, "orders_paid.json")
	code, out := post(t, in, path, "orders/paid", "evt-paid-1", paid, shopSecret)
	if code != 200 || out["status"] != "accepted" {
		t.Fatalf("orders/paid: %d %v", code, out)
	}
	waitDelivery(t, in, out["event_id"], "delivered")

	// The same order described twice more, and the same delivery again.
	for _, c := range []struct{ topic, id, want string }{
		{"orders/updated", "evt-paid-2", "duplicate"},
		{"orders/create", "evt-paid-3", "duplicate"},
		{"orders/paid", "evt-paid-1", "duplicate"},
	} {
		if code, out := post(t, in, path, c.topic, c.id, paid, shopSecret); code != 200 || out["status"] != c.want {
			t.Errorf("%s %s: %d %v, want %s", c.topic, c.id, code, out, c.want)
		}
	}
	pending := fixture(t, "orders_create_pending.json")
	if code, out := post(t, in, path, "orders/create", "evt-pending", pending, shopSecret); code != 200 || out["status"] != "ignored" {
		t.Errorf("pending order: %d %v, want ignored", code, out)
	}
	if code, _ := post(t, in, path, "orders/paid", "evt-forged", paid, "not-the-secret"); code != 401 {
		t.Errorf("bad signature: %d, want 401", code)
	}

	got := meta.received()
	if len(got) != 1 {
		t.Fatalf("Meta received %d events, want exactly 1", len(got))
	}
	meta.mu.Lock()
	body := meta.bodies[0]
	meta.mu.Unlock()
	stable := fbcTime.ReplaceAll(eventTime.ReplaceAll(body, []byte(`"event_time":0`)), []byte("fb.1.0."))
	testutil.GoldenJSON(t, filepath.Join("testdata", "meta_orders_paid.golden.json"), stable, *update)
}

func TestRetryThenDeliverAndPermanentFailure(t *testing.T) {
	meta := newFakeMeta(t)
	in := start(t, map[string]string{"POSTBACK_DATABASE_URL": filepath.Join(t.TempDir(), "p.db"), "POSTBACK_META_URL": meta.srv.URL})
	defer in.stop(t)
	path := setup(t, in, meta)

	meta.script(500, 200)
	code, out := post(t, in, path, "orders/paid", "evt-1", fixture(t, "orders_paid.json"), shopSecret)
	if code != 200 {
		t.Fatalf("webhook: %d %v", code, out)
	}
	ev := waitDelivery(t, in, out["event_id"], "delivered")
	if ev.Deliveries[0].Attempts != 2 {
		t.Errorf("attempts = %d, want 2 (a 500, then a 200)", ev.Deliveries[0].Attempts)
	}

	meta.script(400)
	fulfilled := fixture(t, "orders_fulfilled.json")
	code, out = post(t, in, path, "orders/fulfilled", "evt-2", fulfilled, shopSecret)
	if code != 200 || out["status"] != "accepted" {
		t.Fatalf("webhook: %d %v", code, out)
	}
	ev = waitDelivery(t, in, out["event_id"], "failed")
	if ev.Deliveries[0].Attempts != 1 || !strings.Contains(ev.Deliveries[0].LastError, "Invalid parameter") {
		t.Errorf("permanent failure = %+v, want failed after one attempt with Meta's reason", ev.Deliveries[0])
	}
	time.Sleep(500 * time.Millisecond) // longer than the retry backoff
	meta.mu.Lock()
	requests := meta.requests
	meta.mu.Unlock()
	if requests != 3 {
		t.Errorf("Meta saw %d requests, want 3 (500, 200, 400; no retry of the 400)", requests)
	}
}

// TestPendingDeliveriesSurviveRestart stops the service while Meta is down
// and starts it again: what was accepted is delivered after the restart.
func TestPendingDeliveriesSurviveRestart(t *testing.T) {
	meta := newFakeMeta(t)
	dbPath := filepath.Join(t.TempDir(), "p.db")
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	first := start(t, map[string]string{"POSTBACK_DATABASE_URL": dbPath, "POSTBACK_META_URL": down.URL, "POSTBACK_RETRY_BACKOFF": "1h", "POSTBACK_RETRY_MAX_BACKOFF": "2h"})
	path := setup(t, first, meta)
	code, out := post(t, first, path, "orders/paid", "evt-1", fixture(t, "orders_paid.json"), shopSecret)
	if code != 200 {
		t.Fatalf("webhook: %d %v", code, out)
	}
	id := out["event_id"]
	waitDelivery(t, first, id, "retrying")
	first.stop(t)

	second := start(t, map[string]string{"POSTBACK_DATABASE_URL": dbPath, "POSTBACK_META_URL": meta.srv.URL})
	defer second.stop(t)
	// Redeliver makes the waiting delivery due now instead of in an hour.
	if code := second.api(t, "POST", fmt.Sprintf("/api/v1/events/%v/redeliver", id), map[string]any{"all": true}, nil); code != 202 {
		t.Fatalf("redeliver: %d", code)
	}
	waitDelivery(t, second, id, "delivered")
	if n := len(meta.received()); n != 1 {
		t.Errorf("Meta received %d events after restart, want 1", n)
	}
}

func decodeJSON(resp *http.Response, out any) error {
	return json.NewDecoder(resp.Body).Decode(out)
}
