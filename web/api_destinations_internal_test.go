package web

import (
	"testing"

	"github.com/postbackhq/postback/platforms"
)

func TestConfigField(t *testing.T) {
	fields := []platforms.Field{{Name: "customer_id"}, {Name: "api", Setting: true}}
	for _, tt := range []struct{ msg, want string }{
		{"customer_id must be a 10-digit Google Ads customer id", "credentials.customer_id"},
		{"api must be one of data_manager, google_ads_api", "settings.api"},
		{"the refresh token was revoked", "credentials"},
	} {
		if got := configField(tt.msg, fields); got != tt.want {
			t.Errorf("configField(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}
