package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postbackhq/postback/connectors/stripetest"
	"github.com/postbackhq/postback/mapping"
)

var (
	winStart = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	winEnd   = time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
)

// fakeShopifyGraphQL is a GraphQL Admin API that pages its orders two at a
// time, checks the token, version path and query, and can be told to
// throttle.
type fakeShopifyGraphQL struct {
	t        *testing.T
	mu       sync.Mutex
	orders   []json.RawMessage
	throttle []string // per request: "", "graphql" (THROTTLED body) or "429"
	calls    int
	queries  []string
}

func (f *fakeShopifyGraphQL) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if r.Method != http.MethodPost || r.URL.Path != "/admin/api/"+ShopifyAdminVersion+"/graphql.json" {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("X-Shopify-Access-Token") != "shpat_test" {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}`)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !strings.Contains(req.Query, "orders(") {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	mode := ""
	if len(f.throttle) > 0 {
		mode, f.throttle = f.throttle[0], f.throttle[1:]
	}
	switch mode {
	case "429":
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	case "graphql":
		fmt.Fprint(w, `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED","documentation":"https://shopify.dev/api/usage/rate-limits"}}],
			"extensions":{"cost":{"requestedQueryCost":752,"actualQueryCost":null,"throttleStatus":{"maximumAvailable":2000.0,"currentlyAvailable":652,"restoreRate":100.0}}}}`)
		return
	}
	q, _ := req.Variables["query"].(string)
	f.queries = append(f.queries, q)
	start := 0
	if after, ok := req.Variables["after"].(string); ok {
		fmt.Sscanf(after, "cursor-%d", &start)
	}
	first := int(req.Variables["first"].(float64))
	end := min(start+first, len(f.orders))
	page := map[string]any{
		"pageInfo": map[string]any{"hasNextPage": end < len(f.orders), "endCursor": fmt.Sprintf("cursor-%d", end)},
		"nodes":    f.orders[start:end],
	}
	json.NewEncoder(w).Encode(map[string]any{
		"data": map[string]any{"orders": page},
		"extensions": map[string]any{"cost": map[string]any{"requestedQueryCost": 300, "actualQueryCost": 40,
			"throttleStatus": map[string]any{"maximumAvailable": 2000.0, "currentlyAvailable": 1960, "restoreRate": 100.0}}},
	})
}

func shopifyAdminOrder(t *testing.T, id string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "shopify_admin", "order.json"))
	if err != nil {
		t.Fatal(err)
	}
	return json.RawMessage(strings.ReplaceAll(string(b), "820982911946154508", id))
}

func TestShopifyAdminListsPagesAndWaitsOutThrottling(t *testing.T) {
	fake := &fakeShopifyGraphQL{t: t, throttle: []string{"", "graphql", "429"}}
	for _, id := range []string{"1001", "1002", "1003"} {
		fake.orders = append(fake.orders, shopifyAdminOrder(t, id))
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	var slept []time.Duration
	admin := NewShopifyAdmin(srv.Client()).WithSleep(func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		return nil
	})
	admin.PageSize = 2
	orders, err := admin.ListOrders(context.Background(), StoreCredentials{StoreURL: srv.URL, AdminAPIToken: "shpat_test"}, winStart, winEnd, mapping.TriggerPaid)
	if err != nil {
		t.Fatalf("ListOrders: %v", err)
	}
	if len(orders) != 3 || orders[0].ID != "1001" || orders[2].ID != "1003" {
		t.Fatalf("orders = %+v, want 1001..1003", orders)
	}
	// The THROTTLED answer waits (752-652)/100 = 1 s; the 429 its Retry-After.
	want := []time.Duration{time.Second, 2 * time.Second}
	if fmt.Sprint(slept) != fmt.Sprint(want) {
		t.Errorf("waited %v, want %v", slept, want)
	}
	wantQ := "financial_status:paid updated_at:>='2026-12-01T00:00:00Z' updated_at:<'2026-12-03T00:00:00Z'"
	if len(fake.queries) == 0 || fake.queries[0] != wantQ {
		t.Errorf("search query = %q, want %q", fake.queries, wantQ)
	}

	// Each order maps exactly as an orders/paid webhook, click id from the
	// customer journey's landing page included.
	wh, err := NewShopify().Parse(orders[0].Header, orders[0].Body, mapping.ShopRules{Trigger: mapping.TriggerPaid})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if wh.Outcome != mapping.OutcomeConversion || wh.OrderID != "1001" || wh.Topic != "orders/paid" {
		t.Fatalf("webhook = %+v", wh)
	}
	c := wh.Conversion
	if c.Value.String() != "120.94" || c.Currency != "USD" || c.ClickIDs.GCLID != "Cj0KCQiA-journey-gclid" || len(c.Items) != 1 || c.Items[0].Quantity != 1 {
		t.Errorf("conversion = value %s %s, gclid %q, items %+v", c.Value, c.Currency, c.ClickIDs.GCLID, c.Items)
	}
}

func TestShopifyAdminErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		token   string
		want    error
	}{
		{"wrong token", nil, "shpat_wrong", ErrStoreAuth},
		{"server error", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }, "shpat_test", ErrStoreUnavailable},
		{"not the store", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>hello</html>") }, "shpat_test", ErrStoreBadAnswer},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
		}, "shpat_test", ErrStoreBadAnswer},
		{"access denied", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"data":null,"errors":[{"message":"Access denied for orders field.","extensions":{"code":"ACCESS_DENIED"}}]}`)
		}, "shpat_test", ErrStoreAuth},
		{"throttled for too long", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
		}, "shpat_test", ErrStoreUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h http.Handler = &fakeShopifyGraphQL{t: t}
			if tt.handler != nil {
				h = tt.handler
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			admin := NewShopifyAdmin(nil).WithSleep(func(context.Context, time.Duration) error { return nil })
			_, err := admin.ListOrders(context.Background(), StoreCredentials{StoreURL: srv.URL, AdminAPIToken: tt.token}, winStart, winEnd, mapping.TriggerPaid)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), tt.token) {
				t.Errorf("error %q carries the token", err)
			}
		})
	}
}

