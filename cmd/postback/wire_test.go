package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
)

// TestSendersByAPI checks that settings.api picks the sender and that each
// API speaks to the base URL its variable names.
func TestSendersByAPI(t *testing.T) {
	env := map[string]string{
		"POSTBACK_GOOGLE_DATA_MANAGER_URL": "http://dm.test/",
		"POSTBACK_GOOGLE_ADS_URL":          "http://ads.test",
		"POSTBACK_MICROSOFT_ADS_URL":       "http://msads.test",
	}
	cfg, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	def, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"google_data_manager": "https://datamanager.googleapis.com",
		"microsoft_ads":       "https://campaign.api.bingads.microsoft.com",
		"microsoft_oauth":     "https://login.microsoftonline.com",
	} {
		if def.PlatformURLs[key] != want {
			t.Errorf("default %s = %q, want %q", key, def.PlatformURLs[key], want)
		}
	}
	senders := newSenders(cfg, &http.Client{Timeout: time.Second})
	conv := mapping.Conversion{EventID: "1", EventTime: time.Now().Add(-time.Hour), Value: decimal.NewFromInt(5), Currency: "USD",
		ClickIDs: mapping.ClickIDs{GCLID: "g", MSCLKID: "m"}, User: mapping.User{Email: "a@example.com"}, ClientIP: "203.0.113.9"}
	google := map[string]string{"customer_id": "1234567890", "conversion_action_id": "42", "client_id": "c", "client_secret": "s", "refresh_token": "r"}
	ms := map[string]string{"client_id": "c", "client_secret": "s", "refresh_token": "r", "developer_token": "d", "customer_id": "1", "account_id": "2"}
	tests := []struct {
		platform string
		creds    map[string]string
		settings map[string]string
		wantURL  string
	}{
		{"google_ads", google, nil, "http://dm.test/v1/events:ingest"},
		{"google_ads", google, map[string]string{"api": "google_ads_api"}, "http://ads.test/"},
		{"microsoft", map[string]string{"uet_tag_id": "343000", "access_token": "t"}, nil, "https://capi.uet.microsoft.com/"},
		{"microsoft", ms, map[string]string{"api": "offline_conversions", "conversion_name": "Purchase"}, "http://msads.test/CampaignManagement/v13/OfflineConversions/Apply"},
	}
	for _, tt := range tests {
		req, err := senders[tt.platform].Render(platforms.Destination{Platform: tt.platform, Credentials: tt.creds, Settings: tt.settings}, []mapping.Conversion{conv})
		if err != nil || !strings.HasPrefix(req.URL, tt.wantURL) {
			t.Errorf("%s %v: %s, %v; want %s", tt.platform, tt.settings, req.URL, err, tt.wantURL)
		}
	}
}
