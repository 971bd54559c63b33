package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// TestStoreCredentialsSealedAtRest: store API credentials and alert
// channel targets are never in the database file in clear.
func TestStoreCredentialsSealedAtRest(t *testing.T) {
	ctx := context.Background()
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	sealer, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"), sealer, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sh, err := s.CreateShop(ctx, Shop{Name: "A", Source: mapping.SourceShopify, Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveStoreAPI(ctx, StoreAPI{ShopID: sh.ID, URL: "https://a.myshopify.com", Credentials: map[string]string{"admin_api_token": "shpat_plaintext"}}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAlertChannel(ctx, AlertChannel{Kind: "slack", Target: "https://hooks.slack.com/services/T0/B0/plainsecret", Enabled: true}, now); err != nil {
		t.Fatal(err)
	}
	var creds, target []byte
	if err := s.pool.QueryRowContext(ctx, "SELECT credentials FROM shop_store_api").Scan(&creds); err != nil {
		t.Fatal(err)
	}
	if err := s.pool.QueryRowContext(ctx, "SELECT target FROM alert_channels").Scan(&target); err != nil {
		t.Fatal(err)
	}
	if len(creds) == 0 || bytes.Contains(creds, []byte("shpat_plaintext")) || bytes.Contains(target, []byte("plainsecret")) {
		t.Errorf("stored in clear: %q / %q", creds, target)
	}
	api, err := s.StoreAPI(ctx, sh.ID)
	if err != nil || api.Credentials["admin_api_token"] != "shpat_plaintext" {
		t.Errorf("round trip = %+v, %v", api.Credentials, err)
	}
}
