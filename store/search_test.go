package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

func TestEventSearchAndFilters(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			newDest(t, s, sh.ID, "meta", nil)
			newDest(t, s, sh.ID, "tiktok", nil)

			named := paid(sh.ID, "evt-1", "6318840300000")
			named.Webhook.Conversion.OrderName = "#1100"
			named.Webhook.Conversion.User.Email = " Jane.Doe@Example.COM "
			named.Webhook.Conversion.ClickIDs.FBCLID = "IwAR-click"
			other := paid(sh.ID, "evt-2", "6318840300001")
			other.Webhook.Conversion.OrderName = "#1101"
			other.Webhook.Conversion.User.Email = "someone@example.com"
			other.ReceivedAt = t0.Add(48 * time.Hour)
			stripe := paid(sh.ID, "evt-3", "cs_live_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4y5Z6a7B8c9D0")
			stripe.Webhook.Conversion.User = mapping.User{Email: "x@example.com", Phone: "+12175550143"}
			if _, err := s.CommitBatch(ctx, []store.Incoming{named, other, stripe}, routing{}); err != nil {
				t.Fatal(err)
			}

			tests := []struct {
				name string
				f    store.EventFilter
				want []string
			}{
				{"order name with hash", store.EventFilter{Query: "#1100"}, []string{"6318840300000"}},
				{"order number without hash", store.EventFilter{Query: "1101"}, []string{"6318840300001"}},
				{"order id", store.EventFilter{Query: "6318840300000"}, []string{"6318840300000"}},
				{"stripe session id", store.EventFilter{Query: stripe.Webhook.OrderID}, []string{stripe.Webhook.OrderID}},
				{"pixel event id", store.EventFilter{Query: "purchase-6318840300001"}, []string{"6318840300001"}},
				{"email, normalized", store.EventFilter{Query: "jane.doe@example.com"}, []string{"6318840300000"}},
				{"email, as typed", store.EventFilter{Query: "JANE.DOE@example.com "}, []string{"6318840300000"}},
				{"click id", store.EventFilter{Query: "IwAR-click"}, []string{"6318840300000"}},
				{"unknown", store.EventFilter{Query: "#9999"}, nil},
				{"partial email finds nothing", store.EventFilter{Query: "jane@"}, nil},
				// Quality: click id 4 + email 3; email 3 alone; email 3 + phone 2.
				{"match high", store.EventFilter{Match: store.MatchHigh}, []string{"6318840300000"}},
				{"match medium", store.EventFilter{Match: store.MatchMedium}, []string{stripe.Webhook.OrderID}},
				{"match low", store.EventFilter{Match: store.MatchLow}, []string{"6318840300001"}},
				{"from", store.EventFilter{From: t0.Add(24 * time.Hour)}, []string{"6318840300001"}},
				{"to", store.EventFilter{To: t0.Add(time.Hour)}, []string{stripe.Webhook.OrderID, "6318840300000"}},
				{"platform", store.EventFilter{Platform: "tiktok", Query: "#1100"}, []string{"6318840300000"}},
				{"platform and state", store.EventFilter{Platform: "tiktok", DeliveryStatus: store.DeliveryDelivered}, nil},
				{"unused platform", store.EventFilter{Platform: "snapchat"}, nil},
			}
			// New events wait in the queue for the indexer, and are found
			// at once: a search reads the queue as well as the index. The
			// same searches run before and after the indexer took them.
			for _, phase := range []string{"queued", "indexed"} {
				if phase == "indexed" {
					// PostgreSQL's searches index the queue first.
					if n, err := s.IndexSearch(ctx, 100); err != nil || n != leftQueued(s, 3) {
						t.Fatalf("IndexSearch after the searches = %d, %v; want %d", n, err, leftQueued(s, 3))
					}
				}
				for _, tt := range tests {
					if got := eventOrders(t, s, tt.f); !equalStrings(got, tt.want) {
						t.Errorf("%s, %s: Events(%+v) = %v, want %v", phase, tt.name, tt.f, got, tt.want)
					}
				}
			}
			if n, err := s.IndexSearch(ctx, 100); err != nil || n != 0 {
				t.Fatalf("IndexSearch after indexing = %d, %v; want nothing left", n, err)
			}

			// The index is dropped with its event.
			if _, err := s.Prune(ctx, t0.Add(100*time.Hour), 10); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSearchQueuedTermsExact: a queued event is found by its terms, not
// by a value that merely contains another term's text (its queue row
// holds the terms as one JSON array, searched as text first).
func TestSearchQueuedTermsExact(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			in := paid(sh.ID, "evt-1", "6318840300000")
			in.Webhook.Conversion.OrderName = "#1100"
			in.Webhook.Conversion.ClickIDs.FBCLID = `zz"o:777`
			if _, err := s.CommitBatch(ctx, []store.Incoming{in}, routing{}); err != nil {
				t.Fatal(err)
			}
			for _, phase := range []string{"queued", "indexed"} {
				if phase == "indexed" {
					if n, err := s.IndexSearch(ctx, 100); err != nil || n != leftQueued(s, 1) {
						t.Fatalf("IndexSearch = %d, %v; want %d", n, err, leftQueued(s, 1))
					}
				}
				for _, tt := range []struct {
					q    string
					want []string
				}{
					{"777", nil},
					{`zz"o:777`, []string{"6318840300000"}},
					{"6318840300000", []string{"6318840300000"}},
					{"o:6318840300000", nil},
				} {
					if got := eventOrders(t, s, store.EventFilter{Query: tt.q}); !equalStrings(got, tt.want) {
						t.Errorf("%s: search %q = %v, want %v", phase, tt.q, got, tt.want)
					}
				}
			}
		})
	}
}

