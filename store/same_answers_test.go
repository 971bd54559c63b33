package store_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// TestSameAnswersOnBothDatabases commits the same mixed batches on SQLite
// and PostgreSQL (whose commit is pipelined, see commitPendingPG) and
// compares every answer and every stored event, with event ids numbered
// by first appearance (PostgreSQL's ids may have gaps: a replay's id is
// taken and not used).
func TestSameAnswersOnBothDatabases(t *testing.T) {
	stores := storetest.All(t)
	if len(stores) < 2 {
		t.Skip("POSTBACK_TEST_POSTGRES is not set: nothing to compare SQLite with")
	}
	got := map[string][]string{}
	for name, s := range stores {
		ctx := context.Background()
		sh := newShop(t, s)
		newDest(t, s, sh.ID, "meta", nil)
		newDest(t, s, sh.ID, "tiktok", map[string]string{"test": "true"})
		withRefund := func(delivery, order, refund string) store.Incoming {
			p := paid(sh.ID, delivery, order)
			p.Webhook.Refunds = []mapping.Refund{{RefundID: refund, OrderID: order, Amount: decimal.RequireFromString("5"), Currency: "USD", Time: t0}}
			return p
		}
		ignored := func(delivery string) store.Incoming {
			p := paid(sh.ID, delivery, "1009")
			p.Body = []byte(`{"id":1009,"financial_status":"pending"}`)
			p.Webhook.Outcome, p.Webhook.Conversion, p.Webhook.Reason = mapping.OutcomeIgnored, nil, "not paid"
			return p
		}
		broken := paid(sh.ID, "", "")
		broken.ParseError = "malformed webhook body"
		testOrder := paid(sh.ID, "evt-test", "1003")
		testOrder.Webhook.Conversion = conversion("1003", true)
		alias := paid(sh.ID, "evt-alias", "cs_1")
		alias.Webhook.OrderAliases = []string{"pi_1"}
		batches := [][]store.Incoming{
			{
				paid(sh.ID, "evt-1", "1002"),
				paid(sh.ID, "evt-1", "1002"),           // same delivery: a replay
				paid(sh.ID, "evt-2", "1002"),           // same order: a replay
				withRefund("evt-3", "1002", "r1"),      // same order with a refund: kept
				withRefund("evt-4", "1002", "r1"),      // the same refund again
				ignored("evt-ig1"), ignored("evt-ig2"), // the same ignored body, fresh delivery id
				broken, testOrder, alias,
				paid(sh.ID, "evt-pi", "pi_1"), // the alias's order
			},
			{
				paid(sh.ID, "evt-1", "1002"), // a replay of an earlier batch
				withRefund("evt-5", "1002", "r2"),
				ignored("evt-ig3"),
				paid(sh.ID, "evt-6", "1006"),
				paid(sh.ID, "evt-6", "1006"),
			},
		}
		ids := map[int64]int{}
		num := func(id int64) string {
			if id == 0 {
				return "0"
			}
			if _, ok := ids[id]; !ok {
				ids[id] = len(ids) + 1
			}
			return fmt.Sprintf("E%d", ids[id])
		}
		eventRef := regexp.MustCompile(`event (\d+)`)
		renumber := func(s string) string {
			return eventRef.ReplaceAllStringFunc(s, func(m string) string {
				id, _ := strconv.ParseInt(m[len("event "):], 10, 64)
				return "event " + num(id)
			})
		}
		var lines []string
		var stored []int64
		for b, items := range batches {
			res, err := s.CommitBatch(ctx, items, routing{})
			if err != nil {
				t.Fatalf("%s: batch %d: %v", name, b, err)
			}
			var last int64
			for i, r := range res {
				if _, old := ids[r.EventID]; !old && r.EventID != 0 {
					// New events get ids in row order on both.
					if r.EventID <= last {
						t.Errorf("%s: batch %d item %d: new event %d after %d", name, b, i, r.EventID, last)
					}
					last = r.EventID
				}
				lines = append(lines, fmt.Sprintf("batch %d item %d: %s %s %q queued %d", b, i, num(r.EventID), r.Status, renumber(r.Reason), r.Queued))
				stored = append(stored, r.EventID)
			}
		}
		seen := map[int64]bool{}
		for _, id := range stored {
			if seen[id] {
				continue
			}
			seen[id] = true
			ev, err := s.Event(ctx, id)
			if err != nil {
				t.Fatalf("%s: event %d: %v", name, id, err)
			}
			lines = append(lines, fmt.Sprintf("%s: %s %q duplicate_of %s duplicates %d order %s conversion %v refunds %d deliveries %d",
				num(ev.ID), ev.Status, renumber(ev.Reason), num(ev.DuplicateOf), ev.Duplicates, ev.OrderID, ev.Conversion != nil, len(ev.Refunds), len(ev.Deliveries)))
		}
		got[name] = lines
	}
	sq, pg := got["sqlite"], got["postgres"]
	if len(sq) != len(pg) {
		t.Fatalf("%d lines on SQLite, %d on PostgreSQL", len(sq), len(pg))
	}
	for i := range sq {
		if sq[i] != pg[i] {
			t.Errorf("SQLite:     %s\nPostgreSQL: %s", sq[i], pg[i])
		}
	}
	if testing.Verbose() {
		for _, l := range sq {
			t.Log(l)
		}
	}
}