func TestWooCommerceRESTFollowsPages(t *testing.T) {
	var pages []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "ck_1" || p != "cs_1" || r.URL.Path != "/wp-json/wc/v3/orders" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		q := r.URL.Query()
		if q.Get("modified_after") != "2026-12-01T00:00:00" || q.Get("modified_before") != "2026-12-03T00:00:00" || q.Get("per_page") != "2" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		pages = append(pages, q.Get("page"))
		w.Header().Set("X-WP-TotalPages", "2")
		w.Header().Set("X-WP-Total", "3")
		if q.Get("page") == "1" {
			fmt.Fprint(w, `[{"id":11,"status":"processing"},{"id":12,"status":"completed"}]`)
		} else {
			fmt.Fprint(w, `[{"id":13,"status":"processing"}]`)
		}
	}))
	defer srv.Close()
	woo := NewWooCommerceREST(nil)
	woo.PageSize = 2
	orders, err := woo.ListOrders(context.Background(), StoreCredentials{StoreURL: srv.URL, ConsumerKey: "ck_1", ConsumerSecret: "cs_1"}, winStart, winEnd, mapping.TriggerPaid)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range orders {
		ids = append(ids, o.ID)
		if o.Header.Get("X-WC-Webhook-Topic") != "order.updated" {
			t.Errorf("order %s topic %q", o.ID, o.Header.Get("X-WC-Webhook-Topic"))
		}
	}
	if fmt.Sprint(ids) != "[11 12 13]" || fmt.Sprint(pages) != "[1 2]" {
		t.Errorf("ids %v from pages %v, want [11 12 13] from [1 2]", ids, pages)
	}
	_, err = woo.ListOrders(context.Background(), StoreCredentials{StoreURL: srv.URL, ConsumerKey: "ck_1", ConsumerSecret: "wrong"}, winStart, winEnd, mapping.TriggerPaid)
	if !errors.Is(err, ErrStoreAuth) {
		t.Errorf("wrong secret: %v, want ErrStoreAuth", err)
	}
	_, err = woo.ListOrders(context.Background(), StoreCredentials{StoreURL: "http://woo.example.com", ConsumerKey: "ck_1", ConsumerSecret: "cs_1"}, winStart, winEnd, mapping.TriggerPaid)
	if err == nil {
		t.Error("credentials would go over plain http to a remote host")
	}
}

