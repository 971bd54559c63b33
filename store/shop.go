package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
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
	// still accepted while a store rotates its secret.
	SigningSecret  string
	PreviousSecret string
	Rules          mapping.ShopRules
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
}

type shopRow struct {
	ID                int64 `gorm:"primaryKey"`
	Name              string
	Source            string
	WebhookKey        string
	SigningSecret     []byte
	PreviousSecret    []byte
	ConversionTrigger string
	Rules             string
	StripeAPIKey      []byte `gorm:"column:stripe_api_key"`
	PublicID          string
	ScriptSeenAt      int64
	CreatedAt         int64 `gorm:"autoCreateTime:false"`
	UpdatedAt         int64 `gorm:"autoUpdateTime:false"`
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
		CreatedAt: ms(sh.CreatedAt), UpdatedAt: ms(sh.UpdatedAt),
	}
	if r.SigningSecret, err = s.sealer.Seal(sh.SigningSecret); err != nil {
		return shopRow{}, err
	}
	if r.PreviousSecret, err = s.sealer.Seal(sh.PreviousSecret); err != nil {
		return shopRow{}, err
	}
	if r.StripeAPIKey, err = s.sealer.Seal(sh.StripeAPIKey); err != nil {
		return shopRow{}, err
	}
	return r, nil
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
	var err error
	if sh.SigningSecret, err = s.sealer.Open(r.SigningSecret); err != nil {
		return Shop{}, fmt.Errorf("shop %d secret: %w", r.ID, err)
	}
	if sh.PreviousSecret, err = s.sealer.Open(r.PreviousSecret); err != nil {
		return Shop{}, fmt.Errorf("shop %d previous secret: %w", r.ID, err)
	}
	if sh.StripeAPIKey, err = s.sealer.Open(r.StripeAPIKey); err != nil {
		return Shop{}, fmt.Errorf("shop %d stripe key: %w", r.ID, err)
	}
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
	r, err := s.shopToRow(sh)
	if err != nil {
		return Shop{}, err
	}
	if err := s.exec(ctx, func(db *gormDB) error { return db.Create(&r).Error }); err != nil {
		return Shop{}, fmt.Errorf("create shop: %w", err)
	}
	sh.ID = r.ID
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
	return s.rowToShop(r)
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
			return nil, err
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
		res := db.Model(&shopRow{ID: sh.ID}).Select("*").Omit("id", "created_at", "public_id", "script_seen_at").Updates(&r)
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

// DeleteShop removes a shop with its destinations and events.
func (s *Store) DeleteShop(ctx context.Context, id int64) error {
	var n int64
	err := s.exec(ctx, func(db *gormDB) error {
		res := db.Delete(&shopRow{}, id)
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
