package store_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/migrations"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// routing is a fake store.Routing: destinations whose settings say
// test=true are in test mode; "adjuster" takes refund adjustments.
type routing struct{}

func (routing) Accepts(platform string, settings map[string]string, test bool) bool {
	return !test || settings["test"] == "true"
}
func (routing) Adjusts(platform string) bool         { return platform == "adjuster" }
func (routing) MaxAge(platform string) time.Duration { return 7 * 24 * time.Hour }

func TestMigrationsMatchAcrossDialects(t *testing.T) {
	names := func(dir string) []string {
		entries, err := fs.ReadDir(migrations.FS, dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		sort.Strings(out)
		return out
	}
	sq, pg := names("sqlite"), names("postgres")
	if strings.Join(sq, ",") != strings.Join(pg, ",") {
		t.Errorf("migration files differ: sqlite %v, postgres %v", sq, pg)
	}
	if len(sq) == 0 {
		t.Error("no migrations")
	}
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			applied, err := s.Migrate(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(applied) != 0 {
				t.Errorf("second migrate applied %v, want nothing", applied)
			}
		})
	}
}

func newShop(t testing.TB, s *store.Store) store.Shop {
	t.Helper()
	sh, err := s.CreateShop(context.Background(), store.Shop{
		Name: "Acme", Source: mapping.SourceShopify, SigningSecret: "shpss_secret",
		Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid, EventIDTemplate: "purchase-{order_id}"},
	}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

func newDest(t testing.TB, s *store.Store, shopID int64, platform string, settings map[string]string) store.Destination {
	t.Helper()
	d, err := s.CreateDestination(context.Background(), store.Destination{
		ShopID: shopID, Platform: platform, Enabled: true,
		Credentials: map[string]string{"pixel_id": "123", "access_token": "EAAB-secret"}, Settings: settings,
	}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func conversion(order string, test bool) *mapping.Conversion {
	return &mapping.Conversion{
		EventID: "purchase-" + order, EventName: mapping.EventPurchase, EventTime: t0, OrderID: order,
		Value: decimal.RequireFromString("120.94"), Currency: "USD", Test: test,
		User: mapping.User{Email: "jane@example.com"},
	}
}

func paid(shopID int64, delivery, order string) store.Incoming {
	return store.Incoming{
		ShopID: shopID, Source: mapping.SourceShopify, Topic: "orders/paid", ReceivedAt: t0, Body: []byte(`{"id":1}`),
		Webhook: mapping.Webhook{
			Source: mapping.SourceShopify, Topic: "orders/paid", DeliveryID: delivery, OrderID: order,
			Outcome: mapping.OutcomeConversion, Conversion: conversion(order, false), OccurredAt: t0,
		},
	}
}

func TestShopRoundTripAndSecrets(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			if len(sh.WebhookKey) < 22 {
				t.Errorf("webhook key %q is shorter than 128 bits", sh.WebhookKey)
			}
			got, err := s.ShopByKey(ctx, sh.WebhookKey)
			if err != nil {
				t.Fatal(err)
			}
			if got.SigningSecret != "shpss_secret" || got.Rules.Trigger != mapping.TriggerPaid || got.Rules.EventIDTemplate != "purchase-{order_id}" {
				t.Errorf("ShopByKey = %+v, want secret and rules back", got)
			}
			got.Name, got.PreviousSecret, got.SigningSecret = "Acme EU", "shpss_secret", "shpss_new"
			if _, err := s.UpdateShop(ctx, got, t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			again, err := s.Shop(ctx, sh.ID)
			if err != nil {
				t.Fatal(err)
			}
			if again.Name != "Acme EU" || again.SigningSecret != "shpss_new" || again.PreviousSecret != "shpss_secret" {
				t.Errorf("after update = %+v", again)
			}
			if _, err := s.ShopByKey(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("unknown key: err = %v, want ErrNotFound", err)
			}
			if err := s.DeleteShop(ctx, sh.ID); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteShop(ctx, sh.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("second delete: err = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestCommitBatchDeduplicates(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			live := newDest(t, s, sh.ID, "meta", nil)
			testDest := newDest(t, s, sh.ID, "meta", map[string]string{"test": "true"})

			ignored := paid(sh.ID, "evt-ignored", "1001")
			ignored.Webhook.Outcome, ignored.Webhook.Conversion, ignored.Webhook.Reason = mapping.OutcomeIgnored, nil, `financial_status "pending" is not paid`
			broken := paid(sh.ID, "", "")
			broken.ParseError = "malformed webhook body: unexpected end of JSON input"
			testOrder := paid(sh.ID, "evt-test", "1003")
			testOrder.Webhook.Conversion = conversion("1003", true)
			testOrder.Webhook.Test = true
			alias := paid(sh.ID, "evt-alias", "cs_1")
			alias.Webhook.OrderAliases = []string{"pi_1"}
			viaAlias := paid(sh.ID, "evt-pi", "pi_1")
			viaAlias.Webhook.Conversion = conversion("pi_1", false)

			items := []store.Incoming{
				paid(sh.ID, "evt-1", "1002"), // converts
				paid(sh.ID, "evt-1", "1002"), // same delivery again
				paid(sh.ID, "evt-2", "1002"), // same order, other delivery
				ignored, broken, testOrder, alias, viaAlias,
			}
			got, err := s.CommitBatch(ctx, items, routing{})
			if err != nil {
				t.Fatal(err)
			}
			want := []struct {
				status string
				queued int
				reason string
			}{
				{store.StatusAccepted, 2, ""},
				{store.StatusDuplicate, 0, "delivery evt-1 was already received"},
				{store.StatusDuplicate, 0, "order 1002 was already converted"},
				{store.StatusIgnored, 0, "is not paid"},
				{store.StatusError, 0, "malformed"},
				{store.StatusAccepted, 1, ""},
				{store.StatusAccepted, 2, ""},
				{store.StatusDuplicate, 0, "order pi_1 was already converted"},
			}
			for i, w := range want {
				if got[i].Status != w.status || got[i].Queued != w.queued || !strings.Contains(got[i].Reason, w.reason) {
					t.Errorf("item %d: got %+v, want status %s queued %d reason containing %q", i, got[i], w.status, w.queued, w.reason)
				}
			}
			// A live order goes everywhere (a destination in test mode shows
			// it in the platform's test tool); a test order only to
			// destinations in test mode.
			if d := got[0].Destinations; len(d) != 2 || d[0] != live.ID || d[1] != testDest.ID {
				t.Errorf("live order destinations = %v, want [%d %d]", d, live.ID, testDest.ID)
			}
			if d := got[5].Destinations; len(d) != 1 || d[0] != testDest.ID {
				t.Errorf("test order destinations = %v, want [%d]", d, testDest.ID)
			}
			// A later batch still sees the earlier keys.
			again, err := s.CommitBatch(ctx, []store.Incoming{paid(sh.ID, "evt-3", "1002")}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			if again[0].Status != store.StatusDuplicate {
				t.Errorf("order converted in an earlier batch: status %s, want duplicate", again[0].Status)
			}
			ev, err := s.Event(ctx, got[4].EventID)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Status != store.StatusError || string(ev.Body) != `{"id":1}` {
				t.Errorf("error event = %+v, want the raw body kept", ev)
			}
		})
	}
}

func TestClaimCompleteLifecycle(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			d := newDest(t, s, sh.ID, "meta", nil)
			var items []store.Incoming
			for i := 0; i < 5; i++ {
				items = append(items, paid(sh.ID, fmt.Sprint("evt-", i), fmt.Sprint(2000+i)))
			}
			if _, err := s.CommitBatch(ctx, items, routing{}); err != nil {
				t.Fatal(err)
			}
			due, err := s.DueDestinations(ctx, t0, 10)
			if err != nil || len(due) != 1 || due[0] != d.ID {
				t.Fatalf("DueDestinations = %v, %v; want [%d]", due, err, d.ID)
			}
			a, err := s.Claim(ctx, d.ID, "a", 3, t0, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.Claim(ctx, d.ID, "b", 10, t0, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(a) != 3 || len(b) != 2 {
				t.Fatalf("claims = %d and %d, want 3 and 2 (leases exclude each other)", len(a), len(b))
			}
			if a[0].Conversion.OrderID == "" || a[0].Conversion.Value.String() != "120.94" {
				t.Errorf("claimed conversion = %+v", a[0].Conversion)
			}
			// a delivers, b's first fails transiently, b dies holding the other.
			var outs []store.Outcome
			for _, c := range a {
				outs = append(outs, store.Outcome{DeliveryID: c.ID, Attempt: 1, CountAttempt: true, Status: store.DeliveryDelivered, Payload: `{"x":1}`, Response: `{"events_received":1}`, StatusCode: 200, StartedAt: t0})
			}
			if err := s.Complete(ctx, "a", outs, t0); err != nil {
				t.Fatal(err)
			}
			retry := store.Outcome{DeliveryID: b[0].ID, Attempt: 1, CountAttempt: true, Status: store.DeliveryRetrying, Error: "http 500", ErrorClass: "transient", NextAttemptAt: t0.Add(30 * time.Second), StartedAt: t0}
			if err := s.Complete(ctx, "b", []store.Outcome{retry}, t0); err != nil {
				t.Fatal(err)
			}
			// A stale owner cannot overwrite: "a" never held b[1].
			if err := s.Complete(ctx, "a", []store.Outcome{{DeliveryID: b[1].ID, Attempt: 1, CountAttempt: true, Status: store.DeliveryDelivered}}, t0); err != nil {
				t.Fatal(err)
			}
			// Before the lease runs out nothing is claimable; after, b[1] is.
			if c, _ := s.Claim(ctx, d.ID, "c", 10, t0.Add(10*time.Second), time.Minute); len(c) != 0 {
				t.Errorf("claimed %d deliveries under live leases / before their retry time", len(c))
			}
			c, err := s.Claim(ctx, d.ID, "c", 10, t0.Add(2*time.Minute), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(c) != 2 {
				t.Fatalf("after lease expiry claimed %d, want 2 (the retry and the orphan)", len(c))
			}
			ev, err := s.Event(ctx, a[0].EventID)
			if err != nil {
				t.Fatal(err)
			}
			del := ev.Deliveries[0]
			if del.Status != store.DeliveryDelivered || del.Attempts != 1 || len(del.History) != 1 || del.DeliveredAt.IsZero() || del.Payload != `{"x":1}` {
				t.Errorf("delivered delivery = %+v", del)
			}
			// The window closes on what is still waiting.
			if err := s.ReleaseLeases(ctx, "c"); err != nil {
				t.Fatal(err)
			}
			n, err := s.ExpireDeliveries(ctx, t0.Add(8*24*time.Hour))
			if err != nil || n != 2 {
				t.Errorf("ExpireDeliveries = %d, %v; want 2", n, err)
			}
		})
	}
}

// TestConcurrentClaimsNeverOverlap runs several claimers at once, as
// replicas would; every delivery must be claimed exactly once.
func TestConcurrentClaimsNeverOverlap(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			d := newDest(t, s, sh.ID, "meta", nil)
			var items []store.Incoming
			for i := 0; i < 200; i++ {
				items = append(items, paid(sh.ID, fmt.Sprint("evt-", i), fmt.Sprint(3000+i)))
			}
			if _, err := s.CommitBatch(ctx, items, routing{}); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			seen := map[int64]string{}
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for w := 0; w < 4; w++ {
				owner := fmt.Sprint("replica-", w)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						got, err := s.Claim(ctx, d.ID, owner, 7, t0, time.Minute)
						if err != nil {
							errs <- err
							return
						}
						if len(got) == 0 {
							return
						}
						mu.Lock()
						for _, c := range got {
							if prev, ok := seen[c.ID]; ok {
								errs <- fmt.Errorf("delivery %d claimed by %s and %s", c.ID, prev, owner)
							}
							seen[c.ID] = owner
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if len(seen) != 200 {
				t.Errorf("claimed %d deliveries, want 200", len(seen))
			}
		})
	}
}

func TestParkAndReleaseOnNewCredentials(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			d := newDest(t, s, sh.ID, "meta", nil)
			if _, err := s.CommitBatch(ctx, []store.Incoming{paid(sh.ID, "e1", "1")}, routing{}); err != nil {
				t.Fatal(err)
			}
			c, err := s.Claim(ctx, d.ID, "w", 10, t0, time.Minute)
			if err != nil || len(c) != 1 {
				t.Fatalf("claim: %v %v", c, err)
			}
			if err := s.Complete(ctx, "w", []store.Outcome{{DeliveryID: c[0].ID, Attempt: 1, CountAttempt: true, Status: store.DeliveryRetrying, Parked: true, Error: "credentials rejected", ErrorClass: "auth", NextAttemptAt: t0}}, t0); err != nil {
				t.Fatal(err)
			}
			if err := s.ParkDestinationUntil(ctx, d.ID, "credentials rejected", 1, t0, t0.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if due, _ := s.DueDestinations(ctx, t0.Add(time.Hour), 10); len(due) != 0 {
				t.Errorf("parked destination is due: %v", due)
			}
			d, err = s.Destination(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d.AuthFailedAt.IsZero() {
				t.Error("destination not flagged")
			}
			d.Credentials["access_token"] = "EAAB-new"
			if _, err := s.UpdateDestination(ctx, d, true, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			due, err := s.DueDestinations(ctx, t0.Add(time.Hour), 10)
			if err != nil || len(due) != 1 {
				t.Errorf("after new credentials due = %v, %v; want the destination", due, err)
			}
		})
	}
}

func TestRedeliverAndEventsList(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			d := newDest(t, s, sh.ID, "meta", nil)
			res, err := s.CommitBatch(ctx, []store.Incoming{paid(sh.ID, "e1", "1"), paid(sh.ID, "e2", "2"), paid(sh.ID, "e3", "3")}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			c, _ := s.Claim(ctx, d.ID, "w", 1, t0, time.Minute)
			if err := s.Complete(ctx, "w", []store.Outcome{{DeliveryID: c[0].ID, Attempt: 1, CountAttempt: true, Status: store.DeliveryFailed, Error: "event rejected", ErrorClass: "invalid"}}, t0); err != nil {
				t.Fatal(err)
			}
			failed, err := s.Events(ctx, store.EventFilter{DeliveryStatus: store.DeliveryFailed})
			if err != nil || len(failed) != 1 || failed[0].ID != c[0].EventID {
				t.Fatalf("events with failed deliveries = %+v, %v", failed, err)
			}
			n, err := s.Redeliver(ctx, c[0].EventID, false, routing{}, t0.Add(time.Minute))
			if err != nil || n != 1 {
				t.Errorf("Redeliver = %d, %v; want 1", n, err)
			}
			other := newDest(t, s, sh.ID, "tiktok", nil)
			n, err = s.Redeliver(ctx, res[1].EventID, true, routing{}, t0.Add(time.Minute))
			if err != nil || n != 2 {
				t.Errorf("Redeliver all = %d, %v; want 2 (existing + new destination %d)", n, err, other.ID)
			}
			page1, err := s.Events(ctx, store.EventFilter{ShopID: sh.ID, Limit: 2})
			if err != nil || len(page1) != 2 || page1[0].ID != res[2].EventID {
				t.Fatalf("page 1 = %+v, %v", page1, err)
			}
			page2, err := s.Events(ctx, store.EventFilter{ShopID: sh.ID, Limit: 2, Before: page1[1].ID})
			if err != nil || len(page2) != 1 || page2[0].ID != res[0].EventID {
				t.Fatalf("page 2 = %+v, %v", page2, err)
			}
			ignoredEv := paid(sh.ID, "e9", "9")
			ignoredEv.Webhook.Outcome = mapping.OutcomeIgnored
			r2, err := s.CommitBatch(ctx, []store.Incoming{ignoredEv}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Redeliver(ctx, r2[0].EventID, false, routing{}, t0); !errors.Is(err, store.ErrNotRedeliverable) {
				t.Errorf("redeliver ignored event: err = %v, want ErrNotRedeliverable", err)
			}
		})
	}
}

func TestCommitterGroupsConcurrentWebhooks(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			sh := newShop(t, s)
			newDest(t, s, sh.ID, "meta", nil)
			var mu sync.Mutex
			notified := 0
			var writerThreads atomic.Int32
			c := s.NewCommitter(routing{}, store.CommitterConfig{OnCommit: func(d []int64) {
				mu.Lock()
				notified += len(d)
				mu.Unlock()
			}, OnWriterThread: func() { writerThreads.Add(1) }})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { c.Run(ctx); close(done) }()
			if c.Busy(time.Hour) {
				t.Error("Busy before any commit")
			}
			var wg sync.WaitGroup
			statuses := make([]string, 100)
			for i := 0; i < 100; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Every second webhook repeats the previous order.
					res, err := c.Commit(context.Background(), paid(sh.ID, fmt.Sprint("evt-", i), fmt.Sprint(i/2)))
					if err != nil {
						t.Error(err)
						return
					}
					statuses[i] = res.Status
				}()
			}
			wg.Wait()
			if !c.Busy(time.Hour) {
				t.Error("Busy(1h) = false right after commits")
			}
			if c.Busy(time.Nanosecond) {
				t.Error("Busy(1ns) = true: the window is not honoured")
			}
			if s.Dialect() == store.SQLite && s.WriterBusyTime() <= 0 {
				t.Error("WriterBusyTime = 0 after commits")
			}
			cancel()
			<-done
			// SQLite's one writer keeps one thread; PostgreSQL's several
			// writers get no hook.
			wantThreads := int32(0)
			if s.Dialect() == store.SQLite {
				wantThreads = 1
			}
			if n := writerThreads.Load(); n != wantThreads {
				t.Errorf("OnWriterThread ran %d times, want %d", n, wantThreads)
			}
			count := map[string]int{}
			for _, st := range statuses {
				count[st]++
			}
			if count[store.StatusAccepted] != 50 || count[store.StatusDuplicate] != 50 {
				t.Errorf("statuses = %v, want 50 accepted and 50 duplicate", count)
			}
			if notified != 50 {
				t.Errorf("OnCommit told of %d deliveries, want 50", notified)
			}
			if _, err := c.Commit(context.Background(), paid(sh.ID, "late", "late")); !errors.Is(err, store.ErrClosed) {
				t.Errorf("commit after stop: err = %v, want ErrClosed", err)
			}
		})
	}
}

