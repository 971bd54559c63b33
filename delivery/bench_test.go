package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postbackhq/postback/connectors"
	"github.com/postbackhq/postback/internal/metrics"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// BenchmarkDrainMeta measures the drain on SQLite: conversions of the load
// command's 4.4 KB Shopify order, queued to one Meta destination, sent in
// batches of 1,000 to a fake Meta that answers at once. ns/op is wall time
// per conversion (claim, read, render, send, record), the figure behind
// postback-load's "drain" line without its noise from ingest.
//
//	go test ./delivery -run '^$' -bench DrainMeta -benchtime 10000x -count 3
func BenchmarkDrainMeta(b *testing.B) {
	tpl, err := os.ReadFile("../cmd/postback-load/order.json")
	if err != nil {
		b.Fatal(err)
	}
	tpl = bytes.ReplaceAll(tpl, []byte("__DAY__"), []byte(time.Now().UTC().Add(-12*time.Hour).Format("2006-01-02")))
	var received atomic.Int64
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Data []json.RawMessage `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"error":{"message":"bad body","code":100}}`, http.StatusBadRequest)
			return
		}
		received.Add(int64(len(req.Data)))
		fmt.Fprintf(w, `{"events_received":%d,"messages":[],"fbtrace_id":"bench"}`, len(req.Data))
	}))
	defer meta.Close()
	st := storetest.SQLite(b)
	ctx := context.Background()
	now := time.Now()
	shop, err := st.CreateShop(ctx, store.Shop{Name: "s", Source: mapping.SourceShopify, SigningSecret: "x", Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, now)
	if err != nil {
		b.Fatal(err)
	}
	dest, err := st.CreateDestination(ctx, store.Destination{ShopID: shop.ID, Platform: "meta", Enabled: true,
		Credentials: map[string]string{"pixel_id": "1234567890", "access_token": "bench-token"}}, now)
	if err != nil {
		b.Fatal(err)
	}
	senders := map[string]platforms.Sender{"meta": platforms.NewMeta(platforms.Config{BaseURL: meta.URL, Client: meta.Client()})}
	shopify := connectors.NewShopify()
	h := http.Header{}
	h.Set("X-Shopify-Topic", "orders/paid")
	h.Set("X-Shopify-Shop-Domain", "bench.myshopify.com")
	for i := 0; i < b.N; i += 500 {
		var items []store.Incoming
		for j := i; j < min(i+500, b.N); j++ {
			id := strconv.Itoa(8000000000000 + j)
			body := bytes.ReplaceAll(tpl, []byte("__ID__"), []byte(id))
			h.Set("X-Shopify-Event-Id", "bench-"+id)
			wh, err := shopify.Parse(h, body, mapping.ShopRules{Trigger: mapping.TriggerPaid})
			if err != nil || wh.Outcome != mapping.OutcomeConversion {
				b.Fatalf("parse: %v %v", wh.Outcome, err)
			}
			items = append(items, store.Incoming{ShopID: shop.ID, Source: mapping.SourceShopify, Topic: "orders/paid", ReceivedAt: now, Body: body, Webhook: wh})
		}
		if _, err := st.CommitBatch(ctx, items, NewRouting(senders)); err != nil {
			b.Fatal(err)
		}
	}
	w := New(Config{
		Store: st, Senders: senders, Metrics: metrics.New(prometheus.NewRegistry()),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Owner: "bench",
	})
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	w.drain(ctx, ctx, dest.ID, time.Time{})
	b.StopTimer()
	// CPU time drifts less than wall time on a shared host.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	if got := received.Load(); got != int64(b.N) {
		b.Fatalf("fake Meta received %d conversions, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conversions/s")
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
