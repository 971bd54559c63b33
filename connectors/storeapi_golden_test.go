package connectors

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

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