func TestRefundsLinkToTheConversionAndQueueAdjustments(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			adj := newDest(t, s, sh.ID, "adjuster", nil)
			meta := newDest(t, s, sh.ID, "meta", nil)
			order := paid(sh.ID, "evt-order", "cs_1")
			order.Webhook.OrderAliases = []string{"pi_1"}
			res, err := s.CommitBatch(ctx, []store.Incoming{order}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range []int64{adj.ID, meta.ID} {
				c, err := s.Claim(ctx, d, "w", 10, t0, time.Minute)
				if err != nil || len(c) != 1 {
					t.Fatalf("claim %d: %v %v", d, c, err)
				}
				if err := s.Complete(ctx, "w", []store.Outcome{{DeliveryID: c[0].ID, Attempt: 1, CountAttempt: true, Status: store.DeliveryDelivered}}, t0); err != nil {
					t.Fatal(err)
				}
			}
			refund := func(delivery, amount string) store.Incoming {
				return store.Incoming{ShopID: sh.ID, Source: mapping.SourceStripe, Topic: "charge.refunded", ReceivedAt: t0,
					Webhook: mapping.Webhook{DeliveryID: delivery, OrderID: "pi_1", Outcome: mapping.OutcomeRefund, Refunds: []mapping.Refund{{
						RefundID: "ch_1:" + amount, OrderID: "pi_1", Amount: decimal.RequireFromString(amount), Currency: "USD", Time: t0, Cumulative: true}}}}
			}
			first, err := s.CommitBatch(ctx, []store.Incoming{refund("evt-r1", "15.00")}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			r := first[0]
			if r.Status != store.StatusAccepted || !strings.Contains(r.Reason, fmt.Sprintf("linked to event %d", res[0].EventID)) ||
				!strings.Contains(r.Reason, "adjustment queued for adjuster") || !strings.Contains(r.Reason, "not supported by platform: meta") {
				t.Errorf("first refund = %+v", r)
			}
			// A later cumulative total records only the difference; the
			// same total again is a duplicate.
			second, err := s.CommitBatch(ctx, []store.Incoming{refund("evt-r2", "25.00"), refund("evt-r3", "25.00")}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			if second[0].Status != store.StatusAccepted || second[1].Status != store.StatusDuplicate {
				t.Errorf("second and repeated totals = %+v", second)
			}
			c, err := s.Claim(ctx, adj.ID, "w", 10, t0, time.Minute)
			if err != nil || len(c) != 2 {
				t.Fatalf("adjustments claimed = %d, %v; want 2", len(c), err)
			}
			if c[0].Kind != store.KindAdjustment || !c[0].ConversionSent || c[0].Refund == nil {
				t.Fatalf("adjustment = %+v", c[0])
			}
			remaining := map[string]bool{}
			for _, a := range c {
				remaining[a.Remaining.String()+"/"+a.Refund.Amount.String()] = true
			}
			if !remaining["105.94/15"] || !remaining["95.94/10"] {
				t.Errorf("remaining/amount per adjustment = %v, want 105.94/15 and 95.94/10", remaining)
			}
		})
	}
}

