package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// counts reports how many rows of each table a webhook writes refer to
// the shop (deliveries: to the destination, when dest is not 0).
func counts(t *testing.T, s *store.Store, shop, dest int64) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	out := map[string]int64{}
	for _, q := range []struct{ table, where string }{
		{"events", "shop_id = ?"},
		{"webhook_deliveries", "shop_id = ?"},
		{"order_conversions", "shop_id = ?"},
		{"deliveries", "shop_id = ?"},
		{"search_queue", "event_id IN (SELECT id FROM events WHERE shop_id = ?)"},
	} {
		n, err := s.CountRows(ctx, q.table, q.where, shop)
		if err != nil {
			t.Fatal(err)
		}
		out[q.table] = n
	}
	if dest != 0 {
		n, err := s.CountRows(ctx, "deliveries", "destination_id = ?", dest)
		if err != nil {
			t.Fatal(err)
		}
		out["deliveries of the destination"] = n
	}
	return out
}

// On PostgreSQL the tables a webhook writes keep no foreign key to the
// shop or destination (migration 00018): deleting either must still take
// everything that referred to it, and nothing of another shop.
func TestDeleteLeavesNothingBehind(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a, b := newShop(t, s), newShop(t, s)
			metaA, tiktokA := newDest(t, s, a.ID, "meta", nil), newDest(t, s, a.ID, "tiktok", nil)
			newDest(t, s, b.ID, "meta", nil)
			var items []store.Incoming
			for i := range 5 {
				items = append(items, paid(a.ID, fmt.Sprintf("a-%d", i), fmt.Sprintf("a%d", i)),
					paid(b.ID, fmt.Sprintf("b-%d", i), fmt.Sprintf("b%d", i)))
			}
			res, err := s.CommitBatch(ctx, items, routing{})
			if err != nil {
				t.Fatal(err)
			}
			// Three of shop a's events indexed for search, the rest queued.
			if _, err := s.IndexSearch(ctx, 6); err != nil {
				t.Fatal(err)
			}
			var aIDs []int64
			for i := 0; i < len(res); i += 2 {
				aIDs = append(aIDs, res[i].EventID)
			}
			terms := func() int64 {
				n, err := s.CountRows(ctx, "event_search", "event_id IN ?", aIDs)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			if terms() == 0 {
				t.Fatal("no search terms indexed for shop a")
			}
			before := counts(t, s, a.ID, tiktokA.ID)
			if before["events"] != 5 || before["deliveries"] != 10 || before["deliveries of the destination"] != 5 ||
				before["webhook_deliveries"] == 0 || before["order_conversions"] == 0 {
				t.Fatalf("shop a before: %v", before)
			}
			bBefore := counts(t, s, b.ID, 0)

			if err := s.DeleteDestination(ctx, tiktokA.ID); err != nil {
				t.Fatal(err)
			}
			if got := counts(t, s, a.ID, tiktokA.ID); got["deliveries of the destination"] != 0 || got["deliveries"] != 5 || got["events"] != 5 {
				t.Errorf("after deleting a destination: %v, want its 5 deliveries gone and the rest kept", got)
			}
			if err := s.DeleteShop(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
			for table, n := range counts(t, s, a.ID, metaA.ID) {
				if n != 0 {
					t.Errorf("after deleting the shop: %d rows of %s still refer to it", n, table)
				}
			}
			if n := terms(); n != 0 {
				t.Errorf("after deleting the shop: %d search terms of its events", n)
			}
			if got := counts(t, s, b.ID, 0); fmt.Sprint(got) != fmt.Sprint(bBefore) {
				t.Errorf("the other shop: %v, was %v", got, bBefore)
			}
			// The search indexer goes on: the deleted shop's queued events
			// are gone from its queue.
			if _, err := s.IndexSearch(ctx, 100); err != nil {
				t.Errorf("indexing after the shop was deleted: %v", err)
			}
			if n, err := s.SearchBacklog(ctx); err != nil || n != 0 {
				t.Errorf("search backlog after indexing = %d, %v; want 0", n, err)
			}
			// A webhook for the deleted shop is refused and stores nothing.
			if _, err := s.CommitBatch(ctx, []store.Incoming{paid(a.ID, "a-late", "a-late")}, routing{}); err == nil {
				t.Error("a webhook for a deleted shop was committed")
			}
			for table, n := range counts(t, s, a.ID, 0) {
				if n != 0 {
					t.Errorf("after a late webhook: %d rows of %s refer to the deleted shop", n, table)
				}
			}
		})
	}
}

