package store

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
)

// Event statuses.
const (
	StatusAccepted  = "accepted"
	StatusIgnored   = "ignored"
	StatusDuplicate = "duplicate"
	StatusError     = "error"
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryRetrying  = "retrying"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
	// DeliverySkipped: Postback chose not to send (nothing the platform
	// can match on, past its window, not supported); it is final, shown
	// with its reason, and never counts against a platform's success.
	DeliverySkipped = "skipped"
)

// Delivery kinds.
const (
	KindConversion = "conversion"
	KindAdjustment = "adjustment"
)

// Incoming is one verified webhook, mapped, ready to be committed.
type Incoming struct {
	ShopID  int64
	Source  mapping.Source
	Topic   string
	Webhook mapping.Webhook
	// ParseError is set when the body was genuinely signed but could not be
	// mapped; the event is stored with status error and this reason.
	ParseError string
	Body       []byte
	ReceivedAt time.Time
	// BeaconHold is how long the conversion waits for its browser beacon
	// when none has come yet; the caller sets it for shops that use the
	// storefront script, and 0 sends at once.
	BeaconHold time.Duration
	// UsesScript says the shop's storefront script sent a beacon recently;
	// only then is a beacon looked for, so shops without the script pay
	// nothing for it.
	UsesScript bool
	// Origin is OriginWebhook (the default when empty) or
	// OriginReconciliation; it is written with the event, in the same
	// transaction.
	Origin string
}

// Committed is what became of an Incoming.
type Committed struct {
	EventID int64
	Status  string
	Reason  string
	// Queued counts the deliveries created.
	Queued int
	// Destinations lists the destinations that got a delivery.
	Destinations []int64
}

// destinationAdjuster is implemented by routing that can tell refund
// support per destination (a platform whose settings.api picks an
// interface with or without adjustments).
type destinationAdjuster interface {
	AdjustsFor(platform string, settings map[string]string) bool
}

// adjusts reports whether d takes refund adjustments.
func adjusts(r Routing, d destinationInfo) bool {
	if da, ok := r.(destinationAdjuster); ok {
		return da.AdjustsFor(d.Platform, d.settings)
	}
	return r.Adjusts(d.Platform)
}

// Routing tells the store, which knows no platform, where conversions go.
type Routing interface {
	// Accepts reports whether a destination takes a conversion; test
	// conversions go only to destinations in the platform's test mode.
	Accepts(platform string, settings map[string]string, test bool) bool
	// Adjusts reports whether a platform takes refund adjustments.
	Adjusts(platform string) bool
	// MaxAge is how old an event the platform still accepts.
	MaxAge(platform string) time.Duration
}

type eventRow struct {
	ID                int64 `gorm:"primaryKey"`
	ShopID            int64
	Source            string
	Topic             string
	Kind              string
	DeliveryID        string
	OrderID           string
	Status            string
	Reason            string
	DuplicateOf       int64
	ReceivedAt        int64
	OccurredAt        int64
	Value             string
	Currency          string
	EventName         string
	ConversionEventID string
	Test              bool
	Conversion        string
	Refunds           string
	MatchInfo         string
	Body              []byte
	// Origin is written by applyOrigins in the commit's transaction;
	// inserts take the column's default, webhook.
	Origin string `gorm:"->"`

	// Duplicates counts replays of this event that were not stored again.
	Duplicates      int64
	LastDuplicateAt int64
	// BodyCodec says how Body is stored (codecRaw, codecZstd, codecKept).
	BodyCodec int
}

func (eventRow) TableName() string { return "events" }

type deliveryRow struct {
	ID            int64 `gorm:"primaryKey"`
	EventID       int64
	DestinationID int64
	ShopID        int64
	Platform      string
	Kind          string
	RefundID      int64
	Status        string
	Attempts      int
	LastError     string
	ErrorClass    string
	Parked        bool
	NextAttemptAt int64
	ExpiresAt     int64
	DeliveredAt   int64
	LeaseOwner    string
	LeaseUntil    int64
	Payload       string
	Response      string
	StatusCode    int
	MatchInfo     string
	// The platform's own verdict, for platforms that process later
	// (migration 00008).
	PlatformRequestID string
	PlatformStatus    string
	PlatformDetail    string
	PlatformCheckAt   int64
	CreatedAt         int64 `gorm:"autoCreateTime:false"`
	UpdatedAt         int64 `gorm:"autoUpdateTime:false"`
	// Packed holds Payload and Response, compressed, once the delivery
	// finished and the compactor emptied them.
	Packed []byte
}

func (deliveryRow) TableName() string { return "deliveries" }

type refundRow struct {
	ID                int64 `gorm:"primaryKey"`
	ShopID            int64
	EventID           int64
	ConversionEventID int64
	OrderID           string
	RefundID          string
	Amount            string
	Currency          string
	FullRefund        bool
	RefundedAt        int64
	CreatedAt         int64 `gorm:"autoCreateTime:false"`
}

func (refundRow) TableName() string { return "refunds" }

// destinationInfo is what routing needs of a destination.
type destinationInfo struct {
	ID       int64
	ShopID   int64
	Platform string
	Settings string
	settings map[string]string
}

func queueDelivery(tx *gormDB, eventID int64, d destinationInfo, kind string, refundID int64, now time.Time, expires int64) error {
	row := deliveryRow{
		EventID: eventID, DestinationID: d.ID, ShopID: d.ShopID, Platform: d.Platform, Kind: kind,
		RefundID: refundID, Status: DeliveryPending, NextAttemptAt: ms(now), ExpiresAt: expires,
		CreatedAt: ms(now), UpdatedAt: ms(now),
	}
	if err := tx.Create(&row).Error; err != nil {
		return fmt.Errorf("queue delivery: %w", err)
	}
	return nil
}