func TestPruneKeepsUnfinishedEventsAndOrderKeys(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			d := newDest(t, s, sh.ID, "meta", nil)
			res, err := s.CommitBatch(ctx, []store.Incoming{paid(sh.ID, "e1", "1"), paid(sh.ID, "e2", "2")}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			c, _ := s.Claim(ctx, d.ID, "w", 1, t0, time.Minute)
			if err := s.Complete(ctx, "w", []store.Outcome{{DeliveryID: c[0].ID, Attempt: 1, CountAttempt: true, Status: store.DeliveryDelivered}}, t0); err != nil {
				t.Fatal(err)
			}
			n, err := s.Prune(ctx, t0.Add(24*time.Hour), 100)
			if err != nil || n != 1 {
				t.Fatalf("Prune = %d, %v; want 1 (the delivered one; the pending one stays)", n, err)
			}
			if _, err := s.Event(ctx, c[0].EventID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("pruned event still there: %v", err)
			}
			other := res[0].EventID
			if other == c[0].EventID {
				other = res[1].EventID
			}
			if _, err := s.Event(ctx, other); err != nil {
				t.Errorf("pending event was pruned: %v", err)
			}
			// The pruned order still cannot convert again.
			again, err := s.CommitBatch(ctx, []store.Incoming{paid(sh.ID, "e9", c[0].Conversion.OrderID)}, routing{})
			if err != nil || again[0].Status != store.StatusDuplicate {
				t.Errorf("old order after pruning: %+v, %v; want duplicate", again, err)
			}
		})
	}
}

