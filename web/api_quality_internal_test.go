package web

import (
	"maps"
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

func TestParseRequestDetail(t *testing.T) {
	for _, tc := range []struct {
		detail      string
		total, errs int
		reasons     map[string]int
	}{
		{"", 0, 0, map[string]int{}},
		{"120 events", 120, 0, map[string]int{}},
		{"120 events; errors: INVALID_GCLID ×3, DUPLICATE_EVENT ×1", 120, 4, map[string]int{"INVALID_GCLID": 3, "DUPLICATE_EVENT": 1}},
		{"INVALID_GCLID ×2", 0, 2, map[string]int{"INVALID_GCLID": 2}},
		{"could not read the platform's verdict: http 500", 0, 0, map[string]int{}},
		{"x events; errors: A ×y, B ×2", 0, 2, map[string]int{"B": 2}},
	} {
		total, errs, reasons := parseRequestDetail(tc.detail)
		if total != tc.total || errs != tc.errs || !maps.Equal(reasons, tc.reasons) {
			t.Errorf("parseRequestDetail(%q) = %d, %d, %v; want %d, %d, %v", tc.detail, total, errs, reasons, tc.total, tc.errs, tc.reasons)
		}
	}
}
