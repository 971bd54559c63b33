package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

func TestDeferIndexing(t *testing.T) {
	count := func(n int64, err error) func() (int64, error) { return func() (int64, error) { return n, err } }
	tests := []struct {
		name       string
		flowing    bool
		share      float64
		readsQueue bool
		backlog    func() (int64, error)
		want       bool
	}{
		{"webhooks hold the writer, small backlog", true, 0.9, true, count(100, nil), true},
		{"at the backlog bound", true, 0.9, true, count(searchBacklogMax, nil), true},
		{"past the backlog bound", true, 0.9, true, count(searchBacklogMax+1, nil), false},
		{"a trickle of webhooks", true, searchDeferShare / 2, true, count(100, nil), false},
		{"no webhooks", false, 0, true, count(100, nil), false},
		{"searches read the index only (PostgreSQL)", true, 0.9, false, count(100, nil), false},
		{"backlog unknown", true, 0.9, true, count(0, errors.New("database is locked")), false},
	}
	for _, tt := range tests {
		if got := deferIndexing(tt.flowing, tt.share, tt.readsQueue, tt.backlog); got != tt.want {
			t.Errorf("%s: deferIndexing = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestWriterLoadShare(t *testing.T) {
	var busy time.Duration
	w := newWriterLoad(func() bool { return true }, func() time.Duration { return busy })
	time.Sleep(50 * time.Millisecond)
	busy += time.Hour // more than the interval: the whole interval was busy
	if flowing, share := w.sample(); !flowing || share < 1 {
		t.Fatalf("sample after a busy interval = %v, %v; want flowing, share ≥ 1", flowing, share)
	}
	time.Sleep(50 * time.Millisecond)
	if _, share := w.sample(); share != 0 {
		t.Fatalf("sample after an idle interval: share = %v, want 0", share)
	}
}

// TestIndexerWaitsForTheBurst runs the background indexer against SQLite:
// while webhooks keep the writer busy it leaves the queue alone (searches
// read it), and once they stop it indexes the queue; a trickle of
// webhooks does not hold it back.
func TestIndexerWaitsForTheBurst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := storetest.SQLite(t)
	sh, err := st.CreateShop(ctx, store.Shop{Name: "Acme", Source: mapping.SourceShopify, SigningSecret: "shpss_secret",
		Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var items []store.Incoming
	for i := range 3 {
		items = append(items, store.Incoming{
			ShopID: sh.ID, Source: mapping.SourceShopify, Topic: "orders/create", ReceivedAt: time.Now(),
			Body: fmt.Appendf(nil, `{"id":%d}`, i),
			Webhook: mapping.Webhook{Source: mapping.SourceShopify, Topic: "orders/create", DeliveryID: fmt.Sprint("d-", i),
				OrderID: fmt.Sprint(100 + i), Outcome: mapping.OutcomeIgnored, Reason: "not paid yet"},
		})
	}
	if _, err := st.CommitBatch(ctx, items, nil); err != nil {
		t.Fatal(err)
	}
	backlog := func() int64 {
		t.Helper()
		n, err := st.SearchBacklog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if backlog() != 3 {
		t.Fatalf("backlog = %d, want the 3 new events", backlog())
	}

	var flowing, saturated atomic.Bool
	flowing.Store(true)
	saturated.Store(true)
	start := time.Now()
	var idleBusy atomic.Int64 // busy time reported while not saturated
	load := newWriterLoad(flowing.Load, func() time.Duration {
		if saturated.Load() {
			return time.Since(start) // the writer never rests
		}
		return time.Duration(idleBusy.Load())
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		indexSearch(ctx, st, load, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()

	time.Sleep(3 * busyWindow)
	if n := backlog(); n != 3 {
		t.Fatalf("during the burst the indexer took %d events; want it to wait", 3-n)
	}
	// A trickle: webhooks flow but take little of the writer.
	idleBusy.Store(int64(time.Since(start)))
	saturated.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for backlog() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("with a trickle of webhooks the backlog is still %d after 5 s", backlog())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}
