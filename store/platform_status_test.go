package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

func TestPlatformStatusLifecycle(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			d := newDest(t, s, sh.ID, "google_ads", nil)
			var items []store.Incoming
			for i := 0; i < 3; i++ {
				items = append(items, paid(sh.ID, fmt.Sprint("evt-", i), fmt.Sprint(3000+i)))
			}
			if _, err := s.CommitBatch(ctx, items, routing{}); err != nil {
				t.Fatal(err)
			}
			claimed, err := s.Claim(ctx, d.ID, "w", 10, t0, time.Minute)
			if err != nil || len(claimed) != 3 {
				t.Fatalf("claim: %d, %v", len(claimed), err)
			}
			// Two went in one followed-up request, the third was delivered
			// by an API that gives no later verdict.
			var outs []store.Outcome
			for i, c := range claimed {
				o := store.Outcome{DeliveryID: c.ID, Attempt: 1, CountAttempt: true, Status: store.DeliveryDelivered, StartedAt: t0}
				if i < 2 {
					o.PlatformRequestID, o.PlatformCheckAt = "req-1", t0.Add(5*time.Minute)
				}
				outs = append(outs, o)
			}
			if err := s.Complete(ctx, "w", outs, t0); err != nil {
				t.Fatal(err)
			}
			if due, err := s.DuePlatformChecks(ctx, t0, 10); err != nil || len(due) != 0 {
				t.Fatalf("due before the first check: %v, %v", due, err)
			}
			due, err := s.DuePlatformChecks(ctx, t0.Add(5*time.Minute), 10)
			if err != nil || len(due) != 1 || due[0].RequestID != "req-1" || len(due[0].DeliveryIDs) != 2 || due[0].DestinationID != d.ID {
				t.Fatalf("due = %+v, %v; want one request with two deliveries", due, err)
			}
			if err := s.RecordPlatformStatus(ctx, due[0].DeliveryIDs, "partial", "2 events; errors: INVALID_GCLID ×1", time.Time{}, t0); err != nil {
				t.Fatal(err)
			}
			if due, _ := s.DuePlatformChecks(ctx, t0.Add(time.Hour), 10); len(due) != 0 {
				t.Errorf("a final verdict is still due: %+v", due)
			}
			for i, c := range claimed {
				ev, err := s.Event(ctx, c.EventID)
				if err != nil {
					t.Fatal(err)
				}
				got := ev.Deliveries[0]
				want := [3]string{"req-1", "partial", "2 events; errors: INVALID_GCLID ×1"}
				if i == 2 {
					want = [3]string{}
				}
				if [3]string{got.PlatformRequestID, got.PlatformStatus, got.PlatformDetail} != want {
					t.Errorf("delivery %d: %q %q %q, want %q", i, got.PlatformRequestID, got.PlatformStatus, got.PlatformDetail, want)
				}
			}
		})
	}
}
