package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// Shop is one store a merchant connected: its webhook key, signing secret
// and mapping rules.
type Shop struct {
	ID     int64
	Name   string
	Source mapping.Source
	// WebhookKey is the random part of the shop's webhook URL.
	WebhookKey string
	// SigningSecret and PreviousSecret are decrypted; PreviousSecret is
	// still accepted while a store rotates its secret, until
	// PreviousSecretExpiresAt (see PreviousSecretActive).
	SigningSecret           string
	PreviousSecret          string
	PreviousSecretExpiresAt time.Time
	Rules                   mapping.ShopRules
	// StripeAPIKey is an optional restricted key used to fetch what Stripe
	// webhooks lack (line items).
	StripeAPIKey string
	// PublicID names the shop to its storefront script and browser
	// beacons; unlike WebhookKey it is public.
	PublicID string
	// ScriptSeenAt is when the shop's storefront script last sent a beacon
	// (to the hour), zero if never.
	ScriptSeenAt time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// SealError says why a stored secret of this shop cannot be decrypted
	// (another key, corrupted); those secrets are empty. Lists still show
	// the shop; ShopByKey refuses it.
	SealError string
	// sealFailed lists the columns that did not open, so that saving the
	// shop keeps them unless they are replaced.
	sealFailed []string
}

// PreviousSecretActive reports whether the previous signing secret is
// still accepted at now: set, and its overlap not over.
func (sh Shop) PreviousSecretActive(now time.Time) bool {
	return sh.PreviousSecret != "" && now.Before(sh.PreviousSecretExpiresAt)
}

type shopRow struct {
	ID             int64 `gorm:"primaryKey"`
	Name           string
	Source         string
	WebhookKey     string
	SigningSecret  []byte
	PreviousSecret []byte
	// PreviousSecretExpiresAt ends the previous secret's overlap.
	PreviousSecretExpiresAt int64
	ConversionTrigger       string
	Rules                   string
	StripeAPIKey            []byte `gorm:"column:stripe_api_key"`
	PublicID                string
	ScriptSeenAt            int64
	CreatedAt               int64 `gorm:"autoCreateTime:false"`
	UpdatedAt               int64 `gorm:"autoUpdateTime:false"`
}

func (shopRow) TableName() string { return "shops" }

// NewWebhookKey returns a random, URL-safe key of 192 bits.
func NewWebhookKey() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (s *Store) shopToRow(sh Shop) (shopRow, error) {
	rules := sh.Rules
	trigger := rules.Trigger
	rules.Trigger = ""
	rj, err := json.Marshal(rules)
	if err != nil {
		return shopRow{}, err
	}
	r := shopRow{
		ID: sh.ID, Name: sh.Name, Source: string(sh.Source), WebhookKey: sh.WebhookKey,
		ConversionTrigger: string(trigger), Rules: string(rj), PublicID: sh.PublicID, ScriptSeenAt: ms(sh.ScriptSeenAt),
		PreviousSecretExpiresAt: ms(sh.PreviousSecretExpiresAt),
		CreatedAt:               ms(sh.CreatedAt), UpdatedAt: ms(sh.UpdatedAt),
	}
	if sh.PreviousSecret == "" {
		r.PreviousSecretExpiresAt = 0
	}
	if sh.ID != 0 {
		if err := s.sealShop(&r, sh); err != nil {
			return shopRow{}, err
		}
	}
	return r, nil
}

// sealShop seals sh's secrets into r, bound to the shop's row id.
func (s *Store) sealShop(r *shopRow, sh Shop) error {
	var err error
	if r.SigningSecret, err = s.sealer.Seal("shops", "signing_secret", sh.ID, sh.SigningSecret); err != nil {
		return err
	}
	if r.PreviousSecret, err = s.sealer.Seal("shops", "previous_secret", sh.ID, sh.PreviousSecret); err != nil {
		return err
	}
	if r.StripeAPIKey, err = s.sealer.Seal("shops", "stripe_api_key", sh.ID, sh.StripeAPIKey); err != nil {
		return err
	}
	return nil
}