// Webhooks being committed while their shop or destination is deleted
// leave nothing behind: the deletion waits for them (PostgreSQL: they
// lock the shop and its destinations), or they see it and fail.
func TestDeleteWhileCommitting(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for round := range 3 {
				sh := newShop(t, s)
				d1, d2 := newDest(t, s, sh.ID, "meta", nil), newDest(t, s, sh.ID, "tiktok", nil)
				c := s.NewCommitter(routing{}, store.CommitterConfig{MaxBatch: 8})
				cctx, stop := context.WithCancel(ctx)
				var run sync.WaitGroup
				run.Go(func() { c.Run(cctx) })

				var senders sync.WaitGroup
				indexing, stopIndexing := context.WithCancel(ctx)
				senders.Go(func() { // the search indexer, as in the background
					for indexing.Err() == nil {
						if _, err := s.IndexSearch(indexing, 16); err != nil && indexing.Err() == nil {
							t.Errorf("round %d: indexing: %v", round, err)
							return
						}
					}
				})
				started := make(chan struct{}, 64)
				for w := range 8 {
					senders.Go(func() {
						for i := range 40 {
							in := paid(sh.ID, fmt.Sprintf("r%d-w%d-%d", round, w, i), fmt.Sprintf("r%d-w%d-%d", round, w, i))
							_, err := c.Commit(ctx, in)
							select {
							case started <- struct{}{}:
							default:
							}
							if err != nil {
								return // the shop is gone
							}
						}
					})
				}
				for range 16 {
					<-started
				}
				errD := s.DeleteDestination(ctx, d2.ID)
				errS := s.DeleteShop(ctx, sh.ID)
				stopIndexing()
				senders.Wait()
				stop()
				run.Wait()
				if errD != nil || errS != nil {
					t.Fatalf("round %d: delete destination: %v; delete shop: %v", round, errD, errS)
				}
				for table, n := range counts(t, s, sh.ID, d1.ID) {
					if n != 0 {
						t.Errorf("round %d: %d rows of %s refer to the deleted shop", round, n, table)
					}
				}
				if n, err := s.CountRows(ctx, "deliveries", "destination_id = ?", d2.ID); err != nil || n != 0 {
					t.Errorf("round %d: %d deliveries to the deleted destination (%v)", round, n, err)
				}
				for _, table := range []string{"event_search", "search_queue"} {
					if n, err := s.CountRows(ctx, table, "event_id NOT IN (SELECT id FROM events)"); err != nil || n != 0 {
						t.Errorf("round %d: %d rows of %s for deleted events (%v)", round, n, table, err)
					}
				}
			}
		})
	}
}

// A queued event deleted by any path is skipped by the search indexer:
// its queue row goes, no term is written for it, and the events queued
// after it are indexed (on SQLite the key to events used to refuse the
// batch, every round).
func TestIndexerSkipsDeletedEvents(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			res, err := s.CommitBatch(ctx, []store.Incoming{paid(sh.ID, "gone", "gone"), paid(sh.ID, "kept", "kept")}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			gone, kept := res[0].EventID, res[1].EventID
			if err := s.ExecRaw(ctx, `DELETE FROM events WHERE id = ?`, gone); err != nil {
				t.Fatal(err)
			}
			if n, err := s.IndexSearch(ctx, 100); err != nil || n != 2 {
				t.Fatalf("IndexSearch = %d, %v; want both queue rows taken", n, err)
			}
			if n, err := s.CountRows(ctx, "event_search", "event_id = ?", gone); err != nil || n != 0 {
				t.Errorf("%d terms for the deleted event (%v)", n, err)
			}
			if n, err := s.CountRows(ctx, "event_search", "event_id = ?", kept); err != nil || n == 0 {
				t.Errorf("%d terms for the event after it (%v)", n, err)
			}
			if n, err := s.SearchBacklog(ctx); err != nil || n != 0 {
				t.Errorf("search backlog = %d, %v; want 0", n, err)
			}
		})
	}
}
