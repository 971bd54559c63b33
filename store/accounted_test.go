package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

func TestAccountedCountsOriginsAndPlatforms(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			newDest(t, s, sh.ID, "meta", nil)
			recovered := paid(sh.ID, "", "o3")
			recovered.Origin = store.OriginReconciliation
			// Two orders reconciliation found ten days after they were
			// paid: past meta's 7-day window.
			var old []store.Incoming
			for _, id := range []string{"o4", "o5"} {
				in := paid(sh.ID, "", id)
				in.Origin = store.OriginReconciliation
				c := *in.Webhook.Conversion
				c.EventTime = t0.Add(-10 * 24 * time.Hour)
				in.Webhook.Conversion = &c
				old = append(old, in)
			}
			if _, err := s.CommitBatch(ctx, append([]store.Incoming{paid(sh.ID, "d1", "o1"), paid(sh.ID, "d2", "o2"), recovered}, old...), routing{}); err != nil {
				t.Fatal(err)
			}
			a, err := s.Accounted(ctx, sh.ID, t0.Add(-time.Hour), t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if a.ReceivedByWebhook != 2 || a.RecoveredByReconciliation != 1 || a.TooOld != 2 || a.PaidInStore != 5 {
				t.Errorf("accounted = %+v, want 2 webhook + 1 recovered + 2 too old", a)
			}
			if len(a.Platforms) != 1 || a.Platforms[0].Platform != "meta" || a.Platforms[0].Waiting != 3 || a.Platforms[0].Skipped["too_old"] != 2 {
				t.Fatalf("platforms = %+v, want meta with 3 waiting and 2 skipped too_old", a.Platforms)
			}
			if share, ok := a.Platforms[0].Share(a.PaidInStore); !ok || share != 0.4 {
				t.Errorf("share = %v %v, want 0.4 (nothing accepted yet; 2 of 5 deliberately skipped)", share, ok)
			}
			none, err := s.Accounted(ctx, sh.ID, t0.Add(time.Hour), t0.Add(2*time.Hour))
			if err != nil || none.PaidInStore != 0 || len(none.Platforms) != 0 {
				t.Errorf("empty window = %+v, %v", none, err)
			}
		})
	}
}
