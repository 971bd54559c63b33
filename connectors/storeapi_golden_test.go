package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/postbackhq/postback/connectors/stripetest"
	"github.com/postbackhq/postback/internal/testutil"
	"github.com/postbackhq/postback/mapping"
)

// recordBodies answers handler's answers and keeps every request body.
type recordBodies struct {
	mu     sync.Mutex
	bodies [][]byte
	answer string
}

func (r *recordBodies) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, r.answer)
}

// TestStoreAPIRequestsGolden pins what Postback sends to store APIs: the
// Shopify orders query and subscription mutation, and WooCommerce's new
// webhook.
func TestStoreAPIRequestsGolden(t *testing.T) {
	shop := &recordBodies{answer: `{"data":{"orders":{"pageInfo":{"hasNextPage":false,"endCursor":null},"nodes":[]},
		"webhookSubscriptionCreate":{"userErrors":[]}}}`}
	srv := httptest.NewServer(shop)
	defer srv.Close()
	admin := NewShopifyAdmin(nil)
	cred := StoreCredentials{StoreURL: srv.URL, AdminAPIToken: "shpat_test", APISecret: "app"}
	if _, err := admin.ListOrders(context.Background(), cred, winStart, winEnd, mapping.TriggerFulfilled); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Subscribe(context.Background(), cred, "https://p.example/webhooks/shopify/k", []string{"ORDERS_PAID"}, ""); err != nil {
		t.Fatal(err)
	}
	testutil.GoldenJSON(t, filepath.Join("testdata", "shopify_admin", "orders_query.golden.json"), shop.bodies[0], *update)
	testutil.GoldenJSON(t, filepath.Join("testdata", "shopify_admin", "subscribe.golden.json"), shop.bodies[1], *update)

	woo := &recordBodies{answer: `{"id":1}`}
	wsrv := httptest.NewServer(woo)
	defer wsrv.Close()
	if _, err := NewWooCommerceREST(nil).Subscribe(context.Background(), StoreCredentials{StoreURL: wsrv.URL, ConsumerKey: "ck", ConsumerSecret: "cs"},
		"https://p.example/webhooks/woocommerce/k", []string{"order.updated"}, "chosen-secret"); err != nil {
		t.Fatal(err)
	}
	testutil.GoldenJSON(t, filepath.Join("testdata", "woocommerce_rest", "webhook_create.golden.json"), woo.bodies[0], *update)
}

// TestStripeListRequestsGolden pins the list calls reconciliation makes to
// Stripe (path and query of each page; they carry no body).
func TestStripeListRequestsGolden(t *testing.T) {
	fake := &stripetest.API{Key: "rk_test_1", PageSize: 1}
	in := winStart.Add(time.Hour)
	fake.Add(stripetest.Sessions, map[string]any{"id": "cs_1", "object": "checkout.session", "status": "complete", "created": in.Unix()},
		map[string]any{"id": "cs_2", "object": "checkout.session", "status": "complete", "created": in.Unix()})
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	if _, err := NewStripeAPI(srv.URL, srv.Client()).ListOrders(context.Background(), StoreCredentials{StripeAPIKey: "rk_test_1"},
		winStart, winEnd, mapping.TriggerPaid); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep the queries' & readable
	if err := enc.Encode(got); err != nil {
		t.Fatal(err)
	}
	testutil.GoldenJSON(t, filepath.Join("testdata", "stripe_api", "list_requests.golden.json"), b.Bytes(), *update)
}