func (s *Store) rowToShop(r shopRow) (Shop, error) {
	sh := Shop{
		ID: r.ID, Name: r.Name, Source: mapping.Source(r.Source), WebhookKey: r.WebhookKey,
		PublicID: r.PublicID, ScriptSeenAt: fromMS(r.ScriptSeenAt),
		CreatedAt: fromMS(r.CreatedAt), UpdatedAt: fromMS(r.UpdatedAt),
	}
	if r.Rules != "" {
		if err := json.Unmarshal([]byte(r.Rules), &sh.Rules); err != nil {
			return Shop{}, fmt.Errorf("shop %d rules: %w", r.ID, err)
		}
	}
	sh.Rules.Trigger = mapping.Trigger(r.ConversionTrigger)
	sh.PreviousSecretExpiresAt = fromMS(r.PreviousSecretExpiresAt)
	// A secret that does not open breaks this shop only: the others still
	// list, and the message says which secret and why.
	var errs []string
	for _, f := range []struct {
		column, label string
		sealed        []byte
		dst           *string
	}{
		{"signing_secret", "signing secret", r.SigningSecret, &sh.SigningSecret},
		{"previous_secret", "previous signing secret", r.PreviousSecret, &sh.PreviousSecret},
		{"stripe_api_key", "Stripe API key", r.StripeAPIKey, &sh.StripeAPIKey},
	} {
		v, err := s.sealer.Open("shops", f.column, r.ID, f.sealed)
		if err != nil {
			errs = append(errs, f.label+": "+err.Error())
			sh.sealFailed = append(sh.sealFailed, f.column)
			continue
		}
		*f.dst = v
	}
	sh.SealError = strings.Join(errs, "; ")
	return sh, nil
}

// CreateShop stores a new shop, giving it a webhook key when it has none.
func (s *Store) CreateShop(ctx context.Context, sh Shop, now time.Time) (Shop, error) {
	if sh.WebhookKey == "" {
		k, err := NewWebhookKey()
		if err != nil {
			return Shop{}, err
		}
		sh.WebhookKey = k
	}
	if sh.PublicID == "" {
		id, err := NewPublicID()
		if err != nil {
			return Shop{}, err
		}
		sh.PublicID = id
	}
	sh.CreatedAt, sh.UpdatedAt = now, now
	sh.ID = 0
	r, err := s.shopToRow(sh)
	if err != nil {
		return Shop{}, err
	}
	// Secrets are sealed with the row id as associated data, so the row
	// goes in first and gets them in the same transaction.
	err = s.write(ctx, func(tx *gormDB) error {
		if err := tx.Create(&r).Error; err != nil {
			return err
		}
		sh.ID = r.ID
		if err := s.sealShop(&r, sh); err != nil {
			return err
		}
		return tx.Model(&shopRow{ID: r.ID}).Select("signing_secret", "previous_secret", "stripe_api_key").Updates(&r).Error
	})
	if err != nil {
		return Shop{}, fmt.Errorf("create shop: %w", err)
	}
	return sh, nil
}

// Shop returns one shop.
func (s *Store) Shop(ctx context.Context, id int64) (Shop, error) {
	var r shopRow
	if err := s.rdb.WithContext(ctx).First(&r, id).Error; err != nil {
		return Shop{}, notFound(err)
	}
	return s.rowToShop(r)
}

// ShopByKey returns the shop whose webhook URL carries key.
func (s *Store) ShopByKey(ctx context.Context, key string) (Shop, error) {
	var r shopRow
	if err := s.rdb.WithContext(s.rctx(ctx)).Where("webhook_key = ?", key).First(&r).Error; err != nil {
		return Shop{}, notFound(err)
	}
	sh, err := s.rowToShop(r)
	if err != nil {
		return Shop{}, err
	}
	if sh.SealError != "" {
		// Never verify a webhook against a secret that did not open.
		return Shop{}, fmt.Errorf("shop %d: %s: %w", sh.ID, sh.SealError, ErrUnsealable)
	}
	return sh, nil
}

