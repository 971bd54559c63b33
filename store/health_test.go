package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

func TestHealthTroublesGridAndRejections(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			meta := newDest(t, s, sh.ID, "meta", nil)
			tiktok := newDest(t, s, sh.ID, "tiktok", nil)
			var items []store.Incoming
			for _, o := range []string{"1", "2", "3"} {
				items = append(items, paid(sh.ID, "evt-"+o, o))
			}
			if _, err := s.CommitBatch(ctx, items, routing{}); err != nil {
				t.Fatal(err)
			}
			now := t0.Add(time.Minute)
			// Meta delivers one, refuses none; TikTok's token is refused.
			claimed, err := s.Claim(ctx, meta.ID, "w1", 1, now, time.Minute)
			if err != nil || len(claimed) != 1 {
				t.Fatalf("claim meta: %v %v", claimed, err)
			}
			if err := s.Complete(ctx, "w1", []store.Outcome{{DeliveryID: claimed[0].ID, Attempt: 1, Status: store.DeliveryDelivered,
				CountAttempt: true, Match: `{"click_id":true}`, StartedAt: now}}, now); err != nil {
				t.Fatal(err)
			}
			if err := s.ParkDestination(ctx, tiktok.ID, "tiktok refused the access token (code 40105)", now); err != nil {
				t.Fatal(err)
			}

			troubles, err := s.DestinationTroubles(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(troubles) != 1 || troubles[0].DestinationID != tiktok.ID || troubles[0].Parked != 3 ||
				troubles[0].LastError != "tiktok refused the access token (code 40105)" || !troubles[0].Since.Equal(now) ||
				troubles[0].OldestExpires.IsZero() {
				t.Errorf("troubles = %+v, want TikTok with 3 parked since %v", troubles, now)
			}

			cells, err := s.Grid(ctx, t0.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]store.Cell{
				"meta":   {ShopID: sh.ID, Platform: "meta", Delivered: 1, Waiting: 2, WithClickID: 1},
				"tiktok": {ShopID: sh.ID, Platform: "tiktok", Waiting: 3, Parked: 3},
			}
			if len(cells) != 2 {
				t.Fatalf("grid = %+v, want 2 cells", cells)
			}
			for _, c := range cells {
				if c != want[c.Platform] {
					t.Errorf("grid cell %s = %+v, want %+v", c.Platform, c, want[c.Platform])
				}
			}

			act, err := s.ShopActivities(ctx, t0.Add(-time.Hour))
			if err != nil || act[sh.ID].Count != 3 || !act[sh.ID].Last.Equal(t0) {
				t.Errorf("activity = %+v, %v; want 3 webhooks, last at %v", act, err, t0)
			}
			last, err := s.LastEvent(ctx, sh.ID)
			if err != nil || last.OrderID != "3" {
				t.Errorf("last event = %+v, %v; want order 3", last, err)
			}

			rec := s.NewRejections(nil)
			for i := range 5 {
				rec.Record(sh.ID, store.RejectBadSignature, t0.Add(time.Duration(i)*time.Second))
			}
			rec.Flush(ctx)
			rec.Record(sh.ID, store.RejectBadSignature, t0.Add(10*time.Second))
			rec.Record(sh.ID, store.RejectStaleTimestamp, t0.Add(90*time.Second))
			rec.Flush(ctx)
			rec.Flush(ctx) // nothing pending: no change
			got, err := s.RejectionsSince(ctx, t0.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].Reason != store.RejectBadSignature || got[0].Count != 6 || !got[0].Last.Equal(t0.Add(10*time.Second)) ||
				got[1].Reason != store.RejectStaleTimestamp || got[1].Count != 1 {
				t.Errorf("rejections = %+v, want 6 bad signatures (last at +10 s) and 1 stale", got)
			}
			if got, _ := s.RejectionsSince(ctx, t0.Add(time.Minute)); len(got) != 1 || got[0].Reason != store.RejectStaleTimestamp {
				t.Errorf("rejections in the last minute = %+v, want the stale one only", got)
			}
			if err := s.PruneRejections(ctx, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.RejectionsSince(ctx, t0.Add(-time.Hour)); len(got) != 0 {
				t.Errorf("after prune = %+v", got)
			}
		})
	}
}
