package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// BenchmarkEventList measures the events list and its search on a large
// database (POSTBACK_BENCH_EVENTS events, default one million, each with
// two deliveries), generated once per run through the real ingest path and
// the real indexer, then POSTBACK_BENCH_QUEUED more (default 30,000, the
// backlog the indexer lets build up while webhooks keep the writer busy)
// left in the indexer's queue, which searches read too. It reports each
// query's p50 and p95 in milliseconds:
//
//	go test ./store -run '^$' -bench EventList -benchtime 1x -timeout 60m
func BenchmarkEventList(b *testing.B) {
	n, queued := 1_000_000, 30_000
	for _, v := range []struct {
		env string
		n   *int
	}{{"POSTBACK_BENCH_EVENTS", &n}, {"POSTBACK_BENCH_QUEUED", &queued}} {
		if e := os.Getenv(v.env); e != "" {
			var err error
			if *v.n, err = strconv.Atoi(e); err != nil {
				b.Fatal(err)
			}
		}
	}
	ctx := context.Background()
	s := storetest.SQLite(b)
	sh := newShop(b, s)
	other := newShop(b, s)
	newDest(b, s, sh.ID, "meta", nil)
	newDest(b, s, sh.ID, "tiktok", nil)
	newDest(b, s, other.ID, "meta", nil)

	start := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	const batch = 500
	commit := func(from, to int) {
		for i := from; i < to; i += batch {
			items := make([]store.Incoming, 0, batch)
			for j := i; j < min(to, i+batch); j++ {
				shopID := sh.ID
				if j%5 == 0 {
					shopID = other.ID
				}
				in := paid(shopID, fmt.Sprintf("evt-%d", j), strconv.Itoa(5_000_000_000+j))
				in.ReceivedAt = t0.Add(time.Duration(j) * 3 * time.Second) // a month per million
				c := in.Webhook.Conversion
				c.OrderName = "#" + strconv.Itoa(1000+j)
				c.User.Email = fmt.Sprintf("buyer%d@example.com", j)
				if rng.IntN(3) == 0 {
					c.ClickIDs.GCLID = fmt.Sprintf("gclid-%d", j)
				}
				if j%10 == 0 {
					in.Webhook.Outcome, in.Webhook.Conversion, in.Webhook.Reason = mapping.OutcomeIgnored, nil, "not paid"
					in.Body = []byte(fmt.Sprintf(`{"id":%d}`, j)) // the same ignored body again is a replay, not stored
				}
				items = append(items, in)
			}
			if _, err := s.CommitBatch(ctx, items, routing{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	commit(0, n)
	for {
		k, err := s.IndexSearch(ctx, 5000)
		if err != nil {
			b.Fatal(err)
		}
		if k == 0 {
			break
		}
	}
	commit(n, n+queued)
	b.Logf("generated %d events, indexed all but the last %d, in %v", n+queued, queued, time.Since(start).Round(time.Second))

	pick := func() int { return rng.IntN(n + queued) }
	queries := []struct {
		name string
		f    func() store.EventFilter
	}{
		{"first_page", func() store.EventFilter { return store.EventFilter{} }},
		{"deep_page", func() store.EventFilter { return store.EventFilter{Before: int64(pick() + 10)} }},
		{"shop", func() store.EventFilter { return store.EventFilter{ShopID: other.ID} }},
		{"status_ignored", func() store.EventFilter { return store.EventFilter{Status: store.StatusIgnored} }},
		{"platform", func() store.EventFilter { return store.EventFilter{Platform: "tiktok"} }},
		{"delivery_failed_none", func() store.EventFilter { return store.EventFilter{DeliveryStatus: store.DeliveryFailed} }},
		{"search_order_name", func() store.EventFilter { return store.EventFilter{Query: "#" + strconv.Itoa(1000+pick())} }},
		{"search_email", func() store.EventFilter {
			return store.EventFilter{Query: fmt.Sprintf("Buyer%d@Example.com", pick())}
		}},
		{"search_click_id", func() store.EventFilter { return store.EventFilter{Query: fmt.Sprintf("gclid-%d", pick())} }},
		{"match_high", func() store.EventFilter { return store.EventFilter{Match: store.MatchHigh} }},
		{"one_day", func() store.EventFilter {
			from := t0.Add(time.Duration(pick()) * 3 * time.Second)
			return store.EventFilter{From: from, To: from.Add(24 * time.Hour)}
		}},
	}
	b.ResetTimer()
	for range b.N {
		for _, q := range queries {
			var lat []time.Duration
			for range 100 {
				f := q.f()
				f.Limit = 50
				t := time.Now()
				if _, err := s.Events(ctx, f); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
			}
			slices.Sort(lat)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(lat[len(lat)*95/100]), q.name+"_p95_ms")
			b.ReportMetric(ms(lat[len(lat)/2]), q.name+"_p50_ms")
		}
	}
}
