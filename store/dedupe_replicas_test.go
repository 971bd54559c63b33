package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// TestClaimRaceLoserAcrossReplicas: on PostgreSQL, a key another replica
// commits after a batch looked its keys up (here a transaction that holds
// the key until the batch's claim waits on it) makes the batch's item a
// duplicate at claim time: answered duplicate with its own event, no
// delivery queued, and the other keys it claimed released; its neighbours
// in the batch are unaffected.
func TestClaimRaceLoserAcrossReplicas(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		t.Skip("POSTBACK_TEST_POSTGRES is not set: the replica race needs PostgreSQL")
	}
	s := storetest.OpenKey(t, dsn, storetest.NewKey(t))
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	ctx := context.Background()
	sh := newShop(t, s)
	newDest(t, s, sh.ID, "meta", nil)

	cases := []struct {
		name, table, key string
		batch            []store.Incoming
		why              string
		// free is a webhook that must be accepted afterwards: the loser's
		// other key was released.
		free store.Incoming
	}{
		{name: "delivery key", table: "webhook_deliveries (shop_id, delivery_id, event_id)", key: "race-d1",
			batch: []store.Incoming{paid(sh.ID, "race-d1", "5001"), paid(sh.ID, "race-d2", "5002")},
			why:   "delivery race-d1 was already received", free: paid(sh.ID, "race-d3", "5001")},
		{name: "order key", table: "order_conversions (shop_id, order_id, event_id, created_at)", key: "6001",
			batch: []store.Incoming{paid(sh.ID, "race-o1", "6001"), paid(sh.ID, "race-o2", "6002")},
			why:   "order 6001 was already converted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			other, err := raw.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Rollback()
			vals := "($1, $2, 999999)"
			if strings.Contains(tc.table, "created_at") {
				vals = "($1, $2, 999999, 0)"
			}
			if _, err := other.ExecContext(ctx, "INSERT INTO "+tc.table+" VALUES "+vals, sh.ID, tc.key); err != nil {
				t.Fatal(err)
			}
			type result struct {
				out []store.Committed
				err error
			}
			done := make(chan result, 1)
			go func() {
				out, err := s.CommitBatch(ctx, tc.batch, routing{})
				done <- result{out, err}
			}()
			// The batch's look-ups do not see the uncommitted key; its
			// claim waits for it. Commit the other replica's key then.
			waitForLockWait(t, raw)
			if err := other.Commit(); err != nil {
				t.Fatal(err)
			}
			var r result
			select {
			case r = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("batch did not finish")
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			lost, kept := r.out[0], r.out[1]
			if lost.Status != store.StatusDuplicate || lost.Reason != tc.why || lost.EventID == 999999 || lost.Queued != 0 {
				t.Errorf("loser answered %+v; want duplicate %q with its own event and nothing queued", lost, tc.why)
			}
			if kept.Status != store.StatusAccepted || kept.Queued != 1 {
				t.Errorf("neighbour answered %+v; want accepted and queued once", kept)
			}
			ev, err := s.Event(ctx, lost.EventID)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Status != store.StatusDuplicate || ev.Reason != tc.why || ev.Conversion != nil {
				t.Errorf("loser's event stored as %s %q (conversion %v)", ev.Status, ev.Reason, ev.Conversion != nil)
			}
			var deliveries, claims int
			if err := raw.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM deliveries WHERE event_id = $1),
				(SELECT count(*) FROM webhook_deliveries WHERE event_id = $1) + (SELECT count(*) FROM order_conversions WHERE event_id = $1)`,
				lost.EventID).Scan(&deliveries, &claims); err != nil {
				t.Fatal(err)
			}
			if deliveries != 0 || claims != 0 {
				t.Errorf("loser's event kept %d deliveries and %d claimed keys; want none", deliveries, claims)
			}
			if tc.free.ShopID != 0 {
				out, err := s.CommitBatch(ctx, []store.Incoming{tc.free}, routing{})
				if err != nil {
					t.Fatal(err)
				}
				if out[0].Status != store.StatusAccepted {
					t.Errorf("order of the loser afterwards: %+v; want accepted (its claim was released)", out[0])
				}
			}
		})
	}
}

// waitForLockWait waits until a session waits for a lock on a claim insert.
func waitForLockWait(t *testing.T, raw *sql.DB) {
	t.Helper()
	for range 500 {
		var n int
		err := raw.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
			AND (query LIKE '%INSERT INTO webhook_deliveries%' OR query LIKE '%INSERT INTO order_conversions%')`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the batch never waited for the other replica's key")
}

// TestDedupeAcrossReplicas: two replicas committing batches that share
// delivery ids and orders at once convert each order exactly once, queue
// exactly the accepted conversions, and answer every other webhook as a
// duplicate, whichever wins each race.
func TestDedupeAcrossReplicas(t *testing.T) {
	a, b := replicas(t)
	ctx := context.Background()
	for round := range 15 {
		sh := newShop(t, a)
		meta := newDest(t, a, sh.ID, "meta", nil)
		var left, right []store.Incoming
		for i := range 12 {
			order := fmt.Sprint(10000 + i)
			left = append(left, paid(sh.ID, fmt.Sprintf("l-%d", i), order))
			// Half the right side repeats the left's delivery ids, half
			// only its orders; in reverse, so each side leads somewhere.
			d := fmt.Sprintf("r-%d", i)
			if i%2 == 0 {
				d = fmt.Sprintf("l-%d", i)
			}
			right = append([]store.Incoming{paid(sh.ID, d, order)}, right...)
		}
		var lo, ro []store.Committed
		var le, re error
		race(func() { lo, le = a.CommitBatch(ctx, left, routing{}) },
			func() { ro, re = b.CommitBatch(ctx, right, routing{}) })
		if le != nil || re != nil {
			t.Fatalf("round %d: %v, %v", round, le, re)
		}
		accepted := map[string]int{}
		queued := 0
		for i, c := range append(lo, ro...) {
			in := append(left, right...)[i]
			switch c.Status {
			case store.StatusAccepted:
				accepted[in.Webhook.OrderID]++
				queued += c.Queued
			case store.StatusDuplicate:
				if c.Queued != 0 {
					t.Errorf("round %d: duplicate %+v queued deliveries", round, c)
				}
			default:
				t.Errorf("round %d: answer %+v", round, c)
			}
		}
		if len(accepted) != 12 || queued != 12 {
			t.Fatalf("round %d: %d orders accepted, %d deliveries queued; want 12 each: %v", round, len(accepted), queued, accepted)
		}
		for order, n := range accepted {
			if n != 1 {
				t.Errorf("round %d: order %s accepted %d times", round, order, n)
			}
		}
		due, err := b.Claim(ctx, meta.ID, "replica-b", 100, t0.Add(time.Second), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(due) != 12 {
			t.Errorf("round %d: %d deliveries due; want 12", round, len(due))
		}
	}
}

// TestSearchIndexerOneReplicaAtATime: on PostgreSQL, while another
// replica's indexer holds the search lock, IndexSearch skips its round
// (reports 0 and leaves the queue as it was) instead of writing the same
// terms and waiting on the other's locks; once the lock is free it
// indexes the queue.
func TestSearchIndexerOneReplicaAtATime(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		t.Skip("POSTBACK_TEST_POSTGRES is not set: the replicas' search lock needs PostgreSQL")
	}
	s := storetest.OpenKey(t, dsn, storetest.NewKey(t))
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	ctx := context.Background()
	sh := newShop(t, s)
	for i := range 3 {
		if _, err := s.CommitBatch(ctx, []store.Incoming{paid(sh.ID, fmt.Sprint("idx-", i), fmt.Sprint(7100+i))}, routing{}); err != nil {
			t.Fatal(err)
		}
	}
	queued := func() int {
		var n int
		if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM search_queue`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	other, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, 0x73726368); err != nil {
		t.Fatal(err)
	}
	if n, err := s.IndexSearch(ctx, 100); err != nil || n != 0 {
		t.Errorf("IndexSearch while another replica indexes = %d, %v; want 0, nil", n, err)
	}
	if q := queued(); q != 3 {
		t.Errorf("queue after a skipped round = %d, want 3", q)
	}
	if err := other.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.IndexSearch(ctx, 100); err != nil || n != 3 {
		t.Errorf("IndexSearch with the lock free = %d, %v; want 3, nil", n, err)
	}
	if q := queued(); q != 0 {
		t.Errorf("queue after indexing = %d, want 0", q)
	}
	var terms int
	if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM event_search WHERE term = $1`, "o:7101").Scan(&terms); err != nil {
		t.Fatal(err)
	}
	if terms != 1 {
		t.Errorf("event_search rows for order 7101 = %d, want 1", terms)
	}
}
