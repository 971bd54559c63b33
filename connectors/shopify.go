package connectors

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	// The encoding/json API on the json/v2 engine (the implementation
	// behind Go's own encoding/json under GOEXPERIMENT=jsonv2): v1's
	// semantics, case-insensitive field names included, at about twice
	// the speed on an order. FuzzShopifyDecodeAgrees checks it against
	// encoding/json.
	json "github.com/go-json-experiment/json/v1"
	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
)

// Shopify webhook headers, in Go's canonical form. Only the body is signed;
// none of these headers is covered by the signature.
const (
	shopifyHMACHeader      = "X-Shopify-Hmac-Sha256"
	shopifyTopicHeader     = "X-Shopify-Topic"
	shopifyEventIDHeader   = "X-Shopify-Event-Id"
	shopifyWebhookIDHeader = "X-Shopify-Webhook-Id"
	shopifyShopHeader      = "X-Shopify-Shop-Domain"
)

// shopifySigLen is the length of a base64 SHA-256 digest (44 characters).
const shopifySigLen = (sha256.Size + 2) / 3 * 4

// Shopify topics Postback reads. Every other topic is stored as ignored.
const (
	shopifyOrdersCreate             = "orders/create"
	shopifyOrdersUpdated            = "orders/updated"
	shopifyOrdersPaid               = "orders/paid"
	shopifyOrdersFulfilled          = "orders/fulfilled"
	shopifyOrdersPartiallyFulfilled = "orders/partially_fulfilled"
	shopifyOrdersEdited             = "orders/edited"
	shopifyOrdersCancelled          = "orders/cancelled"
	shopifyRefundsCreate            = "refunds/create"
)

// Notes put in Webhook.Reason for a conversion that was kept but degraded.
const (
	shopifyNotePhone       = "phone number could not be parsed"
	shopifyNoteNoContact   = "no email or phone: low match quality"
	shopifyNoteShopSide    = "presentment amounts missing: value reported in shop currency"
	shopifyReasonCancelled = "order cancelled"
	shopifyReasonZero      = "order value is zero"
	shopifyReasonEdit      = "orders/edited carries the edit, not the order; orders/updated follows with the new state"
	shopifyReasonNoRefund  = "refund returned no money (no successful refund transaction)"
)

// Shopify maps Shopify webhooks (store-admin or app subscriptions, payloads
// serialized as the REST Order and Refund resources) to Postback's types.
// It holds no state; one value serves every shop.
type Shopify struct{}

var _ Connector = (*Shopify)(nil)

// NewShopify returns the Shopify connector.
func NewShopify() *Shopify { return &Shopify{} }

// Source reports mapping.SourceShopify.
func (s *Shopify) Source() mapping.Source { return mapping.SourceShopify }

// Verify checks X-Shopify-Hmac-Sha256, the standard base64 HMAC-SHA256 of
// the exact raw body keyed with the secret's bytes as the merchant sees
// them (Shopify's 64-hex admin key is used as text, never hex-decoded). A
// missing header is ErrNotSigned; an empty secret, a header that does not
// decode to 32 bytes, or a digest that differs is ErrNoValidSignature.
//
// Secret rotation: after an app's client secret is rotated Shopify may keep
// signing with the old one for up to an hour. A caller that holds both
// calls Verify once per secret and accepts the delivery if either passes.
func (s *Shopify) Verify(h http.Header, body []byte, secret string) error {
	values := h.Values(shopifyHMACHeader)
	if len(values) == 0 {
		return ErrNotSigned
	}
	if secret == "" {
		// An empty key is one an attacker could sign with too.
		return ErrNoValidSignature
	}
	got := values[0]
	if len(got) != shopifySigLen {
		return ErrNoValidSignature
	}
	// Decode needs room for DecodedLen bytes (33 for 44 characters without
	// padding), more than a digest, or it panics.
	var sum [shopifySigLen / 4 * 3]byte
	// Strict: exactly one spelling of each digest is accepted, as Shopify's
	// own libraries compare the base64 text.
	n, err := base64.StdEncoding.Strict().Decode(sum[:], []byte(got))
	if err != nil || n != sha256.Size {
		return ErrNoValidSignature
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), sum[:n]) {
		return ErrNoValidSignature
	}
	return nil
}

