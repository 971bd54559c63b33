package web

import (
	"strings"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
)

func TestMatchAdvice(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	using := now.Add(-time.Hour)
	good := store.MatchShares{Conversions: 50, ClickID: 0.7, FBP: 0.8, Email: 0.95, Phone: 0.6}
	for _, tc := range []struct {
		name               string
		source             mapping.Source
		seen               time.Time
		week               store.MatchShares
		joined, mismatched int
		want               string
	}{
		{"nothing yet", mapping.SourceShopify, using, store.MatchShares{}, 0, 0, "no conversions"},
		{"shopify without the script", mapping.SourceShopify, time.Time{}, good, 0, 0, "add the custom pixel"},
		{"woocommerce, script stale", mapping.SourceWooCommerce, now.Add(-8 * 24 * time.Hour), good, 0, 0, "install the script"},
		{"pixel ids differ", mapping.SourceShopify, using, good, 10, 8, "different event ids"},
		{"consent blocks", mapping.SourceShopify, using, store.MatchShares{Conversions: 50, ClickID: 0.05, FBP: 0.1, Email: 0.95}, 0, 0, "consent mode blocks"},
		{"few emails", mapping.SourceStripe, using, store.MatchShares{Conversions: 50, ClickID: 0.7, FBP: 0.7, Email: 0.4}, 0, 0, "require an email"},
		{"all good", mapping.SourceShopify, using, good, 10, 0, "nothing to fix"},
	} {
		got := matchAdvice(store.Shop{Source: tc.source, ScriptSeenAt: tc.seen}, "meta", tc.week, tc.joined, tc.mismatched, now)
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: advice %q, want one about %q", tc.name, got, tc.want)
		}
	}
}
