package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// statsFixture commits webhooks at known times and finishes their
// deliveries at known times:
//
//	e1 t0-30m paid   meta delivered t0-20m (click id)   google failed t0-10m
//	e2 t0-90m paid   meta delivered t0-80m (no click)   google retrying since t0-80m
//	e3 t0-3h  ignored
//	e4 t0-2d  paid   meta delivered t0-47h (click id)   google delivered t0-47h (click id)
//	e5 t0-10d paid   meta failed t0-9d                  google delivered t0-9d (click id)
//	e6 t0-1m  error
func statsFixture(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	sh := newShop(t, s)
	meta := newDest(t, s, sh.ID, "meta", nil)
	google := newDest(t, s, sh.ID, "google_ads", nil)
	at := func(in store.Incoming, d time.Duration) store.Incoming {
		in.ReceivedAt = t0.Add(-d)
		return in
	}
	ignored := paid(sh.ID, "d3", "3")
	ignored.Webhook.Outcome, ignored.Webhook.Conversion, ignored.Webhook.Reason = mapping.OutcomeIgnored, nil, "not paid"
	broken := paid(sh.ID, "", "")
	broken.ParseError = "malformed webhook body"
	items := []store.Incoming{
		at(paid(sh.ID, "d1", "1"), 30*time.Minute),
		at(paid(sh.ID, "d2", "2"), 90*time.Minute),
		at(ignored, 3*time.Hour),
		at(paid(sh.ID, "d4", "4"), 48*time.Hour),
		at(paid(sh.ID, "d5", "5"), 240*time.Hour),
		at(broken, time.Minute),
	}
	committed, err := s.CommitBatch(ctx, items, routing{})
	if err != nil {
		t.Fatal(err)
	}
	event := map[string]int64{}
	for i, name := range []string{"e1", "e2", "e3", "e4", "e5", "e6"} {
		event[name] = committed[i].EventID
	}
	match := func(click bool) string {
		b, err := json.Marshal(mapping.Match{ClickID: click, Email: true}.Score())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	type finish struct {
		ev      string
		status  string
		click   bool
		ago     time.Duration
		attempt int
	}
	plans := map[int64][]finish{
		meta.ID: {
			{"e1", store.DeliveryDelivered, true, 20 * time.Minute, 1},
			{"e2", store.DeliveryDelivered, false, 80 * time.Minute, 1},
			{"e4", store.DeliveryDelivered, true, 47 * time.Hour, 1},
			{"e5", store.DeliveryFailed, false, 216 * time.Hour, 1},
		},
		google.ID: {
			{"e1", store.DeliveryFailed, false, 10 * time.Minute, 1},
			{"e2", store.DeliveryRetrying, false, 80 * time.Minute, 1},
			{"e4", store.DeliveryDelivered, true, 47 * time.Hour, 1},
			{"e5", store.DeliveryDelivered, true, 216 * time.Hour, 1},
		},
	}
	for destID, plan := range plans {
		claimed, err := s.Claim(ctx, destID, "w", 10, t0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		byEvent := map[int64]int64{}
		for _, c := range claimed {
			byEvent[c.EventID] = c.ID
		}
		for _, f := range plan {
			id, ok := byEvent[event[f.ev]]
			if !ok {
				t.Fatalf("destination %d: no delivery claimed for %s (claimed %+v)", destID, f.ev, claimed)
			}
			o := store.Outcome{DeliveryID: id, Attempt: f.attempt, CountAttempt: true, Status: f.status,
				StatusCode: 200, Payload: `{}`, Match: match(f.click), StartedAt: t0.Add(-f.ago)}
			if f.status != store.DeliveryDelivered {
				o.StatusCode, o.Error, o.ErrorClass = 500, "http 500: down", "transient"
				o.NextAttemptAt = t0.Add(time.Hour)
			}
			if err := s.Complete(ctx, "w", []store.Outcome{o}, t0.Add(-f.ago)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestStats(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			statsFixture(t, s)
			series := func(n int, set map[int]int64) []int64 {
				out := make([]int64, n)
				for i, v := range set {
					out[i] = v
				}
				return out
			}
			tests := []struct {
				name   string
				since  time.Time
				bucket time.Duration
				want   store.Stats
			}{
				{"last 24 hours", t0.Add(-24 * time.Hour), time.Hour, store.Stats{
					Webhooks:      map[string]int64{"accepted": 2, "ignored": 1, "error": 1},
					WebhooksTotal: 4, Sent: 2,
					WebhookSeries: series(24, map[int]int64{21: 1, 22: 1, 23: 2}),
					SentSeries:    series(24, map[int]int64{22: 1, 23: 1}),
					Platforms: []store.PlatformStats{
						{Platform: "google_ads", Failed: 1, Waiting: 1},
						{Platform: "meta", Delivered: 2, WithClickID: 1},
					},
					FailingNow: 1,
				}},
				{"last 7 days", t0.Add(-7 * 24 * time.Hour), 24 * time.Hour, store.Stats{
					Webhooks:      map[string]int64{"accepted": 3, "ignored": 1, "error": 1},
					WebhooksTotal: 5, Sent: 4,
					WebhookSeries: series(7, map[int]int64{5: 1, 6: 4}),
					SentSeries:    series(7, map[int]int64{5: 2, 6: 2}),
					Platforms: []store.PlatformStats{
						{Platform: "google_ads", Delivered: 1, Failed: 1, Waiting: 1, WithClickID: 1},
						{Platform: "meta", Delivered: 3, WithClickID: 2},
					},
					FailingNow: 1,
				}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got, err := s.Stats(context.Background(), tt.since, t0, tt.bucket)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(store.Stats{}, "Since", "Until", "Bucket")); diff != "" {
						t.Errorf("Stats(%s, %s, %s) mismatch (-want +got):\n%s", tt.since, t0, tt.bucket, diff)
					}
				})
			}
		})
	}
}

func TestStatsEmptyWindowAndRates(t *testing.T) {
	s := storetest.SQLite(t)
	if _, err := s.Stats(context.Background(), t0, t0, time.Hour); err == nil {
		t.Error("Stats over an empty window: no error, want one")
	}
	got, err := s.Stats(context.Background(), t0.Add(-time.Hour), t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got.WebhooksTotal != 0 || len(got.WebhookSeries) != 60 || len(got.Platforms) != 0 {
		t.Errorf("Stats on an empty database = %+v, want zero counts and 60 empty buckets", got)
	}
	rates := []struct {
		name    string
		p       store.PlatformStats
		rate    float64
		rateOK  bool
		share   float64
		shareOK bool
	}{
		{"nothing finished", store.PlatformStats{Waiting: 3}, 0, false, 0, false},
		{"all failed", store.PlatformStats{Failed: 2}, 0, true, 0, false},
		{"three of four", store.PlatformStats{Delivered: 3, Failed: 1, WithClickID: 1}, 0.75, true, 1.0 / 3, true},
	}
	for _, tt := range rates {
		t.Run(tt.name, func(t *testing.T) {
			rate, ok := tt.p.SuccessRate()
			if rate != tt.rate || ok != tt.rateOK {
				t.Errorf("%+v.SuccessRate() = %v, %v; want %v, %v", tt.p, rate, ok, tt.rate, tt.rateOK)
			}
			share, ok := tt.p.ClickIDShare()
			if share != tt.share || ok != tt.shareOK {
				t.Errorf("%+v.ClickIDShare() = %v, %v; want %v, %v", tt.p, share, ok, tt.share, tt.shareOK)
			}
		})
	}
}
