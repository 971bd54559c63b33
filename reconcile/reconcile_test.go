package reconcile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/postbackhq/postback/connectors"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

type routing struct{}

func (routing) Accepts(string, map[string]string, bool) bool { return true }
func (routing) Adjusts(string) bool                          { return false }
func (routing) MaxAge(string) time.Duration                  { return 7 * 24 * time.Hour }

// fakeLister answers a fixed list of orders, or an error, and counts calls.
type fakeLister struct {
	mu     sync.Mutex
	orders []connectors.StoreOrder
	err    error
	calls  int
}

func (f *fakeLister) ListOrders(context.Context, connectors.StoreCredentials, time.Time, time.Time, mapping.Trigger) ([]connectors.StoreOrder, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.orders, f.err
}

func (f *fakeLister) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

var wooDate = regexp.MustCompile(`"(date_[a-z_]+)":"20\d\d-\d\d-\d\dT`)

// wooOrder is the WooCommerce fixture as order id, paid yesterday.
func wooOrder(t *testing.T, id string) connectors.StoreOrder {
	t.Helper()
	return wooOrderAt(t, id, time.Now().Add(-24*time.Hour))
}

// wooOrderAt is the WooCommerce fixture as order id, paid on paid's day.
func wooOrderAt(t *testing.T, id string, paid time.Time) connectors.StoreOrder {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "connectors", "testdata", "woocommerce", "order_updated_processing.json"))
	if err != nil {
		t.Fatal(err)
	}
	day := paid.UTC().Format("2006-01-02")
	b = wooDate.ReplaceAll(b, []byte(`"$1":"`+day+`T`))
	b = bytes.ReplaceAll(b, []byte(`"id":5120`), []byte(`"id":`+id))
	b = bytes.ReplaceAll(b, []byte(`wc_order_Xq7mZ2pLk9Rt4`), []byte(`wc_order_key_`+id))
	h := http.Header{}
	h.Set("X-WC-Webhook-Topic", "order.updated")
	return connectors.StoreOrder{ID: id, Header: h, Body: b}
}