// Shops lists every shop by id.
func (s *Store) Shops(ctx context.Context) ([]Shop, error) {
	var rows []shopRow
	if err := s.rdb.WithContext(ctx).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]Shop, 0, len(rows))
	for _, r := range rows {
		sh, err := s.rowToShop(r)
		if err != nil {
			// Bad rules break this shop only.
			sh = Shop{ID: r.ID, Name: r.Name, Source: mapping.Source(r.Source), WebhookKey: r.WebhookKey,
				SealError: err.Error(), CreatedAt: fromMS(r.CreatedAt), UpdatedAt: fromMS(r.UpdatedAt)}
		}
		out = append(out, sh)
	}
	return out, nil
}

// UpdateShop saves every field of sh.
func (s *Store) UpdateShop(ctx context.Context, sh Shop, now time.Time) (Shop, error) {
	sh.UpdatedAt = now
	r, err := s.shopToRow(sh)
	if err != nil {
		return Shop{}, err
	}
	var n int64
	err = s.exec(ctx, func(db *gormDB) error {
		// A secret that did not open is kept as stored unless replaced: it
		// may open again under the right key.
		omit := []string{"id", "created_at", "public_id", "script_seen_at"}
		for _, c := range sh.sealFailed {
			if !sh.replaces(c) {
				omit = append(omit, c)
			}
		}
		res := db.Model(&shopRow{ID: sh.ID}).Select("*").Omit(omit...).Updates(&r)
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return Shop{}, fmt.Errorf("update shop: %w", err)
	}
	if n == 0 {
		return Shop{}, ErrNotFound
	}
	return sh, nil
}

// replaces reports whether sh carries a new value for a sealed column.
func (sh Shop) replaces(column string) bool {
	switch column {
	case "signing_secret":
		return sh.SigningSecret != ""
	case "previous_secret":
		return sh.PreviousSecret != ""
	case "stripe_api_key":
		return sh.StripeAPIKey != ""
	}
	return false
}

// DeleteShop removes a shop with its destinations and events.
//
// The tables a webhook writes to hold the shop's id without a foreign
// key on PostgreSQL (migration 00018), and the search queue and index
// hold event ids without one, so its events, their search terms and
// queue rows, and its keys are deleted here rather than by a cascade,
// before the shop (on SQLite its cascade would take the events first,
// and the queue rows could no longer be found). On PostgreSQL the shop
// is locked first, which waits for the webhooks being committed for it
// (they lock it), then its events, which waits for a search indexer
// writing their terms (it locks them too), so that the deletes see
// everything those committed. The deliveries and attempts of its events
// go with the events, its destinations with the shop (cascades).
func (s *Store) DeleteShop(ctx context.Context, id int64) error {
	var n int64
	err := s.write(ctx, func(tx *gormDB) error {
		s.forgetDestinations()
		var qs []string
		if s.dialect == Postgres {
			qs = append(qs,
				`SELECT count(*) FROM (SELECT 1 FROM shops WHERE id = ? FOR UPDATE) AS locked`,
				`SELECT count(*) FROM (SELECT 1 FROM events WHERE shop_id = ? FOR UPDATE) AS locked`)
		}
		qs = append(qs,
			`DELETE FROM search_queue WHERE event_id IN (SELECT id FROM events WHERE shop_id = ?)`,
			`DELETE FROM event_search WHERE event_id IN (SELECT id FROM events WHERE shop_id = ?)`,
			`DELETE FROM events WHERE shop_id = ?`,
			`DELETE FROM webhook_deliveries WHERE shop_id = ?`,
			`DELETE FROM order_conversions WHERE shop_id = ?`,
		)
		for _, q := range qs {
			if err := tx.Exec(q, id).Error; err != nil {
				return err
			}
		}
		res := tx.Delete(&shopRow{}, id)
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("delete shop: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
