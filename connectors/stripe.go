package connectors

// Stripe webhooks (stores.md §4).
//
// Verification uses stripe-go's webhook package for the HMAC, with our own
// clock for the timestamp window: stripe-go measures age with time.Since,
// so it can neither be tested with a fixed clock nor reject timestamps from
// the future, which it accepts without limit.
//
// API versions. Every endpoint renders events in the API version chosen
// when it was created, which is not ours to pick, while stripe-go v79's types
// follow 2024-06-20. We therefore do not use webhook.ConstructEvent (it
// rejects other versions) nor decode data.object into stripe.CheckoutSession
// and friends: one unused field whose shape changed in some version would
// turn a genuine paid order into a decode error. Instead each object is read
// into a small struct holding only the fields we use, with every known
// location of a field that moved (shipping → shipping_details →
// collected_information.shipping_details; invoice payment_intent/subscription
// → payments/parent). stripe-go still supplies the signature check, the
// enum constants, stripe.Address, and the API client of StripeEnricher, whose
// responses are rendered in the version stripe-go pins (it sends
// Stripe-Version), so its types are exact there.
//
// One purchase, several events. A Checkout payment emits
// checkout.session.completed and payment_intent.succeeded; a subscription
// Checkout emits checkout.session.completed and invoice.paid. The session's
// conversion carries OrderAliases = [its payment_intent, its invoice], an
// invoice's carries its payment_intent, a PaymentIntent's its latest charge,
// so the store recognizes the later event as the same order: whichever
// arrives first converts, the other is a duplicate. Refunds name the
// PaymentIntent (else the charge), which every conversion above knows as its
// id or an alias.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/client"
	"github.com/stripe/stripe-go/v79/webhook"

	"github.com/postbackhq/postback/mapping"
)

// StripeSignatureHeader carries Stripe's webhook signature:
// "t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=<hex>]".
const StripeSignatureHeader = "Stripe-Signature"

// StripeTolerance is how far a signature's timestamp may be from now, in
// either direction; Stripe's libraries use the same five minutes for the past.
const StripeTolerance = 300 * time.Second

var _ Connector = (*Stripe)(nil)

// Stripe verifies and maps Stripe webhook events.
type Stripe struct {
	tolerance time.Duration
	now       func() time.Time
}

// StripeOption configures a Stripe connector.
type StripeOption func(*Stripe)

// WithStripeClock sets the clock the signature timestamp is checked against
// (time.Now by default).
func WithStripeClock(now func() time.Time) StripeOption {
	return func(s *Stripe) {
		if now != nil {
			s.now = now
		}
	}
}

// WithStripeTolerance overrides StripeTolerance; a non-positive d is ignored.
func WithStripeTolerance(d time.Duration) StripeOption {
	return func(s *Stripe) {
		if d > 0 {
			s.tolerance = d
		}
	}
}

// NewStripe returns a Stripe connector.
func NewStripe(opts ...StripeOption) *Stripe {
	s := &Stripe{tolerance: StripeTolerance, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Source is mapping.SourceStripe.
func (s *Stripe) Source() mapping.Source { return mapping.SourceStripe }

// Verify checks the Stripe-Signature header against the endpoint's signing
// secret (the whole "whsec_…" string). Any one of several v1 signatures may
// match (Stripe signs with the old and the new secret while a secret is
// rolled); v0 and other schemes are never accepted. The timestamp must lie
// within the tolerance of the connector's clock, in the past or the future.
func (s *Stripe) Verify(h http.Header, body []byte, secret string) error {
	values := h.Values(StripeSignatureHeader)
	if len(values) == 0 || strings.TrimSpace(values[0]) == "" {
		return ErrNotSigned
	}
	if len(values) > 1 {
		return fmt.Errorf("%w: %d Stripe-Signature headers", ErrNoValidSignature, len(values))
	}
	if secret == "" {
		return fmt.Errorf("%w: no signing secret configured", ErrNoValidSignature)
	}
	header := values[0]
	signed, err := stripeSignedAt(header)
	if err != nil {
		return err
	}
	// The HMAC comes first, so that only a genuinely signed delivery is ever
	// reported as too old.
	if err := webhook.ValidatePayloadIgnoringTolerance(body, header, secret); err != nil {
		return stripeVerifyError(err)
	}
	switch age := s.now().Sub(signed); {
	case age > s.tolerance:
		return fmt.Errorf("%w: timestamp is %s old", ErrTooOld, age.Round(time.Second))
	case age < -s.tolerance:
		return fmt.Errorf("%w: timestamp is %s in the future", ErrTooOld, (-age).Round(time.Second))
	}
	return nil
}

// stripeSignedAt reads the t= element of a Stripe-Signature header, with the
// same element syntax stripe-go accepts. A header without exactly one t is
// invalid: stripe-go would sign a missing t as the Unix epoch and use the
// last of several.
func stripeSignedAt(header string) (time.Time, error) {
	var t string
	n := 0
	for pair := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || strings.Contains(v, "=") {
			return time.Time{}, fmt.Errorf("%w: %w", ErrNoValidSignature, webhook.ErrInvalidHeader)
		}
		if k == "t" {
			t = v
			n++
		}
	}
	if n != 1 {
		return time.Time{}, fmt.Errorf("%w: %w: want one timestamp, got %d", ErrNoValidSignature, webhook.ErrInvalidHeader, n)
	}
	sec, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w: timestamp is not a number", ErrNoValidSignature, webhook.ErrInvalidHeader)
	}
	return time.Unix(sec, 0), nil
}