// TestCompleteRecordsEachAttemptOnce records outcomes of many deliveries
// at once (several statement chunks), some no longer leased to the
// writer, and a delivery retried with a different payload each time:
// every attempt keeps its own request, the delivery shows the latest, and
// a delivery another owner holds is neither written nor given an attempt.
func TestCompleteRecordsEachAttemptOnce(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			d := newDest(t, s, sh.ID, "meta", nil)
			var items []store.Incoming
			for i := 0; i < 300; i++ {
				items = append(items, paid(sh.ID, fmt.Sprint("evt-", i), fmt.Sprint(5000+i)))
			}
			if _, err := s.CommitBatch(ctx, items, routing{}); err != nil {
				t.Fatal(err)
			}
			claimed, err := s.Claim(ctx, d.ID, "a", 1000, t0, time.Minute)
			if err != nil || len(claimed) != 300 {
				t.Fatalf("Claim = %d, %v; want 300", len(claimed), err)
			}
			slices.SortFunc(claimed, func(a, b store.Claimed) int { return int(a.ID - b.ID) }) // claims come in no order
			// The lease of the last delivery ran out and "b" took it.
			stolen := claimed[len(claimed)-1]
			if err := s.ReleaseLeases(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if again, err := s.Claim(ctx, d.ID, "a", len(claimed)-1, t0, time.Minute); err != nil || len(again) != len(claimed)-1 {
				t.Fatalf("reclaim = %d, %v", len(again), err)
			}
			if b, err := s.Claim(ctx, d.ID, "b", 10, t0, time.Hour); err != nil || len(b) != 1 || b[0].ID != stolen.ID {
				t.Fatalf("b claimed %v, %v; want delivery %d", b, err, stolen.ID)
			}
			var outs []store.Outcome
			for i, c := range claimed {
				outs = append(outs, store.Outcome{DeliveryID: c.ID, Attempt: 1, CountAttempt: true, Status: store.DeliveryRetrying,
					ErrorClass: "transient", Error: "http 500", NextAttemptAt: t0.Add(time.Minute), StartedAt: t0,
					Payload: fmt.Sprintf(`{"n":%d,"try":1}`, i), Response: `{"error":"busy"}`, StatusCode: 500, Match: `{"email":true}`})
			}
			if err := s.Complete(ctx, "a", outs, t0); err != nil {
				t.Fatal(err)
			}
			first := claimed[0]
			next := t0.Add(2 * time.Minute)
			c2, err := s.Claim(ctx, d.ID, "a", 1, next, time.Minute)
			if err != nil || len(c2) != 1 || c2[0].ID != first.ID || c2[0].Attempts != 1 {
				t.Fatalf("second claim = %+v, %v", c2, err)
			}
			if err := s.Complete(ctx, "a", []store.Outcome{{DeliveryID: first.ID, Attempt: 2, CountAttempt: true, Status: store.DeliveryDelivered,
				Payload: `{"n":0,"try":2}`, Response: `{"events_received":1}`, StatusCode: 200, StartedAt: next}}, next); err != nil {
				t.Fatal(err)
			}
			ev, err := s.Event(ctx, first.EventID)
			if err != nil {
				t.Fatal(err)
			}
			del := ev.Deliveries[0]
			var requests []string
			for _, a := range del.History {
				requests = append(requests, a.Request)
			}
			if del.Status != store.DeliveryDelivered || del.Attempts != 2 || del.Payload != `{"n":0,"try":2}` ||
				del.Response != `{"events_received":1}` || !slices.Equal(requests, []string{`{"n":0,"try":1}`, `{"n":0,"try":2}`}) {
				t.Errorf("retried delivery: status %s, attempts %d, payload %s, response %s, requests %q",
					del.Status, del.Attempts, del.Payload, del.Response, requests)
			}
			mid, err := s.Event(ctx, claimed[150].EventID)
			if err != nil {
				t.Fatal(err)
			}
			if m := mid.Deliveries[0]; m.Status != store.DeliveryRetrying || m.Attempts != 1 || len(m.History) != 1 ||
				m.Payload != `{"n":150,"try":1}` || m.History[0].Outcome != store.DeliveryRetrying || m.LastError != "http 500" {
				t.Errorf("delivery in a later chunk = %+v", m)
			}
			other, err := s.Event(ctx, stolen.EventID)
			if err != nil {
				t.Fatal(err)
			}
			if o := other.Deliveries[0]; o.Attempts != 0 || len(o.History) != 0 || o.Payload != "" {
				t.Errorf("delivery held by another owner was written: %+v", o)
			}
		})
	}
}

