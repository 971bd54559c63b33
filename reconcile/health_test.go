package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postbackhq/postback/connectors"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

const publicURL = "https://postback.example.com"

// fakeWooWebhooks is WooCommerce's REST webhooks resource.
type fakeWooWebhooks struct {
	mu    sync.Mutex
	hooks []map[string]any
	next  int
}

func (f *fakeWooWebhooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, p, ok := r.BasicAuth(); !ok || u != "ck" || p != "cs" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/wp-json/wc/v3/webhooks":
		w.Header().Set("X-WP-TotalPages", "1")
		json.NewEncoder(w).Encode(f.hooks)
	case r.Method == http.MethodPost && r.URL.Path == "/wp-json/wc/v3/webhooks":
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in["secret"] == "" || in["delivery_url"] == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.next++
		in["id"] = 100 + f.next
		f.hooks = append(f.hooks, in)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(in)
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/wp-json/wc/v3/webhooks/"):
		id := strings.TrimPrefix(r.URL.Path, "/wp-json/wc/v3/webhooks/")
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		for _, h := range f.hooks {
			if fmt.Sprint(h["id"]) == id {
				h["status"] = in["status"]
				json.NewEncoder(w).Encode(h)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func healthReconciler(st *store.Store, regs map[mapping.Source]connectors.Registrar) *Reconciler {
	return New(Config{Store: st, Routing: routing{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registrars: regs, PublicURL: publicURL, Jitter: func(time.Duration) time.Duration { return 0 }})
}

// TestWooCommerceDisabledWebhookIsReportedAndRepaired: WooCommerce disabled
// one subscription after failed deliveries and the other was never made;
// the check says so, Connect repairs both with Postback's chosen secret.
func TestWooCommerceDisabledWebhookIsReportedAndRepaired(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	fake := &fakeWooWebhooks{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	sh, err := st.CreateShop(ctx, store.Shop{Name: "Woo", Source: mapping.SourceWooCommerce, SigningSecret: "wc-secret", Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveStoreAPI(ctx, store.StoreAPI{ShopID: sh.ID, URL: srv.URL, Credentials: map[string]string{"consumer_key": "ck", "consumer_secret": "cs"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	url := WebhookURL(publicURL, sh)
	fake.hooks = []map[string]any{
		{"id": 7, "name": "old", "status": "disabled", "topic": "order.updated", "delivery_url": url},
		{"id": 8, "name": "someone else's", "status": "active", "topic": "order.created", "delivery_url": "https://other.example/hook"},
	}
	r := healthReconciler(st, map[mapping.Source]connectors.Registrar{mapping.SourceWooCommerce: connectors.NewWooCommerceREST(srv.Client())})
	h, err := r.CheckWebhooks(ctx, sh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h.OK || len(h.Inactive) != 1 || fmt.Sprint(h.Missing) != "[order.created order.updated]" {
		t.Fatalf("check = %+v, want the disabled one and both topics missing", h)
	}
	if api, _ := st.StoreAPI(ctx, sh.ID); api.WebhooksOK || len(api.WebhooksProblems) != 2 {
		t.Errorf("recorded health = %v %v", api.WebhooksOK, api.WebhooksProblems)
	}
	h, err = r.ConnectWebhooks(ctx, sh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !h.OK || h.Reactivated != 1 || h.Created != 1 {
		t.Fatalf("after connect = %+v, want ok, 1 reactivated, 1 created", h)
	}
	after, _ := st.Shop(ctx, sh.ID)
	if after.SigningSecret != "wc-secret" || fake.hooks[2]["secret"] != "wc-secret" {
		t.Errorf("the created webhook's secret is not the shop's signing secret")
	}
	if api, _ := st.StoreAPI(ctx, sh.ID); !api.WebhooksOK {
		t.Errorf("recorded health after repair = %v %v", api.WebhooksOK, api.WebhooksProblems)
	}
	// Connecting again changes nothing.
	if h, err := r.ConnectWebhooks(ctx, sh.ID); err != nil || h.Created != 0 || h.Reactivated != 0 || len(fake.hooks) != 3 {
		t.Errorf("second connect = %+v, %v, %d hooks", h, err, len(fake.hooks))
	}
}

// fakeShopifyWebhooks is the GraphQL Admin API's webhookSubscriptions.
type fakeShopifyWebhooks struct {
	mu   sync.Mutex
	subs []map[string]any
}

func (f *fakeShopifyWebhooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("X-Shopify-Access-Token") != "shpat" || r.URL.Path != "/admin/api/"+connectors.ShopifyAdminVersion+"/graphql.json" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	switch {
	case strings.Contains(req.Query, "webhookSubscriptionCreate("):
		s := map[string]any{"id": fmt.Sprintf("gid://shopify/WebhookSubscription/%d", len(f.subs)+1), "topic": req.Variables["topic"], "uri": req.Variables["uri"]}
		f.subs = append(f.subs, s)
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"webhookSubscriptionCreate": map[string]any{"webhookSubscription": s, "userErrors": []any{}}}})
	case strings.Contains(req.Query, "webhookSubscriptions("):
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"webhookSubscriptions": map[string]any{
			"pageInfo": map[string]any{"hasNextPage": false, "endCursor": nil}, "nodes": f.subs}}})
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

// TestShopifyDeletedSubscriptionIsReportedAndRepaired: Shopify deleted the
// orders/paid subscription after failed deliveries; the check reports it,
// Connect creates it again and the shop signs with the app's secret.
func TestShopifyDeletedSubscriptionIsReportedAndRepaired(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	fake := &fakeShopifyWebhooks{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	sh, err := st.CreateShop(ctx, store.Shop{Name: "Acme", Source: mapping.SourceShopify, Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveStoreAPI(ctx, store.StoreAPI{ShopID: sh.ID, URL: srv.URL, Credentials: map[string]string{"admin_api_token": "shpat", "api_secret": "app-secret"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	url := WebhookURL(publicURL, sh)
	fake.subs = []map[string]any{
		{"id": "gid://shopify/WebhookSubscription/1", "topic": "ORDERS_UPDATED", "uri": url},
		{"id": "gid://shopify/WebhookSubscription/2", "topic": "REFUNDS_CREATE", "uri": url},
		{"id": "gid://shopify/WebhookSubscription/3", "topic": "ORDERS_PAID", "uri": "https://old-host.example/webhooks/shopify/x"},
	}
	r := healthReconciler(st, map[mapping.Source]connectors.Registrar{mapping.SourceShopify: connectors.NewShopifyAdmin(srv.Client())})
	h, err := r.CheckWebhooks(ctx, sh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h.OK || fmt.Sprint(h.Missing) != "[ORDERS_PAID]" {
		t.Fatalf("check = %+v, want ORDERS_PAID missing (the other points elsewhere)", h)
	}
	h, err = r.ConnectWebhooks(ctx, sh.ID)
	if err != nil || !h.OK || h.Created != 1 {
		t.Fatalf("connect = %+v, %v", h, err)
	}
	if got := fake.subs[len(fake.subs)-1]; got["topic"] != "ORDERS_PAID" || got["uri"] != url {
		t.Errorf("created %v", got)
	}
	if after, _ := st.Shop(ctx, sh.ID); after.SigningSecret != "app-secret" {
		t.Errorf("signing secret = %q, want the app's secret", after.SigningSecret)
	}
}

func TestConnectNeedsCredentials(t *testing.T) {
	st := storetest.SQLite(t)
	sh, err := st.CreateShop(context.Background(), store.Shop{Name: "Acme", Source: mapping.SourceShopify, Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := healthReconciler(st, map[mapping.Source]connectors.Registrar{mapping.SourceShopify: connectors.NewShopifyAdmin(nil)})
	if _, err := r.ConnectWebhooks(context.Background(), sh.ID); err == nil || !strings.Contains(err.Error(), "not set") {
		t.Errorf("connect without credentials: %v", err)
	}
}

// TestWebhookCheckRefusedIsAWebhookProblem: a key that may read orders but
// not webhooks shows as a webhook problem, not as rejected credentials.
func TestWebhookCheckRefusedIsAWebhookProblem(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }))
	defer srv.Close()
	sh, _ := st.CreateShop(ctx, store.Shop{Name: "Woo", Source: mapping.SourceWooCommerce, Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, time.Now())
	st.SaveStoreAPI(ctx, store.StoreAPI{ShopID: sh.ID, URL: srv.URL, Credentials: map[string]string{"consumer_key": "ck", "consumer_secret": "cs"}}, time.Now())
	r := healthReconciler(st, map[mapping.Source]connectors.Registrar{mapping.SourceWooCommerce: connectors.NewWooCommerceREST(srv.Client())})
	if _, err := r.CheckWebhooks(ctx, sh.ID); err == nil {
		t.Fatal("check succeeded against a 403")
	}
	api, _ := st.StoreAPI(ctx, sh.ID)
	if api.Status == store.StoreAPIAuthFailed || api.WebhooksOK || len(api.WebhooksProblems) != 1 || !api.BackoffUntil.IsZero() {
		t.Errorf("store api = status %q, webhooks ok %v %v, backoff %v", api.Status, api.WebhooksOK, api.WebhooksProblems, api.BackoffUntil)
	}
}

// TestOnDemandOnlyStillChecksWebhooks: with scheduled reconciliation off
// (POSTBACK_RECONCILE_INTERVAL=0) the loop's tick still runs the hourly
// webhook check, and lists no orders.
func TestOnDemandOnlyStillChecksWebhooks(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	fake := &fakeWooWebhooks{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	sh, err := st.CreateShop(ctx, store.Shop{Name: "Woo", Source: mapping.SourceWooCommerce, SigningSecret: "wc-secret", Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveStoreAPI(ctx, store.StoreAPI{ShopID: sh.ID, URL: srv.URL, Credentials: map[string]string{"consumer_key": "ck", "consumer_secret": "cs"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	lister := &fakeLister{orders: []connectors.StoreOrder{wooOrder(t, "8400")}}
	now := time.Now()
	for _, onDemand := range []bool{true, false} {
		r := New(Config{Store: st, Routing: routing{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), PublicURL: publicURL,
			OnDemandOnly: onDemand, Now: func() time.Time { return now }, Jitter: func(time.Duration) time.Duration { return 0 },
			Connectors: map[mapping.Source]connectors.Connector{mapping.SourceWooCommerce: connectors.NewWooCommerce()},
			Listers:    map[mapping.Source]connectors.OrderLister{mapping.SourceWooCommerce: lister},
			Registrars: map[mapping.Source]connectors.Registrar{mapping.SourceWooCommerce: connectors.NewWooCommerceREST(srv.Client())}})
		runs := r.Tick(ctx)
		api, err := st.StoreAPI(ctx, sh.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantRuns, wantCalls := 0, 0
		if !onDemand {
			wantRuns, wantCalls = 1, 1
		}
		if runs != wantRuns || lister.count() != wantCalls || api.WebhooksCheckedAt.IsZero() || api.WebhooksOK {
			t.Errorf("on demand only %v: %d runs, %d listings, webhooks checked at %v (ok %v); want %d, %d, a failed check",
				onDemand, runs, lister.count(), api.WebhooksCheckedAt, api.WebhooksOK, wantRuns, wantCalls)
		}
		now = now.Add(2 * time.Hour) // the next hourly check is due
	}
}