// stripeVerifyError maps stripe-go's webhook errors onto ours, keeping
// stripe-go's in the chain.
func stripeVerifyError(err error) error {
	switch {
	case errors.Is(err, webhook.ErrNotSigned):
		return fmt.Errorf("%w: %w", ErrNotSigned, err)
	case errors.Is(err, webhook.ErrTooOld):
		return fmt.Errorf("%w: %w", ErrTooOld, err)
	default: // ErrNoValidSignature, ErrInvalidHeader
		return fmt.Errorf("%w: %w", ErrNoValidSignature, err)
	}
}

// Parse maps a verified Stripe event. See the comment at the top of this file
// for the events used and how one purchase's several events meet in one
// order. When only data.object is malformed, the Webhook returned with the
// error still carries Source, Topic, DeliveryID, OccurredAt and Test, so the
// error event can be stored under its delivery id.
func (s *Stripe) Parse(_ http.Header, body []byte, rules mapping.ShopRules) (mapping.Webhook, error) {
	w := mapping.Webhook{Source: mapping.SourceStripe}
	ev, err := stripeDecodeEvent(body)
	if err != nil {
		return w, err
	}
	w.Topic, w.DeliveryID, w.Test, w.OccurredAt = string(ev.Type), ev.ID, !ev.Livemode, ev.created
	if ev.Object == "v2.core.event" {
		w.Outcome = mapping.OutcomeIgnored
		w.Reason = "thin event carries no order data: create the event destination with the snapshot payload style"
		return w, nil
	}
	switch ev.Type {
	case stripe.EventTypeCheckoutSessionCompleted,
		stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded,
		stripe.EventTypeCheckoutSessionAsyncPaymentFailed,
		stripe.EventTypeCheckoutSessionExpired:
		err = stripeParseCheckout(&w, ev, rules)
	case stripe.EventTypePaymentIntentSucceeded:
		err = stripeParsePaymentIntent(&w, ev, rules)
	case stripe.EventTypeInvoicePaid:
		err = stripeParseInvoice(&w, ev, rules)
	case stripe.EventTypeChargeRefunded:
		err = stripeParseChargeRefunded(&w, ev)
	case stripe.EventTypeRefundCreated:
		err = stripeParseRefundCreated(&w, ev)
	default:
		w.Outcome = mapping.OutcomeIgnored
		w.Reason = fmt.Sprintf("event type %s is not used", stripeClip(string(ev.Type)))
	}
	return w, err
}

