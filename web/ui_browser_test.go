package web_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/postbackhq/postback/connectors"
	"github.com/postbackhq/postback/delivery"
	"github.com/postbackhq/postback/internal/metrics"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
	"github.com/postbackhq/postback/web"
)

const (
	metaPixel = "1234567890"
	metaToken = "EAAB-browser-test-token"
	metaCode  = "TEST4242"
	shopKey   = "0f3c9a1b2d4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081"
)

// fakeMeta answers like Meta's Conversions API and records each request
// it accepted.
type fakeMeta struct {
	t     *testing.T
	mu    sync.Mutex
	calls []metaBody
}

type metaBody struct {
	Data []struct {
		EventName string `json:"event_name"`
		EventID   string `json:"event_id"`
		UserData  struct {
			Em []string `json:"em"`
		} `json:"user_data"`
	} `json:"data"`
	AccessToken   string `json:"access_token"`
	TestEventCode string `json:"test_event_code"`
}

var (
	metaPath = regexp.MustCompile(`^/v[0-9]+\.[0-9]+/` + metaPixel + `/events$`)
	hex64    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func (f *fakeMeta) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fail := func(status int, code int, msg string) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"message":%q,"type":"OAuthException","code":%d,"fbtrace_id":"AbcFake"}}`, msg, code)
	}
	var body metaBody
	if r.Method != http.MethodPost || !metaPath.MatchString(r.URL.Path) {
		fail(http.StatusNotFound, 803, "unknown path "+r.URL.Path)
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fail(http.StatusBadRequest, 100, "body is not JSON")
		return
	}
	if body.AccessToken != metaToken {
		fail(http.StatusBadRequest, 190, "Invalid OAuth access token")
		return
	}
	for _, e := range body.Data {
		if e.EventName != "Purchase" || e.EventID == "" || len(e.UserData.Em) == 0 || !hex64.MatchString(e.UserData.Em[0]) {
			fail(http.StatusBadRequest, 100, "Invalid parameter: each event needs a name, an id and hashed identifiers")
			return
		}
	}
	f.mu.Lock()
	f.calls = append(f.calls, body)
	f.mu.Unlock()
	fmt.Fprintf(w, `{"events_received":%d,"messages":[],"fbtrace_id":"AbcFake"}`, len(body.Data))
}

func (f *fakeMeta) received() []metaBody {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]metaBody(nil), f.calls...)
}

// stack is the whole program on httptest: the real Shopify connector, the
// real Meta sender against a fake Meta, the committer and the delivery
// worker.
type stack struct {
	srv   *httptest.Server
	store *store.Store
	meta  *fakeMeta
}

func newStack(t *testing.T) *stack {
	t.Helper()
	st := storetest.SQLite(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	meta := &fakeMeta{t: t}
	metaSrv := httptest.NewServer(meta)
	senders := map[string]platforms.Sender{
		"meta": platforms.NewMeta(platforms.Config{BaseURL: metaSrv.URL, Client: &http.Client{Timeout: 5 * time.Second}}),
	}
	routing := delivery.NewRouting(senders)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	worker := delivery.New(delivery.Config{Store: st, Senders: senders, Log: log, Metrics: m, Poll: 100 * time.Millisecond, Backoff: time.Second})
	committer := st.NewCommitter(routing, store.CommitterConfig{OnCommit: func([]int64) { worker.Notify() }})
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = web.NewServer(web.Config{
		Store: st, Committer: committer, Connectors: map[mapping.Source]connectors.Connector{mapping.SourceShopify: connectors.NewShopify()},
		Senders: senders, Routing: routing, Log: log, Metrics: m, Gatherer: reg,
		PublicURL: "http://" + srv.Listener.Addr().String(), Notify: worker.Notify,
	})
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); committer.Run(ctx) }()
	go func() {
		defer wg.Done()
		if err := worker.Run(ctx); err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	t.Cleanup(func() { srv.Close(); cancel(); wg.Wait(); metaSrv.Close() })
	return &stack{srv: srv, store: st, meta: meta}
}

// chromium starts headless Chromium, or skips the test when there is none.
func chromium(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("POSTBACK_TEST_CHROMIUM")
	if path == "" {
		p, err := exec.LookPath("chromium")
		if err != nil {
			t.Skip("chromium not installed: browser tests skipped; .ci/run installs it")
		}
		path = p
	}
	// This machine's network is closed: without these flags Chromium
	// waits on connections of its own (updates, sync, QUIC probes).
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first Do binds the browser's life to its context, so it gets
	// no deadline of its own; a start that hangs is cut off here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start chromium %s: %v", path, err)
		}
	case <-time.After(30 * time.Second):
		cancelCtx()
		t.Fatalf("chromium %s did not start within 30 s", path)
	}
	return ctx
}

// postShopify posts a Shopify fixture, moved to yesterday (Meta refuses
// events older than 7 days), signed as Shopify signs it, and returns the
// answer's status.
func postShopify(t *testing.T, url, secret, fixture, topic string) string {
	t.Helper()
	raw := []byte(`{"id": 1, broken`)
	if fixture != "" {
		var err error
		raw, err = os.ReadFile(filepath.Join("..", "connectors", "testdata", "shopify", fixture))
		if err != nil {
			t.Fatal(err)
		}
	}
	body := bytes.ReplaceAll(raw, []byte("2025-05-14T"), []byte(time.Now().UTC().Add(-24*time.Hour).Format("2006-01-02")+"T"))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-Shopify-Topic", topic)
	req.Header.Set("X-Shopify-Shop-Domain", "northwind-outfitters.myshopify.com")
	req.Header.Set("X-Shopify-Webhook-Id", fmt.Sprintf("wh-%s-%s", topic, fixture))
	req.Header.Set("X-Shopify-Event-Id", fmt.Sprintf("ev-%s-%s", topic, fixture))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook %s %s: %d %v", topic, fixture, resp.StatusCode, err)
	}
	return answer.Status
}

// TestBrowserFromLoginToRedelivery walks the merchant's first day in a
// real browser: log in, add a Shopify shop, copy its webhook URL, add a
// Meta destination and send it a test event, receive a signed order, watch
// it arrive and get delivered on the live events list, open it and
// redeliver it.
func TestBrowserFromLoginToRedelivery(t *testing.T) {
	ctx := chromium(t)
	s := newStack(t)
	if _, err := s.store.CreateUser(context.Background(), adminUser, adminPassword, time.Now()); err != nil {
		t.Fatal(err)
	}
	base := s.srv.URL
	shots := os.Getenv("POSTBACK_SCREENSHOTS") == "1"
	step := func(name string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
			t.Fatalf("%s: %v (at %s)\n%s", name, err, loc, clip(html))
		}
	}
	text := func(sel string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return v
	}
	shot := func(name string) {
		t.Helper()
		if !shots {
			return
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.MkdirAll(filepath.Join("testdata", "screenshots"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", "screenshots", name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	step("open the login page", 10*time.Second, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)))
	shot("login")
	step("log in", 10*time.Second,
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), adminUser),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), adminPassword),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".stats")),
	)

	step("add a Shopify shop", 10*time.Second,
		chromedp.Click(chromedp.CSS(`.nav a[href="/admin/shops"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.empty a[href="/admin/shops/new"]`)),
		chromedp.Click(chromedp.CSS(`.empty a[href="/admin/shops/new"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/admin/shops/new?source=shopify"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/admin/shops/new?source=shopify"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="name"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "Northwind Outfitters"),
		chromedp.SendKeys(chromedp.CSS(`input[name="signing_secret"]`), shopKey),
		chromedp.SendKeys(chromedp.CSS(`input[name="event_id_template"]`), "purchase"),
		chromedp.Click(chromedp.CSS(`form.card button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".has-error .error")),
	)
	mustContain(t, "refused shop form", text(".has-error"), "Must contain {order_id}")
	shot("shop-form-error")
	step("fix the template", 10*time.Second,
		chromedp.SetValue(chromedp.CSS(`input[name="event_id_template"]`), "{order_id}"),
		chromedp.SendKeys(chromedp.CSS(`input[name="signing_secret"]`), shopKey),
		chromedp.Click(chromedp.CSS(`form.card button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#webhook-url")),
	)
	webhookURL, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#webhook-url")))
	if err != nil || !strings.HasPrefix(webhookURL, base+"/webhooks/shopify/") {
		t.Fatalf("webhook URL on the page = %q, %v; want %s/webhooks/shopify/<key>", webhookURL, err, base)
	}
	// Copy it the way a merchant does, and read the clipboard back.
	if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission: &cdpbrowser.PermissionDescriptor{Name: "clipboard-read"}, Setting: cdpbrowser.PermissionSettingGranted, Origin: base,
	}); err != nil {
		t.Fatalf("grant clipboard access: %v", err)
	}
	step("copy the webhook URL", 5*time.Second,
		chromedp.Click(chromedp.CSS(`button[data-copy="#webhook-url"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button.copied[data-copy="#webhook-url"]`)),
	)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	copied, err := chromedp.Run(cctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	cancel()
	if err != nil || copied != webhookURL {
		t.Errorf("clipboard after Copy = %q, %v; want %q", copied, err, webhookURL)
	}
	shot("shop")
	mustContain(t, "shop page", text("main"), "Settings › Notifications › Webhooks", "Order payment")

	step("open the Meta form", 10*time.Second,
		chromedp.Click(chromedp.CSS(`a[href$="/destinations/new"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href$="?platform=meta"]`)),
		chromedp.Click(chromedp.CSS(`a[href$="?platform=meta"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="credentials.pixel_id"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="credentials.pixel_id"]`), metaPixel),
		chromedp.SendKeys(chromedp.CSS(`input[name="credentials.access_token"]`), metaToken),
		chromedp.SendKeys(chromedp.CSS(`input[name="settings.test_event_code"]`), metaCode),
	)
	shot("destination-form")
	step("add the Meta destination and send a test event", 20*time.Second,
		chromedp.Click(chromedp.CSS(`form.form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/test"] button`)),
		chromedp.Click(chromedp.CSS(`form[action$="/test"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#test-result")),
	)
	result := text("#test-result")
	mustContain(t, "test event result", result, "accepted", "HTTP 200", "events_received")
	mustNotContain(t, "destination page", text("main"), metaToken)
	shot("destination-test")

	step("open the live events list", 10*time.Second,
		chromedp.Click(chromedp.CSS(`.nav a[href="/admin/events"]`)),
		chromedp.WaitVisible(chromedp.CSS("#live")),
		chromedp.WaitVisible(chromedp.CSS(".empty-row")),
	)
	if status := postShopify(t, webhookURL, shopKey, "orders_paid.json", "orders/paid"); status != store.StatusAccepted {
		t.Fatalf("signed orders/paid webhook: %s, want accepted", status)
	}
	// No reload: the list refreshes itself until the delivery is done.
	step("watch the order arrive and get delivered", 20*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`#event-rows tr[data-id] .chip-delivered`)),
	)
	row := text("#event-rows tr[data-id]")
	mustContain(t, "event row", row, "6318840291389", "120.94 USD", "accepted", "Meta · delivered")
	shot("events")

	step("open the event", 10*time.Second,
		chromedp.Click(chromedp.CSS(`#event-rows tr[data-id] td.num a`)),
		chromedp.WaitVisible(chromedp.CSS(".delivery .chip-delivered")),
	)
	detail := text("main")
	mustContain(t, "event detail", detail, "Webhook received", "Mapped to a conversion", "Meta · attempt 1 · delivered",
		"Payload sent (hashed identifiers only)", "events_received", "Match quality")
	mustNotContain(t, "event detail", detail, "ava.example@example.com\"]") // the payload carries hashes only
	shot("event")

	step("redeliver", 10*time.Second,
		chromedp.Click(chromedp.CSS(`form.redeliver input[name="all"]`)),
		chromedp.Click(chromedp.CSS(`form.redeliver button`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	mustContain(t, "after redeliver", text(".flash"), "Queued again")
	events, err := s.store.Events(context.Background(), store.EventFilter{})
	if err != nil || len(events) != 1 {
		t.Fatalf("events = %v, %v", events, err)
	}
	waitFor(t, 15*time.Second, "the redelivery to be delivered", func() bool {
		e, err := s.store.Event(context.Background(), events[0].ID)
		return err == nil && len(e.Deliveries) == 1 && e.Deliveries[0].Attempts == 2 && e.Deliveries[0].Status == store.DeliveryDelivered
	})
	// No reload: the event page refreshes itself while a delivery is due.
	waitFor(t, 20*time.Second, "the event page to show the second attempt by itself", func() bool {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Evaluate[string](`(document.querySelector(".timeline") || {innerText: ""}).innerText`))
		return err == nil && strings.Contains(v, "Meta · attempt 2 · delivered")
	})
	mustContain(t, "event after redelivery", text(".timeline"), "Meta · attempt 2 · delivered")

	calls := s.meta.received()
	if len(calls) != 3 {
		t.Fatalf("fake Meta got %d requests, want 3 (test event, delivery, redelivery)", len(calls))
	}
	if !strings.HasPrefix(calls[0].Data[0].EventID, "postback-test-") || calls[1].Data[0].EventID != "6318840291389" || calls[2].Data[0].EventID != "6318840291389" {
		t.Errorf("Meta event ids = %q, %q, %q; want the test event, then the order id twice", calls[0].Data[0].EventID, calls[1].Data[0].EventID, calls[2].Data[0].EventID)
	}
	for i, c := range calls {
		if c.TestEventCode != metaCode {
			t.Errorf("Meta request %d test_event_code = %q, want %q", i, c.TestEventCode, metaCode)
		}
	}

	step("dashboard", 10*time.Second, chromedp.Click(chromedp.CSS(`.nav a[href="/admin/"]`)), chromedp.WaitVisible(chromedp.CSS(".charts")))
	mustContain(t, "dashboard", text(".stats"), "Webhooks received\n1", "Conversions sent\n1")
	mustContain(t, "dashboard", text("main"), "Meta", "100%")
	shot("dashboard")
	step("shops", 10*time.Second, chromedp.Click(chromedp.CSS(`.nav a[href="/admin/shops"]`)), chromedp.WaitVisible(chromedp.CSS("table.table")))
	shot("shops")
	if shots {
		// A fuller set of pages for the screenshots: a pending order, an
		// unreadable body, a token, a dry run and the 404 page.
		if status := postShopify(t, webhookURL, shopKey, "orders_create_pending.json", "orders/create"); status != store.StatusIgnored {
			t.Errorf("pending order: %s, want ignored", status)
		}
		if status := postShopify(t, webhookURL, shopKey, "", "orders/paid"); status != store.StatusError {
			t.Errorf("unreadable body: %s, want error", status)
		}
		step("events with every status", 10*time.Second, chromedp.Navigate(base+"/admin/events"), chromedp.WaitVisible(chromedp.CSS(".chip-error")))
		shot("events")
		step("an unreadable webhook", 10*time.Second, chromedp.Click(chromedp.CSS(`#event-rows tr[data-id] td.num a`)), chromedp.WaitVisible(chromedp.CSS(".reason-error")))
		shot("event-error")
		shops, err := s.store.Shops(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		dests, err := s.store.Destinations(context.Background(), shops[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		step("dry run", 10*time.Second, chromedp.Navigate(fmt.Sprintf("%s/admin/destinations/%d/dry-run?event_id=%d", base, dests[0].ID, events[0].ID)),
			chromedp.WaitVisible(chromedp.CSS("pre.code")))
		shot("dry-run")
		step("create a token", 10*time.Second, chromedp.Navigate(base+"/admin/tokens"), chromedp.WaitVisible(chromedp.CSS(`input[name="name"]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "deploy script"), chromedp.Click(chromedp.CSS(`form.inline-form button`)),
			chromedp.WaitVisible(chromedp.CSS("#new-token")))
		shot("tokens")
		step("not found", 10*time.Second, chromedp.Navigate(base+"/admin/shops/999"), chromedp.WaitVisible(chromedp.CSS(".error-page")))
		shot("not-found")
		step("phone size", 10*time.Second, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(base+"/admin/events"),
			chromedp.WaitVisible(chromedp.CSS("#event-rows tr[data-id]")))
		shot("events-phone")
		step("phone event", 10*time.Second, chromedp.Navigate(fmt.Sprintf("%s/admin/events/%d", base, events[0].ID)), chromedp.WaitVisible(chromedp.CSS(".delivery")))
		shot("event-phone")
		step("phone dashboard", 10*time.Second, chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(".charts")))
		shot("dashboard-phone")
	}
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		<-tick.C
	}
}