// stripeObject reads a webhook fixture's data.object, with id and created
// replaced.
func stripeObject(t *testing.T, file, id string, created time.Time) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "stripe", file))
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Data struct {
			Object map[string]any `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	ev.Data.Object["id"], ev.Data.Object["created"] = id, created.Unix()
	return ev.Data.Object
}

// TestStripeAPIListsEveryPaidObject: reconciliation lists what the webhook
// path converts (completed Checkout Sessions, paid invoices, succeeded
// PaymentIntents), page by page within the window, sessions first, and
// each listed object parses as its webhook would, with the same order
// keys.
func TestStripeAPIListsEveryPaidObject(t *testing.T) {
	in := winStart.Add(time.Hour)
	fake := &stripetest.API{Key: "rk_test_1"}
	session := func(id, pi string) map[string]any {
		o := stripeObject(t, "checkout_session_completed.json", id, in)
		o["payment_intent"] = pi
		return o
	}
	fake.Add(stripetest.Sessions, session("cs_test_1", "pi_cs_1"), session("cs_test_2", "pi_cs_2"), session("cs_test_3", "pi_cs_3"),
		session("cs_test_before", "pi_x"))
	fake.Add(stripetest.Sessions, map[string]any{"id": "cs_test_open", "object": "checkout.session", "status": "open", "created": in.Unix()})
	fake.Objects(stripetest.Sessions)[3]["created"] = winStart.Add(-time.Second).Unix() // outside the window
	sub := stripeObject(t, "invoice_paid_subscription_create.json", "in_test_1", in)
	sub["status_transitions"] = map[string]any{"paid_at": in.Add(time.Minute).Unix()}
	fake.Add(stripetest.Invoices, sub)
	pi := stripeObject(t, "payment_intent_succeeded.json", "pi_test_1", in)
	processing := stripeObject(t, "payment_intent_succeeded.json", "pi_test_processing", in)
	processing["status"] = "processing"
	fake.Add(stripetest.PaymentIntents, pi, processing)
	srv := httptest.NewServer(fake)
	defer srv.Close()

	api := NewStripeAPI(srv.URL, srv.Client())
	orders, err := api.ListOrders(context.Background(), StoreCredentials{StripeAPIKey: "rk_test_1"}, winStart, winEnd, mapping.TriggerPaid)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range orders {
		ids = append(ids, o.ID)
	}
	if want := "[cs_test_1 cs_test_2 cs_test_3 in_test_1 pi_test_1]"; fmt.Sprint(ids) != want {
		t.Errorf("listed %v, want %s", ids, want)
	}
	wantCalls := "[/v1/checkout/sessions? /v1/checkout/sessions?cs_test_2 /v1/invoices? /v1/payment_intents?]"
	if got := fmt.Sprint(fake.Calls()); got != wantCalls {
		t.Errorf("calls %s, want %s", got, wantCalls)
	}
	tests := []struct {
		order     int
		topic     string
		orderID   string
		aliases   string
		eventTime time.Time
	}{
		{0, "checkout.session.completed", "cs_test_1", "[pi_cs_1]", in},
		{3, "invoice.paid", "in_test_1", "[pi_3PXExampleSubCreate09]", in.Add(time.Minute)},
		{4, "payment_intent.succeeded", "pi_test_1", "[ch_3PVExampleElements03QrSt]", in},
	}
	for _, tt := range tests {
		if tt.order >= len(orders) {
			t.Fatalf("no order %d", tt.order)
		}
		o := orders[tt.order]
		wh, err := NewStripe().Parse(o.Header, o.Body, mapping.ShopRules{Trigger: mapping.TriggerPaid})
		if err != nil || wh.Outcome != mapping.OutcomeConversion {
			t.Errorf("%s: Parse = %+v, %v; want a conversion", tt.orderID, wh, err)
			continue
		}
		if wh.Topic != tt.topic || wh.OrderID != tt.orderID || fmt.Sprint(wh.OrderAliases) != tt.aliases || !wh.Conversion.EventTime.Equal(tt.eventTime) {
			t.Errorf("%s: topic %s, order %s, aliases %v, time %s; want %s, %s, %s, %s", tt.orderID, wh.Topic, wh.OrderID, wh.OrderAliases,
				wh.Conversion.EventTime, tt.topic, tt.orderID, tt.aliases, tt.eventTime)
		}
	}

	_, err = api.ListOrders(context.Background(), StoreCredentials{StripeAPIKey: "rk_test_wrong"}, winStart, winEnd, mapping.TriggerPaid)
	if !errors.Is(err, ErrStoreAuth) || strings.Contains(err.Error(), "rk_test_wrong") {
		t.Errorf("wrong key: %v, want ErrStoreAuth without the key", err)
	}
	for status, want := range map[int]error{http.StatusTooManyRequests: ErrStoreUnavailable, http.StatusInternalServerError: ErrStoreUnavailable} {
		fake.Status = status
		_, err = api.ListOrders(context.Background(), StoreCredentials{StripeAPIKey: "rk_test_1"}, winStart, winEnd, mapping.TriggerPaid)
		if !errors.Is(err, want) {
			t.Errorf("HTTP %d: %v, want %v", status, err, want)
		}
	}
}

func TestShopifyJourneyGivesClickIDs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Query     string         `json:"query"`
			Variables map[string]any `json:"variables"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		if r.Header.Get("X-Shopify-Access-Token") != "shpat_test" || !strings.Contains(req.Query, "customerJourneySummary") ||
			req.Variables["id"] != "gid://shopify/Order/450789469" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, `{"data":{"order":{"customerJourneySummary":{
			"firstVisit":{"landingPage":"https://acme.example/?fbclid=IwFirstVisit","referrerUrl":"https://facebook.com/"},
			"lastVisit":{"landingPage":"https://acme.example/p/1?gclid=CjLastVisit&utm_source=google","referrerUrl":"https://google.com/"}}}},
			"extensions":{"cost":{"requestedQueryCost":2,"throttleStatus":{"maximumAvailable":2000,"currentlyAvailable":1998,"restoreRate":100}}}}`)
	}))
	defer srv.Close()
	admin := NewShopifyAdmin(nil)
	j, err := admin.Journey(context.Background(), StoreCredentials{StoreURL: srv.URL, AdminAPIToken: "shpat_test"}, "450789469")
	if err != nil {
		t.Fatal(err)
	}
	c := EnrichFromJourney(mapping.Conversion{OrderID: "450789469"}, j, nil)
	if c.ClickIDs.GCLID != "CjLastVisit" || c.ClickIDs.FBCLID != "IwFirstVisit" || c.SourceURL != "https://acme.example/p/1?gclid=CjLastVisit&utm_source=google" {
		t.Errorf("enriched = %+v, source %q", c.ClickIDs, c.SourceURL)
	}
	kept := EnrichFromJourney(mapping.Conversion{ClickIDs: mapping.ClickIDs{GCLID: "FromWebhook"}}, j, nil)
	if kept.ClickIDs.GCLID != "FromWebhook" {
		t.Errorf("a click id from the webhook was overwritten: %q", kept.ClickIDs.GCLID)
	}
	if _, err := admin.Journey(context.Background(), StoreCredentials{StoreURL: srv.URL, AdminAPIToken: "shpat_test"}, "cs_123"); err == nil {
		t.Error("a non-Shopify order id was looked up")
	}
}

