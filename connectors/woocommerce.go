package connectors

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
)

// WooCommerce verifies and maps WooCommerce webhooks (REST API v3 order
// payloads, as sent by WC_Webhook::deliver()).
//
// WooCommerce never retries a delivery and disables a webhook after a run of
// non-2xx answers, so nothing here returns an error for a state a retry could
// not change, except ErrMalformed, which the caller answers 200.
type WooCommerce struct{}

// NewWooCommerce returns the WooCommerce connector.
func NewWooCommerce() *WooCommerce { return &WooCommerce{} }

var (
	_ Connector = (*WooCommerce)(nil)
	_ Pinger    = (*WooCommerce)(nil)
)

// Headers WC_Webhook::deliver() adds to every delivery.
const (
	wooHeaderSignature  = "X-WC-Webhook-Signature"
	wooHeaderTopic      = "X-WC-Webhook-Topic"
	wooHeaderResource   = "X-WC-Webhook-Resource"
	wooHeaderEvent      = "X-WC-Webhook-Event"
	wooHeaderDeliveryID = "X-WC-Webhook-Delivery-ID"
)

// Order Attribution meta keys (WooCommerce 8.5+) and the WooPayments mode key.
const (
	wooMetaSessionEntry = "_wc_order_attribution_session_entry"
	wooMetaSessionStart = "_wc_order_attribution_session_start_time"
	wooMetaUserAgent    = "_wc_order_attribution_user_agent"
	wooMetaPaymentsMode = "_wcpay_mode"
)

// Source reports mapping.SourceWooCommerce.
func (w *WooCommerce) Source() mapping.Source { return mapping.SourceWooCommerce }

// IsPing reports whether a request is the ping WC_Webhook::deliver_ping()
// sends when a webhook is saved: a form body "webhook_id=<id>" with no
// X-WC-Webhook-* headers. Its content type is whatever WordPress' HTTP layer
// and the woocommerce_webhook_http_args filter made of it, so it is not
// checked. WooCommerce wants exactly 200 for it.
func (w *WooCommerce) IsPing(h http.Header, body []byte) bool {
	if len(h.Values(wooHeaderSignature)) > 0 {
		return false
	}
	const prefix = "webhook_id="
	if !bytes.HasPrefix(body, []byte(prefix)) {
		return false
	}
	digits := body[len(prefix):]
	if len(digits) == 0 || len(digits) > 20 {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Verify checks X-WC-Webhook-Signature, the standard base64 HMAC-SHA256 of
// the raw body. WC_Webhook::generate_signature() keys the HMAC with
// wp_specialchars_decode(secret, ENT_QUOTES), so the secret is decoded the
// same way first. WooCommerce stores the secret through sanitize_text_field,
// which trims it, so surrounding whitespace in the pasted copy is dropped.
//
// The algorithm is filterable in WooCommerce (woocommerce_webhook_hash_algorithm);
// only the default SHA-256 is accepted.
func (w *WooCommerce) Verify(h http.Header, body []byte, secret string) error {
	sig := strings.TrimSpace(h.Get(wooHeaderSignature))
	if sig == "" {
		return fmt.Errorf("%w: no %s header", ErrNotSigned, wooHeaderSignature)
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not a base64 SHA-256 digest", ErrNoValidSignature, wooHeaderSignature)
	}
	key := wooSpecialcharsDecode(strings.TrimSpace(secret))
	if key == "" {
		return fmt.Errorf("%w: no signing secret configured", ErrNoValidSignature)
	}
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), got) {
		return ErrNoValidSignature
	}
	return nil
}

