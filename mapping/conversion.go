// Package mapping holds Postback's domain: the canonical conversion that
// every connector produces and every platform consumes, the identifiers it
// carries, and the pure functions that normalize and hash them.
//
// It imports no infrastructure (no HTTP framework, no ORM); the only
// third-party packages are the decimal and phone-number libraries the domain
// itself needs.
package mapping

import (
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Source is the store a webhook came from.
type Source string

// The stores Postback accepts webhooks from.
const (
	SourceShopify     Source = "shopify"
	SourceWooCommerce Source = "woocommerce"
	SourceStripe      Source = "stripe"
)

// Sources lists every supported store, in display order.
var Sources = []Source{SourceShopify, SourceWooCommerce, SourceStripe}

// Valid reports whether s is a supported store.
func (s Source) Valid() bool {
	for _, v := range Sources {
		if s == v {
			return true
		}
	}
	return false
}

// Canonical event names. Platforms translate them to their own vocabulary.
const (
	EventPurchase  = "Purchase"
	EventSubscribe = "Subscribe"
)

// Conversion is one confirmed order, in the one shape every platform sender
// consumes. Identifiers in User are as the store gave them (trimmed, not yet
// normalized): each platform normalizes and hashes them by its own rules.
type Conversion struct {
	// EventID is the id shared with the browser pixel so the platform can
	// deduplicate pixel and server events.
	EventID   string    `json:"event_id"`
	EventName string    `json:"event_name"`
	EventTime time.Time `json:"event_time"` // when the order was paid (or fulfilled), UTC
	OrderID   string    `json:"order_id"`
	// OrderName is the human order number (#1042), when the store has one.
	OrderName string          `json:"order_name,omitempty"`
	Value     decimal.Decimal `json:"value"`
	Currency  string          `json:"currency"` // ISO 4217, upper case
	Items     []Item          `json:"items,omitempty"`

	ClickIDs ClickIDs `json:"click_ids"`
	// ClickTime is when the click id was first seen (landing time), used for
	// Meta's fbc creation time. Zero when unknown.
	ClickTime time.Time `json:"click_time,omitzero"`

	ClientIP  string `json:"client_ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	// SourceURL is the page the conversion happened on (or the landing URL),
	// absolute when known.
	SourceURL string `json:"source_url,omitempty"`
	// Channel is where the purchase happened, as far as the store says.
	Channel Channel `json:"channel,omitempty"`

	User User `json:"user"`

	// OrderRef is what the buyer's browser also knows of the order and a
	// stranger cannot guess (Shopify checkout token, WooCommerce order key,
	// Stripe Checkout Session id); a browser beacon names it.
	OrderRef string `json:"order_ref,omitempty"`
	// BeaconJoined says a beacon from the buyer's browser added its context
	// (user agent, IP, page URL, cookies, click ids) to this conversion.
	BeaconJoined bool `json:"beacon_joined,omitempty"`
	// Consent is the consent state the browser reported, nil when unknown.
	Consent *Consent `json:"consent,omitempty"`

	// Test marks test orders (Shopify test: true, Stripe livemode: false);
	// they go only to destinations in test mode.
	Test bool `json:"test,omitempty"`
}

// Channel is where a purchase happened. Platforms turn it into their own
// action_source.
type Channel string

// The channels a store can tell us about. Unknown means nothing says where.
const (
	ChannelUnknown Channel = ""
	// ChannelWebsite is a purchase made on a website: a storefront checkout
	// or a hosted checkout page the buyer was sent to.
	ChannelWebsite Channel = "website"
	// ChannelRenewal is a subscription renewal charged without the buyer.
	ChannelRenewal Channel = "renewal"
)

// Where is the conversion's channel: its Channel when the store said, else
// website when the buyer's browser context (user agent and an absolute page
// URL) is known, else unknown.
func (c Conversion) Where() Channel {
	if c.Channel != ChannelUnknown {
		return c.Channel
	}
	u := strings.ToLower(strings.TrimSpace(c.SourceURL))
	if strings.TrimSpace(c.UserAgent) != "" && (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) {
		return ChannelWebsite
	}
	return ChannelUnknown
}

// Item is one order line.
type Item struct {
	ID        string          `json:"id"` // product (or variant) id as the catalog knows it
	VariantID string          `json:"variant_id,omitempty"`
	SKU       string          `json:"sku,omitempty"`
	Title     string          `json:"title,omitempty"`
	Brand     string          `json:"brand,omitempty"`
	Quantity  int             `json:"quantity"`
	Price     decimal.Decimal `json:"price"` // unit price
}

// ClickIDs are the advertising click ids and browser ids carried from the
// landing page to the order. They are never hashed.
type ClickIDs struct {
	FBCLID  string `json:"fbclid,omitempty"`
	GCLID   string `json:"gclid,omitempty"`
	GBRAID  string `json:"gbraid,omitempty"`
	WBRAID  string `json:"wbraid,omitempty"`
	TTCLID  string `json:"ttclid,omitempty"`
	RDTCID  string `json:"rdt_cid,omitempty"`
	MSCLKID string `json:"msclkid,omitempty"`
	LiFatID string `json:"li_fat_id,omitempty"`
	EPIK    string `json:"epik,omitempty"`
	ScCID   string `json:"sccid,omitempty"`

	// Browser ids copied from cookies by a storefront script.
	FBP  string `json:"fbp,omitempty"`  // _fbp
	FBC  string `json:"fbc,omitempty"`  // _fbc, verbatim
	TTP  string `json:"ttp,omitempty"`  // _ttp
	SCID string `json:"scid,omitempty"` // _scid
	// RDTUUID is the Reddit Pixel's first-party browser id (_rdt_uuid).
	RDTUUID string `json:"rdt_uuid,omitempty"`
}

// Any reports whether any click id (not browser id) is present.
func (c ClickIDs) Any() bool {
	return c.FBCLID != "" || c.GCLID != "" || c.GBRAID != "" || c.WBRAID != "" ||
		c.TTCLID != "" || c.RDTCID != "" || c.MSCLKID != "" || c.LiFatID != "" ||
		c.EPIK != "" || c.ScCID != "" || c.FBC != ""
}

// User holds the buyer's identifiers as the store gave them, trimmed, with
// one exception: Phone is already in E.164 form ("+12175550143"), because
// reading a national number needs the billing country, which the connector
// knows. A phone that cannot be parsed is left out of Phone (and noted in the
// webhook's Reason) and kept in PhoneUnparsed.
type User struct {
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	// PhoneUnparsed is the phone as the store gave it when the phone
	// library could not read it (Phone is then empty). Only platforms that
	// publish a rule for such numbers (Meta) use it.
	PhoneUnparsed string `json:"phone_unparsed,omitempty"`
	FirstName     string `json:"first_name,omitempty"`
	LastName      string `json:"last_name,omitempty"`
	Street        string `json:"street,omitempty"`
	City          string `json:"city,omitempty"`
	State         string `json:"state,omitempty"` // code when the store has one (IL, ENG)
	Zip           string `json:"zip,omitempty"`
	Country       string `json:"country,omitempty"` // ISO 3166-1 alpha-2
	ExternalID    string `json:"external_id,omitempty"`
	Gender        string `json:"gender,omitempty"`
	BirthDate     string `json:"birth_date,omitempty"`
}

// Refund is money returned on an order that may have converted before.
type Refund struct {
	RefundID string          `json:"refund_id"`
	OrderID  string          `json:"order_id"`
	Amount   decimal.Decimal `json:"amount"`
	Currency string          `json:"currency"`
	Full     bool            `json:"full"` // the whole order was refunded
	// Cumulative says Amount is the total refunded on the order so far
	// (Stripe's charge.refunded), not this refund's own amount; the store
	// records the difference from what it already knows.
	Cumulative bool      `json:"cumulative,omitempty"`
	Time       time.Time `json:"time"`
	Reason     string    `json:"reason,omitempty"`
}
