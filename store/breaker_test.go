package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// TestDueDestinationsOldestDueFirst: the destination that has waited
// longest goes first, whatever its id.
func TestDueDestinationsOldestDueFirst(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			a := newDest(t, s, sh.ID, "meta", nil)
			b := newDest(t, s, sh.ID, "meta", nil)
			if _, err := s.CommitBatch(ctx, []store.Incoming{paid(sh.ID, "e1", "1")}, routing{}); err != nil {
				t.Fatal(err)
			}
			// a's delivery failed and waits 10 s; b's has waited since t0.
			c, err := s.Claim(ctx, a.ID, "w", 10, t0, time.Minute)
			if err != nil || len(c) != 1 {
				t.Fatalf("claim = %v, %v", c, err)
			}
			if err := s.Complete(ctx, "w", []store.Outcome{{DeliveryID: c[0].ID, Attempt: 1, CountAttempt: true, Status: store.DeliveryRetrying,
				ErrorClass: "transient", Error: "http 500", NextAttemptAt: t0.Add(10 * time.Second), StartedAt: t0}}, t0); err != nil {
				t.Fatal(err)
			}
			due, err := s.DueDestinations(ctx, t0.Add(20*time.Second), 10)
			if err != nil || fmt.Sprint(due) != fmt.Sprint([]int64{b.ID, a.ID}) {
				t.Errorf("DueDestinations = %v, %v; want [%d %d] (oldest due first)", due, err, b.ID, a.ID)
			}
		})
	}
}

// TestBreakerPauseProbeRecover walks a destination through an outage:
// paused, probed once (by one replica), recovered with everything due.
func TestBreakerPauseProbeRecover(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			d := newDest(t, s, sh.ID, "meta", nil)
			var items []store.Incoming
			for i := 0; i < 4; i++ {
				items = append(items, paid(sh.ID, fmt.Sprint("e", i), fmt.Sprint(i)))
			}
			if _, err := s.CommitBatch(ctx, items, routing{}); err != nil {
				t.Fatal(err)
			}
			c, err := s.Claim(ctx, d.ID, "w", 2, t0, time.Minute)
			if err != nil || len(c) != 2 {
				t.Fatalf("claim = %v, %v", c, err)
			}
			var outs []store.Outcome
			for _, x := range c {
				outs = append(outs, store.Outcome{DeliveryID: x.ID, Attempt: 1, CountAttempt: true, Status: store.DeliveryRetrying,
					ErrorClass: "transient", Error: "http 503", NextAttemptAt: t0.Add(time.Hour), StartedAt: t0})
			}
			if err := s.Complete(ctx, "w", outs, t0); err != nil {
				t.Fatal(err)
			}
			if err := s.PauseDestination(ctx, d.ID, 1, t0.Add(5*time.Second)); err != nil {
				t.Fatal(err)
			}
			if due, _ := s.DueDestinations(ctx, t0.Add(time.Second), 10); len(due) != 0 {
				t.Errorf("paused destination due: %v", due)
			}
			at := t0.Add(6 * time.Second)
			if due, _ := s.DueDestinations(ctx, at, 10); len(due) != 1 {
				t.Errorf("after the pause, due = %v; want the destination (for its probe)", due)
			}
			took, err := s.BeginProbe(ctx, d.ID, at, time.Minute)
			if err != nil || !took {
				t.Fatalf("BeginProbe = %v, %v", took, err)
			}
			if again, _ := s.BeginProbe(ctx, d.ID, at, time.Minute); again {
				t.Error("a second replica took the same probe")
			}
			p, err := s.ClaimProbe(ctx, d.ID, "w", at, time.Minute)
			if err != nil || len(p) != 1 {
				t.Fatalf("ClaimProbe = %v, %v; want one delivery", p, err)
			}
			if err := s.Complete(ctx, "w", []store.Outcome{{DeliveryID: p[0].ID, Attempt: 1, CountAttempt: true, Status: store.DeliveryDelivered, StartedAt: at}}, at); err != nil {
				t.Fatal(err)
			}
			n, err := s.RecoverDestination(ctx, d.ID, at)
			if err != nil || n != 2 {
				t.Errorf("RecoverDestination = %d, %v; want the 2 deliveries waiting an hour made due", n, err)
			}
			rest, err := s.Claim(ctx, d.ID, "w", 10, at, time.Minute)
			if err != nil || len(rest) != 3 {
				t.Errorf("after recovery claimed %d, %v; want the 3 still waiting", len(rest), err)
			}
		})
	}
}

// TestParkedDeliveriesShowAsWaitingForCredentials: every waiting delivery
// of a parked destination, attempted or not, shows as waiting_credentials
// with the reason, is found by that filter (and not as pending), and is
// counted for the metrics.
func TestParkedDeliveriesShowAsWaitingForCredentials(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			d := newDest(t, s, sh.ID, "meta", nil)
			if _, err := s.CommitBatch(ctx, []store.Incoming{paid(sh.ID, "e1", "1"), paid(sh.ID, "e2", "2")}, routing{}); err != nil {
				t.Fatal(err)
			}
			if err := s.ParkDestinationUntil(ctx, d.ID, "Error validating access token", 1, t0, t0.Add(5*time.Minute)); err != nil {
				t.Fatal(err)
			}
			// A conversion arriving while parked waits too.
			if _, err := s.CommitBatch(ctx, []store.Incoming{paid(sh.ID, "e3", "3")}, routing{}); err != nil {
				t.Fatal(err)
			}
			evs, err := s.Events(ctx, store.EventFilter{DeliveryStatus: store.DeliveryWaitingCredentials})
			if err != nil || len(evs) != 3 {
				t.Fatalf("events waiting for credentials = %d, %v; want 3", len(evs), err)
			}
			for _, e := range evs {
				del := e.Deliveries[0]
				if del.Status != store.DeliveryWaitingCredentials || del.LastError == "" || del.ExpiresAt.IsZero() {
					t.Errorf("event %d delivery = %+v", e.ID, del)
				}
			}
			if pending, err := s.Events(ctx, store.EventFilter{DeliveryStatus: store.DeliveryPending}); err != nil || len(pending) != 0 {
				t.Errorf("pending events = %d, %v; want none (they wait for credentials)", len(pending), err)
			}
			w, err := s.WaitingForCredentials(ctx)
			if err != nil || len(w) != 1 || w[0].Platform != "meta" || w[0].Count != 3 || w[0].FirstExpiry.IsZero() {
				t.Errorf("WaitingForCredentials = %+v, %v", w, err)
			}
			dest, err := s.Destination(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.UpdateDestination(ctx, dest, false, t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if pending, err := s.Events(ctx, store.EventFilter{DeliveryStatus: store.DeliveryPending}); err != nil || len(pending) != 3 {
				t.Errorf("after saving, pending events = %d, %v; want 3", len(pending), err)
			}
		})
	}
}
