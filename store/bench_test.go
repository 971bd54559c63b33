package store_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

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
	sh, err := s.CreateShop(ctx, store.Shop{Name: "b", Source: mapping.SourceShopify, SigningSecret: "x", Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, t0)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.CreateDestination(ctx, store.Destination{ShopID: sh.ID, Platform: "meta", Enabled: true, Credentials: map[string]string{"a": "b"}}, t0); err != nil {
		b.Fatal(err)
	}
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
	tpl, err := os.ReadFile("../cmd/postback-load/order.json")
	if err != nil {
		b.Fatal(err)
	}
	tpl = bytes.ReplaceAll(tpl, []byte("__DAY__"), []byte("2026-12-01"))
	s := storetest.SQLite(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sh, err := s.CreateShop(ctx, store.Shop{Name: "b", Source: mapping.SourceShopify, SigningSecret: "x", Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, t0)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.CreateDestination(ctx, store.Destination{ShopID: sh.ID, Platform: "meta", Enabled: true, Credentials: map[string]string{"a": "b"}}, t0); err != nil {
		b.Fatal(err)
	}
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
