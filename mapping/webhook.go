package mapping

import (
	"strings"
	"time"
)

// Outcome is what a verified store delivery amounts to.
type Outcome string

// Outcomes a connector can report.
const (
	// OutcomeConversion: the delivery shows the order in the shop's trigger
	// state; Webhook.Conversion is set.
	OutcomeConversion Outcome = "conversion"
	// OutcomeIgnored: a genuine delivery that is not a conversion (pending,
	// on-hold, a topic not used); Webhook.Reason says why.
	OutcomeIgnored Outcome = "ignored"
	// OutcomeRefund: money was returned on an order; Webhook.Refunds is set.
	OutcomeRefund Outcome = "refund"
	// OutcomePing: a store's connectivity check (WooCommerce's ping); it is
	// answered and stored nowhere.
	OutcomePing Outcome = "ping"
)

// Webhook is what a connector made of one verified delivery.
type Webhook struct {
	Source Source
	Topic  string
	// DeliveryID identifies the delivery itself (Shopify X-Shopify-Event-Id,
	// Stripe event id, WooCommerce X-WC-Webhook-Delivery-ID). A second
	// delivery with the same id is a duplicate. Empty when the store sends
	// none.
	DeliveryID string
	// OrderID is the store's id of the order this delivery is about (for a
	// refund, the refunded order), empty when it is about no order.
	OrderID string
	// OrderAliases are other ids the same order is known by (a Stripe
	// Checkout Session's PaymentIntent id), so that a second event about the
	// same purchase under another id is recognized as the same order.
	OrderAliases []string
	Outcome      Outcome
	// Reason explains an ignored delivery, or notes a degraded conversion
	// (for example an unparseable phone number that was left out).
	Reason     string
	Conversion *Conversion
	// Refunds lists the refunds this delivery reports, with any outcome (a
	// WooCommerce order.updated can carry a conversion and its refunds).
	Refunds []Refund
	// OccurredAt is the payload's own clock (updated_at, event.created).
	OccurredAt time.Time
	// Test marks deliveries of test orders or test-mode events.
	Test bool
}

// Trigger is the order state at which a shop counts a conversion.
type Trigger string

// Triggers a shop can choose.
const (
	TriggerPaid      Trigger = "paid"
	TriggerFulfilled Trigger = "fulfilled"
)

// Valid reports whether t is a known trigger.
func (t Trigger) Valid() bool { return t == TriggerPaid || t == TriggerFulfilled }

// ValueRule says which amount of an order is reported as its value.
type ValueRule string

// Value rules a shop can choose.
const (
	// ValueTotal reports the order total (tax and shipping included).
	ValueTotal ValueRule = "total"
	// ValueSubtotal reports the total less tax and shipping.
	ValueSubtotal ValueRule = "subtotal"
)

// Valid reports whether r is a known value rule ("" means total).
func (r ValueRule) Valid() bool { return r == "" || r == ValueTotal || r == ValueSubtotal }

// CurrencyRule says which currency side of a multi-currency order is reported.
type CurrencyRule string

// Currency rules a shop can choose (Shopify only).
const (
	CurrencyShop        CurrencyRule = "shop"
	CurrencyPresentment CurrencyRule = "presentment"
)

// Valid reports whether r is a known currency rule ("" means shop).
func (r CurrencyRule) Valid() bool { return r == "" || r == CurrencyShop || r == CurrencyPresentment }

// ShopRules are the per-shop choices a connector applies when it maps a
// delivery. The zero value is the documented default for every field.
type ShopRules struct {
	Trigger Trigger `json:"trigger"`
	// EventIDTemplate builds the id shared with the pixel; "{order_id}" is
	// replaced with the store's order id. Empty means the bare order id.
	EventIDTemplate string       `json:"event_id_template,omitempty"`
	ValueRule       ValueRule    `json:"value_rule,omitempty"`
	Currency        CurrencyRule `json:"currency,omitempty"`
	// PaidStatuses adds store statuses that count as paid (WooCommerce
	// custom statuses).
	PaidStatuses []string `json:"paid_statuses,omitempty"`
	// AttributeNames adds names under which a storefront script stores click
	// ids and browser ids (Shopify note attributes, WooCommerce meta keys),
	// mapped to the canonical key (fbclid, gclid, fbp, fbc, ttp, ...).
	AttributeNames map[string]string `json:"attribute_names,omitempty"`
	// SendZeroValue converts orders whose value is zero (free orders);
	// otherwise they are ignored.
	SendZeroValue bool `json:"send_zero_value,omitempty"`
	// StripeRenewals converts subscription renewals (invoice.paid with
	// billing_reason subscription_cycle) too.
	StripeRenewals bool `json:"stripe_renewals,omitempty"`
	// StripeSubscriptionEvent is the event name for a first subscription
	// invoice: Purchase (default) or Subscribe.
	StripeSubscriptionEvent string `json:"stripe_subscription_event,omitempty"`
}

// EventID renders the id shared with the pixel for an order.
func (r ShopRules) EventID(orderID string) string {
	if r.EventIDTemplate == "" {
		return orderID
	}
	return strings.ReplaceAll(r.EventIDTemplate, "{order_id}", orderID)
}