// wooSpecialcharsDecode does what WordPress' wp_specialchars_decode($s,
// ENT_QUOTES) does, and nothing more: it decodes &quot; &lt; &gt; &amp;, the
// decimal entities for ' " < > & (&#39; &#34; &#60; &#62; &#38;, with any
// number of leading zeros) and the hex entities for ' " & (&#x27; &#x22;
// &#x26;, x in either case, leading zeros allowed). Named entities are case
// sensitive and others (&apos;, &nbsp;, &#x3c;) stay as they are. WordPress
// normalizes the numeric forms with preg_replace and then translates with
// strtr in one left-to-right pass, so decoded text is never decoded again
// ("&amp;lt;" becomes "&lt;").
func wooSpecialcharsDecode(s string) string {
	if strings.IndexByte(s, '&') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if s[i] == '&' {
			if c, n := wooEntity(s[i:]); n > 0 {
				b.WriteByte(c)
				i += n
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// wooEntity decodes the entity s starts with, returning the character and
// the entity's length, or 0, 0.
func wooEntity(s string) (byte, int) {
	for _, e := range [...]struct {
		name string
		c    byte
	}{{"&quot;", '"'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}} {
		if strings.HasPrefix(s, e.name) {
			return e.c, len(e.name)
		}
	}
	if len(s) < 4 || s[1] != '#' {
		return 0, 0
	}
	i, hex := 2, false
	if s[i] == 'x' || s[i] == 'X' {
		hex = true
		i++
	}
	for i < len(s) && s[i] == '0' {
		i++
	}
	j := i
	// The hex codes WordPress decodes (27, 22, 26) are written with decimal
	// digits only, so one digit scan serves both forms.
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j >= len(s) || s[j] != ';' {
		return 0, 0
	}
	code := s[i:j]
	var c byte
	if hex {
		switch code {
		case "27":
			c = '\''
		case "22":
			c = '"'
		case "26":
			c = '&'
		}
	} else {
		switch code {
		case "39":
			c = '\''
		case "34":
			c = '"'
		case "60":
			c = '<'
		case "62":
			c = '>'
		case "38":
			c = '&'
		}
	}
	if c == 0 {
		return 0, 0
	}
	return c, j + 1
}

// Parse maps a verified delivery. order.created and order.updated map by the
// order's status; order.deleted and order.restored are recorded as ignored;
// other topics are ignored as not used. On error the returned Webhook still
// carries Source, Topic and DeliveryID, and the error wraps ErrMalformed.
func (w *WooCommerce) Parse(h http.Header, body []byte, rules mapping.ShopRules) (mapping.Webhook, error) {
	wh := mapping.Webhook{
		Source:     mapping.SourceWooCommerce,
		Topic:      wooTopic(h),
		DeliveryID: strings.TrimSpace(h.Get(wooHeaderDeliveryID)),
	}
	switch wh.Topic {
	case "order.created", "order.updated":
		return wooParseOrder(wh, body, rules)
	case "order.deleted", "order.restored":
		// order.deleted carries only {"id": N}; order.restored carries the
		// full order, but the untrashed order's state arrives again with
		// the next order.updated, so only the id is read here.
		var ref struct {
			ID wooID `json:"id"`
		}
		if err := json.Unmarshal(body, &ref); err != nil {
			return wh, fmt.Errorf("%w: woocommerce %s: %v", ErrMalformed, wh.Topic, err)
		}
		if ref.ID.zero() {
			return wh, fmt.Errorf("%w: woocommerce %s: no order id", ErrMalformed, wh.Topic)
		}
		wh.OrderID = string(ref.ID)
		wh.Outcome = mapping.OutcomeIgnored
		if wh.Topic == "order.deleted" {
			wh.Reason = "order moved to the trash (order.deleted)"
		} else {
			wh.Reason = "order restored from the trash (order.restored)"
		}
		return wh, nil
	case "":
		wh.Outcome = mapping.OutcomeIgnored
		wh.Reason = "no " + wooHeaderTopic + " header"
		return wh, nil
	default:
		wh.Outcome = mapping.OutcomeIgnored
		wh.Reason = fmt.Sprintf("topic %s is not used", wh.Topic)
		return wh, nil
	}
}

// wooTopic reads the topic header, falling back to resource.event.
func wooTopic(h http.Header) string {
	t := strings.ToLower(strings.TrimSpace(h.Get(wooHeaderTopic)))
	if t != "" {
		return t
	}
	r := strings.ToLower(strings.TrimSpace(h.Get(wooHeaderResource)))
	e := strings.ToLower(strings.TrimSpace(h.Get(wooHeaderEvent)))
	if r == "" || e == "" {
		return ""
	}
	return r + "." + e
}

// wooParseOrder maps an order.created or order.updated body.
func wooParseOrder(wh mapping.Webhook, body []byte, rules mapping.ShopRules) (mapping.Webhook, error) {
	var o wooOrder
	if err := json.Unmarshal(body, &o); err != nil {
		return wh, fmt.Errorf("%w: woocommerce order: %v", ErrMalformed, err)
	}
	if o.ID.zero() {
		return wh, fmt.Errorf("%w: woocommerce order has no id", ErrMalformed)
	}
	attr := o.attribution()
	wh.OrderID = string(o.ID)
	wh.OccurredAt = o.DateModified.t
	wh.Test = attr.test
	status := wooStatus(o.Status)

	if status == "refunded" {
		currency, err := o.currency()
		if err != nil {
			return wh, err
		}
		refunds, err := o.refunds(currency, true)
		if err != nil {
			return wh, err
		}
		wh.Outcome = mapping.OutcomeRefund
		wh.Reason = "order fully refunded (status refunded)"
		wh.Refunds = refunds
		return wh, nil
	}

	// Partial refunds keep the order's status and only add to refunds[];
	// they are reported with whatever this delivery amounts to, so that a
	// refund on a converted order is recorded.
	if len(o.Refunds) > 0 {
		currency, err := o.currency()
		if err != nil {
			return wh, err
		}
		if wh.Refunds, err = o.refunds(currency, false); err != nil {
			return wh, err
		}
	}

	at, reason := wooDecide(status, &o, rules)
	if reason != "" {
		wh.Outcome = mapping.OutcomeIgnored
		wh.Reason = reason
		return wh, nil
	}
	conv, notes, err := o.conversion(at, attr, rules)
	if err != nil {
		return wh, err
	}
	if conv == nil {
		wh.Outcome = mapping.OutcomeIgnored
		wh.Reason = notes
		return wh, nil
	}
	conv.Test = wh.Test
	wh.Outcome = mapping.OutcomeConversion
	wh.Conversion = conv
	wh.Reason = notes
	return wh, nil
}

// wooStatus normalizes an order status: lower case, without the internal
// "wc-" prefix that merchants sometimes copy from the database.
func wooStatus(s string) string {
	return strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "wc-")
}

// wooDecide applies the shop's trigger to an order's status (see stores.md
// §3.6). It returns the conversion time, or the reason the order does not
// convert.
func wooDecide(status string, o *wooOrder, rules mapping.ShopRules) (time.Time, string) {
	switch status {
	case "":
		return time.Time{}, "order has no status"
	case "cancelled":
		return time.Time{}, "status cancelled: order was cancelled"
	case "failed":
		return time.Time{}, "status failed: payment failed or was declined"
	case "trash":
		return time.Time{}, "status trash: order is in the trash"
	case "checkout-draft", "draft", "auto-draft", "new":
		return time.Time{}, fmt.Sprintf("status %s: checkout not finished", status)
	}

	if rules.Trigger == mapping.TriggerFulfilled {
		if status != "completed" {
			return time.Time{}, fmt.Sprintf("status %s: the shop converts on completed (trigger fulfilled)", status)
		}
		return wooFirst(o.DateCompleted.t, o.DateModified.t, o.DateCreated.t), ""
	}

	// Trigger paid. WooCommerce's own paid statuses are processing and
	// completed (wc_get_is_paid_statuses). A cash-on-delivery order
	// (payment_method "cod") also reaches processing and gets date_paid
	// although no money has moved yet; WooCommerce counts it as paid and so
	// do we.
	switch status {
	case "processing":
		// WC_Order::maybe_set_date_paid sets date_paid when the order
		// reaches its payment-complete status. An order that does not need
		// processing (virtual and downloadable) completes on payment, so a
		// processing one without date_paid was moved there by hand and is
		// not known to be paid.
		if o.DatePaid.t.IsZero() {
			return time.Time{}, "status processing without a payment date (date_paid_gmt)"
		}
		return o.DatePaid.t, ""
	case "completed":
		// maybe_set_date_paid also sets date_paid on any order that reaches
		// completed without one, so it is normally present; an imported
		// order without it is still complete, and converts at completion.
		return wooFirst(o.DatePaid.t, o.DateCompleted.t, o.DateModified.t, o.DateCreated.t), ""
	case "ready-for-pickup":
		// Local pickup (WooCommerce 11.3+): payment may happen at pickup.
		if o.DatePaid.t.IsZero() {
			return time.Time{}, "status ready-for-pickup without a payment date: payment expected at pickup"
		}
		return o.DatePaid.t, ""
	}
	for _, p := range rules.PaidStatuses {
		if wooStatus(p) == status {
			return wooFirst(o.DatePaid.t, o.DateModified.t, o.DateCreated.t), ""
		}
	}
	switch status {
	case "pending":
		return time.Time{}, "status pending: awaiting payment"
	case "on-hold":
		return time.Time{}, "status on-hold: awaiting payment confirmation"
	}
	return time.Time{}, fmt.Sprintf("status %s is not a paid status (add it to the shop's paid statuses if it means paid)", status)
}

// wooFirst returns the first non-zero time.
func wooFirst(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// wooOrder is the part of a REST v3 order payload Postback reads
// (WC_REST_Orders_V2_Controller::get_formatted_item_data).
// wooChannel reads the order's created_via: "checkout" (classic) and
// "store-api" (block checkout) are the storefront, "subscription" is a
// renewal order made by WooCommerce Subscriptions; "admin", "rest-api" and
// the rest say nothing we can pass on.
func wooChannel(createdVia string) mapping.Channel {
	switch strings.TrimSpace(createdVia) {
	case "checkout", "store-api":
		return mapping.ChannelWebsite
	case "subscription":
		return mapping.ChannelRenewal
	}
	return mapping.ChannelUnknown
}

type wooOrder struct {
	ID            wooID              `json:"id"`
	Status        string             `json:"status"`
	Currency      string             `json:"currency"`
	Number        wooText            `json:"number"`
	OrderKey      string             `json:"order_key"`
	Total         wooDecimal         `json:"total"`
	TotalTax      wooDecimal         `json:"total_tax"`
	ShippingTotal wooDecimal         `json:"shipping_total"`
	CustomerID    wooID              `json:"customer_id"`
	Billing       wooAddress         `json:"billing"`
	Shipping      wooAddress         `json:"shipping"`
	CustomerIP    string             `json:"customer_ip_address"`
	UserAgent     string             `json:"customer_user_agent"`
	CreatedVia    string             `json:"created_via"`
	DateCreated   wooTime            `json:"date_created_gmt"`
	DateModified  wooTime            `json:"date_modified_gmt"`
	DatePaid      wooTime            `json:"date_paid_gmt"`
	DateCompleted wooTime            `json:"date_completed_gmt"`
	MetaData      wooList[wooMeta]   `json:"meta_data"`
	LineItems     wooList[wooLine]   `json:"line_items"`
	Refunds       wooList[wooRefund] `json:"refunds"`
}

type wooAddress struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Address1  string `json:"address_1"`
	City      string `json:"city"`
	State     string `json:"state"`
	Postcode  string `json:"postcode"`
	Country   string `json:"country"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
}

// wooMeta is one meta_data entry. Values are whatever the plugin stored:
// strings mostly, but also numbers, booleans, objects and arrays.
type wooMeta struct {
	Key   wooText         `json:"key"`
	Value json.RawMessage `json:"value"`
}

// text returns a string or number value as text; other kinds report false.
func (m wooMeta) text() (string, bool) {
	v := bytes.TrimSpace(m.Value)
	if len(v) == 0 {
		return "", false
	}
	switch c := v[0]; {
	case c == '"':
		s, err := wooUnquote(v)
		if err != nil {
			return "", false
		}
		return strings.TrimSpace(s), true
	case c == '-' || c >= '0' && c <= '9':
		return string(v), true
	}
	return "", false
}

type wooLine struct {
	Name        wooText    `json:"name"`
	ProductID   wooID      `json:"product_id"`
	VariationID wooID      `json:"variation_id"`
	Quantity    wooDecimal `json:"quantity"`
	SKU         wooText    `json:"sku"`
	// Price is total / quantity, a JSON number computed by PHP (after
	// discounts, before tax), read digit for digit.
	Price wooDecimal `json:"price"`
}

type wooRefund struct {
	ID     wooID      `json:"id"`
	Reason wooText    `json:"reason"`
	Total  wooDecimal `json:"total"` // negative: "-6.00"
}

// wooAttr is what the order's meta_data says about the session and mode.
type wooAttr struct {
	entry     string // landing URL with its query
	start     time.Time
	userAgent string
	test      bool
}

// attribution reads WooCommerce's Order Attribution meta and the WooPayments
// mode. Sourcebuster writes "(none)" for values it did not capture.
func (o *wooOrder) attribution() wooAttr {
	var a wooAttr
	for _, m := range o.MetaData {
		v, ok := m.text()
		if !ok || v == "" || v == "(none)" {
			continue
		}
		switch string(m.Key) {
		case wooMetaSessionEntry:
			if a.entry == "" {
				a.entry = v
			}
		case wooMetaSessionStart:
			// Order Attribution runs sourcebuster with timezone_offset 0,
			// so the start time is UTC, as "2006-01-02 15:04:05".
			if t, err := time.Parse(time.DateTime, v); err == nil && a.start.IsZero() {
				a.start = t
			}
		case wooMetaUserAgent:
			if a.userAgent == "" {
				a.userAgent = v
			}
		case wooMetaPaymentsMode:
			// WooPayments records "test" or "prod" on every order it takes.
			a.test = a.test || v == "test"
		}
	}
	return a
}

// currency validates the order's currency.
func (o *wooOrder) currency() (string, error) {
	c, err := mapping.NormalizeCurrency(o.Currency)
	if err != nil {
		return "", fmt.Errorf("%w: woocommerce order: %w", ErrMalformed, err)
	}
	return c, nil
}

// refunds maps refunds[]. The payload gives no refund date, so the order's
// date_modified_gmt (when the refund was added, at the latest) stands in.
// With full set (status refunded) every refund is marked Full, and whatever
// part of the total no listed refund covers (all of it when refunds[] is
// empty) is added as one refund named after the order, so the amounts add
// up to the order total and nothing is counted twice.
func (o *wooOrder) refunds(currency string, full bool) ([]mapping.Refund, error) {
	var out []mapping.Refund
	sum := decimal.Zero
	for _, r := range o.Refunds {
		if r.ID.zero() {
			return nil, fmt.Errorf("%w: woocommerce refund without id", ErrMalformed)
		}
		amount := r.Total.d.Abs()
		if amount.IsZero() {
			continue
		}
		sum = sum.Add(amount)
		out = append(out, mapping.Refund{
			RefundID: string(r.ID),
			OrderID:  string(o.ID),
			Amount:   amount,
			Currency: currency,
			Full:     full,
			Time:     o.DateModified.t,
			Reason:   strings.TrimSpace(string(r.Reason)),
		})
	}
	if !full {
		return out, nil
	}
	if rest := o.Total.d.Sub(sum); rest.IsPositive() || len(out) == 0 {
		out = append(out, mapping.Refund{
			RefundID: string(o.ID) + "-full",
			OrderID:  string(o.ID),
			Amount:   decimal.Max(rest, decimal.Zero),
			Currency: currency,
			Full:     true,
			Time:     o.DateModified.t,
			Reason:   "order status refunded",
		})
	}
	return out, nil
}

// conversion builds the conversion for an order in the shop's trigger state.
// It returns a nil conversion and the reason when the value rules it out,
// and otherwise notes on anything left out.
func (o *wooOrder) conversion(at time.Time, attr wooAttr, rules mapping.ShopRules) (*mapping.Conversion, string, error) {
	currency, err := o.currency()
	if err != nil {
		return nil, "", err
	}
	if !o.Total.set {
		return nil, "", fmt.Errorf("%w: woocommerce order has no total", ErrMalformed)
	}
	if at.IsZero() {
		return nil, "", fmt.Errorf("%w: woocommerce order has no dates", ErrMalformed)
	}
	value := o.Total.d
	if rules.ValueRule == mapping.ValueSubtotal {
		value = value.Sub(o.TotalTax.d).Sub(o.ShippingTotal.d)
	}
	switch {
	case value.IsNegative():
		return nil, fmt.Sprintf("order value is negative (%s %s)", value, currency), nil
	case value.IsZero() && !rules.SendZeroValue:
		return nil, fmt.Sprintf("order value is zero (%s)", currency), nil
	}

	c := &mapping.Conversion{
		EventID:   rules.EventID(string(o.ID)),
		EventName: mapping.EventPurchase,
		EventTime: at.UTC(),
		OrderID:   string(o.ID),
		OrderName: strings.TrimSpace(string(o.Number)),
		Value:     value,
		Currency:  currency,
		Items:     o.items(),
		ClientIP:  strings.TrimSpace(o.CustomerIP),
		UserAgent: strings.TrimSpace(o.UserAgent),
		ClickTime: wooFirst(attr.start, o.DateCreated.t),
		// The order key (wc_order_…) is on the thank-you page's URL, so the
		// browser knows it and a stranger does not.
		OrderRef: strings.TrimSpace(o.OrderKey),
	}
	if c.UserAgent == "" {
		c.UserAgent = attr.userAgent
	}
	if strings.HasPrefix(attr.entry, "https://") || strings.HasPrefix(attr.entry, "http://") {
		c.SourceURL = attr.entry
	}
	c.Channel = wooChannel(o.CreatedVia)
	// The session's landing URL first (WooCommerce's own record), then meta
	// keys written by tracking plugins (_fbp, _fbc, gclid, shop-named keys).
	c.ClickIDs.AddLandingURL(attr.entry, rules.AttributeNames)
	for _, m := range o.MetaData {
		if v, ok := m.text(); ok {
			c.ClickIDs.SetNamed(string(m.Key), v, rules.AttributeNames)
		}
	}

	var notes []string
	c.User, notes = o.user()
	notes = append(notes, c.ClickIDs.DropMalformedBrowserIDs()...)
	return c, strings.Join(notes, "; "), nil
}

// items maps line_items.
func (o *wooOrder) items() []mapping.Item {
	if len(o.LineItems) == 0 {
		return nil
	}
	items := make([]mapping.Item, 0, len(o.LineItems))
	for _, l := range o.LineItems {
		it := mapping.Item{
			ID:       string(l.ProductID),
			SKU:      strings.TrimSpace(string(l.SKU)),
			Title:    strings.TrimSpace(string(l.Name)),
			Quantity: int(l.Quantity.d.Round(0).IntPart()),
			Price:    l.Price.d,
		}
		if l.ProductID.zero() {
			// The product was deleted; the SKU is the best catalog key left.
			it.ID = it.SKU
		}
		if !l.VariationID.zero() {
			it.VariantID = string(l.VariationID)
		}
		items = append(items, it)
	}
	return items
}

// user maps the billing details. Phones are typed freely at checkout,
// usually without the country code, so they are read against the billing
// country. It returns notes on what was left out, without the values.
func (o *wooOrder) user() (mapping.User, []string) {
	b := o.Billing
	u := mapping.User{
		Email:     strings.TrimSpace(b.Email),
		FirstName: strings.TrimSpace(b.FirstName),
		LastName:  strings.TrimSpace(b.LastName),
		Street:    strings.TrimSpace(b.Address1),
		City:      strings.TrimSpace(b.City),
		State:     strings.TrimSpace(b.State),
		Zip:       strings.TrimSpace(b.Postcode),
		Country:   strings.ToUpper(strings.TrimSpace(b.Country)),
	}
	if !o.CustomerID.zero() {
		u.ExternalID = string(o.CustomerID)
	}
	var notes []string
	phone, country := b.Phone, u.Country
	if strings.TrimSpace(phone) == "" {
		phone = o.Shipping.Phone
		if c := strings.ToUpper(strings.TrimSpace(o.Shipping.Country)); c != "" {
			country = c
		}
	}
	if p, err := mapping.NormalizePhone(phone, country); err != nil {
		u.PhoneUnparsed = strings.TrimSpace(phone)
		notes = append(notes, "phone number could not be parsed and was left out")
	} else {
		u.Phone = p
	}
	if u.Email == "" && u.Phone == "" {
		notes = append(notes, "no email or phone on the order: low match quality")
	}
	return u, notes
}

// wooID is an integer id, kept as its decimal text. PHP sends ints, but a
// plugin may send a numeric string; null and "" read as no id.
type wooID string

// UnmarshalJSON reads an integer or a numeric string.
func (id *wooID) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*id = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		s, err := wooUnquote(b)
		if err != nil {
			return err
		}
		b = []byte(strings.TrimSpace(s))
	}
	if len(b) > 20 {
		return errors.New("id is too long")
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return errors.New("id is not an unsigned integer")
		}
	}
	*id = wooID(b)
	return nil
}

// zero reports whether the id is absent or 0 (a guest's customer_id, a
// simple product's variation_id).
func (id wooID) zero() bool { return strings.Trim(string(id), "0") == "" }

// wooText is a string that a plugin may have sent as a number (order
// numbers, SKUs). null reads as "".
type wooText string

// UnmarshalJSON reads a string, a number (as its text) or null.
func (t *wooText) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		*t = ""
	case len(b) > 0 && b[0] == '"':
		s, err := wooUnquote(b)
		if err != nil {
			return err
		}
		*t = wooText(s)
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9'):
		*t = wooText(b)
	default:
		return errors.New("expected a string or a number")
	}
	return nil
}

// wooDecimal is an amount: WooCommerce writes totals as decimal strings
// ("84.87") and line prices as JSON numbers (48, 16.666666666666668). Both
// are read exactly, never through float64. null and "" read as unset.
type wooDecimal struct {
	d   decimal.Decimal
	set bool
}

// wooMaxExp bounds the exponent of an amount. Real amounts are far inside
// it; "1e999999999" would otherwise make later arithmetic allocate without
// bound.
const wooMaxExp = 30

// UnmarshalJSON reads a decimal string, a JSON number or null.
func (v *wooDecimal) UnmarshalJSON(b []byte) error {
	*v = wooDecimal{}
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		var err error
		if s, err = wooUnquote(b); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil
		}
	}
	if len(s) > 64 {
		return errors.New("amount is too long")
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return errors.New("amount is not a decimal number")
	}
	if e := d.Exponent(); e > wooMaxExp || e < -wooMaxExp {
		return errors.New("amount is out of range")
	}
	v.d, v.set = d, true
	return nil
}

// wooTime is a *_gmt date: UTC written without an offset
// ("2025-05-14T15:04:18"). RFC 3339 with an offset is read too. null and ""
// read as zero.
type wooTime struct{ t time.Time }

// UnmarshalJSON reads a *_gmt date string or null.
func (v *wooTime) UnmarshalJSON(b []byte) error {
	*v = wooTime{}
	if string(b) == "null" {
		return nil
	}
	if len(b) == 0 || b[0] != '"' {
		return errors.New("date is not a string")
	}
	s, err := wooUnquote(b)
	if err != nil {
		return err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	for _, layout := range [...]string{"2006-01-02T15:04:05", time.RFC3339Nano, time.DateTime} {
		if t, err := time.Parse(layout, s); err == nil {
			v.t = t.UTC()
			return nil
		}
	}
	return errors.New("date is not in WooCommerce's format")
}

// wooUnquote decodes a JSON string literal. Most values WooCommerce sends
// have no escapes and valid UTF-8, and are taken as they are; the rest go
// through encoding/json.
func wooUnquote(b []byte) (string, error) {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		inner := b[1 : len(b)-1]
		if bytes.IndexByte(inner, '\\') < 0 && bytes.IndexByte(inner, '"') < 0 && utf8.Valid(inner) {
			return string(inner), nil
		}
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return "", err
	}
	return s, nil
}

// wooList is a JSON list that PHP may also have written as an object: an
// array whose keys are not 0..n-1 (after array_filter, say) is encoded as
// {"3": …, "7": …}. Values are kept in document order; null reads as empty.
type wooList[T any] []T

// UnmarshalJSON reads an array, an object of values, or null.
func (l *wooList[T]) UnmarshalJSON(b []byte) error {
	*l = nil
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return json.Unmarshal(b, (*[]T)(l))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return err
	}
	for dec.More() {
		if _, err := dec.Token(); err != nil {
			return err
		}
		var v T
		if err := dec.Decode(&v); err != nil {
			return err
		}
		*l = append(*l, v)
	}
	return nil
}
