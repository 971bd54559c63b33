package reconcile

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/postbackhq/postback/connectors"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// windowRouting gives each platform its own acceptance window.
type windowRouting map[string]time.Duration

func (windowRouting) Accepts(string, map[string]string, bool) bool { return true }
func (windowRouting) Adjusts(string) bool                          { return false }
func (w windowRouting) MaxAge(p string) time.Duration              { return w[p] }

// TestOrderPastAWindowIsRecordedAsTooOld: an order reconciliation finds
// that is older than a platform accepts is recorded (origin
// reconciliation) with its delivery to that platform skipped, reason
// too_old, and sent to the platforms whose window it is still in.
func TestOrderPastAWindowIsRecordedAsTooOld(t *testing.T) {
	routing := windowRouting{"meta": 7 * 24 * time.Hour, "google_ads": 90 * 24 * time.Hour}
	tests := []struct {
		name          string
		age           time.Duration
		wantBackfill  int
		wantTooOld    int
		wantDelivered map[string]string // platform → delivery status (error class)
	}{
		{"within every window", 2 * 24 * time.Hour, 1, 0, map[string]string{"meta": "pending ()", "google_ads": "pending ()"}},
		{"past meta's window", 10 * 24 * time.Hour, 1, 0, map[string]string{"meta": "skipped (too_old)", "google_ads": "pending ()"}},
		{"past every window", 100 * 24 * time.Hour, 0, 1, map[string]string{"meta": "skipped (too_old)", "google_ads": "skipped (too_old)"}},
	}
	for name, st := range storetest.All(t) {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				ctx := context.Background()
				sh := connectedShop(t, st) // with meta
				if _, err := st.CreateDestination(ctx, store.Destination{ShopID: sh.ID, Platform: "google_ads", Enabled: true,
					Credentials: map[string]string{"customer_id": "1"}}, time.Now()); err != nil {
					t.Fatal(err)
				}
				o := wooOrderAt(t, "8300", time.Now().Add(-tt.age))
				r := New(Config{
					Store: st, Routing: routing, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Window: 200 * 24 * time.Hour,
					Connectors: map[mapping.Source]connectors.Connector{mapping.SourceWooCommerce: connectors.NewWooCommerce()},
					Listers:    map[mapping.Source]connectors.OrderLister{mapping.SourceWooCommerce: &fakeLister{orders: []connectors.StoreOrder{o}}},
				})
				run, err := r.Run(ctx, sh.ID, "manual")
				if err != nil {
					t.Fatal(err)
				}
				if run.Missing != 1 || run.Backfilled != tt.wantBackfill || run.TooOld != tt.wantTooOld {
					t.Errorf("run = missing %d, backfilled %d, too old %d; want 1, %d, %d", run.Missing, run.Backfilled, run.TooOld, tt.wantBackfill, tt.wantTooOld)
				}
				evs, err := st.Events(ctx, store.EventFilter{ShopID: sh.ID, Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) != 1 || evs[0].Origin != store.OriginReconciliation || evs[0].Status != store.StatusAccepted {
					t.Fatalf("events = %+v, want one accepted event from reconciliation", evs)
				}
				got := map[string]string{}
				for _, d := range evs[0].Deliveries {
					got[d.Platform] = d.Status + " (" + d.ErrorClass + ")"
				}
				for p, want := range tt.wantDelivered {
					if got[p] != want {
						t.Errorf("%s delivery = %q, want %q", p, got[p], want)
					}
				}
				a, err := st.Accounted(ctx, sh.ID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				if a.PaidInStore != 1 || a.TooOld != int64(tt.wantTooOld) || a.RecoveredByReconciliation != int64(1-tt.wantTooOld) {
					t.Errorf("accounted = %+v, want 1 paid, %d too old", a, tt.wantTooOld)
				}
				again, err := r.Run(ctx, sh.ID, "manual")
				if err != nil || again.Missing != 0 {
					t.Errorf("second run = %+v, %v; want the recorded order not missing", again, err)
				}
			})
		}
	}
}