// stripeEvent is the event envelope. It is stable across API versions except
// for request (a bare id before 2017-05-25, which breaks stripe.Event) and
// the v2 "thin" events, whose created is an RFC 3339 string; neither field
// is read as anything but raw JSON here.
type stripeEvent struct {
	ID       string           `json:"id"`
	Object   string           `json:"object"`
	Created  json.RawMessage  `json:"created"`
	Livemode bool             `json:"livemode"`
	Type     stripe.EventType `json:"type"`
	Data     struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`

	created time.Time
}

func stripeDecodeEvent(body []byte) (stripeEvent, error) {
	var ev stripeEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return ev, fmt.Errorf("%w: stripe event: %w", ErrMalformed, err)
	}
	if ev.Object != "event" && ev.Object != "v2.core.event" {
		return ev, fmt.Errorf("%w: stripe event: object is %q, not an event", ErrMalformed, stripeClip(ev.Object))
	}
	if ev.ID == "" || ev.Type == "" {
		return ev, fmt.Errorf("%w: stripe event without id or type", ErrMalformed)
	}
	t, err := stripeEventTime(ev.Created)
	if err != nil {
		return ev, fmt.Errorf("%w: stripe event %s: %w", ErrMalformed, stripeClip(ev.ID), err)
	}
	ev.created = t
	return ev, nil
}

// stripeEventTime reads created: unix seconds (v1 events) or RFC 3339 (v2).
func stripeEventTime(raw json.RawMessage) (time.Time, error) {
	var sec int64
	if err := json.Unmarshal(raw, &sec); err == nil && sec > 0 {
		return time.Unix(sec, 0).UTC(), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("created %s is not a time", stripeClip(string(raw)))
}

// object decodes data.object into v.
func (ev stripeEvent) object(v any) error {
	raw := ev.Data.Object
	if len(raw) == 0 || string(raw) == "null" {
		return fmt.Errorf("%w: %s event %s has no data.object", ErrMalformed, ev.Type, ev.ID)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %s event %s: data.object: %w", ErrMalformed, ev.Type, ev.ID, err)
	}
	return nil
}

// stripeID is an expandable reference: an id string, or the object itself
// when expanded (never in webhooks, but harmless to accept).
type stripeID string

// UnmarshalJSON accepts "id", {"id": …} or null.
func (id *stripeID) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = stripeID(s)
		return nil
	}
	var o struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	*id = stripeID(o.ID)
	return nil
}

// stripeShipping is a shipping block, wherever the API version puts it
// (see stripeCheckoutSession.shipping).
type stripeShipping struct {
	Name    string          `json:"name"`
	Phone   string          `json:"phone"`
	Address *stripe.Address `json:"address"`
}

type stripeCheckoutSession struct {
	ID            string                              `json:"id"`
	Mode          stripe.CheckoutSessionMode          `json:"mode"`
	PaymentStatus stripe.CheckoutSessionPaymentStatus `json:"payment_status"`
	AmountTotal   int64                               `json:"amount_total"`
	Currency      string                              `json:"currency"`
	TotalDetails  *struct {
		AmountShipping int64 `json:"amount_shipping"`
		AmountTax      int64 `json:"amount_tax"`
	} `json:"total_details"`
	ClientReferenceID string   `json:"client_reference_id"`
	Customer          stripeID `json:"customer"`
	CustomerEmail     string   `json:"customer_email"`
	CustomerDetails   *struct {
		Email   string          `json:"email"`
		Name    string          `json:"name"`
		Phone   string          `json:"phone"`
		Address *stripe.Address `json:"address"`
	} `json:"customer_details"`
	PaymentIntent stripeID          `json:"payment_intent"`
	Invoice       stripeID          `json:"invoice"`
	Metadata      map[string]string `json:"metadata"`
	SuccessURL    string            `json:"success_url"`
	// Shipping moved twice: shipping (before 2022-08-01), shipping_details
	// (2022-08-01 to acacia), collected_information.shipping_details (basil).
	Shipping             *stripeShipping `json:"shipping"`
	ShippingDetails      *stripeShipping `json:"shipping_details"`
	CollectedInformation *struct {
		ShippingDetails *stripeShipping `json:"shipping_details"`
	} `json:"collected_information"`
}

func (cs *stripeCheckoutSession) shipping() *stripeShipping {
	if ci := cs.CollectedInformation; ci != nil && ci.ShippingDetails != nil {
		return ci.ShippingDetails
	}
	if cs.ShippingDetails != nil {
		return cs.ShippingDetails
	}
	return cs.Shipping
}

// stripeParseCheckout maps the checkout.session.* events, following
// https://docs.stripe.com/checkout/fulfillment: a completed session converts
// when payment_status is paid; a delayed method (SEPA, ACH, Boleto…)
// completes unpaid and converts on async_payment_succeeded. A subscription
// session uses the shop's subscription event name, as its invoice.paid would.
func stripeParseCheckout(w *mapping.Webhook, ev stripeEvent, rules mapping.ShopRules) error {
	var cs stripeCheckoutSession
	if err := ev.object(&cs); err != nil {
		return err
	}
	if cs.ID == "" {
		return fmt.Errorf("%w: checkout session without id", ErrMalformed)
	}
	o := stripeOrder{
		id:       cs.ID,
		aliases:  stripeIDs(cs.PaymentIntent, cs.Invoice),
		amount:   cs.AmountTotal,
		currency: cs.Currency,
		metadata: []map[string]string{cs.Metadata},
		buyer: stripeBuyer{
			email:      cs.CustomerEmail,
			customerID: string(cs.Customer),
			reference:  cs.ClientReferenceID,
		},
		// Checkout is a web page the buyer was sent to, hosted or embedded.
		channel:   mapping.ChannelWebsite,
		pageURL:   stripePageOf(cs.SuccessURL),
		eventName: mapping.EventPurchase,
	}
	if d := cs.TotalDetails; d != nil {
		o.taxAndShipping = d.AmountTax + d.AmountShipping
	}
	if d := cs.CustomerDetails; d != nil {
		o.buyer.email = stripeFirst(d.Email, cs.CustomerEmail)
		o.buyer.name, o.buyer.phone, o.buyer.address = d.Name, d.Phone, d.Address
	}
	o.buyer.addShipping(cs.shipping())
	w.OrderID, w.OrderAliases = o.id, o.aliases

	switch {
	case ev.Type == stripe.EventTypeCheckoutSessionAsyncPaymentFailed:
		return stripeIgnore(w, "delayed payment failed")
	case ev.Type == stripe.EventTypeCheckoutSessionExpired:
		return stripeIgnore(w, "checkout session expired without payment")
	case cs.Mode == stripe.CheckoutSessionModeSetup:
		return stripeIgnore(w, "setup session saves a payment method: no purchase")
	}
	if cs.Mode == stripe.CheckoutSessionModeSubscription {
		o.eventName, o.note = stripeSubscriptionEvent(rules)
	}
	if ev.Type == stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded {
		return stripeConvert(w, ev, o, rules)
	}
	switch cs.PaymentStatus {
	case stripe.CheckoutSessionPaymentStatusPaid:
		return stripeConvert(w, ev, o, rules)
	case stripe.CheckoutSessionPaymentStatusUnpaid:
		return stripeIgnore(w, "payment not settled yet: waiting for async_payment_succeeded")
	case stripe.CheckoutSessionPaymentStatusNoPaymentRequired:
		o.amount, o.taxAndShipping, o.free = 0, 0, true
		return stripeConvert(w, ev, o, rules)
	default:
		return stripeIgnore(w, fmt.Sprintf("unknown payment_status %q", stripeClip(string(cs.PaymentStatus))))
	}
}

type stripePaymentIntent struct {
	ID             string            `json:"id"`
	Amount         int64             `json:"amount"`
	AmountReceived int64             `json:"amount_received"`
	Currency       string            `json:"currency"`
	Customer       stripeID          `json:"customer"`
	ReceiptEmail   string            `json:"receipt_email"`
	Shipping       *stripeShipping   `json:"shipping"`
	Metadata       map[string]string `json:"metadata"`
	LatestCharge   stripeID          `json:"latest_charge"`
	// Invoice names the invoice a subscription payment belongs to; basil
	// removed it.
	Invoice stripeID `json:"invoice"`
	// Charges is the embedded charge list of versions before 2022-11-15.
	Charges *struct {
		Data []stripeCharge `json:"data"`
	} `json:"charges"`
}

// stripeParsePaymentIntent maps payment_intent.succeeded, the event of
// integrations without Checkout. The value is amount_received (what was
// captured), else amount. A PaymentIntent that names its invoice is left to
// invoice.paid. From basil on a PaymentIntent no longer names its invoice, so
// a subscription payment cannot be told from a one-off one: shops that sell
// subscriptions on basil endpoints should not send payment_intent.succeeded,
// or every renewal converts.
func stripeParsePaymentIntent(w *mapping.Webhook, ev stripeEvent, rules mapping.ShopRules) error {
	var pi stripePaymentIntent
	if err := ev.object(&pi); err != nil {
		return err
	}
	if pi.ID == "" {
		return fmt.Errorf("%w: payment intent without id", ErrMalformed)
	}
	o := stripeOrder{
		id:        pi.ID,
		amount:    pi.AmountReceived,
		currency:  pi.Currency,
		metadata:  []map[string]string{pi.Metadata},
		eventName: mapping.EventPurchase,
		buyer: stripeBuyer{
			email:      pi.ReceiptEmail,
			customerID: string(pi.Customer),
		},
	}
	if o.amount == 0 {
		o.amount = pi.Amount
	}
	charge := pi.LatestCharge
	if pi.Charges != nil && len(pi.Charges.Data) > 0 {
		c := pi.Charges.Data[0]
		charge = stripeID(stripeFirst(string(charge), c.ID))
		if b := c.BillingDetails; b != nil {
			o.buyer.email = stripeFirst(o.buyer.email, b.Email)
			o.buyer.name, o.buyer.phone, o.buyer.address = b.Name, b.Phone, b.Address
		}
	}
	o.aliases = stripeIDs(charge)
	o.buyer.addShipping(pi.Shipping)
	w.OrderID, w.OrderAliases = o.id, o.aliases
	if pi.Invoice != "" {
		// The invoice's own invoice.paid event decides (first purchase or
		// renewal); converting here would count every renewal.
		return stripeIgnore(w, fmt.Sprintf("payment for invoice %s: converted through invoice.paid", stripeClip(string(pi.Invoice))))
	}
	return stripeConvert(w, ev, o, rules)
}

type stripeInvoice struct {
	ID                string                      `json:"id"`
	Number            string                      `json:"number"`
	BillingReason     stripe.InvoiceBillingReason `json:"billing_reason"`
	AmountPaid        int64                       `json:"amount_paid"`
	Total             int64                       `json:"total"`
	TotalExcludingTax *int64                      `json:"total_excluding_tax"`
	Currency          string                      `json:"currency"`
	Customer          stripeID                    `json:"customer"`
	CustomerEmail     string                      `json:"customer_email"`
	CustomerName      string                      `json:"customer_name"`
	CustomerPhone     string                      `json:"customer_phone"`
	CustomerAddress   *stripe.Address             `json:"customer_address"`
	CustomerShipping  *stripeShipping             `json:"customer_shipping"`
	Metadata          map[string]string           `json:"metadata"`
	ShippingCost      *struct {
		AmountTotal int64 `json:"amount_total"`
	} `json:"shipping_cost"`
	// Before basil: payment_intent, subscription, subscription_details.
	PaymentIntent       stripeID `json:"payment_intent"`
	SubscriptionDetails *struct {
		Metadata map[string]string `json:"metadata"`
	} `json:"subscription_details"`
	// Basil: parent.subscription_details, and payments when included.
	Parent *struct {
		SubscriptionDetails *struct {
			Metadata map[string]string `json:"metadata"`
		} `json:"subscription_details"`
	} `json:"parent"`
	Payments *struct {
		Data []struct {
			Payment struct {
				PaymentIntent stripeID `json:"payment_intent"`
			} `json:"payment"`
		} `json:"data"`
	} `json:"payments"`
	Lines *struct {
		Data []stripeInvoiceLine `json:"data"`
	} `json:"lines"`
}

// paymentIntents returns the invoice's PaymentIntent ids in any version.
func (in *stripeInvoice) paymentIntents() []stripeID {
	ids := []stripeID{in.PaymentIntent}
	if in.Payments != nil {
		for _, p := range in.Payments.Data {
			ids = append(ids, p.Payment.PaymentIntent)
		}
	}
	return ids
}

// stripeInvoiceLine is one invoice line: price.{id,product,unit_amount}
// before basil, pricing.{price_details.{price,product},unit_amount_decimal}
// from basil on.
type stripeInvoiceLine struct {
	Amount      int64  `json:"amount"`
	Quantity    int64  `json:"quantity"`
	Description string `json:"description"`
	Price       *struct {
		ID         string   `json:"id"`
		Product    stripeID `json:"product"`
		UnitAmount *int64   `json:"unit_amount"`
	} `json:"price"`
	Pricing *struct {
		PriceDetails *struct {
			Price   stripeID `json:"price"`
			Product string   `json:"product"`
		} `json:"price_details"`
		UnitAmountDecimal string `json:"unit_amount_decimal"`
	} `json:"pricing"`
}

// stripeParseInvoice maps invoice.paid. The first invoice of a subscription
// (billing_reason subscription_create) converts under the shop's
// subscription event name; renewals (subscription_cycle) convert only when
// the shop sends renewals, and always as Purchase: a renewal is a repeat
// payment, not a new subscription. The value is amount_paid; the order is the
// invoice, with its PaymentIntent (before basil, or from payments when
// included) as alias so refunds of the charge find it.
func stripeParseInvoice(w *mapping.Webhook, ev stripeEvent, rules mapping.ShopRules) error {
	var in stripeInvoice
	if err := ev.object(&in); err != nil {
		return err
	}
	if in.ID == "" {
		return fmt.Errorf("%w: invoice without id", ErrMalformed)
	}
	w.OrderID = in.ID
	w.OrderAliases = stripeIDs(in.paymentIntents()...)
	o := stripeOrder{
		id:        in.ID,
		aliases:   w.OrderAliases,
		orderName: in.Number,
		amount:    in.AmountPaid,
		currency:  in.Currency,
		metadata:  []map[string]string{in.Metadata},
		eventName: mapping.EventPurchase,
		buyer: stripeBuyer{
			email:      in.CustomerEmail,
			name:       in.CustomerName,
			phone:      in.CustomerPhone,
			address:    in.CustomerAddress,
			customerID: string(in.Customer),
		},
	}
	if in.TotalExcludingTax != nil {
		o.taxAndShipping = in.Total - *in.TotalExcludingTax
	}
	if in.ShippingCost != nil {
		o.taxAndShipping += in.ShippingCost.AmountTotal
	}
	if d := in.SubscriptionDetails; d != nil {
		o.metadata = append(o.metadata, d.Metadata)
	}
	if p := in.Parent; p != nil && p.SubscriptionDetails != nil {
		o.metadata = append(o.metadata, p.SubscriptionDetails.Metadata)
	}
	o.buyer.addShipping(in.CustomerShipping)
	if in.Lines != nil {
		o.lines = in.Lines.Data
	}
	switch in.BillingReason {
	case stripe.InvoiceBillingReasonSubscriptionCreate:
		o.eventName, o.note = stripeSubscriptionEvent(rules)
		return stripeConvert(w, ev, o, rules)
	case stripe.InvoiceBillingReasonSubscriptionCycle:
		if !rules.StripeRenewals {
			return stripeIgnore(w, "subscription renewal: the shop does not send renewals")
		}
		o.channel = mapping.ChannelRenewal
		return stripeConvert(w, ev, o, rules)
	default:
		// subscription_update (plan changes; also the first invoice on
		// versions before 2018-10-31), manual invoices and the rest are
		// not purchases we count.
		return stripeIgnore(w, fmt.Sprintf("invoice billing_reason %q is not converted", stripeClip(string(in.BillingReason))))
	}
}

// stripeSubscriptionEvent is the event name of a first subscription payment.
func stripeSubscriptionEvent(rules mapping.ShopRules) (name, note string) {
	switch e := strings.TrimSpace(rules.StripeSubscriptionEvent); {
	case e == "" || strings.EqualFold(e, mapping.EventPurchase):
		return mapping.EventPurchase, ""
	case strings.EqualFold(e, mapping.EventSubscribe):
		return mapping.EventSubscribe, ""
	default:
		return mapping.EventPurchase, fmt.Sprintf("unknown stripe_subscription_event %q: sent as Purchase", stripeClip(e))
	}
}

type stripeCharge struct {
	ID             string   `json:"id"`
	Currency       string   `json:"currency"`
	AmountRefunded int64    `json:"amount_refunded"`
	Refunded       bool     `json:"refunded"`
	PaymentIntent  stripeID `json:"payment_intent"`
	Invoice        stripeID `json:"invoice"`
	BillingDetails *struct {
		Email   string          `json:"email"`
		Name    string          `json:"name"`
		Phone   string          `json:"phone"`
		Address *stripe.Address `json:"address"`
	} `json:"billing_details"`
	// Refunds is embedded (newest first) only before 2022-11-15.
	Refunds *struct {
		Data []struct {
			ID     string `json:"id"`
			Reason string `json:"reason"`
		} `json:"data"`
	} `json:"refunds"`
}

// stripeParseChargeRefunded maps charge.refunded. amount_refunded is the
// charge's CUMULATIVE refunded total, not this refund's amount: a second
// partial refund of 10.00 after one of 15.00 reports 25.00. Refund.Amount
// carries that total, so the store must keep the latest (largest) amount per
// RefundID's charge rather than add them up. Without an embedded refund list
// (2022-11-15 on) the RefundID is "<charge id>:<amount_refunded>", which is
// stable across retries of the same event and distinct per refund.
func stripeParseChargeRefunded(w *mapping.Webhook, ev stripeEvent) error {
	var ch stripeCharge
	if err := ev.object(&ch); err != nil {
		return err
	}
	if ch.ID == "" {
		return fmt.Errorf("%w: charge without id", ErrMalformed)
	}
	currency, err := stripeCurrency(ch.Currency)
	if err != nil {
		return err
	}
	if ch.AmountRefunded < 0 {
		return fmt.Errorf("%w: charge %s: negative amount_refunded", ErrMalformed, ch.ID)
	}
	r := mapping.Refund{
		RefundID: fmt.Sprintf("%s:%d", ch.ID, ch.AmountRefunded),
		OrderID:  stripeFirst(string(ch.PaymentIntent), ch.ID),
		Amount:   stripeAmount(ch.AmountRefunded, currency),
		Currency: currency,
		Full:     ch.Refunded,
		Time:     ev.created,
		// amount_refunded is the charge's running total.
		Cumulative: true,
	}
	if ch.Refunds != nil && len(ch.Refunds.Data) > 0 && ch.Refunds.Data[0].ID != "" {
		r.RefundID, r.Reason = ch.Refunds.Data[0].ID, ch.Refunds.Data[0].Reason
	}
	w.OrderID = r.OrderID
	if r.OrderID != ch.ID {
		w.OrderAliases = stripeIDs(stripeID(ch.ID), ch.Invoice)
	} else {
		w.OrderAliases = stripeIDs(ch.Invoice)
	}
	w.Outcome, w.Refunds = mapping.OutcomeRefund, []mapping.Refund{r}
	return nil
}

type stripeRefund struct {
	ID            string              `json:"id"`
	Amount        int64               `json:"amount"`
	Currency      string              `json:"currency"`
	Charge        stripeID            `json:"charge"`
	PaymentIntent stripeID            `json:"payment_intent"`
	Status        stripe.RefundStatus `json:"status"`
	Reason        string              `json:"reason"`
}

// stripeParseRefundCreated maps refund.created. Unlike charge.refunded, the
// amount is this refund's own, and the Refund object does not say whether
// the charge is now fully refunded, so Full stays false. Merchants should
// send one of the two events, not both: their RefundIDs differ.
func stripeParseRefundCreated(w *mapping.Webhook, ev stripeEvent) error {
	var re stripeRefund
	if err := ev.object(&re); err != nil {
		return err
	}
	if re.ID == "" {
		return fmt.Errorf("%w: refund without id", ErrMalformed)
	}
	w.OrderID = stripeFirst(string(re.PaymentIntent), string(re.Charge))
	if re.PaymentIntent != "" {
		w.OrderAliases = stripeIDs(re.Charge)
	}
	switch re.Status {
	case stripe.RefundStatusFailed, stripe.RefundStatusCanceled:
		return stripeIgnore(w, fmt.Sprintf("refund %s", re.Status))
	}
	if w.OrderID == "" {
		return stripeIgnore(w, "refund names no payment")
	}
	currency, err := stripeCurrency(re.Currency)
	if err != nil {
		return err
	}
	if re.Amount < 0 {
		return fmt.Errorf("%w: refund %s: negative amount", ErrMalformed, re.ID)
	}
	w.Outcome = mapping.OutcomeRefund
	w.Refunds = []mapping.Refund{{
		RefundID: re.ID,
		OrderID:  w.OrderID,
		Amount:   stripeAmount(re.Amount, currency),
		Currency: currency,
		Time:     ev.created,
		Reason:   re.Reason,
	}}
	return nil
}

// stripeOrder is what a Checkout Session, PaymentIntent or Invoice says
// about a purchase, before the shop's rules are applied.
type stripeOrder struct {
	id, orderName  string
	aliases        []string
	amount         int64 // minor units
	taxAndShipping int64 // minor units, subtracted under ValueSubtotal
	currency       string
	free           bool // no_payment_required
	metadata       []map[string]string
	buyer          stripeBuyer
	lines          []stripeInvoiceLine
	eventName      string
	note           string
	channel        mapping.Channel // where the object says it was bought
	pageURL        string          // the session's success page, when known
}

// stripeBuyer holds the buyer's details as one object gave them.
type stripeBuyer struct {
	email, name, phone string
	address            *stripe.Address
	customerID         string
	reference          string // client_reference_id
}

// addShipping fills what the billing details left empty from a shipping
// block.
func (b *stripeBuyer) addShipping(s *stripeShipping) {
	if s == nil {
		return
	}
	b.name = stripeFirst(b.name, s.Name)
	b.phone = stripeFirst(b.phone, s.Phone)
	if b.address == nil || *b.address == (stripe.Address{}) {
		b.address = s.Address
	}
}

// Metadata keys merchants use for the ids a conversion needs. Click ids and
// browser ids are recognized by mapping.CanonicalClickKey plus the shop's
// AttributeNames.
var (
	stripeEventIDKeys   = []string{"event_id", "pixel_event_id"}
	stripeIPKeys        = []string{"client_ip", "ip", "client_ip_address"}
	stripeUserAgentKeys = []string{"user_agent", "client_user_agent"}
	stripeLandingKeys   = []string{"landing_url", "landing_page", "landing_site"}
	stripePageKeys      = []string{"page_url", "event_source_url", "source_url"}
	stripeEmailKeys     = []string{"email", "customer_email"}
)

// stripeConvert applies the shop's rules to o and records the conversion
// (or why there is none) on w.
func stripeConvert(w *mapping.Webhook, ev stripeEvent, o stripeOrder, rules mapping.ShopRules) error {
	currency, err := stripeCurrency(o.currency)
	if err != nil {
		return err
	}
	if o.amount < 0 {
		return fmt.Errorf("%w: order %s: negative amount", ErrMalformed, o.id)
	}
	amount := o.amount
	if rules.ValueRule == mapping.ValueSubtotal {
		amount = max(0, amount-o.taxAndShipping)
	}
	value := stripeAmount(amount, currency)
	if value.IsZero() && !rules.SendZeroValue {
		what := "zero-value order"
		if o.free {
			what = "free order (no_payment_required)"
		}
		return stripeIgnore(w, what+": the shop does not send zero-value conversions")
	}
	meta := stripeMergeMetadata(o.metadata)
	c := &mapping.Conversion{
		EventID:   stripeFirst(stripeLookup(meta, stripeEventIDKeys), rules.EventID(o.id)),
		EventName: o.eventName,
		EventTime: ev.created,
		OrderID:   o.id,
		OrderName: o.orderName,
		Value:     value,
		Currency:  currency,
		Items:     stripeInvoiceItems(o.lines, currency),
		UserAgent: stripeLookup(meta, stripeUserAgentKeys),
		Test:      !ev.Livemode,
	}
	if strings.HasPrefix(o.id, "cs_") {
		// The Checkout Session id is on the success page's URL
		// ({CHECKOUT_SESSION_ID}), so the browser's beacon can name it.
		c.OrderRef = o.id
	}
	notes := []string{o.note}
	notes = append(notes, stripeAttribution(c, meta, rules)...)
	stripeWhere(c, o, meta)
	notes = append(notes, c.ClickIDs.DropMalformedBrowserIDs()...)
	var userNote string
	c.User, userNote = o.buyer.user(meta)
	notes = append(notes, userNote)
	if c.User.Email == "" && c.User.Phone == "" {
		notes = append(notes, "no email or phone: low match quality")
	}
	w.OrderID, w.OrderAliases = o.id, o.aliases
	w.Outcome, w.Conversion = mapping.OutcomeConversion, c
	w.Reason = stripeJoin(notes)
	return nil
}

// stripeAttribution fills click ids, browser ids, IP and landing URL from
// metadata, and returns notes on values it had to leave out.
func stripeAttribution(c *mapping.Conversion, meta map[string]string, rules mapping.ShopRules) []string {
	var notes []string
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	// Sorted, so that when two spellings disagree (fbp and _fbp) the same
	// one wins every time.
	slices.Sort(keys)
	for _, k := range keys {
		c.ClickIDs.SetNamed(k, meta[k], rules.AttributeNames)
	}
	if landing := stripeLookup(meta, stripeLandingKeys); landing != "" {
		c.ClickIDs.AddLandingURL(landing, rules.AttributeNames)
		if u, err := url.Parse(landing); err == nil && u.IsAbs() {
			c.SourceURL = landing
		}
	}
	if ip := stripeLookup(meta, stripeIPKeys); ip != "" {
		if addr, err := netip.ParseAddr(ip); err == nil {
			c.ClientIP = addr.Unmap().String()
		} else {
			notes = append(notes, "client IP in metadata is not an IP address: left out")
		}
	}
	return notes
}

// stripeWhere sets where the purchase happened and the page it happened
// on: the page_url a merchant put in metadata, else the landing URL, else
// the Checkout session's success page. A purchase is on a website when the
// object says so (Checkout) or when metadata carries the browser's page or
// user agent; a renewal stays a renewal.
func stripeWhere(c *mapping.Conversion, o stripeOrder, meta map[string]string) {
	if page := stripeLookup(meta, stripePageKeys); page != "" {
		if u, err := url.Parse(page); err == nil && u.IsAbs() && (u.Scheme == "https" || u.Scheme == "http") {
			c.SourceURL = page
		}
	}
	if c.SourceURL == "" {
		c.SourceURL = o.pageURL
	}
	c.Channel = o.channel
	if c.Channel == mapping.ChannelUnknown && (c.UserAgent != "" || stripeLookup(meta, stripePageKeys) != "") {
		c.Channel = mapping.ChannelWebsite
	}
}

// stripePageOf is a success_url as a page URL: absolute http(s), with its
// query and fragment dropped (they hold Stripe's {CHECKOUT_SESSION_ID}
// template and the merchant's own parameters).
func stripePageOf(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || !u.IsAbs() || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// user builds the buyer's identifiers; the note says what was left out.
func (b stripeBuyer) user(meta map[string]string) (mapping.User, string) {
	u := mapping.User{
		Email:      strings.TrimSpace(stripeFirst(b.email, stripeLookup(meta, stripeEmailKeys))),
		ExternalID: strings.TrimSpace(stripeFirst(b.customerID, b.reference)),
	}
	u.FirstName, u.LastName = stripeSplitName(b.name)
	if a := b.address; a != nil {
		u.Street = strings.TrimSpace(strings.TrimSpace(a.Line1) + " " + strings.TrimSpace(a.Line2))
		u.City = strings.TrimSpace(a.City)
		u.State = strings.TrimSpace(a.State)
		u.Zip = strings.TrimSpace(a.PostalCode)
		u.Country = strings.ToUpper(strings.TrimSpace(a.Country))
	}
	phone, err := mapping.NormalizePhone(b.phone, u.Country)
	if err != nil {
		u.PhoneUnparsed = strings.TrimSpace(b.phone)
		return u, "phone number could not be parsed: left out"
	}
	u.Phone = phone
	return u, ""
}

// stripeSplitName splits a full name on its last space.
func stripeSplitName(name string) (first, last string) {
	name = strings.Join(strings.Fields(name), " ")
	i := strings.LastIndexByte(name, ' ')
	if i < 0 {
		return name, ""
	}
	return name[:i], name[i+1:]
}

// stripeInvoiceItems maps the invoice lines the event embeds (the first page
// of them). Checkout Sessions carry no lines in their events; StripeEnricher
// fetches them.
func stripeInvoiceItems(lines []stripeInvoiceLine, currency string) []mapping.Item {
	var items []mapping.Item
	for _, l := range lines {
		it := mapping.Item{Title: strings.TrimSpace(l.Description), Quantity: int(max(l.Quantity, 1))}
		var unit *decimal.Decimal
		switch {
		case l.Price != nil:
			it.ID, it.VariantID = string(l.Price.Product), l.Price.ID
			if l.Price.UnitAmount != nil {
				u := stripeAmount(*l.Price.UnitAmount, currency)
				unit = &u
			}
		case l.Pricing != nil && l.Pricing.PriceDetails != nil:
			it.ID, it.VariantID = l.Pricing.PriceDetails.Product, string(l.Pricing.PriceDetails.Price)
			if d, err := decimal.NewFromString(l.Pricing.UnitAmountDecimal); err == nil {
				u := d.Shift(-stripeExponent(currency))
				unit = &u
			}
		}
		if it.ID == "" {
			continue // a line without a product (a one-off amount) names nothing in a catalog
		}
		if unit == nil {
			u := stripeAmount(l.Amount, currency).DivRound(decimal.NewFromInt(int64(it.Quantity)), stripeExponent(currency))
			unit = &u
		}
		it.Price = *unit
		items = append(items, it)
	}
	return items
}

// Currency exponents, from https://docs.stripe.com/currencies (checked
// against the page's zero-decimal and three-decimal lists). Everything else
// is two-decimal in Stripe's API, including the special cases there: ISK
// (whole krónur only since 2023, but still sent as two-decimal, 500 = 5 ISK),
// HUF and TWD (two-decimal for charges, zero-decimal only for payouts). UGX is
// zero-decimal in the API (its divisible-by-100 rule is about payouts).
// Stripe requires three-decimal amounts to end in 0 (12340 kwd = 12.340).
var (
	stripeZeroDecimal = map[string]bool{
		"BIF": true, "CLP": true, "DJF": true, "GNF": true, "JPY": true, "KMF": true,
		"KRW": true, "MGA": true, "PYG": true, "RWF": true, "UGX": true, "VND": true,
		"VUV": true, "XAF": true, "XOF": true, "XPF": true,
	}
	stripeThreeDecimal = map[string]bool{"BHD": true, "JOD": true, "KWD": true, "OMR": true, "TND": true}
)

// stripeExponent is the number of decimals of a currency's minor unit in
// Stripe's API (code upper case).
func stripeExponent(code string) int32 {
	switch {
	case stripeZeroDecimal[code]:
		return 0
	case stripeThreeDecimal[code]:
		return 3
	default:
		return 2
	}
}

// stripeAmount converts an amount in minor units to the currency's major
// unit (8532 usd = 85.32, 12800 jpy = 12800, 12340 kwd = 12.34).
func stripeAmount(minor int64, code string) decimal.Decimal {
	return decimal.New(minor, -stripeExponent(code))
}

// stripeCurrency validates Stripe's lower-case code and returns it upper case.
func stripeCurrency(s string) (string, error) {
	code, err := mapping.NormalizeCurrency(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return code, nil
}

func stripeIgnore(w *mapping.Webhook, reason string) error {
	w.Outcome, w.Reason = mapping.OutcomeIgnored, reason
	return nil
}

// stripeMergeMetadata merges metadata maps; the first to name a key wins.
func stripeMergeMetadata(ms []map[string]string) map[string]string {
	out := make(map[string]string)
	for _, m := range ms {
		for k, v := range m {
			if _, ok := out[k]; !ok && strings.TrimSpace(v) != "" {
				out[k] = strings.TrimSpace(v)
			}
		}
	}
	return out
}

// stripeLookup returns the value of the first of keys present in meta.
func stripeLookup(meta map[string]string, keys []string) string {
	for _, k := range keys {
		if v := meta[k]; v != "" {
			return v
		}
	}
	return ""
}

// stripeIDs returns the non-empty ids, without repeats.
func stripeIDs(ids ...stripeID) []string {
	var out []string
	for _, id := range ids {
		if s := string(id); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func stripeFirst(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

func stripeJoin(notes []string) string {
	return strings.Join(slices.DeleteFunc(notes, func(s string) bool { return s == "" }), "; ")
}

// stripeClip bounds a payload value quoted in a reason or error.
func stripeClip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// StripeEnricher adds what a Stripe event leaves out (a Checkout Session's
// line items) by calling Stripe's API with a key the shop stored, typically
// a restricted key (rk_…) with read access to Checkout Sessions. It is slow
// and can fail, so the delivery worker runs it, never the webhook request.
type StripeEnricher struct {
	backends *stripe.Backends
	timeout  time.Duration
}

// stripeEnrichTimeout bounds one Enrich call, every page included.
const stripeEnrichTimeout = 10 * time.Second

// stripeMaxLineItems caps pagination; Checkout allows at most 100 lines.
const stripeMaxLineItems = 500

// NewStripeEnricher returns an enricher calling baseURL (Stripe's API when
// empty) through httpClient (a client with a timeout when nil).
func NewStripeEnricher(baseURL string, httpClient *http.Client) *StripeEnricher {
	if baseURL == "" {
		baseURL = stripe.APIURL
	}
	if httpClient == nil {
		// Follow no redirect: the request carries the API key.
		httpClient = &http.Client{Timeout: stripeEnrichTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("stripe: redirect not followed")
		}}
	}
	api := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(baseURL),
		HTTPClient:        httpClient,
		MaxNetworkRetries: stripe.Int64(0), // the delivery worker retries
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	return &StripeEnricher{backends: &stripe.Backends{API: api}, timeout: stripeEnrichTimeout}
}

// Enrich fills c.Items from the line items of the Checkout Session c.OrderID
// (cs_…): product id, price id, quantity and unit price before discounts.
// Any other conversion is returned as it is. On error c is returned
// unchanged, so the caller can still send it without items; the error never
// contains the key.
func (e *StripeEnricher) Enrich(ctx context.Context, apiKey string, c mapping.Conversion) (mapping.Conversion, error) {
	if !strings.HasPrefix(c.OrderID, "cs_") || len(c.Items) > 0 {
		return c, nil
	}
	if apiKey == "" {
		return c, errors.New("stripe enrich: no API key")
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	api := client.New(apiKey, e.backends)
	params := &stripe.CheckoutSessionListLineItemsParams{Session: stripe.String(c.OrderID)}
	params.Context = ctx
	// No expand of data.price.product: a restricted key may lack read
	// access to Products, and the line's description is the product name.
	params.Limit = stripe.Int64(100)
	var items []mapping.Item
	it := api.CheckoutSessions.ListLineItems(params)
	for it.Next() && len(items) < stripeMaxLineItems {
		if item, ok := stripeLineItem(it.LineItem(), c.Currency); ok {
			items = append(items, item)
		}
	}
	if err := it.Err(); err != nil {
		return c, stripeEnrichError(c.OrderID, err)
	}
	c.Items = items
	return c, nil
}

// stripeLineItem maps one Checkout line item.
func stripeLineItem(li *stripe.LineItem, currency string) (mapping.Item, bool) {
	if li == nil || li.Price == nil || li.Price.Product == nil || li.Price.Product.ID == "" {
		return mapping.Item{}, false
	}
	if currency == "" {
		currency = strings.ToUpper(string(li.Currency))
	}
	q := max(li.Quantity, 1)
	item := mapping.Item{
		ID:        li.Price.Product.ID,
		VariantID: li.Price.ID,
		Title:     strings.TrimSpace(li.Description),
		Quantity:  int(q),
		Price:     stripeAmount(li.Price.UnitAmount, currency),
	}
	if li.Price.UnitAmount == 0 && li.AmountSubtotal > 0 {
		// Tiered or custom-amount prices have no unit_amount.
		item.Price = stripeAmount(li.AmountSubtotal, currency).DivRound(decimal.NewFromInt(q), stripeExponent(currency))
	}
	return item, true
}

// stripeEnrichError describes a failed API call by status and Stripe's error
// code only: Stripe's message can echo a masked key.
func stripeEnrichError(session string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		return fmt.Errorf("stripe line items of %s: status %d, %s %s", session, se.HTTPStatusCode, se.Type, se.Code)
	}
	return fmt.Errorf("stripe line items of %s: %w", session, err)
}
