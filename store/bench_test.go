package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// BenchmarkCommitBatch measures the single writer's share of ingesting a
// webhook on SQLite: batches of 64 paid orders with 4.4 KB bodies, each
// queued to one destination. Reported per webhook.
func BenchmarkCommitBatch(b *testing.B) {
	s := storetest.SQLite(b)
	ctx := context.Background()
	sh := benchShop(b, s)
	body := []byte(strings.Repeat("x", 4400))
	const batch = 64
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		items := make([]store.Incoming, 0, batch)
		for j := 0; j < batch; j++ {
			id := fmt.Sprint(i + j)
			in := paid(sh.ID, "evt-"+id, id)
			in.Body = body
			items = append(items, in)
		}
		if _, err := s.CommitBatch(ctx, items, routing{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommitter measures ingest through the group committer as the
// webhook handler drives it: 32 goroutines each commit paid orders with a
// realistic 4.4 KB Shopify body (cmd/postback-load's template), one
// destination. ns/op is wall time per webhook; wchar-KB/op is what the
// process handed to write(2) per webhook (SQLite's WAL and checkpoints),
// which does not drift with the host's load the way time does.
//
//	go test ./store -run '^$' -bench Committer -benchtime 20000x -count 3
func BenchmarkCommitter(b *testing.B) {
	tpl := orderTemplate(b)
	s := storetest.SQLite(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sh := benchShop(b, s)
	var commits atomic.Int64
	c := s.NewCommitter(routing{}, store.CommitterConfig{OnCommit: func([]int64) { commits.Add(1) }})
	go c.Run(ctx)
	var next atomic.Int64
	w0 := wchar()
	b.SetParallelism(16) // 32 senders on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := strconv.FormatInt(8000000000000+next.Add(1), 10)
			in := paid(sh.ID, "evt-"+id, id)
			in.Body = bytes.ReplaceAll(tpl, []byte("__ID__"), []byte(id))
			if _, err := c.Commit(ctx, in); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(wchar()-w0)/1024/float64(b.N), "wchar-KB/op")
	b.ReportMetric(float64(b.N)/float64(commits.Load()), "webhooks/commit")
}

// wchar is the bytes this process has passed to write(2) so far.
func wchar() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkWriter measures the single writer's time per webhook, the
// figure that bounds SQLite ingest: batches of 32 paid orders with a
// 4.4 KB body and a distinct customer and click each (as postback-load
// sends them), one destination, and the background search indexing those
// webhooks cost, run as cmd/postback runs it (250 events a transaction).
// ns/op is writer wall time per webhook, fsync included; index-ns/op is
// the indexing part of it.
func BenchmarkWriter(b *testing.B) {
	tpl := orderTemplate(b)
	s := storetest.SQLite(b)
	ctx := context.Background()
	sh := benchShop(b, s)
	const batch = 32
	var indexing time.Duration
	var indexWchar int64
	w0 := wchar()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		b.StopTimer() // the items are the handlers' work, not the writer's
		items := make([]store.Incoming, 0, batch)
		for j := 0; j < batch; j++ {
			n := 8000000000000 + i + j
			id := strconv.Itoa(n)
			in := paid(sh.ID, fmt.Sprintf("%x", sha256.Sum256([]byte(id))), id)
			in.Body = bytes.ReplaceAll(tpl, []byte("__ID__"), []byte(id))
			c := *in.Webhook.Conversion
			sum := sha256.Sum256([]byte("click" + id))
			c.User.Email = fmt.Sprintf("buyer-%x@example.com", sum[:6])
			c.ClickIDs.FBCLID = fmt.Sprintf("IwAR%x", sum[6:24])
			c.ClickIDs.FBC = "fb.1.1764547200000." + c.ClickIDs.FBCLID
			c.ClickIDs.FBP = fmt.Sprintf("fb.1.1764547200000.%d", n)
			in.Webhook.Conversion = &c
			items = append(items, in)
		}
		b.StartTimer()
		if _, err := s.CommitBatch(ctx, items, routing{}); err != nil {
			b.Fatal(err)
		}
		if (i/batch)%8 == 7 {
			start, iw := time.Now(), wchar()
			for {
				n, err := s.IndexSearch(ctx, 250)
				if err != nil {
					b.Fatal(err)
				}
				if n < 250 {
					break
				}
			}
			indexing += time.Since(start)
			indexWchar += wchar() - iw
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(indexing.Nanoseconds())/float64(b.N), "index-ns/op")
	b.ReportMetric(float64(wchar()-w0)/1024/float64(b.N), "wchar-KB/op")
	b.ReportMetric(float64(indexWchar)/1024/float64(b.N), "index-wchar-KB/op")
}

// benchShop creates a Shopify shop with one enabled Meta destination.
func benchShop(b *testing.B, s *store.Store) store.Shop {
	b.Helper()
	ctx := context.Background()
	sh, err := s.CreateShop(ctx, store.Shop{Name: "b", Source: mapping.SourceShopify, SigningSecret: "x", Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, t0)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.CreateDestination(ctx, store.Destination{ShopID: sh.ID, Platform: "meta", Enabled: true, Credentials: map[string]string{"a": "b"}}, t0); err != nil {
		b.Fatal(err)
	}
	return sh
}

// orderTemplate is cmd/postback-load's 4.4 KB Shopify order, __ID__ left
// for each order's id.
func orderTemplate(b *testing.B) []byte {
	b.Helper()
	tpl, err := os.ReadFile("../cmd/postback-load/order.json")
	if err != nil {
		b.Fatal(err)
	}
	return bytes.ReplaceAll(tpl, []byte("__DAY__"), []byte("2026-12-01"))
}