// TestRefundNeverLinksToItself: a webhook that brings the order and its
// refund at once (the first the store sent of it) does not say it is
// linked to itself, and a later copy of the order that brings a new refund
// names the original purchase event.
func TestRefundNeverLinksToItself(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			newDest(t, s, sh.ID, "adjuster", nil)
			withRefund := func(delivery, refund string) store.Incoming {
				in := paid(sh.ID, delivery, "1100")
				in.Webhook.Refunds = []mapping.Refund{{RefundID: refund, OrderID: "1100", Amount: decimal.RequireFromString("5"), Currency: "USD", Time: t0}}
				return in
			}
			first, err := s.CommitBatch(ctx, []store.Incoming{withRefund("evt-1", "r1")}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			self := first[0]
			if self.Status != store.StatusAccepted || strings.Contains(self.Reason, fmt.Sprintf("linked to event %d", self.EventID)) ||
				!strings.Contains(self.Reason, "refund of this order") {
				t.Errorf("order with its refund: %+v; want it accepted, its refund noted as this order's, not linked to itself", self)
			}
			second, err := s.CommitBatch(ctx, []store.Incoming{withRefund("evt-2", "r2")}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			e, err := s.Event(ctx, second[0].EventID)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("refund linked to event %d", self.EventID); e.ID == self.EventID || !strings.Contains(e.Reason, want) {
				t.Errorf("copy of the order with a new refund: event %d reason %q; want %q", e.ID, e.Reason, want)
			}
		})
	}
}