// Parse maps a verified delivery. Order topics become a conversion when the
// order is in the shop's trigger state (stores.md §2.6) and are ignored with
// the reason otherwise; orders/cancelled is ignored; refunds/create becomes
// a refund; any other topic is ignored. A body that is not an order (or
// refund) Parse can read returns an error wrapping ErrMalformed.
func (s *Shopify) Parse(h http.Header, body []byte, rules mapping.ShopRules) (mapping.Webhook, error) {
	if err := shopifyCheckRules(rules); err != nil {
		return mapping.Webhook{}, err
	}
	topic := h.Get(shopifyTopicHeader)
	w := mapping.Webhook{
		Source:     mapping.SourceShopify,
		Topic:      topic,
		DeliveryID: h.Get(shopifyEventIDHeader),
	}
	if w.DeliveryID == "" {
		w.DeliveryID = h.Get(shopifyWebhookIDHeader)
	}
	switch topic {
	case shopifyOrdersCreate, shopifyOrdersUpdated, shopifyOrdersPaid,
		shopifyOrdersFulfilled, shopifyOrdersPartiallyFulfilled, shopifyOrdersCancelled:
		return shopifyParseOrder(w, h, body, rules)
	case shopifyOrdersEdited:
		return shopifyParseEdit(w, h, body, rules)
	case shopifyRefundsCreate:
		return shopifyParseRefund(w, body)
	case "":
		w.Outcome = mapping.OutcomeIgnored
		w.Reason = "no " + shopifyTopicHeader + " header"
		return w, nil
	default:
		w.Outcome = mapping.OutcomeIgnored
		w.Reason = fmt.Sprintf("topic %q is not used", topic)
		return w, nil
	}
}

// shopifyCheckRules rejects shop rules no one can apply. This is a
// configuration error, not a malformed body.
func shopifyCheckRules(r mapping.ShopRules) error {
	if r.Trigger != "" && !r.Trigger.Valid() {
		return fmt.Errorf("shopify: unknown trigger %q", r.Trigger)
	}
	if !r.ValueRule.Valid() {
		return fmt.Errorf("shopify: unknown value rule %q", r.ValueRule)
	}
	if !r.Currency.Valid() {
		return fmt.Errorf("shopify: unknown currency rule %q", r.Currency)
	}
	return nil
}

// shopifyMalformed wraps ErrMalformed with what was wrong. Messages name
// fields, never customer data.
func shopifyMalformed(format string, args ...any) error {
	return fmt.Errorf("%w: shopify: "+format, append([]any{ErrMalformed}, args...)...)
}

// shopifyParseOrder handles every topic whose body is an Order.
func shopifyParseOrder(w mapping.Webhook, h http.Header, body []byte, rules mapping.ShopRules) (mapping.Webhook, error) {
	var o shopifyOrder
	if err := json.Unmarshal(body, &o); err != nil {
		return w, shopifyMalformed("order: %w", err)
	}
	if o.ID <= 0 {
		return w, shopifyMalformed("order has no id")
	}
	w.OrderID = strconv.FormatInt(o.ID, 10)
	w.Test = o.Test
	var err error
	if w.OccurredAt, err = shopifyTime("updated_at", o.UpdatedAt); err != nil {
		return w, err
	}
	if w.Topic == shopifyOrdersCancelled {
		w.Outcome, w.Reason = mapping.OutcomeIgnored, shopifyReasonCancelled
		return w, nil
	}
	if ok, reason := shopifyInTrigger(&o, rules.Trigger); !ok {
		w.Outcome, w.Reason = mapping.OutcomeIgnored, reason
		return w, nil
	}
	c, notes, err := shopifyConversion(&o, h.Get(shopifyShopHeader), rules)
	if err != nil {
		return w, err
	}
	if c.Value.IsZero() && !rules.SendZeroValue {
		w.Outcome, w.Reason = mapping.OutcomeIgnored, shopifyReasonZero
		return w, nil
	}
	w.Outcome = mapping.OutcomeConversion
	w.Conversion = c
	w.Reason = strings.Join(notes, "; ")
	return w, nil
}

