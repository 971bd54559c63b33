package store_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// TestReplaysAreCountedNotStored: a signed paid-order body replayed with
// fresh delivery ids (and with the same one), across batches and within
// one, answers duplicate with the original event's id and is counted on
// it; no new event row carries the body again. Both databases alike.
func TestReplaysAreCountedNotStored(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			newDest(t, s, sh.ID, "meta", nil)
			body := bytes.Repeat([]byte("x"), 4096)
			in := func(delivery string, at time.Time) store.Incoming {
				p := paid(sh.ID, delivery, "o1")
				p.Body, p.ReceivedAt = body, at
				return p
			}
			first, err := s.CommitBatch(ctx, []store.Incoming{in("d0", t0)}, routing{})
			if err != nil || first[0].Status != store.StatusAccepted {
				t.Fatalf("first = %+v, %v", first, err)
			}
			orig := first[0].EventID

			// 20 single replays with fresh ids, one with the original id,
			// and a batch of 10 replays of an order first seen in that
			// batch.
			last := t0
			for i := 1; i <= 20; i++ {
				last = t0.Add(time.Duration(i) * time.Minute)
				res, err := s.CommitBatch(ctx, []store.Incoming{in(fmt.Sprintf("d%d", i), last)}, routing{})
				if err != nil {
					t.Fatal(err)
				}
				if res[0].Status != store.StatusDuplicate || res[0].EventID != orig || res[0].Queued != 0 {
					t.Fatalf("replay %d = %+v, want duplicate of event %d", i, res[0], orig)
				}
			}
			res, err := s.CommitBatch(ctx, []store.Incoming{in("d0", last.Add(-time.Hour))}, routing{})
			if err != nil || res[0].Status != store.StatusDuplicate || res[0].EventID != orig {
				t.Fatalf("same delivery again = %+v, %v", res, err)
			}
			var batch []store.Incoming
			for i := range 10 {
				p := paid(sh.ID, fmt.Sprintf("b%d", i), "o2")
				p.Body = body
				batch = append(batch, p)
			}
			res, err = s.CommitBatch(ctx, batch, routing{})
			if err != nil {
				t.Fatal(err)
			}
			o2 := res[0].EventID
			for i, r := range res[1:] {
				if r.Status != store.StatusDuplicate || r.EventID != o2 {
					t.Errorf("in-batch replay %d = %+v, want duplicate of event %d", i+1, r, o2)
				}
			}

			events, err := s.Events(ctx, store.EventFilter{ShopID: sh.ID, Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 2 {
				t.Fatalf("%d events stored, want 2 (one per order)", len(events))
			}
			byID := map[int64]store.Event{}
			for _, e := range events {
				byID[e.ID] = e
			}
			if e := byID[orig]; e.Duplicates != 21 || !e.LastDuplicateAt.Equal(last) || e.Status != store.StatusAccepted || len(e.Deliveries) != 1 {
				t.Errorf("original = duplicates %d last %v status %s deliveries %d; want 21, %v, accepted, 1",
					e.Duplicates, e.LastDuplicateAt, e.Status, len(e.Deliveries), last)
			}
			if e := byID[o2]; e.Duplicates != 9 {
				t.Errorf("in-batch original duplicates = %d, want 9", e.Duplicates)
			}
		})
	}
}

// TestDuplicateWithRefundIsKept: a repeated order that reports a new
// refund is still stored (the refund hangs on it); the same body again is
// a replay, counted.
func TestDuplicateWithRefundIsKept(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			first, err := s.CommitBatch(ctx, []store.Incoming{paid(sh.ID, "d0", "o1")}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			withRefund := func(delivery string) store.Incoming {
				p := paid(sh.ID, delivery, "o1")
				p.Webhook.Refunds = []mapping.Refund{{RefundID: "r1", OrderID: "o1", Amount: decimal.RequireFromString("5"), Currency: "USD", Time: t0}}
				return p
			}
			res, err := s.CommitBatch(ctx, []store.Incoming{withRefund("d1")}, routing{})
			if err != nil || res[0].EventID == first[0].EventID {
				t.Fatalf("duplicate order with a new refund = %+v, %v; want its own event", res, err)
			}
			again, err := s.CommitBatch(ctx, []store.Incoming{withRefund("d2")}, routing{})
			if err != nil || again[0].Status != store.StatusDuplicate || again[0].EventID != first[0].EventID {
				t.Fatalf("same refund again = %+v, %v; want a duplicate of event %d", again, err, first[0].EventID)
			}
			events, err := s.Events(ctx, store.EventFilter{ShopID: sh.ID})
			if err != nil || len(events) != 2 {
				t.Fatalf("%d events, %v; want 2", len(events), err)
			}
		})
	}
}

// TestIgnoredReplaysAreCounted: a signed body that is not a conversion
// (a pending order), replayed with fresh delivery ids, is counted on its
// first event, not stored again; the same order in another state, or the
// same body under another topic, is stored.
func TestIgnoredReplaysAreCounted(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			pending := func(delivery, topic, body string) store.Incoming {
				return store.Incoming{ShopID: sh.ID, Source: mapping.SourceShopify, Topic: topic, ReceivedAt: t0, Body: []byte(body),
					Webhook: mapping.Webhook{Source: mapping.SourceShopify, Topic: topic, DeliveryID: delivery, OrderID: "o9",
						Outcome: mapping.OutcomeIgnored, Reason: "not paid"}}
			}
			first, err := s.CommitBatch(ctx, []store.Incoming{pending("d0", "orders/updated", `{"id":9,"financial_status":"pending"}`)}, routing{})
			if err != nil || first[0].Status != store.StatusIgnored {
				t.Fatalf("first = %+v, %v", first, err)
			}
			for i := 1; i <= 5; i++ {
				res, err := s.CommitBatch(ctx, []store.Incoming{pending(fmt.Sprintf("d%d", i), "orders/updated", `{"id":9,"financial_status":"pending"}`)}, routing{})
				if err != nil || res[0].Status != store.StatusDuplicate || res[0].EventID != first[0].EventID {
					t.Fatalf("replay %d = %+v, %v; want duplicate of %d", i, res, err, first[0].EventID)
				}
			}
			other, err := s.CommitBatch(ctx, []store.Incoming{
				pending("e1", "orders/updated", `{"id":9,"financial_status":"authorized"}`),
				pending("e2", "orders/create", `{"id":9,"financial_status":"pending"}`),
			}, routing{})
			if err != nil || other[0].Status != store.StatusIgnored || other[1].Status != store.StatusIgnored {
				t.Fatalf("new state and other topic = %+v, %v; want both stored as ignored", other, err)
			}
			events, err := s.Events(ctx, store.EventFilter{ShopID: sh.ID})
			if err != nil || len(events) != 3 {
				t.Fatalf("%d events, %v; want 3", len(events), err)
			}
			if e := events[2]; e.ID != first[0].EventID || e.Duplicates != 5 {
				t.Errorf("first event: id %d duplicates %d, want %d with 5", e.ID, e.Duplicates, first[0].EventID)
			}
		})
	}
}
