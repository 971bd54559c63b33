package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// seedSecrets creates n shops with secrets and a destination each, under
// the store's key, and returns the shops' ids.
func seedSecrets(t *testing.T, s *store.Store, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	for i := range n {
		sh, err := s.CreateShop(ctx, store.Shop{Name: fmt.Sprintf("shop %d", i), Source: mapping.SourceStripe,
			SigningSecret: fmt.Sprintf("whsec_%d", i), StripeAPIKey: fmt.Sprintf("rk_test_%d", i),
			Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateDestination(ctx, store.Destination{ShopID: sh.ID, Platform: "meta", Enabled: true,
			Credentials: map[string]string{"access_token": fmt.Sprintf("token-%d", i)}}, t0); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sh.ID)
	}
	return ids
}

// checkSecrets asserts that s opens every seeded secret.
func checkSecrets(t *testing.T, s *store.Store, ids []int64) {
	t.Helper()
	ctx := context.Background()
	shops, err := s.Shops(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(shops) != len(ids) {
		t.Fatalf("%d shops, want %d", len(shops), len(ids))
	}
	for i, sh := range shops {
		if sh.SealError != "" || sh.SigningSecret != fmt.Sprintf("whsec_%d", i) || sh.StripeAPIKey != fmt.Sprintf("rk_test_%d", i) {
			t.Errorf("shop %d: secret %q key %q error %q, want whsec_%d rk_test_%d", sh.ID, sh.SigningSecret, sh.StripeAPIKey, sh.SealError, i, i)
		}
		ds, err := s.Destinations(ctx, sh.ID)
		if err != nil || len(ds) != 1 || ds[0].Credentials["access_token"] != fmt.Sprintf("token-%d", i) {
			t.Errorf("shop %d destinations = %+v, %v", sh.ID, ds, err)
		}
	}
}

// TestRotateKey re-encrypts every sealed value under a new key on both
// databases: an injected failure between batches changes nothing, a second
// run finishes, a third finds nothing to do; lists under the wrong key
// break only their rows.
func TestRotateKey(t *testing.T) {
	for name, dsn := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			oldKey, newKey := storetest.NewKey(t), storetest.NewKey(t)
			before := storetest.OpenKey(t, dsn, oldKey)
			ids := seedSecrets(t, before, 5)
			oldSealer, err := store.NewSealer(oldKey)
			if err != nil {
				t.Fatal(err)
			}
			// One value in the format written before key ids existed.
			if err := before.ExecRaw(ctx, `UPDATE shops SET previous_secret = ?, previous_secret_expires_at = ? WHERE id = ?`,
				oldSealer.SealLegacy("whsec_legacy"), t0.Add(1e15).UnixMilli(), ids[0]); err != nil {
				t.Fatal(err)
			}

			after := storetest.OpenKey(t, dsn, newKey)
			shops, err := after.Shops(ctx)
			if err != nil {
				t.Fatalf("Shops under the new key before rotating: %v, want each row broken on its own", err)
			}
			for _, sh := range shops {
				if !strings.Contains(sh.SealError, "another key") || sh.SigningSecret != "" {
					t.Errorf("shop %d under the new key: error %q secret %q, want 'another key' and no secret", sh.ID, sh.SealError, sh.SigningSecret)
				}
			}
			if _, err := after.ShopByKey(ctx, shops[0].WebhookKey); !errors.Is(err, store.ErrUnsealable) {
				t.Errorf("ShopByKey under the wrong key: %v, want ErrUnsealable", err)
			}

			injected := errors.New("injected failure")
			_, err = after.RotateKey(ctx, oldSealer, store.RotateOptions{BatchSize: 2, AfterBatch: func(done int) error {
				if done >= 4 {
					return injected
				}
				return nil
			}})
			if !errors.Is(err, injected) {
				t.Fatalf("RotateKey with a failure between batches: %v", err)
			}
			checkSecrets(t, before, ids) // all still under the old key

			res, err := after.RotateKey(ctx, oldSealer, store.RotateOptions{BatchSize: 2})
			if err != nil {
				t.Fatal(err)
			}
			if want := 5*3 + 1; res.Resealed != want || res.Current != 0 {
				t.Errorf("RotateKey = %+v, want %d resealed", res, want)
			}
			checkSecrets(t, after, ids)
			sh, err := after.Shop(ctx, ids[0])
			if err != nil || sh.PreviousSecret != "whsec_legacy" {
				t.Errorf("legacy value after rotation = %q, %v", sh.PreviousSecret, err)
			}
			if other, legacy, err := after.SealedWithOtherKeys(ctx); err != nil || other != 0 || legacy != 0 {
				t.Errorf("SealedWithOtherKeys = %d, %d, %v; want none left", other, legacy, err)
			}
			res, err = after.RotateKey(ctx, oldSealer, store.RotateOptions{})
			if err != nil || res.Resealed != 0 || res.Current != 5*3+1 {
				t.Errorf("second RotateKey = %+v, %v; want every value current", res, err)
			}
		})
	}
}