// shopifyParseEdit handles orders/edited. Shopify documents its body as a
// description of the edit ({"order_edit": {...}}), not an Order, and fires
// orders/updated with the edited order as well, so the edit itself is
// ignored. A body that is an Order after all is treated like orders/updated.
func shopifyParseEdit(w mapping.Webhook, h http.Header, body []byte, rules mapping.ShopRules) (mapping.Webhook, error) {
	var e struct {
		OrderEdit *struct {
			OrderID     int64  `json:"order_id"`
			CreatedAt   string `json:"created_at"`
			CommittedAt string `json:"committed_at"`
		} `json:"order_edit"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return w, shopifyMalformed("order edit: %w", err)
	}
	if e.OrderEdit == nil {
		return shopifyParseOrder(w, h, body, rules)
	}
	if e.OrderEdit.OrderID <= 0 {
		return w, shopifyMalformed("order edit has no order_id")
	}
	at := e.OrderEdit.CommittedAt
	if at == "" {
		at = e.OrderEdit.CreatedAt
	}
	var err error
	if w.OccurredAt, err = shopifyTime("order_edit.committed_at", at); err != nil {
		return w, err
	}
	w.OrderID = strconv.FormatInt(e.OrderEdit.OrderID, 10)
	w.Outcome, w.Reason = mapping.OutcomeIgnored, shopifyReasonEdit
	return w, nil
}

// shopifyInTrigger applies the decision rule of stores.md §2.6. Test orders
// are not excluded here: they convert, marked Test, and the caller sends
// them to test-mode destinations only.
func shopifyInTrigger(o *shopifyOrder, trigger mapping.Trigger) (bool, string) {
	if o.CancelledAt != "" {
		return false, shopifyReasonCancelled
	}
	if trigger == mapping.TriggerFulfilled {
		switch o.FinancialStatus {
		case "voided", "refunded":
			return false, fmt.Sprintf("financial_status %s rules out a sale", shopifyQuote(o.FinancialStatus))
		}
		if o.FulfillmentStatus != "fulfilled" {
			return false, fmt.Sprintf("fulfillment_status %s is not fulfilled", shopifyQuote(o.FulfillmentStatus))
		}
		return true, ""
	}
	switch o.FinancialStatus {
	case "paid", "partially_refunded":
		return true, ""
	}
	return false, fmt.Sprintf("financial_status %s is not paid", shopifyQuote(o.FinancialStatus))
}

// shopifyQuote renders a status for a reason; an absent one is JSON's null.
func shopifyQuote(s string) string {
	if s == "" {
		return "null"
	}
	return strconv.Quote(s)
}

// shopifyConversion builds the canonical conversion of an order in its
// trigger state. It returns notes on what was degraded.
func shopifyConversion(o *shopifyOrder, shopDomain string, rules mapping.ShopRules) (*mapping.Conversion, []string, error) {
	var notes []string
	id := strconv.FormatInt(o.ID, 10)
	c := &mapping.Conversion{
		EventID:   rules.EventID(id),
		EventName: mapping.EventPurchase,
		OrderID:   id,
		OrderName: o.Name,
		Test:      o.Test,
		// The checkout token is what the Web Pixels checkout_completed event
		// also carries (event.data.checkout.token), so a browser beacon can
		// name this order.
		OrderRef: strings.TrimSpace(o.CheckoutToken),
	}
	var err error
	if c.EventTime, err = shopifyEventTime(o, rules.Trigger); err != nil {
		return nil, nil, err
	}
	m, err := shopifyMoneyOf(o, rules)
	if err != nil {
		return nil, nil, err
	}
	if m.fellBack {
		notes = append(notes, shopifyNoteShopSide)
	}
	c.Value, c.Currency = m.value, m.currency
	if c.Items, err = shopifyItems(o, m); err != nil {
		return nil, nil, err
	}
	if c.ClickTime, err = shopifyTime("created_at", o.CreatedAt); err != nil {
		return nil, nil, err
	}
	shopifyClickIDs(o, &c.ClickIDs, rules.AttributeNames)
	notes = append(notes, c.ClickIDs.DropMalformedBrowserIDs()...)
	c.ClientIP = strings.TrimSpace(o.BrowserIP)
	if c.ClientIP == "" {
		c.ClientIP = strings.TrimSpace(o.ClientDetails.BrowserIP)
	}
	c.UserAgent = strings.TrimSpace(o.ClientDetails.UserAgent)
	c.SourceURL = shopifySourceURL(shopDomain, o.LandingSite)
	c.Channel = shopifyChannel(o.SourceName)
	if c.Channel == mapping.ChannelWebsite && c.SourceURL == "" && shopifyIsHost(shopDomain) {
		// A storefront order whose landing page is unknown still happened on
		// the shop's site.
		c.SourceURL = "https://" + strings.TrimSpace(shopDomain) + "/"
	}
	var phoneBad bool
	c.User, phoneBad = shopifyUser(o)
	if phoneBad {
		notes = append(notes, shopifyNotePhone)
	}
	if c.User.Email == "" && c.User.Phone == "" {
		notes = append(notes, shopifyNoteNoContact)
	}
	return c, notes, nil
}

// shopifyEventTime is when the order reached the trigger state: processed_at
// for paid; the latest successful fulfillment for fulfilled, else updated_at.
func shopifyEventTime(o *shopifyOrder, trigger mapping.Trigger) (time.Time, error) {
	if trigger == mapping.TriggerFulfilled {
		var latest time.Time
		for _, f := range o.Fulfillments {
			switch f.Status {
			case "cancelled", "error", "failure":
				continue
			}
			t, err := shopifyTime("fulfillments.created_at", f.CreatedAt)
			if err != nil {
				return time.Time{}, err
			}
			if t.After(latest) {
				latest = t
			}
		}
		if !latest.IsZero() {
			return latest, nil
		}
		return shopifyRequiredTime("updated_at", o.UpdatedAt)
	}
	if o.ProcessedAt != "" {
		return shopifyTime("processed_at", o.ProcessedAt)
	}
	if o.CreatedAt != "" {
		return shopifyTime("created_at", o.CreatedAt)
	}
	return shopifyRequiredTime("updated_at", o.UpdatedAt)
}

// shopifyRequiredTime parses a timestamp that must be present.
func shopifyRequiredTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, shopifyMalformed("order has no %s", field)
	}
	return shopifyTime(field, s)
}

// shopifyTime parses an ISO 8601 timestamp with the shop's offset into UTC;
// "" is the zero time.
func shopifyTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, shopifyMalformed("%s is not a timestamp: %w", field, err)
	}
	return t.UTC(), nil
}

// shopifyMoney is the order's value on the one currency side it was read
// from.
type shopifyMoney struct {
	value       decimal.Decimal
	currency    string
	presentment bool // amounts come from *_set.presentment_money
	fellBack    bool // presentment was asked for but the payload has none
}

// shopifyMoneyOf reads the order value under the shop's value and currency
// rules. Amount and currency always come from the same side: the flat
// fields with `currency` for the shop side, the *_set.presentment_money
// objects for the presentment side.
func shopifyMoneyOf(o *shopifyOrder, rules mapping.ShopRules) (shopifyMoney, error) {
	var m shopifyMoney
	var total, tax, shipping shopifyAmount
	if rules.Currency == mapping.CurrencyPresentment {
		if o.TotalPriceSet.PresentmentMoney.Amount != "" {
			m.presentment = true
		} else {
			m.fellBack = true
		}
	}
	if m.presentment {
		total = o.TotalPriceSet.PresentmentMoney
		tax = o.TotalTaxSet.PresentmentMoney
		shipping = o.TotalShippingPriceSet.PresentmentMoney
	} else {
		total = shopifyAmount{Amount: o.TotalPrice, CurrencyCode: o.Currency}.or(o.TotalPriceSet.ShopMoney)
		tax = shopifyAmount{Amount: o.TotalTax, CurrencyCode: total.CurrencyCode}.or(o.TotalTaxSet.ShopMoney)
		shipping = o.TotalShippingPriceSet.ShopMoney
	}
	cur, err := mapping.NormalizeCurrency(total.CurrencyCode)
	if err != nil {
		return m, shopifyMalformed("total_price: %w", err)
	}
	m.currency = cur
	if m.value, err = shopifyDecimal("total_price", total.Amount, true); err != nil {
		return m, err
	}
	if rules.ValueRule != mapping.ValueSubtotal {
		return m, nil
	}
	for _, part := range []struct {
		field string
		a     shopifyAmount
	}{{"total_tax", tax}, {"total_shipping_price_set", shipping}} {
		d, err := m.amount(part.field, part.a, false)
		if err != nil {
			return m, err
		}
		m.value = m.value.Sub(d)
	}
	if m.value.IsNegative() {
		return m, shopifyMalformed("total_price is less than total_tax and shipping")
	}
	return m, nil
}

// amount parses an amount of the order's side, refusing one in another
// currency; a missing amount that is not required counts as zero.
func (m shopifyMoney) amount(field string, a shopifyAmount, required bool) (decimal.Decimal, error) {
	if a.CurrencyCode != "" && !strings.EqualFold(a.CurrencyCode, m.currency) {
		return decimal.Decimal{}, shopifyMalformed("%s is in %q, total_price in %q", field, a.CurrencyCode, m.currency)
	}
	return shopifyDecimal(field, a.Amount, required)
}

// shopifyDecimal parses a decimal string in major units ("120.94", or
// "12800" as a zero-decimal currency may be written). Only plain digits
// with at most one point are accepted: an exponent ("1e2000000000") would
// make later arithmetic allocate without bound.
func shopifyDecimal(field, s string, required bool) (decimal.Decimal, error) {
	if s == "" {
		if required {
			return decimal.Decimal{}, shopifyMalformed("order has no %s", field)
		}
		return decimal.Decimal{}, nil
	}
	if s[0] == '-' {
		return decimal.Decimal{}, shopifyMalformed("%s is negative", field)
	}
	if !shopifyPlainDecimal(s) {
		return decimal.Decimal{}, shopifyMalformed("%s is not a decimal amount", field)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, shopifyMalformed("%s is not a decimal amount: %w", field, err)
	}
	return d, nil
}

// shopifyPlainDecimal reports whether s is digits with at most one point,
// at most 32 characters long.
func shopifyPlainDecimal(s string) bool {
	if len(s) > 32 {
		return false
	}
	digits, points := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			points++
		default:
			return false
		}
	}
	return digits > 0 && points <= 1
}

// shopifyItems maps line items, with unit prices from the same currency
// side as the order value.
func shopifyItems(o *shopifyOrder, m shopifyMoney) ([]mapping.Item, error) {
	if len(o.LineItems) == 0 {
		return nil, nil
	}
	items := make([]mapping.Item, 0, len(o.LineItems))
	for _, li := range o.LineItems {
		price := li.PriceSet.PresentmentMoney
		if !m.presentment {
			price = shopifyAmount{Amount: li.Price}.or(li.PriceSet.ShopMoney)
		}
		p, err := m.amount("line_items.price", price, true)
		if err != nil {
			return nil, err
		}
		it := mapping.Item{
			ID:        shopifyID(li.ProductID),
			VariantID: shopifyID(li.VariantID),
			SKU:       strings.TrimSpace(li.SKU),
			Title:     strings.TrimSpace(li.Title),
			Brand:     strings.TrimSpace(li.Vendor),
			Quantity:  li.Quantity,
			Price:     p,
		}
		// Custom items have no product; name them as closely as possible.
		if it.ID == "" {
			it.ID = it.VariantID
		}
		if it.ID == "" {
			it.ID = it.SKU
		}
		if it.ID == "" {
			it.ID = shopifyID(li.ID)
		}
		items = append(items, it)
	}
	return items, nil
}

// shopifyID renders a Shopify id; 0 (null) is "".
func shopifyID(id int64) string {
	if id <= 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

// shopifyClickIDs collects click ids and browser ids: the landing page's
// query first, then cart attributes, then line-item properties. The first
// source to give a key wins.
func shopifyClickIDs(o *shopifyOrder, c *mapping.ClickIDs, names map[string]string) {
	c.AddLandingURL(o.LandingSite, names)
	for _, a := range o.NoteAttributes {
		c.SetNamed(a.Name, string(a.Value), names)
	}
	for _, li := range o.LineItems {
		for _, p := range li.Properties {
			c.SetNamed(p.Name, string(p.Value), names)
		}
	}
}

// shopifyChannel reads the order's source_name: "web" is the online
// store's checkout, "subscription_contract" a renewal billed by a
// subscription app; anything else (pos, draft orders, apps) says nothing we
// can pass on.
func shopifyChannel(sourceName string) mapping.Channel {
	switch strings.TrimSpace(sourceName) {
	case "web":
		return mapping.ChannelWebsite
	case "subscription_contract":
		return mapping.ChannelRenewal
	}
	return mapping.ChannelUnknown
}

// shopifySourceURL makes the relative landing_site absolute on the shop's
// myshopify.com domain, the only domain Shopify tells us.
func shopifySourceURL(domain, landing string) string {
	domain = strings.TrimSpace(domain)
	landing = strings.TrimSpace(landing)
	if landing == "" {
		return ""
	}
	if strings.HasPrefix(landing, "https://") || strings.HasPrefix(landing, "http://") {
		return landing
	}
	if !strings.HasPrefix(landing, "/") || !shopifyIsHost(domain) {
		return ""
	}
	return "https://" + domain + landing
}

// shopifyIsHost reports whether s looks like a bare host name. The header
// is not signed, so it is checked before it goes into a URL.
func shopifyIsHost(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// shopifyUser collects the buyer's identifiers. It reports whether a phone
// number was present but none could be parsed.
func shopifyUser(o *shopifyOrder) (mapping.User, bool) {
	u := mapping.User{
		Email:      shopifyFirst(o.Email, o.ContactEmail, o.Customer.Email),
		ExternalID: shopifyID(o.Customer.ID),
	}
	addr := o.BillingAddress
	if addr.empty() {
		addr = o.ShippingAddress
	}
	u.Street = strings.TrimSpace(addr.Address1)
	u.City = strings.TrimSpace(addr.City)
	u.State = strings.TrimSpace(addr.ProvinceCode)
	u.Zip = strings.TrimSpace(addr.Zip)
	u.Country = strings.TrimSpace(addr.CountryCode)
	switch {
	case strings.TrimSpace(o.Customer.FirstName+o.Customer.LastName) != "":
		u.FirstName, u.LastName = o.Customer.FirstName, o.Customer.LastName
	case strings.TrimSpace(o.BillingAddress.FirstName+o.BillingAddress.LastName) != "":
		u.FirstName, u.LastName = o.BillingAddress.FirstName, o.BillingAddress.LastName
	default:
		u.FirstName, u.LastName = o.ShippingAddress.FirstName, o.ShippingAddress.LastName
	}
	u.FirstName, u.LastName = strings.TrimSpace(u.FirstName), strings.TrimSpace(u.LastName)
	country := strings.TrimSpace(o.BillingAddress.CountryCode)
	if country == "" {
		country = strings.TrimSpace(o.ShippingAddress.CountryCode)
	}
	var bad bool
	for _, raw := range [...]string{o.Phone, o.Customer.Phone, o.BillingAddress.Phone, o.ShippingAddress.Phone} {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		p, err := mapping.NormalizePhone(raw, country)
		if err != nil || p == "" {
			if bad = true; u.PhoneUnparsed == "" {
				u.PhoneUnparsed = strings.TrimSpace(raw)
			}
			continue
		}
		u.Phone, u.PhoneUnparsed = p, ""
		return u, false
	}
	return u, bad
}

// shopifyFirst returns the first of vs that is not blank, trimmed.
func shopifyFirst(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// shopifyParseRefund maps refunds/create. The money returned is the sum of
// the successful refund transactions; a refund that moved none (restock
// only) is ignored.
func shopifyParseRefund(w mapping.Webhook, body []byte) (mapping.Webhook, error) {
	var r shopifyRefund
	if err := json.Unmarshal(body, &r); err != nil {
		return w, shopifyMalformed("refund: %w", err)
	}
	if r.ID <= 0 {
		return w, shopifyMalformed("refund has no id")
	}
	if r.OrderID <= 0 {
		return w, shopifyMalformed("refund has no order_id")
	}
	w.OrderID = strconv.FormatInt(r.OrderID, 10)
	at := r.ProcessedAt
	if at == "" {
		at = r.CreatedAt
	}
	t, err := shopifyTime("processed_at", at)
	if err != nil {
		return w, err
	}
	w.OccurredAt = t
	ref := mapping.Refund{
		RefundID: strconv.FormatInt(r.ID, 10),
		OrderID:  w.OrderID,
		Time:     t,
		Reason:   strings.TrimSpace(r.Note),
	}
	for _, tx := range r.Transactions {
		w.Test = w.Test || tx.Test
		if tx.Kind != "refund" || tx.Status != "success" {
			continue
		}
		cur, err := mapping.NormalizeCurrency(tx.Currency)
		if err != nil {
			return w, shopifyMalformed("refund transaction: %w", err)
		}
		if ref.Currency != "" && ref.Currency != cur {
			return w, shopifyMalformed("refund transactions mix %s and %s", ref.Currency, cur)
		}
		ref.Currency = cur
		a, err := shopifyDecimal("transactions.amount", tx.Amount, true)
		if err != nil {
			return w, err
		}
		ref.Amount = ref.Amount.Add(a)
	}
	if ref.Currency == "" || ref.Amount.IsZero() {
		w.Outcome, w.Reason = mapping.OutcomeIgnored, shopifyReasonNoRefund
		return w, nil
	}
	w.Outcome = mapping.OutcomeRefund
	w.Refunds = []mapping.Refund{ref}
	return w, nil
}

// The payload types below hold only the fields Parse reads; encoding/json
// skips the rest without building it. Ids are int64: Shopify's exceed 2^53
// and must never pass through float64. JSON null leaves a field at its zero
// value, which every reader treats as absent.

// shopifyOrder is the REST Order resource as sent on orders/* topics.
type shopifyOrder struct {
	ID                    int64              `json:"id"`
	Name                  string             `json:"name"`
	Email                 string             `json:"email"`
	ContactEmail          string             `json:"contact_email"`
	Phone                 string             `json:"phone"`
	FinancialStatus       string             `json:"financial_status"`
	FulfillmentStatus     string             `json:"fulfillment_status"`
	CancelledAt           string             `json:"cancelled_at"`
	Test                  bool               `json:"test"`
	CheckoutToken         string             `json:"checkout_token"`
	CreatedAt             string             `json:"created_at"`
	ProcessedAt           string             `json:"processed_at"`
	UpdatedAt             string             `json:"updated_at"`
	Currency              string             `json:"currency"`
	TotalPrice            string             `json:"total_price"`
	TotalTax              string             `json:"total_tax"`
	TotalPriceSet         shopifyMoneySet    `json:"total_price_set"`
	TotalTaxSet           shopifyMoneySet    `json:"total_tax_set"`
	TotalShippingPriceSet shopifyMoneySet    `json:"total_shipping_price_set"`
	LandingSite           string             `json:"landing_site"`
	SourceName            string             `json:"source_name"`
	NoteAttributes        []shopifyAttribute `json:"note_attributes"`
	BrowserIP             string             `json:"browser_ip"`
	ClientDetails         struct {
		BrowserIP string `json:"browser_ip"`
		UserAgent string `json:"user_agent"`
	} `json:"client_details"`
	Customer struct {
		ID        int64  `json:"id"`
		Email     string `json:"email"`
		Phone     string `json:"phone"`
		FirstName string `json:"first_name"`
		LastName  string `json:"last_name"`
	} `json:"customer"`
	BillingAddress  shopifyAddress `json:"billing_address"`
	ShippingAddress shopifyAddress `json:"shipping_address"`
	Fulfillments    []struct {
		CreatedAt string `json:"created_at"`
		Status    string `json:"status"`
	} `json:"fulfillments"`
	LineItems []shopifyLineItem `json:"line_items"`
}

// shopifyLineItem is one entry of an order's line_items.
type shopifyLineItem struct {
	ID         int64              `json:"id"`
	ProductID  int64              `json:"product_id"`
	VariantID  int64              `json:"variant_id"`
	SKU        string             `json:"sku"`
	Title      string             `json:"title"`
	Vendor     string             `json:"vendor"`
	Quantity   int                `json:"quantity"`
	Price      string             `json:"price"`
	PriceSet   shopifyMoneySet    `json:"price_set"`
	Properties []shopifyAttribute `json:"properties"`
}

// shopifyAddress is a billing or shipping address.
type shopifyAddress struct {
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	Address1     string `json:"address1"`
	City         string `json:"city"`
	ProvinceCode string `json:"province_code"`
	Zip          string `json:"zip"`
	CountryCode  string `json:"country_code"`
	Phone        string `json:"phone"`
}

// empty reports whether the address holds nothing to match on.
func (a shopifyAddress) empty() bool {
	return a.Address1 == "" && a.City == "" && a.Zip == "" && a.CountryCode == "" && a.ProvinceCode == ""
}

// shopifyMoneySet is Shopify's MoneyBag: one amount in the shop currency and
// the same amount in the currency the buyer saw.
type shopifyMoneySet struct {
	ShopMoney        shopifyAmount `json:"shop_money"`
	PresentmentMoney shopifyAmount `json:"presentment_money"`
}

// shopifyAmount is a decimal string with its currency.
type shopifyAmount struct {
	Amount       string `json:"amount"`
	CurrencyCode string `json:"currency_code"`
}

// or returns a, or alt when a has no amount.
func (a shopifyAmount) or(alt shopifyAmount) shopifyAmount {
	if a.Amount == "" {
		return alt
	}
	if a.CurrencyCode == "" {
		a.CurrencyCode = alt.CurrencyCode
	}
	return a
}

// shopifyAttribute is a cart attribute (note_attributes) or a line-item
// property: a name and a value set by a storefront script or app.
type shopifyAttribute struct {
	Name  string      `json:"name"`
	Value shopifyText `json:"value"`
}

// shopifyText is a value apps may write as a string, a number or a boolean;
// it keeps the text and never fails the whole order over an odd value.
type shopifyText string

// UnmarshalJSON implements json.Unmarshaler.
func (t *shopifyText) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || b[0] == 'n' || b[0] == '{' || b[0] == '[':
		*t = ""
	case b[0] != '"':
		*t = shopifyText(b)
	case bytes.IndexByte(b, '\\') < 0:
		*t = shopifyText(b[1 : len(b)-1])
	default:
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = shopifyText(s)
	}
	return nil
}

// shopifyRefund is the REST Refund resource as sent on refunds/create.
type shopifyRefund struct {
	ID           int64  `json:"id"`
	OrderID      int64  `json:"order_id"`
	CreatedAt    string `json:"created_at"`
	ProcessedAt  string `json:"processed_at"`
	Note         string `json:"note"`
	Transactions []struct {
		Amount   string `json:"amount"`
		Currency string `json:"currency"`
		Kind     string `json:"kind"`
		Status   string `json:"status"`
		Test     bool   `json:"test"`
	} `json:"transactions"`
}