func TestStripeWebhookEndpoints(t *testing.T) {
	type endpoint struct {
		ID            string   `json:"id"`
		Object        string   `json:"object"`
		URL           string   `json:"url"`
		Status        string   `json:"status"`
		EnabledEvents []string `json:"enabled_events"`
		Secret        string   `json:"secret,omitempty"`
	}
	var mu sync.Mutex
	eps := []*endpoint{{ID: "we_old", Object: "webhook_endpoint", URL: "https://p.example/webhooks/stripe/k", Status: "disabled", EnabledEvents: []string{"checkout.session.completed"}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer rk_test_1" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":{"type":"invalid_request_error","message":"Invalid API Key"}}`)
			return
		}
		r.ParseForm()
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/webhook_endpoints":
			json.NewEncoder(w).Encode(map[string]any{"object": "list", "has_more": false, "url": "/v1/webhook_endpoints", "data": eps})
		case r.Method == http.MethodPost && r.URL.Path == "/v1/webhook_endpoints":
			var events []string
			for i := 0; r.PostForm.Get(fmt.Sprintf("enabled_events[%d]", i)) != ""; i++ {
				events = append(events, r.PostForm.Get(fmt.Sprintf("enabled_events[%d]", i)))
			}
			if r.PostForm.Get("url") == "" || len(events) == 0 || r.PostForm.Get("api_version") == "" {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"error":{"type":"invalid_request_error","message":"bad form %s"}}`, r.PostForm.Encode())
				return
			}
			ep := &endpoint{ID: "we_new", Object: "webhook_endpoint", URL: r.PostForm.Get("url"), Status: "enabled", EnabledEvents: events, Secret: "whsec_new"}
			eps = append(eps, ep)
			json.NewEncoder(w).Encode(ep)
		case r.Method == http.MethodPost && r.URL.Path == "/v1/webhook_endpoints/we_old":
			if r.PostForm.Get("disabled") != "false" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			eps[0].Status = "enabled"
			json.NewEncoder(w).Encode(eps[0])
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"type":"invalid_request_error","message":"not found"}}`)
		}
	}))
	defer srv.Close()
	api := NewStripeAPI(srv.URL, srv.Client())
	cred := StoreCredentials{StripeAPIKey: "rk_test_1"}
	subs, err := api.Subscriptions(context.Background(), cred)
	if err != nil || len(subs) != 1 || subs[0].Active || subs[0].Status != "disabled" {
		t.Fatalf("subscriptions = %+v, %v", subs, err)
	}
	if err := api.Reactivate(context.Background(), cred, subs[0]); err != nil {
		t.Fatal(err)
	}
	secret, err := api.Subscribe(context.Background(), cred, "https://p.example/webhooks/stripe/k", Topics("stripe", false), "")
	if err != nil || secret != "whsec_new" {
		t.Fatalf("subscribe = %q, %v; want the new endpoint's secret", secret, err)
	}
	subs, _ = api.Subscriptions(context.Background(), cred)
	if len(subs) != 6 || !subs[0].Active {
		t.Errorf("after repair: %+v", subs)
	}
	if _, err := api.Subscriptions(context.Background(), StoreCredentials{StripeAPIKey: "rk_wrong"}); !errors.Is(err, ErrStoreAuth) {
		t.Errorf("wrong key: %v", err)
	}
}

func TestWooCommerceRESTThrottledAndGarbage(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		check   func(error) bool
	}{
		{"429 with Retry-After", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
		}, func(err error) bool {
			var th *ThrottledError
			return errors.As(err, &th) && th.RetryAfter == 30*time.Second && errors.Is(err, ErrStoreUnavailable)
		}},
		{"WordPress without WooCommerce", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"code":"rest_no_route","message":"No route was found matching the URL and request method."}`)
		}, func(err error) bool { return errors.Is(err, ErrStoreBadAnswer) }},
		{"HTML page", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<!doctype html><p>hello") },
			func(err error) bool { return errors.Is(err, ErrStoreBadAnswer) }},
		{"forbidden", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) },
			func(err error) bool { return errors.Is(err, ErrStoreAuth) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			_, err := NewWooCommerceREST(nil).ListOrders(context.Background(), StoreCredentials{StoreURL: srv.URL, ConsumerKey: "ck", ConsumerSecret: "cs_secret"}, winStart, winEnd, mapping.TriggerPaid)
			if !tt.check(err) || strings.Contains(fmt.Sprint(err), "cs_secret") {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "2", "1.5", "-3", "Wed, 21 Oct 2026 07:28:00 GMT", "soon", "1e400"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d := retryAfter(v, now, 10*time.Second); d < 0 {
			t.Errorf("retryAfter(%q) = %v, negative", v, d)
		}
	})
}

// FuzzShopifyAdminOrder: whatever the GraphQL Admin API answers for an
// order, shaping it as a webhook and parsing it never panics.
func FuzzShopifyAdminOrder(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "shopify_admin", "order.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"legacyResourceId":"1","customer":null,"billingAddress":null,"customerJourneySummary":{"lastVisit":null}}`))
	f.Fuzz(func(t *testing.T, node []byte) {
		var o gqlOrder
		if json.Unmarshal(node, &o) != nil {
			return
		}
		body, err := json.Marshal(o.restOrder())
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set("X-Shopify-Topic", "orders/paid")
		NewShopify().Parse(h, body, mapping.ShopRules{Trigger: mapping.TriggerPaid})
	})
}