// TestSealedValuesAreBoundToTheirRow: a ciphertext copied to another row
// or column does not open; only that row is broken.
func TestSealedValuesAreBoundToTheirRow(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ids := seedSecrets(t, s, 3)
			v, err := s.SealedValue(ctx, "shops", "signing_secret", ids[0])
			if err != nil || len(v) == 0 {
				t.Fatalf("sealed value: %v", err)
			}
			if err := s.ExecRaw(ctx, `UPDATE shops SET signing_secret = ? WHERE id = ?`, v, ids[1]); err != nil {
				t.Fatal(err)
			}
			if err := s.ExecRaw(ctx, `UPDATE shops SET stripe_api_key = ? WHERE id = ?`, v, ids[0]); err != nil {
				t.Fatal(err)
			}
			shops, err := s.Shops(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, sh := range shops {
				switch sh.ID {
				case ids[1]:
					if sh.SigningSecret != "" || !strings.Contains(sh.SealError, "another row") {
						t.Errorf("secret swapped into shop %d: secret %q error %q", sh.ID, sh.SigningSecret, sh.SealError)
					}
				case ids[0]:
					if sh.SigningSecret != "whsec_0" || sh.StripeAPIKey != "" || !strings.Contains(sh.SealError, "Stripe API key") {
						t.Errorf("shop %d with a value copied across columns: secret %q key %q error %q", sh.ID, sh.SigningSecret, sh.StripeAPIKey, sh.SealError)
					}
				default:
					if sh.SealError != "" {
						t.Errorf("untouched shop %d: %q", sh.ID, sh.SealError)
					}
				}
			}
			// Saving the broken shop keeps what it could not open.
			broken, err := s.Shop(ctx, ids[1])
			if err != nil {
				t.Fatal(err)
			}
			broken.Name = "renamed"
			if _, err := s.UpdateShop(ctx, broken, t0); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.SealedValue(ctx, "shops", "signing_secret", ids[1]); string(got) != string(v) {
				t.Error("saving a shop dropped a stored secret it could not open")
			}
		})
	}
}

// TestUpgradeSealed: values in the format without key id are sealed again,
// bound to their rows, under the same key.
func TestUpgradeSealed(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ids := seedSecrets(t, s, 2)
			v, err := s.SealedValue(ctx, "shops", "signing_secret", ids[1])
			if err != nil {
				t.Fatal(err)
			}
			if err := s.ExecRaw(ctx, `UPDATE shops SET signing_secret = ? WHERE id = ?`, s.SealerForTest().SealLegacy("whsec_1"), ids[1]); err != nil {
				t.Fatal(err)
			}
			if _, legacy, _ := s.SealedWithOtherKeys(ctx); legacy != 1 {
				t.Fatalf("legacy values = %d, want 1", legacy)
			}
			n, err := s.UpgradeSealed(ctx)
			if err != nil || n != 1 {
				t.Fatalf("UpgradeSealed = %d, %v; want 1", n, err)
			}
			after, _ := s.SealedValue(ctx, "shops", "signing_secret", ids[1])
			if len(after) == 0 || after[0] != v[0] {
				t.Errorf("upgraded value starts with %v, want the current format %d", after[:1], v[0])
			}
			checkSecrets(t, s, ids)
		})
	}
}
