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
			res, err := s.CommitBatch(ctx, []store.Incoming{paid(sh.ID, "d1", "o1"), paid(sh.ID, "d2", "o2"), paid(sh.ID, "", "o3")}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetEventOrigin(ctx, res[2].EventID, store.OriginReconciliation); err != nil {
				t.Fatal(err)
			}
			if _, err := s.SaveReconcileRun(ctx, store.ReconcileRun{ShopID: sh.ID, StartedAt: t0, WindowStart: t0, WindowEnd: t0, TooOld: 2}); err != nil {
				t.Fatal(err)
			}
			a, err := s.Accounted(ctx, sh.ID, t0.Add(-time.Hour), t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if a.ReceivedByWebhook != 2 || a.RecoveredByReconciliation != 1 || a.TooOld != 2 || a.PaidInStore != 5 {
				t.Errorf("accounted = %+v, want 2 webhook + 1 recovered + 2 too old", a)
			}
			if len(a.Platforms) != 1 || a.Platforms[0].Platform != "meta" || a.Platforms[0].Waiting != 3 {
				t.Fatalf("platforms = %+v, want meta with 3 waiting", a.Platforms)
			}
			if share, ok := a.Platforms[0].Share(a.PaidInStore); !ok || share != 0 {
				t.Errorf("share = %v %v, want 0 (nothing accepted yet)", share, ok)
			}
			none, err := s.Accounted(ctx, sh.ID, t0.Add(time.Hour), t0.Add(2*time.Hour))
			if err != nil || none.PaidInStore != 0 || len(none.Platforms) != 0 {
				t.Errorf("empty window = %+v, %v", none, err)
			}
		})
	}
}
