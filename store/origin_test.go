package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// TestOriginIsCommittedWithTheEvent: an order recovered by reconciliation
// carries its origin from the commit that stores it (there is no later
// step a crash could skip), and a delivery past its platform's window is
// recorded as skipped too_old in that same commit.
func TestOriginIsCommittedWithTheEvent(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			newDest(t, s, sh.ID, "meta", nil)
			hook := paid(sh.ID, "d1", "o1")
			recovered := paid(sh.ID, "", "o2")
			recovered.Origin = store.OriginReconciliation
			old := paid(sh.ID, "", "o3")
			old.Origin = store.OriginReconciliation
			c := *old.Webhook.Conversion
			c.EventTime = t0.Add(-8 * 24 * time.Hour) // meta takes 7 days
			old.Webhook.Conversion = &c
			// The same order as the webhook's, found again: a replay, which
			// must not relabel the webhook's event.
			again := paid(sh.ID, "", "o1")
			again.Origin = store.OriginReconciliation
			res, err := s.CommitBatch(ctx, []store.Incoming{hook, recovered, old, again}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				name             string
				res              store.Committed
				origin, delivery string
				class            string
			}{
				{"webhook", res[0], store.OriginWebhook, store.DeliveryPending, ""},
				{"recovered", res[1], store.OriginReconciliation, store.DeliveryPending, ""},
				{"too old", res[2], store.OriginReconciliation, store.DeliverySkipped, "too_old"},
				{"found again", res[3], store.OriginWebhook, store.DeliveryPending, ""},
			}
			for _, tt := range tests {
				ev, err := s.Event(ctx, tt.res.EventID)
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				if ev.Origin != tt.origin || len(ev.Deliveries) != 1 || ev.Deliveries[0].Status != tt.delivery || ev.Deliveries[0].ErrorClass != tt.class {
					t.Errorf("%s: event origin %q, deliveries %+v; want %q with one %s delivery (%q)", tt.name, ev.Origin, ev.Deliveries, tt.origin, tt.delivery, tt.class)
				}
			}
			if res[3].Status != store.StatusDuplicate || res[3].EventID != res[0].EventID {
				t.Errorf("found again = %+v, want a duplicate of event %d", res[3], res[0].EventID)
			}
			// The expiry sweep leaves a skipped delivery alone.
			if _, err := s.ExpireDeliveries(ctx, t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if ev, _ := s.Event(ctx, res[2].EventID); ev.Deliveries[0].Status != store.DeliverySkipped {
				t.Errorf("after the expiry sweep: %+v", ev.Deliveries[0])
			}
		})
	}
}