// leftQueued is how many of n queued events a search leaves queued: all
// where searches read the queue (SQLite), none where they index it first.
func leftQueued(s *store.Store, n int) int {
	if s.SearchReadsQueue() {
		return n
	}
	return 0
}

func eventOrders(t *testing.T, s *store.Store, f store.EventFilter) []string {
	t.Helper()
	events, err := s.Events(context.Background(), f)
	if err != nil {
		t.Fatalf("Events(%+v): %v", f, err)
	}
	var out []string
	for _, e := range events {
		out = append(out, e.OrderID)
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestEventListDateRangePages pages through a date range with the cursor:
// every event in the range once, newest received first.
func TestEventListDateRangePages(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			var items []store.Incoming
			for i := range 9 {
				in := paid(sh.ID, fmt.Sprint("evt-", i), fmt.Sprint(100+i))
				in.ReceivedAt = t0.Add(time.Duration(i) * time.Hour)
				if i == 4 {
					in.ReceivedAt = t0.Add(2 * time.Hour) // same time as order 102
				}
				items = append(items, in)
			}
			if _, err := s.CommitBatch(ctx, items, routing{}); err != nil {
				t.Fatal(err)
			}
			f := store.EventFilter{From: t0.Add(time.Hour), To: t0.Add(7 * time.Hour), Limit: 2}
			var got []string
			for range 10 {
				page, err := s.Events(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page {
					got = append(got, e.OrderID)
				}
				if len(page) < f.Limit {
					break
				}
				f.Before = page[len(page)-1].ID
			}
			want := []string{"106", "105", "103", "104", "102", "101"}
			if !equalStrings(got, want) {
				t.Errorf("pages = %v, want %v", got, want)
			}
		})
	}
}

// TestIndexSearchBackfillsOlderEvents: queued events (new ones, and those
// stored before the index existed) are indexed by IndexSearch in batches,
// always with the same terms.
func TestIndexSearchBackfillsOlderEvents(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			var items []store.Incoming
			for _, o := range []string{"1", "2", "3"} {
				in := paid(sh.ID, "evt-"+o, o)
				in.Webhook.Conversion.OrderName = "#" + o
				in.Webhook.Conversion.ClickIDs.GCLID = "g-" + o
				items = append(items, in)
			}
			got, err := s.CommitBatch(ctx, items, routing{})
			if err != nil {
				t.Fatal(err)
			}
			if terms, err := store.SearchTermsOf(ctx, s, got[0].EventID); err != nil || len(terms) != 0 {
				t.Fatalf("terms at commit = %q, %v; want none before the indexer runs", terms, err)
			}
			if n, err := s.IndexSearch(ctx, 100); err != nil || n != 3 {
				t.Fatalf("IndexSearch after commit = %d, %v; want the 3 queued", n, err)
			}
			want, err := store.SearchTermsOf(ctx, s, got[0].EventID)
			if err != nil || len(want) < 5 {
				t.Fatalf("indexed terms = %q, %v; want order id, event id, name, email, click id and band", want, err)
			}
			if err := store.ForgetSearchIndex(ctx, s); err != nil {
				t.Fatal(err)
			}
			if n, err := s.IndexSearch(ctx, 2); err != nil || n != 2 {
				t.Fatalf("IndexSearch(2) = %d, %v; want 2", n, err)
			}
			if n, err := s.IndexSearch(ctx, 100); err != nil || n != 1 {
				t.Fatalf("IndexSearch(100) = %d, %v; want the 1 left", n, err)
			}
			again, err := store.SearchTermsOf(ctx, s, got[0].EventID)
			if err != nil || !equalStrings(again, want) {
				t.Errorf("backfilled terms = %q, %v; want those written at commit %q", again, err, want)
			}
			if found := eventOrders(t, s, store.EventFilter{Query: "#2"}); !equalStrings(found, []string{"2"}) {
				t.Errorf("search after backfill = %v, want order 2", found)
			}
		})
	}
}

// TestIndexSearchReadsAChangedEventAgain: an event whose conversion changes
// while the indexer has it in hand (a late beacon joins it) is queued
// again (gen bumped), so the terms written from the old read are not the
// last word.
func TestIndexSearchReadsAChangedEventAgain(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			got, err := s.CommitBatch(ctx, []store.Incoming{paid(sh.ID, "evt-1", "5001")}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			id := got[0].EventID
			store.SetBeforeIndexWrite(func() {
				store.SetBeforeIndexWrite(nil)
				// What a late beacon's join does to a queued event.
				if err := s.ExecRaw(ctx, `UPDATE events SET order_id = ? WHERE id = ?`, "5001-joined", id); err != nil {
					t.Error(err)
				}
				if err := s.ExecRaw(ctx, `UPDATE search_queue SET gen = gen + 1, terms = '' WHERE event_id = ?`, id); err != nil {
					t.Error(err)
				}
			})
			t.Cleanup(func() { store.SetBeforeIndexWrite(nil) })
			if n, err := s.IndexSearch(ctx, 100); err != nil || n != 1 {
				t.Fatalf("IndexSearch = %d, %v; want 1", n, err)
			}
			if n, err := s.IndexSearch(ctx, 100); err != nil || n != 1 {
				t.Fatalf("second IndexSearch = %d, %v; want the changed event again", n, err)
			}
			if n, err := s.IndexSearch(ctx, 100); err != nil || n != 0 {
				t.Fatalf("third IndexSearch = %d, %v; want nothing left", n, err)
			}
			if found := eventOrders(t, s, store.EventFilter{Query: "5001-joined"}); !equalStrings(found, []string{"5001-joined"}) {
				t.Errorf("search for the changed order id = %v", found)
			}
		})
	}
}
