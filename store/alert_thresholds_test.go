package store_test

import (
	"context"
	"testing"

	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

func intp(n int) *int { return &n }

func TestAlertThresholdsRoundTrip(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			if got, err := s.AlertThresholds(ctx); err != nil || len(got) != 0 {
				t.Fatalf("fresh = %v, %v; want none", got, err)
			}
			saves := []store.AlertThresholds{
				{ShopID: 0, FailingMinutes: intp(30), SharePercent: intp(80)},
				{ShopID: sh.ID, SilentHours: intp(6), UsualWebhooks: intp(3), ShareMinOrders: intp(5)},
				// Saving again replaces: unset fields go back to inheriting.
				{ShopID: 0, SharePercent: intp(75)},
			}
			for _, th := range saves {
				if err := s.SaveAlertThresholds(ctx, th, t0); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.AlertThresholds(ctx)
			if err != nil {
				t.Fatal(err)
			}
			g, sh1 := got[0], got[sh.ID]
			if g.FailingMinutes != nil || g.SharePercent == nil || *g.SharePercent != 75 || !g.UpdatedAt.Equal(t0) {
				t.Errorf("global = %+v, want only share_percent 75", g)
			}
			if sh1.SilentHours == nil || *sh1.SilentHours != 6 || *sh1.UsualWebhooks != 3 || *sh1.ShareMinOrders != 5 || sh1.SharePercent != nil {
				t.Errorf("shop = %+v", sh1)
			}
		})
	}
}
