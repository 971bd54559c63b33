package alert

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

func ptr(n int) *int { return &n }

func TestResolveLaysShopOverGlobalOverDefaults(t *testing.T) {
	tests := []struct {
		name   string
		levels []store.AlertThresholds
		want   Thresholds
	}{
		{"defaults", nil, DefaultThresholds},
		{"global", []store.AlertThresholds{{FailingMinutes: ptr(30), SharePercent: ptr(80)}},
			Thresholds{FailingFor: 30 * time.Minute, SharePercent: 80, ShareMinOrders: 10, SilentFor: 24 * time.Hour, UsualWebhooks: 12}},
		{"shop over global", []store.AlertThresholds{{FailingMinutes: ptr(30), SilentHours: ptr(48)}, {FailingMinutes: ptr(120), UsualWebhooks: ptr(3)}},
			Thresholds{FailingFor: 2 * time.Hour, SharePercent: 90, ShareMinOrders: 10, SilentFor: 48 * time.Hour, UsualWebhooks: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Resolve(DefaultThresholds, tt.levels...); got != tt.want {
				t.Errorf("Resolve(%+v) = %+v, want %+v", tt.levels, got, tt.want)
			}
		})
	}
}

func TestCheckThresholdsNamesTheField(t *testing.T) {
	tests := []struct {
		in   store.AlertThresholds
		want string
	}{
		{store.AlertThresholds{}, ""},
		{store.AlertThresholds{FailingMinutes: ptr(5), SharePercent: ptr(100), SilentHours: ptr(144)}, ""},
		{store.AlertThresholds{FailingMinutes: ptr(4)}, "failing_minutes"},
		{store.AlertThresholds{SharePercent: ptr(0)}, "share_percent"},
		{store.AlertThresholds{SharePercent: ptr(101)}, "share_percent"},
		{store.AlertThresholds{ShareMinOrders: ptr(-1)}, "share_min_orders"},
		{store.AlertThresholds{SilentHours: ptr(145)}, "silent_hours"},
		{store.AlertThresholds{UsualWebhooks: ptr(0)}, "usual_webhooks"},
	}
	for _, tt := range tests {
		got := ""
		if err := CheckThresholds(tt.in); err != nil {
			got = err.Field
		}
		if got != tt.want {
			t.Errorf("CheckThresholds(%+v) names %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestPerShopThresholds: the same shop's history opens an incident or not
// depending on the global thresholds and the shop's own, which win.
func TestPerShopThresholds(t *testing.T) {
	tests := []struct {
		name                   string
		global, shop           store.AlertThresholds
		silent, share, failing bool
	}{
		{"defaults", store.AlertThresholds{}, store.AlertThresholds{}, false, true, true},
		{"global silence shorter than the gap", store.AlertThresholds{SilentHours: ptr(12)}, store.AlertThresholds{}, true, true, true},
		{"shop silence longer than the gap", store.AlertThresholds{SilentHours: ptr(12)}, store.AlertThresholds{SilentHours: ptr(24)}, false, true, true},
		{"shop usually gets more", store.AlertThresholds{SilentHours: ptr(12)}, store.AlertThresholds{UsualWebhooks: ptr(13)}, false, true, true},
		{"global share needs more orders", store.AlertThresholds{ShareMinOrders: ptr(20)}, store.AlertThresholds{}, false, false, true},
		{"shop share needs fewer", store.AlertThresholds{ShareMinOrders: ptr(20)}, store.AlertThresholds{ShareMinOrders: ptr(12)}, false, true, true},
		{"shop share threshold", store.AlertThresholds{}, store.AlertThresholds{SharePercent: ptr(1)}, false, true, true},
		{"global failing longer than the outage", store.AlertThresholds{FailingMinutes: ptr(24 * 60)}, store.AlertThresholds{}, false, true, false},
		{"shop failing shorter than the global", store.AlertThresholds{FailingMinutes: ptr(24 * 60)}, store.AlertThresholds{FailingMinutes: ptr(60)}, false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := storetest.SQLite(t)
			ctx := context.Background()
			now := time.Now()
			sh, err := st.CreateShop(ctx, store.Shop{Name: "Acme", Source: mapping.SourceShopify, Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, now)
			if err != nil {
				t.Fatal(err)
			}
			dest, err := st.CreateDestination(ctx, store.Destination{ShopID: sh.ID, Platform: "meta", Enabled: true,
				Credentials: map[string]string{"pixel_id": "1", "access_token": "t"}}, now)
			if err != nil {
				t.Fatal(err)
			}
			// 12 paid orders 20 hours ago (none accepted since), then
			// silence: inside the day the share looks at, and 20 hours
			// without a webhook after 12.
			at := now.Add(-20 * time.Hour)
			var items []store.Incoming
			for i := 0; i < 12; i++ {
				id := strconv.Itoa(2000 + i)
				items = append(items, store.Incoming{ShopID: sh.ID, Source: mapping.SourceShopify, Topic: "orders/paid", ReceivedAt: at,
					Webhook: mapping.Webhook{Source: mapping.SourceShopify, Topic: "orders/paid", OrderID: id, Outcome: mapping.OutcomeConversion,
						Conversion: &mapping.Conversion{EventID: id, EventName: mapping.EventPurchase, EventTime: at, OrderID: id, Currency: "USD"}}})
			}
			if _, err := st.CommitBatch(ctx, items, routing{}); err != nil {
				t.Fatal(err)
			}
			// Meta has been failing them since: each waits for a retry.
			claimed, err := st.Claim(ctx, dest.ID, "test", 100, now, time.Minute)
			if err != nil || len(claimed) != 12 {
				t.Fatalf("claimed %d, %v", len(claimed), err)
			}
			var outs []store.Outcome
			for _, c := range claimed {
				outs = append(outs, store.Outcome{DeliveryID: c.ID, Attempt: 1, CountAttempt: true, Status: store.DeliveryRetrying,
					ErrorClass: "server", Error: "HTTP 503", NextAttemptAt: now.Add(time.Hour), StartedAt: now})
			}
			if err := st.Complete(ctx, "test", outs, now); err != nil {
				t.Fatal(err)
			}
			tt.shop.ShopID = sh.ID
			for _, th := range []store.AlertThresholds{tt.global, tt.shop} {
				if err := st.SaveAlertThresholds(ctx, th, now); err != nil {
					t.Fatal(err)
				}
			}
			a := New(Config{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
			if err := a.Evaluate(ctx); err != nil {
				t.Fatal(err)
			}
			open, err := st.OpenIncidents(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, inc := range open {
				got[inc.Key] = true
			}
			failing := got["destination_failing:"+strconv.FormatInt(dest.ID, 10)]
			if got["webhooks_silent"] != tt.silent || got["accounted_share:meta"] != tt.share || failing != tt.failing {
				t.Errorf("incidents %v; want webhooks_silent %v, accounted_share:meta %v, destination_failing %v", got, tt.silent, tt.share, tt.failing)
			}
		})
	}
}