// TestRoutingFollowsDestinationChanges: the webhook path's view of a
// shop's enabled destinations (cached on SQLite) follows every change at
// once: a destination added, disabled, re-enabled with other settings,
// deleted, and the shop deleted.
func TestRoutingFollowsDestinationChanges(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			n := 0
			platforms := func() []string {
				t.Helper()
				n++
				res, err := s.CommitBatch(ctx, []store.Incoming{paid(sh.ID, fmt.Sprint("evt-r-", n), fmt.Sprint(7000+n))}, routing{})
				if err != nil {
					t.Fatal(err)
				}
				ev, err := s.Event(ctx, res[0].EventID)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, d := range ev.Deliveries {
					out = append(out, d.Platform)
				}
				sort.Strings(out)
				return out
			}
			meta := newDest(t, s, sh.ID, "meta", nil)
			if got := platforms(); !equalStrings(got, []string{"meta"}) {
				t.Fatalf("with meta: %v", got)
			}
			tiktok := newDest(t, s, sh.ID, "tiktok", nil)
			if got := platforms(); !equalStrings(got, []string{"meta", "tiktok"}) {
				t.Fatalf("after adding tiktok: %v", got)
			}
			meta.Enabled = false
			if _, err := s.UpdateDestination(ctx, meta, false, t0); err != nil {
				t.Fatal(err)
			}
			if got := platforms(); !equalStrings(got, []string{"tiktok"}) {
				t.Fatalf("after disabling meta: %v", got)
			}
			meta.Enabled = true
			if _, err := s.UpdateDestination(ctx, meta, false, t0); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteDestination(ctx, tiktok.ID); err != nil {
				t.Fatal(err)
			}
			if got := platforms(); !equalStrings(got, []string{"meta"}) {
				t.Fatalf("after re-enabling meta and deleting tiktok: %v", got)
			}
		})
	}
}
