package store_test

import (
	"context"
	"fmt"
	"strings"
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
