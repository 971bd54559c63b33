package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// Compacting finished events shrinks what they keep and changes nothing a
// reader sees; events still waiting to be sent are left alone.
func TestCompactFinishedEvents(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			d := newDest(t, s, sh.ID, "meta", nil)
			body := []byte(`{"id":1,"note":"` + strings.Repeat("leave it at the side door please ", 200) + `"}`)
			var items []store.Incoming
			for i := 0; i < 3; i++ {
				in := paid(sh.ID, fmt.Sprint("evt-c-", i), fmt.Sprint(5000+i))
				in.Body = body
				items = append(items, in)
			}
			small := paid(sh.ID, "evt-small", "5100")
			small.Webhook.Outcome, small.Webhook.Conversion = "ignored", nil
			items = append(items, small)
			res, err := s.CommitBatch(ctx, items, routing{})
			if err != nil {
				t.Fatal(err)
			}
			claimed, err := s.Claim(ctx, d.ID, "w", 2, t0, time.Minute)
			if err != nil || len(claimed) != 2 {
				t.Fatalf("claim = %d, %v", len(claimed), err)
			}
			payload := `{"data":[{"event_name":"Purchase","user_data":{"em":["` + strings.Repeat("ab", 32) + `"]}}]}`
			var outs []store.Outcome
			for i, c := range claimed {
				st := store.DeliveryDelivered
				if i == 1 {
					st = store.DeliveryFailed
				}
				outs = append(outs, store.Outcome{DeliveryID: c.ID, Attempt: 1, CountAttempt: true, Status: st, Payload: payload,
					Response: `{"events_received":1}`, StatusCode: 200, StartedAt: t0})
			}
			if err := s.Complete(ctx, "w", outs, t0); err != nil {
				t.Fatal(err)
			}
			var ids []int64
			before := map[int64]store.Event{}
			for _, r := range res {
				ids = append(ids, r.EventID)
				ev, err := s.Event(ctx, r.EventID)
				if err != nil {
					t.Fatal(err)
				}
				before[r.EventID] = ev
			}
			listed, err := s.EventIDsAfter(ctx, 0, t0.Add(time.Second), 10)
			if err != nil || !cmp.Equal(listed, ids) {
				t.Fatalf("EventIDsAfter = %v, %v; want %v", listed, err, ids)
			}
			if recent, err := s.EventIDsAfter(ctx, 0, t0, 10); err != nil || len(recent) != 0 {
				t.Errorf("EventIDsAfter before they were received = %v, %v; want none", recent, err)
			}
			// Bodies are stored compressed from the start (S2, before the
			// writer); the compactor recompresses them with zstd.
			ingested, err := s.StoredSizes(ctx, ids[0])
			if err != nil || ingested.Body == 0 || ingested.Body >= len(body)/2 {
				t.Errorf("stored body at ingest = %+v, %v; want compressed below %d bytes", ingested, err, len(body)/2)
			}
			n, busy, err := s.CompactEvents(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			// The third conversion is still pending: not finished.
			if n != 3 || !cmp.Equal(busy, []int64{res[2].EventID}) {
				t.Errorf("compacted %d, busy %v; want 3 and [%d]", n, busy, res[2].EventID)
			}
			for _, id := range ids {
				ev, err := s.Event(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(before[id], ev); diff != "" {
					t.Errorf("event %d reads differently after compaction (-before +after):\n%s", id, diff)
				}
			}
			// Twice is a no-op.
			if _, _, err := s.CompactEvents(ctx, ids); err != nil {
				t.Fatal(err)
			}
			ev, err := s.Event(ctx, ids[0])
			if err != nil || string(ev.Body) != string(body) || ev.Deliveries[0].Payload != payload || ev.Deliveries[0].History[0].Request != payload {
				t.Errorf("after a second pass: %v %+v", err, ev.Deliveries)
			}
			sizes, err := s.StoredSizes(ctx, ids[0])
			if err != nil {
				t.Fatal(err)
			}
			if sizes.Body >= len(body)/4 || sizes.Body > ingested.Body || sizes.Payload != 0 || sizes.Packed == 0 {
				t.Errorf("stored sizes after compaction = %+v; body was %d", sizes, len(body))
			}
		})
	}
}

// TestEventIDsAfterWalk: the compactor's walk goes by id up to the highest
// id of the events received before the cut-off; events out of receipt
// order go with their neighbours by id.
func TestEventIDsAfterWalk(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			var ids []int64
			for i, at := range []time.Duration{0, time.Second, 3 * time.Second, 2 * time.Second} {
				in := paid(sh.ID, fmt.Sprintf("walk-%d", i), fmt.Sprintf("walk-%d", i))
				in.ReceivedAt = t0.Add(at)
				res, err := s.CommitBatch(ctx, []store.Incoming{in}, routing{})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, res[0].EventID)
			}
			for _, tc := range []struct {
				after  int64
				before time.Duration
				limit  int
				want   []int64
			}{
				{0, 0, 10, nil}, // nothing received before t0
				{0, 1500 * time.Millisecond, 10, ids[:2]}, // up to the one received at t0+1s
				{0, 2500 * time.Millisecond, 10, ids},     // the t0+3s event's id is below the t0+2s one's: it comes with it
				{0, 3500 * time.Millisecond, 10, ids},
				{0, 3500 * time.Millisecond, 3, ids[:3]},
				{ids[1], 3500 * time.Millisecond, 10, ids[2:]},
				{ids[3], 3500 * time.Millisecond, 10, nil},
			} {
				got, err := s.EventIDsAfter(ctx, tc.after, t0.Add(tc.before), tc.limit)
				if err != nil || !cmp.Equal(got, tc.want, cmpopts.EquateEmpty()) {
					t.Errorf("EventIDsAfter(%d, t0+%v, %d) = %v, %v; want %v", tc.after, tc.before, tc.limit, got, err, tc.want)
				}
			}
		})
	}
}
