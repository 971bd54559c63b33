package alert

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// TestRefusedCredentialsAlertSaysItOnce: the alert for refused
// credentials names the platform by its title and says the refusal once,
// with the platform's own code and words, not Postback's wrapping.
func TestRefusedCredentialsAlertSaysItOnce(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	sh, _ := st.CreateShop(ctx, store.Shop{Name: "Acme", Source: mapping.SourceShopify, Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, now)
	d, err := st.CreateDestination(ctx, store.Destination{ShopID: sh.ID, Platform: "google_ads", Enabled: true,
		Credentials: map[string]string{"customer_id": "1"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	refusal := platforms.Auth(400, "invalid_grant", "the refresh token was revoked or has expired; reconnect the Google Ads account").Error()
	if err := st.ParkDestination(ctx, d.ID, refusal, now); err != nil {
		t.Fatal(err)
	}
	a := New(Config{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
	if err := a.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	open, _ := st.OpenIncidents(ctx)
	var got []string
	for _, inc := range open {
		if inc.Kind == "credentials_rejected" {
			got = append(got, inc.Summary+" | "+inc.Action)
		}
	}
	want := "Google Ads refused the refresh token (Google Ads: code invalid_grant · HTTP 400 · the refresh token was revoked or has expired; reconnect the Google Ads account)" +
		" | reconnect the Google Ads destination with new credentials; its conversions wait until then"
	if len(got) != 1 || got[0] != want {
		t.Errorf("credentials alert = %q, want %q", got, want)
	}
	for _, s := range got {
		if strings.Contains(s, "google_ads") || strings.Contains(s, "credentials rejected:") {
			t.Errorf("alert %q shows a raw key or Postback's wrapping", s)
		}
	}
}
