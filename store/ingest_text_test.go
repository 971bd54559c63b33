package store_test

import (
	"context"
	"testing"

	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// Header values are whatever bytes the client sent. A webhook id or topic
// that is not valid UTF-8, or holds NUL, was stored by SQLite and refused
// by PostgreSQL (SQLSTATE 22021), which answered 503 forever. Both must
// store the same cleaned text, and a repeat must still deduplicate.
func TestCommitCleansHeaderText(t *testing.T) {
	tests := []struct {
		name, delivery, topic, order string
		wantDelivery, wantTopic      string
	}{
		{"invalid utf-8", "evt-\xff\xfe-1", "orders/\xc3paid", "7001", "evt-\uFFFD-1", "orders/\uFFFDpaid"},
		{"nul", "evt-\x00-2", "orders/paid\x00", "7002", "evt-\uFFFD-2", "orders/paid\uFFFD"},
		{"order id", "evt-3", "orders/paid", "70\xff03", "evt-3", "orders/paid"},
		{"clean", "evt-4", "orders/paid", "7004", "evt-4", "orders/paid"},
	}
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			newDest(t, s, sh.ID, "meta", nil)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					in := paid(sh.ID, tt.delivery, tt.order)
					in.Topic, in.Webhook.Topic = tt.topic, tt.topic
					in.Webhook.Conversion.EventID = "purchase-" + tt.order
					res, err := s.CommitBatch(ctx, []store.Incoming{in}, routing{})
					if err != nil {
						t.Fatalf("commit: %v", err)
					}
					if res[0].Status != store.StatusAccepted || res[0].Queued != 1 {
						t.Fatalf("first commit = %+v, want accepted and queued", res[0])
					}
					ev, err := s.Event(ctx, res[0].EventID)
					if err != nil {
						t.Fatal(err)
					}
					if ev.DeliveryID != tt.wantDelivery || ev.Topic != tt.wantTopic {
						t.Errorf("stored delivery %q topic %q, want %q %q", ev.DeliveryID, ev.Topic, tt.wantDelivery, tt.wantTopic)
					}
					// The caller's conversion is not changed under it.
					if in.Webhook.Conversion.EventID != "purchase-"+tt.order {
						t.Errorf("caller's conversion changed to %q", in.Webhook.Conversion.EventID)
					}
					again, err := s.CommitBatch(ctx, []store.Incoming{in}, routing{})
					if err != nil {
						t.Fatalf("repeat: %v", err)
					}
					if again[0].Status != store.StatusDuplicate {
						t.Errorf("repeat = %+v, want duplicate", again[0])
					}
				})
			}
		})
	}
}