// recordRefunds stores the webhook's refunds, links them to the order's
// conversion, and queues one adjustment per destination that takes them
// and was sent the conversion. It returns how many refunds were new and a
// note for the event's reason.
func (s *Store) recordRefunds(tx *gormDB, in *Incoming, eventID int64, dests []destinationInfo, routing Routing) (int, string, error) {
	w := in.Webhook
	var orig int64
	keys := []string{}
	for _, r := range w.Refunds {
		keys = append(keys, r.OrderID)
	}
	keys = append(keys, w.OrderID)
	keys = uniqueNonEmpty(keys)
	if len(keys) > 0 {
		var found []int64
		if err := tx.Table("order_conversions").Select("event_id").Where("shop_id = ? AND order_id IN ?", in.ShopID, keys).Limit(1).Scan(&found).Error; err != nil {
			return 0, "", err
		}
		if len(found) > 0 {
			orig = found[0]
		}
	}
	fresh := 0
	var lastID int64
	for _, r := range w.Refunds {
		if r.Cumulative {
			// Record only what this total adds to the refunds already known
			// for the order; a total seen before adds nothing.
			delta, err := refundDelta(tx, in.ShopID, r)
			if err != nil {
				return 0, "", err
			}
			if !delta.IsPositive() {
				continue
			}
			r.Amount = delta
		}
		row := refundRow{
			ShopID: in.ShopID, EventID: eventID, ConversionEventID: orig, OrderID: r.OrderID,
			RefundID: r.RefundID, Amount: r.Amount.String(), Currency: r.Currency, FullRefund: r.Full,
			RefundedAt: ms(r.Time), CreatedAt: ms(in.ReceivedAt),
		}
		if row.RefundedAt == 0 {
			row.RefundedAt = ms(in.ReceivedAt)
		}
		res := tx.Exec(`INSERT INTO refunds (shop_id, event_id, conversion_event_id, order_id, refund_id, amount, currency, full_refund, refunded_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			row.ShopID, row.EventID, row.ConversionEventID, row.OrderID, row.RefundID, row.Amount, row.Currency, row.FullRefund, row.RefundedAt, row.CreatedAt)
		if res.Error != nil {
			return 0, "", fmt.Errorf("insert refund: %w", res.Error)
		}
		if res.RowsAffected > 0 {
			fresh++
		}
	}
	if fresh == 0 {
		return 0, "", nil
	}
	if err := tx.Table("refunds").Select("MAX(id)").Where("shop_id = ? AND event_id = ?", in.ShopID, eventID).Scan(&lastID).Error; err != nil {
		return 0, "", err
	}
	if orig == 0 {
		return fresh, "refund recorded; no conversion of this order was sent", nil
	}
	// Only destinations that were sent the conversion can adjust it.
	var sentTo []int64
	if err := tx.Table("deliveries").Select("destination_id").
		Where("event_id = ? AND kind = ? AND status NOT IN ?", orig, KindConversion, []string{DeliveryFailed, DeliverySkipped}).Scan(&sentTo).Error; err != nil {
		return 0, "", err
	}
	had := map[int64]bool{}
	for _, id := range sentTo {
		had[id] = true
	}
	var forwarded, unsupported []string
	for _, d := range dests {
		if !had[d.ID] {
			continue
		}
		if !adjusts(routing, d) {
			unsupported = append(unsupported, d.Platform)
			continue
		}
		// Adjustments are accepted for as long as the conversion itself.
		if err := queueDelivery(tx, eventID, d, KindAdjustment, lastID, in.ReceivedAt, ms(in.ReceivedAt.Add(routing.MaxAge(d.Platform)))); err != nil {
			return 0, "", err
		}
		forwarded = append(forwarded, d.Platform)
	}
	// The order's own webhook may bring its refund too (the first the
	// store sent of an order refunded since): the refund is this event's
	// own order's, not a link to itself.
	note := fmt.Sprintf("refund linked to event %d", orig)
	if orig == eventID {
		note = "refund of this order, received with it"
	}
	if len(forwarded) > 0 {
		note += "; adjustment queued for " + strings.Join(forwarded, ", ")
		if orig == eventID {
			note += " once the conversion is sent"
		}
	}
	if len(unsupported) > 0 {
		note += "; not supported by platform: " + strings.Join(unsupported, ", ")
	}
	return fresh, note, nil
}

// refundDelta is a cumulative refund total less the refunds already
// recorded for the same order.
func refundDelta(tx *gormDB, shopID int64, r mapping.Refund) (decimal.Decimal, error) {
	var amounts []string
	if err := tx.Table("refunds").Select("amount").Where("shop_id = ? AND order_id = ?", shopID, r.OrderID).Scan(&amounts).Error; err != nil {
		return decimal.Zero, fmt.Errorf("load refunds: %w", err)
	}
	known := decimal.Zero
	for _, a := range amounts {
		d, err := decimal.NewFromString(a)
		if err != nil {
			return decimal.Zero, fmt.Errorf("refund amount %q: %w", a, err)
		}
		known = known.Add(d)
	}
	return r.Amount.Sub(known), nil
}

func uniqueNonEmpty(in []string) []string {
	out := in[:0:0]
	seen := map[string]bool{}
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func joinReason(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// ErrClosed is returned by Commit once the committer has stopped.
var ErrClosed = errors.New("committer stopped")