// connectedShop makes a WooCommerce shop with a destination and store API
// credentials.
func connectedShop(t *testing.T, st *store.Store) store.Shop {
	t.Helper()
	ctx := context.Background()
	sh, err := st.CreateShop(ctx, store.Shop{Name: "Woo", Source: mapping.SourceWooCommerce, SigningSecret: "s",
		Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateDestination(ctx, store.Destination{ShopID: sh.ID, Platform: "meta", Enabled: true,
		Credentials: map[string]string{"pixel_id": "1", "access_token": "t"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveStoreAPI(ctx, store.StoreAPI{ShopID: sh.ID, URL: "https://woo.example.com",
		Credentials: map[string]string{"consumer_key": "ck", "consumer_secret": "cs"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return sh
}

func newReconciler(st *store.Store, l connectors.OrderLister, now func() time.Time) *Reconciler {
	return New(Config{
		Store: st, Routing: routing{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: now,
		Connectors: map[mapping.Source]connectors.Connector{mapping.SourceWooCommerce: connectors.NewWooCommerce()},
		Listers:    map[mapping.Source]connectors.OrderLister{mapping.SourceWooCommerce: l},
		Interval:   15 * time.Minute, Jitter: func(time.Duration) time.Duration { return 0 },
	})
}

// webhook commits an order as its webhook would.
func webhook(t *testing.T, st *store.Store, sh store.Shop, o connectors.StoreOrder) store.Committed {
	t.Helper()
	wh, err := connectors.NewWooCommerce().Parse(o.Header, o.Body, sh.Rules)
	if err != nil {
		t.Fatal(err)
	}
	wh.DeliveryID = "d-" + o.ID
	res, err := st.CommitBatch(context.Background(), []store.Incoming{{ShopID: sh.ID, Source: sh.Source, Topic: wh.Topic,
		Webhook: wh, Body: o.Body, ReceivedAt: time.Now()}}, routing{})
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

// deliveriesByOrder counts the conversion deliveries queued per order.
func deliveriesByOrder(t *testing.T, st *store.Store, shopID int64) (map[string]int, map[string][]string) {
	t.Helper()
	evs, err := st.Events(context.Background(), store.EventFilter{ShopID: shopID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n, origins := map[string]int{}, map[string][]string{}
	for _, e := range evs {
		n[e.OrderID] += len(e.Deliveries)
		origins[e.OrderID] = append(origins[e.OrderID], e.Origin+"/"+e.Status)
	}
	return n, origins
}

func TestRunBackfillsOnlyMissingOrders(t *testing.T) {
	for name, st := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := connectedShop(t, st)
			came, lost := wooOrder(t, "8001"), wooOrder(t, "8002")
			webhook(t, st, sh, came)
			l := &fakeLister{orders: []connectors.StoreOrder{came, lost}}
			r := newReconciler(st, l, time.Now)
			run, err := r.Run(ctx, sh.ID, "manual")
			if err != nil {
				t.Fatal(err)
			}
			if run.Checked != 2 || run.Missing != 1 || run.Backfilled != 1 || run.TooOld != 0 {
				t.Errorf("run = %+v, want checked 2, missing 1, backfilled 1", run)
			}
			n, origins := deliveriesByOrder(t, st, sh.ID)
			if n["8001"] != 1 || n["8002"] != 1 {
				t.Errorf("deliveries per order = %v, want one each", n)
			}
			if o := origins["8002"]; len(o) != 1 || o[0] != "reconciliation/accepted" {
				t.Errorf("backfilled order's events = %v", o)
			}
			again, err := r.Run(ctx, sh.ID, "manual")
			if err != nil || again.Missing != 0 || again.Backfilled != 0 {
				t.Errorf("second run = %+v, %v; want nothing missing", again, err)
			}
			if n, _ := deliveriesByOrder(t, st, sh.ID); n["8002"] != 1 {
				t.Errorf("second run queued more: %v", n)
			}
			last, err := st.LastReconcileRun(ctx, sh.ID)
			if err != nil || last.ID != again.ID {
				t.Errorf("last run = %+v, %v; want %d", last, err, again.ID)
			}
		})
	}
}

func TestWebhookDuringRunDoesNotDoubleSend(t *testing.T) {
	for name, st := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			sh := connectedShop(t, st)
			late := wooOrder(t, "8101")
			r := newReconciler(st, &fakeLister{orders: []connectors.StoreOrder{late}}, time.Now)
			// The webhook lands after reconciliation saw the order missing,
			// before it commits the backfill.
			r.beforeCommit = func() { webhook(t, st, sh, late) }
			run, err := r.Run(context.Background(), sh.ID, "manual")
			if err != nil {
				t.Fatal(err)
			}
			if run.Missing != 1 || run.Backfilled != 0 {
				t.Errorf("run = %+v, want missing 1, backfilled 0", run)
			}
			n, origins := deliveriesByOrder(t, st, sh.ID)
			if n["8101"] != 1 {
				t.Errorf("deliveries = %v (events %v), want exactly one", n, origins)
			}
		})
	}
}

func TestThrottledStoreIsBackedOff(t *testing.T) {
	st := storetest.SQLite(t)
	sh := connectedShop(t, st)
	now := time.Now()
	clock := func() time.Time { return now }
	l := &fakeLister{err: &connectors.ThrottledError{RetryAfter: 40 * time.Minute}}
	r := newReconciler(st, l, clock)
	ctx := context.Background()
	if n := r.Tick(ctx); n != 1 {
		t.Fatalf("first tick ran %d, want 1", n)
	}
	api, err := st.StoreAPI(ctx, sh.ID)
	if err != nil || api.Status != store.StoreAPIThrottled || !api.BackoffUntil.Equal(now.Add(40*time.Minute).Truncate(time.Millisecond)) {
		t.Fatalf("store api = %+v, %v; want throttled until +40m", api, err)
	}
	l.err = nil
	now = now.Add(20 * time.Minute) // past the interval, not past Retry-After
	if n := r.Tick(ctx); n != 0 {
		t.Errorf("tick during backoff ran %d, want 0", n)
	}
	now = now.Add(21 * time.Minute)
	if n := r.Tick(ctx); n != 1 || l.count() != 2 {
		t.Errorf("tick after backoff ran %d (calls %d), want 1 (2)", n, l.count())
	}
	if api, _ := st.StoreAPI(ctx, sh.ID); api.Status != store.StoreAPIOK {
		t.Errorf("status after success = %q", api.Status)
	}
}

func TestRejectedCredentialsAreRecorded(t *testing.T) {
	st := storetest.SQLite(t)
	sh := connectedShop(t, st)
	r := newReconciler(st, &fakeLister{err: connectors.ErrStoreAuth}, time.Now)
	run, err := r.Run(context.Background(), sh.ID, "manual")
	if !errors.Is(err, connectors.ErrStoreAuth) || run.Error == "" {
		t.Fatalf("run = %+v, %v", run, err)
	}
	api, _ := st.StoreAPI(context.Background(), sh.ID)
	if api.Status != store.StoreAPIAuthFailed || api.Failures != 1 || !api.BackoffUntil.After(time.Now()) {
		t.Errorf("store api = %+v, want auth_failed, one failure, backing off", api)
	}
}

// TestReplicasRunOncePerInterval: replicas sharing one database tick at the
// same moment; the store's API is asked once per interval.
func TestReplicasRunOncePerInterval(t *testing.T) {
	stores := map[string][]*store.Store{}
	sq := storetest.SQLite(t)
	stores["sqlite"] = []*store.Store{sq, sq}
	if dsn := storetest.PostgresDSN(t); dsn != "" {
		stores["postgres"] = []*store.Store{storetest.Open(t, dsn), storetest.Open(t, dsn)}
	} else {
		t.Log("POSTBACK_TEST_POSTGRES is not set: PostgreSQL replicas skipped")
	}
	for name, replicas := range stores {
		t.Run(name, func(t *testing.T) {
			sh := connectedShop(t, replicas[0])
			l := &fakeLister{orders: []connectors.StoreOrder{wooOrder(t, "8201")}}
			var mu sync.Mutex
			now := time.Now()
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			var rs []*Reconciler
			for _, st := range replicas {
				rs = append(rs, newReconciler(st, l, clock))
			}
			tickAll := func() {
				var wg sync.WaitGroup
				for i := 0; i < 4; i++ {
					for _, r := range rs {
						wg.Add(1)
						go func() { defer wg.Done(); r.Tick(context.Background()) }()
					}
				}
				wg.Wait()
			}
			tickAll()
			if c := l.count(); c != 1 {
				t.Fatalf("first interval: store asked %d times, want 1", c)
			}
			mu.Lock()
			now = now.Add(16 * time.Minute)
			mu.Unlock()
			tickAll()
			if c := l.count(); c != 2 {
				t.Fatalf("second interval: store asked %d times in all, want 2", c)
			}
			if n, _ := deliveriesByOrder(t, replicas[0], sh.ID); n["8201"] != 1 {
				t.Errorf("deliveries = %v, want one", n)
			}
		})
	}
}
