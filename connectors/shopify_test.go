package connectors

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/internal/testutil"
	"github.com/postbackhq/postback/mapping"
)

// shopifyTestSecret has the shape of the key a store's Notifications page
// shows: 64 hex characters, used as text.
const shopifyTestSecret = "3f1c9a7e5b2d48c6a0e9f7b1d3c5a7e92b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a"

const shopifyTestDomain = "northwind-outfitters.myshopify.com"

// signShopify computes X-Shopify-Hmac-Sha256 as Shopify does: standard
// base64 of HMAC-SHA256 over the raw body, keyed with the secret's bytes.
func signShopify(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// shopifyHeaders are the headers of a delivery on topic, as net/http
// hands them over (canonical keys).
func shopifyHeaders(topic string) http.Header {
	h := http.Header{}
	h.Set("X-Shopify-Topic", topic)
	h.Set("X-Shopify-Event-Id", "7c1f7c2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f")
	h.Set("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
	h.Set("X-Shopify-Shop-Domain", shopifyTestDomain)
	h.Set("X-Shopify-API-Version", "2025-07")
	return h
}

// shopifyEdit decodes a fixture (ids kept exact with UseNumber), lets edit
// change it, and encodes it again.
func shopifyEdit(t testing.TB, body []byte, edit func(o map[string]any)) []byte {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var o map[string]any
	if err := d.Decode(&o); err != nil {
		t.Fatalf("decode fixture: %v", err)
	}
	edit(o)
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatalf("encode fixture: %v", err)
	}
	return b
}

// shopifyObj returns the object under key, failing the test if it is not one.
func shopifyObj(t testing.TB, o map[string]any, key string) map[string]any {
	t.Helper()
	m, ok := o[key].(map[string]any)
	if !ok {
		t.Fatalf("fixture: %s is %T, not an object", key, o[key])
	}
	return m
}

// shopifyLines returns the order's line items.
func shopifyLines(t testing.TB, o map[string]any) []map[string]any {
	t.Helper()
	raw, ok := o["line_items"].([]any)
	if !ok {
		t.Fatalf("fixture: line_items is %T", o["line_items"])
	}
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i] = r.(map[string]any)
	}
	return out
}

// shopifySet builds a MoneyBag.
func shopifySet(shop, shopCur, pres, presCur string) map[string]any {
	return map[string]any{
		"shop_money":        map[string]any{"amount": shop, "currency_code": shopCur},
		"presentment_money": map[string]any{"amount": pres, "currency_code": presCur},
	}
}

func TestShopifyVerify(t *testing.T) {
	body := fixture(t, "shopify", "orders_paid.json")
	good := signShopify(shopifyTestSecret, body)
	hexKey, err := hex.DecodeString(shopifyTestSecret)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, hexKey)
	mac.Write(body)
	hexKeySig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	goodRaw, err := base64.StdEncoding.DecodeString(good)
	if err != nil {
		t.Fatal(err)
	}

	// RFC 4231 test case 2 pins the helper to HMAC-SHA256 itself.
	rfcDigest, err := hex.DecodeString("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
	if err != nil {
		t.Fatal(err)
	}
	rfcBody := []byte("what do ya want for nothing?")

	tests := []struct {
		name   string
		body   []byte
		secret string
		header []string // nil: no header at all
		want   error
	}{
		{"valid signature", body, shopifyTestSecret, []string{good}, nil},
		{"RFC 4231 vector", rfcBody, "Jefe", []string{base64.StdEncoding.EncodeToString(rfcDigest)}, nil},
		{"helper matches RFC 4231", rfcBody, "Jefe", []string{signShopify("Jefe", rfcBody)}, nil},
		{"missing header", body, shopifyTestSecret, nil, ErrNotSigned},
		{"empty header", body, shopifyTestSecret, []string{""}, ErrNoValidSignature},
		{"wrong secret", body, "another-secret", []string{good}, ErrNoValidSignature},
		{"secret hex-decoded by the signer", body, shopifyTestSecret, []string{hexKeySig}, ErrNoValidSignature},
		{"body re-encoded without \\/ escapes", bytes.ReplaceAll(body, []byte(`\/`), []byte(`/`)), shopifyTestSecret, []string{good}, ErrNoValidSignature},
		{"body with trailing newline", append(append([]byte{}, body...), '\n'), shopifyTestSecret, []string{good}, ErrNoValidSignature},
		{"not base64", body, shopifyTestSecret, []string{strings.Repeat("!", 44)}, ErrNoValidSignature},
		{"hex digest instead of base64", body, shopifyTestSecret, []string{hex.EncodeToString(goodRaw)}, ErrNoValidSignature},
		{"44 characters without padding (33 bytes)", body, shopifyTestSecret, []string{strings.Repeat("0", 44)}, ErrNoValidSignature},
		{"unpadded base64", body, shopifyTestSecret, []string{strings.TrimRight(good, "=")}, ErrNoValidSignature},
		{"truncated digest", body, shopifyTestSecret, []string{base64.StdEncoding.EncodeToString(goodRaw[:16])}, ErrNoValidSignature},
		{"empty secret, signed with the empty key", body, "", []string{signShopify("", body)}, ErrNoValidSignature},
		{"non-canonical padding bits", body, shopifyTestSecret, []string{good[:42] + string(shopifyFlipLowBits(good[42])) + "="}, ErrNoValidSignature},
		{"first header value is checked", body, shopifyTestSecret, []string{"bad", good}, ErrNoValidSignature},
	}
	s := NewShopify()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.header {
				h.Add("X-Shopify-Hmac-SHA256", v)
			}
			got := s.Verify(h, tt.body, tt.secret)
			if !errors.Is(got, tt.want) || (tt.want == nil && got != nil) {
				t.Errorf("Verify(header %q, secret %q) = %v, want %v", tt.header, tt.secret, got, tt.want)
			}
		})
	}
}

// shopifyFlipLowBits returns a base64 character that differs from c only in
// its lowest bits, which the last character before "=" does not use.
func shopifyFlipLowBits(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := strings.IndexByte(alphabet, c)
	return alphabet[i^1]
}

// TestShopifyFixturesSigned checks every fixture verifies with the helper's
// signature, byte for byte as stored.
func TestShopifyFixturesSigned(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "shopify", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := NewShopify()
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.json") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			body := fixture(t, "shopify", filepath.Base(f))
			h := http.Header{}
			h.Set("X-Shopify-Hmac-Sha256", signShopify(shopifyTestSecret, body))
			if err := s.Verify(h, body, shopifyTestSecret); err != nil {
				t.Errorf("Verify(%s) = %v, want nil", f, err)
			}
		})
	}
}

func TestShopifySource(t *testing.T) {
	if got := NewShopify().Source(); got != mapping.SourceShopify {
		t.Errorf("Source() = %q, want %q", got, mapping.SourceShopify)
	}
}

// TestShopifyFixtures maps each stored webhook as Shopify sends it.
func TestShopifyFixtures(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		topic   string
		rules   mapping.ShopRules
		golden  string // conversion or refund JSON, under testdata/shopify
		want    mapping.Webhook
		wantErr error
	}{
		{
			name: "orders/paid converts", file: "orders_paid.json", topic: "orders/paid",
			golden: "orders_paid.golden.json",
			want: mapping.Webhook{
				Topic: "orders/paid", OrderID: "6318840291389", Outcome: mapping.OutcomeConversion,
				OccurredAt: time.Date(2025, 5, 14, 14, 23, 45, 0, time.UTC),
			},
		},
		{
			name: "orders/create pending is ignored", file: "orders_create_pending.json", topic: "orders/create",
			want: mapping.Webhook{
				Topic: "orders/create", OrderID: "6318840422461", Outcome: mapping.OutcomeIgnored,
				Reason:     `financial_status "pending" is not paid`,
				OccurredAt: time.Date(2025, 5, 14, 17, 2, 19, 0, time.UTC),
			},
		},
		{
			name: "orders/fulfilled under trigger paid converts at processed_at", file: "orders_fulfilled.json",
			topic: "orders/fulfilled", rules: mapping.ShopRules{Trigger: mapping.TriggerPaid},
			golden: "orders_fulfilled_trigger_paid.golden.json",
			want: mapping.Webhook{
				Topic: "orders/fulfilled", OrderID: "6318839865405", Outcome: mapping.OutcomeConversion,
				OccurredAt: time.Date(2025, 5, 15, 20, 40, 6, 0, time.UTC),
			},
		},
		{
			name: "orders/fulfilled under trigger fulfilled converts at the fulfillment", file: "orders_fulfilled.json",
			topic: "orders/fulfilled", rules: mapping.ShopRules{Trigger: mapping.TriggerFulfilled},
			golden: "orders_fulfilled.golden.json",
			want: mapping.Webhook{
				Topic: "orders/fulfilled", OrderID: "6318839865405", Outcome: mapping.OutcomeConversion,
				OccurredAt: time.Date(2025, 5, 15, 20, 40, 6, 0, time.UTC),
			},
		},
		{
			name: "orders/paid under trigger fulfilled waits", file: "orders_paid.json",
			topic: "orders/paid", rules: mapping.ShopRules{Trigger: mapping.TriggerFulfilled},
			want: mapping.Webhook{
				Topic: "orders/paid", OrderID: "6318840291389", Outcome: mapping.OutcomeIgnored,
				Reason:     "fulfillment_status null is not fulfilled",
				OccurredAt: time.Date(2025, 5, 14, 14, 23, 45, 0, time.UTC),
			},
		},
		{
			name: "refunds/create is a refund", file: "refunds_create.json", topic: "refunds/create",
			golden: "refunds_create.golden.json",
			want: mapping.Webhook{
				Topic: "refunds/create", OrderID: "6318840291389", Outcome: mapping.OutcomeRefund,
				OccurredAt: time.Date(2025, 5, 20, 13, 12, 3, 0, time.UTC),
			},
		},
	}
	s := NewShopify()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := fixture(t, "shopify", tt.file)
			w, err := s.Parse(shopifyHeaders(tt.topic), body, tt.rules)
			if err != nil {
				t.Fatalf("Parse(%s, %s) error: %v", tt.file, tt.topic, err)
			}
			tt.want.Source = mapping.SourceShopify
			tt.want.DeliveryID = "7c1f7c2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f"
			got := w
			got.Conversion, got.Refunds = nil, nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%s, %s) webhook mismatch (-want +got):\n%s", tt.file, tt.topic, diff)
			}
			switch w.Outcome {
			case mapping.OutcomeConversion:
				if w.Conversion == nil {
					t.Fatalf("Parse(%s): conversion outcome without conversion", tt.file)
				}
			case mapping.OutcomeRefund:
				if len(w.Refunds) != 1 {
					t.Fatalf("Parse(%s): refunds = %d, want 1", tt.file, len(w.Refunds))
				}
			default:
				if w.Conversion != nil || len(w.Refunds) != 0 {
					t.Errorf("Parse(%s): ignored webhook carries %v / %v", tt.file, w.Conversion, w.Refunds)
				}
			}
			if tt.golden == "" {
				return
			}
			var payload any = w.Conversion
			if w.Outcome == mapping.OutcomeRefund {
				payload = w.Refunds[0]
			}
			b, err := json.Marshal(payload)
			if err != nil {
				t.Fatal(err)
			}
			testutil.GoldenJSON(t, filepath.Join("testdata", "shopify", tt.golden), b, *update)
		})
	}
}

// TestShopifyFixtureDetails pins the fields the goldens carry that matter
// most, so a careless -update cannot hide a regression in them.
func TestShopifyFixtureDetails(t *testing.T) {
	s := NewShopify()
	w, err := s.Parse(shopifyHeaders("orders/paid"), fixture(t, "shopify", "orders_paid.json"), mapping.ShopRules{})
	if err != nil {
		t.Fatal(err)
	}
	c := w.Conversion
	checks := []struct {
		field     string
		got, want any
	}{
		{"EventID", c.EventID, "6318840291389"},
		{"EventName", c.EventName, mapping.EventPurchase},
		{"EventTime", c.EventTime, time.Date(2025, 5, 14, 14, 23, 39, 0, time.UTC)},
		{"OrderName", c.OrderName, "#1042"},
		{"Value", c.Value.String(), "120.94"},
		{"Currency", c.Currency, "USD"},
		{"Items", len(c.Items), 2},
		{"Item[1]", c.Items[1], mapping.Item{ID: "8741920276541", VariantID: "46122093822013", SKU: "SOCK-MER-GRY-M", Title: "Merino Crew Sock", Brand: "Northwind", Quantity: 2, Price: decimal.RequireFromString("14.00")}},
		{"FBCLID", c.ClickIDs.FBCLID, "IwZXh0bgNhZW0BMABhZGlkAasExampleFbclid0aem_AbExampleToken7fQ2"},
		{"FBP", c.ClickIDs.FBP, "fb.1.1715695200123.1187654321"},
		{"FBC", c.ClickIDs.FBC, "fb.1.1715696012345.IwZXh0bgNhZW0BMABhZGlkAasExampleFbclid0aem_AbExampleToken7fQ2"},
		{"ClickTime", c.ClickTime, time.Date(2025, 5, 14, 14, 23, 41, 0, time.UTC)},
		{"ClientIP", c.ClientIP, "203.0.113.42"},
		{"SourceURL prefix", strings.HasPrefix(c.SourceURL, "https://"+shopifyTestDomain+"/products/trail-runner?"), true},
		{"User", c.User, mapping.User{
			Email: "ava.example@example.com", Phone: "+12175550143", FirstName: "Ava", LastName: "Example",
			Street: "100 Sample Street", City: "Springfield", State: "IL", Zip: "62704", Country: "US",
			ExternalID: "7903412256829",
		}},
		{"Test", c.Test, false},
		{"Reason", w.Reason, ""},
	}
	for _, ck := range checks {
		if diff := cmp.Diff(ck.want, ck.got); diff != "" {
			t.Errorf("orders_paid.json %s mismatch (-want +got):\n%s", ck.field, diff)
		}
	}

	w, err = s.Parse(shopifyHeaders("refunds/create"), fixture(t, "shopify", "refunds_create.json"), mapping.ShopRules{})
	if err != nil {
		t.Fatal(err)
	}
	want := mapping.Refund{
		RefundID: "950123456829", OrderID: "6318840291389", Amount: decimal.RequireFromString("13.64"),
		Currency: "USD", Time: time.Date(2025, 5, 20, 13, 12, 3, 0, time.UTC), Reason: "Wrong size, one pair returned",
	}
	if diff := cmp.Diff([]mapping.Refund{want}, w.Refunds); diff != "" {
		t.Errorf("refunds_create.json refunds mismatch (-want +got):\n%s", diff)
	}
}

// shopifyCase is one edit of a fixture and what Parse must make of it.
type shopifyCase struct {
	name        string
	file        string // default orders_paid.json
	topic       string // default orders/paid
	edit        func(t *testing.T, o map[string]any)
	body        []byte // instead of a fixture
	header      func(h http.Header)
	rules       mapping.ShopRules
	wantErr     error
	wantOutcome mapping.Outcome
	wantReason  string   // exact
	reasonHas   []string // words the error message must contain
	check       func(t *testing.T, w mapping.Webhook)
}

func TestShopifyParseStates(t *testing.T) {
	tests := []shopifyCase{
		{
			name:        "partially_refunded still counts as paid",
			edit:        func(t *testing.T, o map[string]any) { o["financial_status"] = "partially_refunded" },
			wantOutcome: mapping.OutcomeConversion,
		},
		{
			name:        "authorized is not paid",
			edit:        func(t *testing.T, o map[string]any) { o["financial_status"] = "authorized" },
			wantOutcome: mapping.OutcomeIgnored, wantReason: `financial_status "authorized" is not paid`,
		},
		{
			name:        "voided is not paid",
			edit:        func(t *testing.T, o map[string]any) { o["financial_status"] = "voided" },
			wantOutcome: mapping.OutcomeIgnored, wantReason: `financial_status "voided" is not paid`,
		},
		{
			name:        "refunded does not start a conversion",
			edit:        func(t *testing.T, o map[string]any) { o["financial_status"] = "refunded" },
			wantOutcome: mapping.OutcomeIgnored, wantReason: `financial_status "refunded" is not paid`,
		},
		{
			name:        "null financial_status",
			edit:        func(t *testing.T, o map[string]any) { o["financial_status"] = nil },
			wantOutcome: mapping.OutcomeIgnored, wantReason: `financial_status null is not paid`,
		},
		{
			name: "voided and fulfilled under trigger fulfilled", file: "orders_fulfilled.json", topic: "orders/fulfilled",
			rules:       mapping.ShopRules{Trigger: mapping.TriggerFulfilled},
			edit:        func(t *testing.T, o map[string]any) { o["financial_status"] = "voided" },
			wantOutcome: mapping.OutcomeIgnored, wantReason: `financial_status "voided" rules out a sale`,
		},
		{
			name: "COD: pending but fulfilled converts under trigger fulfilled", file: "orders_fulfilled.json", topic: "orders/updated",
			rules:       mapping.ShopRules{Trigger: mapping.TriggerFulfilled},
			edit:        func(t *testing.T, o map[string]any) { o["financial_status"] = "pending" },
			wantOutcome: mapping.OutcomeConversion,
		},
		{
			name: "partial fulfillment under trigger fulfilled", file: "orders_fulfilled.json", topic: "orders/partially_fulfilled",
			rules:       mapping.ShopRules{Trigger: mapping.TriggerFulfilled},
			edit:        func(t *testing.T, o map[string]any) { o["fulfillment_status"] = "partial" },
			wantOutcome: mapping.OutcomeIgnored, wantReason: `fulfillment_status "partial" is not fulfilled`,
		},
		{
			name: "fulfilled without fulfillments converts at updated_at", file: "orders_fulfilled.json", topic: "orders/fulfilled",
			rules:       mapping.ShopRules{Trigger: mapping.TriggerFulfilled},
			edit:        func(t *testing.T, o map[string]any) { o["fulfillments"] = []any{} },
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				if want := time.Date(2025, 5, 15, 20, 40, 6, 0, time.UTC); !w.Conversion.EventTime.Equal(want) {
					t.Errorf("EventTime = %v, want updated_at %v", w.Conversion.EventTime, want)
				}
			},
		},
		{
			name: "cancelled_at set",
			edit: func(t *testing.T, o map[string]any) {
				o["cancelled_at"] = "2025-05-14T11:00:00-04:00"
				o["cancel_reason"] = "customer"
			},
			wantOutcome: mapping.OutcomeIgnored, wantReason: "order cancelled",
		},
		{
			name: "cancelled under trigger fulfilled", file: "orders_fulfilled.json", topic: "orders/updated",
			rules:       mapping.ShopRules{Trigger: mapping.TriggerFulfilled},
			edit:        func(t *testing.T, o map[string]any) { o["cancelled_at"] = "2025-05-16T11:00:00-04:00" },
			wantOutcome: mapping.OutcomeIgnored, wantReason: "order cancelled",
		},
		{
			name: "orders/cancelled topic", topic: "orders/cancelled",
			wantOutcome: mapping.OutcomeIgnored, wantReason: "order cancelled",
			check: func(t *testing.T, w mapping.Webhook) {
				if w.OrderID != "6318840291389" {
					t.Errorf("OrderID = %q, want 6318840291389", w.OrderID)
				}
			},
		},
		{
			name:        "test order converts, marked test",
			edit:        func(t *testing.T, o map[string]any) { o["test"] = true },
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				if !w.Test || !w.Conversion.Test {
					t.Errorf("Webhook.Test = %v, Conversion.Test = %v, want both true", w.Test, w.Conversion.Test)
				}
			},
		},
		{
			name: "admin Send test sample: id above 2^53, test, voided", topic: "orders/updated",
			edit: func(t *testing.T, o map[string]any) {
				o["id"] = json.Number("820982911946154508")
				o["test"] = true
				o["financial_status"] = "voided"
			},
			wantOutcome: mapping.OutcomeIgnored, wantReason: `financial_status "voided" is not paid`,
			check: func(t *testing.T, w mapping.Webhook) {
				if w.OrderID != "820982911946154508" || !w.Test {
					t.Errorf("OrderID = %q, Test = %v; want 820982911946154508, true", w.OrderID, w.Test)
				}
			},
		},
		{
			name:        "id 2^53+1 preserved exactly",
			edit:        func(t *testing.T, o map[string]any) { o["id"] = json.Number("9007199254740993") },
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				c := w.Conversion
				if w.OrderID != "9007199254740993" || c.OrderID != "9007199254740993" || c.EventID != "9007199254740993" {
					t.Errorf("ids = %q / %q / %q, want 9007199254740993", w.OrderID, c.OrderID, c.EventID)
				}
			},
		},
		{
			name: "customer and product ids above 2^53",
			edit: func(t *testing.T, o map[string]any) {
				shopifyObj(t, o, "customer")["id"] = json.Number("9007199254740995")
				shopifyLines(t, o)[0]["product_id"] = json.Number("9223372036854775807")
			},
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				c := w.Conversion
				if c.User.ExternalID != "9007199254740995" || c.Items[0].ID != "9223372036854775807" {
					t.Errorf("external id %q, product id %q", c.User.ExternalID, c.Items[0].ID)
				}
			},
		},
		{
			name:        "zero value is ignored",
			edit:        shopifyZero,
			wantOutcome: mapping.OutcomeIgnored, wantReason: "order value is zero",
		},
		{
			name: "zero value converts with SendZeroValue",
			edit: shopifyZero, rules: mapping.ShopRules{SendZeroValue: true},
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				if !w.Conversion.Value.IsZero() {
					t.Errorf("Value = %s, want 0", w.Conversion.Value)
				}
			},
		},
		{
			name: "presentment side: amount and currency from presentment_money",
			edit: shopifyEUR, rules: mapping.ShopRules{Currency: mapping.CurrencyPresentment},
			wantOutcome: mapping.OutcomeConversion,
			check:       shopifyWantMoney("111.26", "EUR", "81.88", "12.88"),
		},
		{
			name: "shop side of the same order stays USD",
			edit: shopifyEUR, rules: mapping.ShopRules{Currency: mapping.CurrencyShop},
			wantOutcome: mapping.OutcomeConversion,
			check:       shopifyWantMoney("120.94", "USD", "89.00", "14.00"),
		},
		{
			name: "presentment subtotal: total less tax and shipping, all in EUR",
			edit: shopifyEUR, rules: mapping.ShopRules{Currency: mapping.CurrencyPresentment, ValueRule: mapping.ValueSubtotal},
			wantOutcome: mapping.OutcomeConversion,
			check:       shopifyWantMoney("96.88", "EUR", "81.88", "12.88"),
		},
		{
			name: "presentment side never mixes currencies",
			edit: func(t *testing.T, o map[string]any) {
				shopifyEUR(t, o)
				o["total_tax_set"] = shopifySet("8.69", "USD", "8.00", "GBP")
			},
			rules:   mapping.ShopRules{Currency: mapping.CurrencyPresentment, ValueRule: mapping.ValueSubtotal},
			wantErr: ErrMalformed,
		},
		{
			name: "presentment asked but missing: shop side, noted",
			edit: func(t *testing.T, o map[string]any) {
				for _, k := range []string{"total_price_set", "total_tax_set", "total_shipping_price_set"} {
					delete(o, k)
				}
				for _, li := range shopifyLines(t, o) {
					delete(li, "price_set")
				}
			},
			rules:       mapping.ShopRules{Currency: mapping.CurrencyPresentment},
			wantOutcome: mapping.OutcomeConversion,
			wantReason:  "presentment amounts missing: value reported in shop currency",
			check:       shopifyWantMoney("120.94", "USD", "89.00", "14.00"),
		},
		{
			name:        "subtotal rule: total less tax and shipping",
			rules:       mapping.ShopRules{ValueRule: mapping.ValueSubtotal},
			wantOutcome: mapping.OutcomeConversion,
			check:       shopifyWantMoney("105.30", "USD", "89.00", "14.00"),
		},
		{
			name: "zero-decimal currency written without decimals",
			edit: func(t *testing.T, o map[string]any) {
				o["currency"], o["total_price"], o["total_tax"] = "JPY", "12800", "0"
				o["total_price_set"] = shopifySet("12800", "JPY", "12800", "JPY")
				o["total_tax_set"] = shopifySet("0", "JPY", "0", "JPY")
				o["total_shipping_price_set"] = shopifySet("0", "JPY", "0", "JPY")
				for _, li := range shopifyLines(t, o) {
					li["price"] = "6400"
					li["price_set"] = shopifySet("6400", "JPY", "6400", "JPY")
				}
			},
			wantOutcome: mapping.OutcomeConversion,
			check:       shopifyWantMoney("12800", "JPY", "6400", "6400"),
		},
		{
			name: "zero-decimal currency written with .00",
			edit: func(t *testing.T, o map[string]any) {
				o["currency"], o["total_price"] = "JPY", "12800.00"
				o["total_price_set"] = shopifySet("12800.00", "JPY", "12800.00", "JPY")
				o["total_shipping_price_set"] = shopifySet("0.00", "JPY", "0.00", "JPY")
				for _, li := range shopifyLines(t, o) {
					li["price_set"] = shopifySet("6400.00", "JPY", "6400.00", "JPY")
				}
			},
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				if c := w.Conversion; !c.Value.Equal(decimal.NewFromInt(12800)) || c.Currency != "JPY" {
					t.Errorf("value = %s %s, want 12800 JPY", c.Value, c.Currency)
				}
			},
		},
		{
			name:        "event id template",
			rules:       mapping.ShopRules{EventIDTemplate: "purchase-{order_id}"},
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				if c := w.Conversion; c.EventID != "purchase-6318840291389" || c.OrderID != "6318840291389" {
					t.Errorf("EventID = %q, OrderID = %q; want purchase-6318840291389, 6318840291389", c.EventID, c.OrderID)
				}
			},
		},
		{
			name: "phone unparseable everywhere",
			edit: func(t *testing.T, o map[string]any) {
				o["phone"] = "call me maybe 12"
				shopifyObj(t, o, "customer")["phone"] = "n/a"
				shopifyObj(t, o, "billing_address")["phone"] = "555"
				shopifyObj(t, o, "shipping_address")["phone"] = "x"
			},
			wantOutcome: mapping.OutcomeConversion,
			wantReason:  "phone number could not be parsed",
			check: func(t *testing.T, w mapping.Webhook) {
				if w.Conversion.User.Phone != "" {
					t.Errorf("Phone = %q, want empty", w.Conversion.User.Phone)
				}
				for _, raw := range []string{"call me", "n/a", "555"} {
					if strings.Contains(w.Reason, raw) {
						t.Errorf("Reason %q leaks the raw phone %q", w.Reason, raw)
					}
				}
			},
		},
		{
			name: "bad order phone falls through to the billing phone",
			edit: func(t *testing.T, o map[string]any) {
				o["phone"] = "n/a"
				shopifyObj(t, o, "customer")["phone"] = nil
			},
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				if w.Conversion.User.Phone != "+12175550143" || w.Reason != "" {
					t.Errorf("Phone = %q, Reason = %q; want +12175550143 from billing and no reason", w.Conversion.User.Phone, w.Reason)
				}
			},
		},
		{
			name: "national phone read with the billing country",
			edit: func(t *testing.T, o map[string]any) {
				shopifyObj(t, o, "customer")["phone"] = nil
				b := shopifyObj(t, o, "billing_address")
				b["phone"], b["country_code"] = "030 1234567", "DE"
			},
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				if u := w.Conversion.User; u.Phone != "+49301234567" || u.Country != "DE" {
					t.Errorf("Phone = %q, Country = %q; want +49301234567, DE", u.Phone, u.Country)
				}
			},
		},
		{
			name:        "no email and no phone still converts",
			edit:        shopifyNoContact,
			wantOutcome: mapping.OutcomeConversion,
			wantReason:  "no email or phone: low match quality",
		},
		{
			name: "unparseable phone and no email: both noted",
			edit: func(t *testing.T, o map[string]any) {
				shopifyNoContact(t, o)
				o["phone"] = "none"
			},
			wantOutcome: mapping.OutcomeConversion,
			wantReason:  "phone number could not be parsed; no email or phone: low match quality",
		},
		{
			name: "email falls back to contact_email, trimmed",
			edit: func(t *testing.T, o map[string]any) {
				o["email"] = ""
				o["contact_email"] = "  ava.contact@example.com "
			},
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				if got := w.Conversion.User.Email; got != "ava.contact@example.com" {
					t.Errorf("Email = %q, want ava.contact@example.com", got)
				}
			},
		},
		{
			name: "guest without billing: names and address from shipping",
			edit: func(t *testing.T, o map[string]any) {
				o["customer"] = nil
				o["billing_address"] = nil
				s := shopifyObj(t, o, "shipping_address")
				s["first_name"], s["city"], s["province_code"] = "Sam", "Peoria", "IL"
			},
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				u := w.Conversion.User
				if u.FirstName != "Sam" || u.City != "Peoria" || u.ExternalID != "" || u.Phone != "+12175550143" {
					t.Errorf("User = %+v; want shipping's Sam, Peoria, no external id, shipping phone", u)
				}
			},
		},
		{
			name: "click ids from attributes, properties and shop-configured names",
			edit: func(t *testing.T, o map[string]any) {
				o["landing_site"] = "/?gclid=G-1&fbclid=F-1#frag"
				o["note_attributes"] = []any{
					map[string]any{"name": "fbclid", "value": "F-attr"},
					map[string]any{"name": "my_fbp", "value": "fb.1.1.2"},
					map[string]any{"name": "ttclid", "value": 12345},
					map[string]any{"name": "utm_source", "value": "facebook"},
				}
				shopifyLines(t, o)[0]["properties"] = []any{
					map[string]any{"name": "_ttp", "value": "ttp-cookie"},
					map[string]any{"name": "_fbc", "value": nil},
				}
			},
			rules:       mapping.ShopRules{AttributeNames: map[string]string{"my_fbp": "fbp"}},
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				want := mapping.ClickIDs{GCLID: "G-1", FBCLID: "F-1", FBP: "fb.1.1.2", TTCLID: "12345", TTP: "ttp-cookie"}
				if diff := cmp.Diff(want, w.Conversion.ClickIDs); diff != "" {
					t.Errorf("ClickIDs mismatch (-want +got):\n%s", diff)
				}
				if got := w.Conversion.SourceURL; got != "https://"+shopifyTestDomain+"/?gclid=G-1&fbclid=F-1#frag" {
					t.Errorf("SourceURL = %q", got)
				}
			},
		},
		{
			name: "web order without landing site: the shop's domain, IP from client_details",
			edit: func(t *testing.T, o map[string]any) {
				o["landing_site"] = nil
				o["browser_ip"] = nil
			},
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				c := w.Conversion
				if c.SourceURL != "https://northwind-outfitters.myshopify.com/" || c.ClientIP != "203.0.113.42" || c.ClickIDs.FBCLID != "" {
					t.Errorf("SourceURL = %q, ClientIP = %q, FBCLID = %q", c.SourceURL, c.ClientIP, c.ClickIDs.FBCLID)
				}
				if c.Channel != mapping.ChannelWebsite {
					t.Errorf("Channel = %q, want website", c.Channel)
				}
			},
		},
		{
			name: "point of sale order: no channel, no source URL",
			edit: func(t *testing.T, o map[string]any) {
				o["landing_site"] = nil
				o["source_name"] = "pos"
			},
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				if c := w.Conversion; c.SourceURL != "" || c.Channel != mapping.ChannelUnknown {
					t.Errorf("SourceURL = %q, Channel = %q; want both empty", c.SourceURL, c.Channel)
				}
			},
		},
		{
			name:        "subscription contract order is a renewal",
			edit:        func(t *testing.T, o map[string]any) { o["source_name"] = "subscription_contract" },
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				if c := w.Conversion; c.Channel != mapping.ChannelRenewal {
					t.Errorf("Channel = %q, want renewal", c.Channel)
				}
			},
		},
		{
			name:        "shop domain header that is not a host is not put in a URL",
			header:      func(h http.Header) { h.Set("X-Shopify-Shop-Domain", "evil.example/phish?") },
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				if w.Conversion.SourceURL != "" {
					t.Errorf("SourceURL = %q, want empty", w.Conversion.SourceURL)
				}
			},
		},
		{
			name:        "delivery id falls back to X-Shopify-Webhook-Id",
			header:      func(h http.Header) { h.Del("X-Shopify-Event-Id") },
			wantOutcome: mapping.OutcomeConversion,
			check: func(t *testing.T, w mapping.Webhook) {
				if w.DeliveryID != "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043" {
					t.Errorf("DeliveryID = %q, want the webhook id", w.DeliveryID)
				}
			},
		},
		{
			name: "unused topic", topic: "products/update",
			body:        []byte(`{"id":1,"title":"T-Shirt"}`),
			wantOutcome: mapping.OutcomeIgnored, wantReason: `topic "products/update" is not used`,
		},
		{
			name: "unused topic is not parsed", topic: "customers/redact",
			body:        []byte(`not json`),
			wantOutcome: mapping.OutcomeIgnored, wantReason: `topic "customers/redact" is not used`,
		},
		{
			name:        "no topic header",
			header:      func(h http.Header) { h.Del("X-Shopify-Topic") },
			wantOutcome: mapping.OutcomeIgnored, wantReason: "no X-Shopify-Topic header",
		},
		{
			name: "orders/edited as Shopify sends it", topic: "orders/edited",
			body:        []byte(`{"order_edit":{"id":78912328,"app_id":null,"created_at":"2025-05-14T11:00:00-04:00","committed_at":"2025-05-14T11:00:05-04:00","notify_customer":false,"order_id":6318840291389,"staff_note":"","user_id":null,"line_items":{"additions":[],"removals":[{"id":15240871314493,"delta":1}]}}}`),
			wantOutcome: mapping.OutcomeIgnored, wantReason: "orders/edited carries the edit, not the order; orders/updated follows with the new state",
			check: func(t *testing.T, w mapping.Webhook) {
				if w.OrderID != "6318840291389" || !w.OccurredAt.Equal(time.Date(2025, 5, 14, 15, 0, 5, 0, time.UTC)) {
					t.Errorf("OrderID = %q, OccurredAt = %v", w.OrderID, w.OccurredAt)
				}
			},
		},
		{
			name: "orders/edited with an order body is treated like updated", topic: "orders/edited",
			wantOutcome: mapping.OutcomeConversion,
		},
		{
			name: "refund with only a failed transaction moves no money", file: "refunds_create.json", topic: "refunds/create",
			edit: func(t *testing.T, o map[string]any) {
				o["transactions"].([]any)[0].(map[string]any)["status"] = "failure"
			},
			wantOutcome: mapping.OutcomeIgnored, wantReason: "refund returned no money (no successful refund transaction)",
		},
		{
			name: "refund sums successful refund transactions only", file: "refunds_create.json", topic: "refunds/create",
			edit: func(t *testing.T, o map[string]any) {
				txs := o["transactions"].([]any)
				o["transactions"] = append(txs,
					map[string]any{"amount": "6.95", "currency": "USD", "kind": "refund", "status": "success"},
					map[string]any{"amount": "100.00", "currency": "USD", "kind": "refund", "status": "failure"},
					map[string]any{"amount": "50.00", "currency": "USD", "kind": "sale", "status": "success"},
				)
			},
			wantOutcome: mapping.OutcomeRefund,
			check: func(t *testing.T, w mapping.Webhook) {
				if r := w.Refunds[0]; r.Amount.String() != "20.59" || r.Currency != "USD" {
					t.Errorf("refund = %s %s, want 20.59 USD", r.Amount, r.Currency)
				}
			},
		},
	}
	for _, tt := range append(tests, shopifyErrorCases()...) {
		t.Run(tt.name, func(t *testing.T) { shopifyRun(t, tt) })
	}
}

// shopifyErrorCases are bodies that must fail as malformed.
func shopifyErrorCases() []shopifyCase {
	return []shopifyCase{
		{
			name:    "unknown currency",
			edit:    func(t *testing.T, o map[string]any) { o["currency"] = "XXY" },
			wantErr: ErrMalformed, reasonHas: []string{"unknown currency"},
		},
		{name: "malformed JSON", body: []byte(`{"id": 6318840291389, "financial_status": "paid"`), wantErr: ErrMalformed},
		{name: "JSON array body", body: []byte(`[1,2,3]`), wantErr: ErrMalformed},
		{name: "empty body", body: []byte{}, wantErr: ErrMalformed},
		{
			name:    "missing order id",
			edit:    func(t *testing.T, o map[string]any) { delete(o, "id") },
			wantErr: ErrMalformed, reasonHas: []string{"no id"},
		},
		{
			name:    "order id as a float",
			edit:    func(t *testing.T, o map[string]any) { o["id"] = json.Number("6.318840291389e12") },
			wantErr: ErrMalformed,
		},
		{
			name:    "total_price not a number",
			edit:    func(t *testing.T, o map[string]any) { o["total_price"] = "12,80" },
			wantErr: ErrMalformed, reasonHas: []string{"total_price"},
		},
		{
			name:    "negative total",
			edit:    func(t *testing.T, o map[string]any) { o["total_price"] = "-1.00" },
			wantErr: ErrMalformed, reasonHas: []string{"negative"},
		},
		{
			name:    "bad processed_at",
			edit:    func(t *testing.T, o map[string]any) { o["processed_at"] = "yesterday" },
			wantErr: ErrMalformed, reasonHas: []string{"processed_at"},
		},
		{
			name: "presentment side: a line without its presentment price",
			edit: func(t *testing.T, o map[string]any) {
				shopifyEUR(t, o)
				delete(shopifyLines(t, o)[1], "price_set")
			},
			rules:   mapping.ShopRules{Currency: mapping.CurrencyPresentment},
			wantErr: ErrMalformed, reasonHas: []string{"line_items.price"},
		},
		{
			name: "presentment line price in another currency",
			edit: func(t *testing.T, o map[string]any) {
				shopifyEUR(t, o)
				shopifyLines(t, o)[0]["price_set"] = shopifySet("89.00", "USD", "70.00", "GBP")
			},
			rules:   mapping.ShopRules{Currency: mapping.CurrencyPresentment},
			wantErr: ErrMalformed, reasonHas: []string{"line_items.price"},
		},
		{
			name: "refund without order_id", file: "refunds_create.json", topic: "refunds/create",
			edit:    func(t *testing.T, o map[string]any) { delete(o, "order_id") },
			wantErr: ErrMalformed, reasonHas: []string{"order_id"},
		},
		{
			name: "refund in an unknown currency", file: "refunds_create.json", topic: "refunds/create",
			edit: func(t *testing.T, o map[string]any) {
				o["transactions"].([]any)[0].(map[string]any)["currency"] = "ZZZ"
			},
			wantErr: ErrMalformed, reasonHas: []string{"unknown currency"},
		},
		{
			name: "orders/edited without order_id", topic: "orders/edited",
			body: []byte(`{"order_edit":{"id":1}}`), wantErr: ErrMalformed,
		},
	}
}

// shopifyRun parses one case and checks it.
func shopifyRun(t *testing.T, tt shopifyCase) {
	t.Helper()
	file, topic := tt.file, tt.topic
	if file == "" {
		file = "orders_paid.json"
	}
	if topic == "" {
		topic = "orders/paid"
	}
	body := tt.body
	if body == nil {
		body = fixture(t, "shopify", file)
		if tt.edit != nil {
			body = shopifyEdit(t, body, func(o map[string]any) { tt.edit(t, o) })
		}
	}
	h := shopifyHeaders(topic)
	if tt.header != nil {
		tt.header(h)
	}
	w, err := NewShopify().Parse(h, body, tt.rules)
	if tt.wantErr != nil {
		if !errors.Is(err, tt.wantErr) {
			t.Fatalf("Parse(%s edited, %s) error = %v, want %v", file, topic, err, tt.wantErr)
		}
		for _, s := range tt.reasonHas {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("Parse(%s edited) error %q does not mention %q", file, err, s)
			}
		}
		return
	}
	if err != nil {
		t.Fatalf("Parse(%s edited, %s) error: %v", file, topic, err)
	}
	if w.Outcome != tt.wantOutcome || w.Reason != tt.wantReason {
		t.Fatalf("Parse(%s edited, %s) = %q %q, want %q %q", file, topic, w.Outcome, w.Reason, tt.wantOutcome, tt.wantReason)
	}
	if problem := shopifyInconsistent(w, tt.rules); problem != "" {
		t.Fatalf("Parse(%s edited, %s) returned an inconsistent webhook: %s\n%+v", file, topic, problem, w)
	}
	if tt.check != nil {
		tt.check(t, w)
	}
}

// shopifyZero makes orders_paid.json a free order.
func shopifyZero(t *testing.T, o map[string]any) {
	o["total_price"], o["total_tax"] = "0.00", "0.00"
	o["total_price_set"] = shopifySet("0.00", "USD", "0.00", "USD")
	o["total_shipping_price_set"] = shopifySet("0.00", "USD", "0.00", "USD")
}

// shopifyEUR turns orders_paid.json into a USD shop selling to a buyer who
// saw and paid EUR.
func shopifyEUR(t *testing.T, o map[string]any) {
	o["presentment_currency"] = "EUR"
	o["total_price_set"] = shopifySet("120.94", "USD", "111.26", "EUR")
	o["total_tax_set"] = shopifySet("8.69", "USD", "8.00", "EUR")
	o["total_shipping_price_set"] = shopifySet("6.95", "USD", "6.38", "EUR")
	lines := shopifyLines(t, o)
	lines[0]["price_set"] = shopifySet("89.00", "USD", "81.88", "EUR")
	lines[1]["price_set"] = shopifySet("14.00", "USD", "12.88", "EUR")
}

// shopifyNoContact removes every email and phone from orders_paid.json.
func shopifyNoContact(t *testing.T, o map[string]any) {
	o["email"], o["contact_email"], o["phone"] = "", nil, nil
	c := shopifyObj(t, o, "customer")
	c["email"], c["phone"] = nil, nil
	shopifyObj(t, o, "billing_address")["phone"] = nil
	shopifyObj(t, o, "shipping_address")["phone"] = ""
}

// shopifyWantMoney checks value, currency and the two line prices.
func shopifyWantMoney(value, currency, price0, price1 string) func(t *testing.T, w mapping.Webhook) {
	return func(t *testing.T, w mapping.Webhook) {
		t.Helper()
		c := w.Conversion
		got := []string{c.Value.String(), c.Currency, c.Items[0].Price.String(), c.Items[1].Price.String()}
		want := []string{
			decimal.RequireFromString(value).String(), currency,
			decimal.RequireFromString(price0).String(), decimal.RequireFromString(price1).String(),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("value, currency, prices mismatch (-want +got):\n%s", diff)
		}
	}
}

func TestShopifyParseRejectsBadRules(t *testing.T) {
	body := fixture(t, "shopify", "orders_paid.json")
	for _, r := range []mapping.ShopRules{
		{Trigger: "shipped"},
		{ValueRule: "gross"},
		{Currency: "buyer"},
	} {
		_, err := NewShopify().Parse(shopifyHeaders("orders/paid"), body, r)
		if err == nil || errors.Is(err, ErrMalformed) {
			t.Errorf("Parse with rules %+v: error = %v, want a configuration error (not ErrMalformed)", r, err)
		}
	}
}

// shopifyInconsistent describes what is wrong with a webhook Parse returned
// without error, or "".
func shopifyInconsistent(w mapping.Webhook, rules mapping.ShopRules) string {
	if w.Source != mapping.SourceShopify {
		return "source " + string(w.Source)
	}
	switch w.Outcome {
	case mapping.OutcomeIgnored:
		if w.Reason == "" || w.Conversion != nil || len(w.Refunds) != 0 {
			return "ignored without a reason, or with a payload"
		}
	case mapping.OutcomeConversion:
		c := w.Conversion
		switch {
		case c == nil:
			return "conversion outcome without a conversion"
		case c.OrderID == "" || c.OrderID != w.OrderID:
			return "conversion order id differs from the webhook's"
		case c.EventID == "" || c.EventName != mapping.EventPurchase || c.EventTime.IsZero():
			return "conversion without event id, name or time"
		case c.EventTime.Location() != time.UTC:
			return "event time not in UTC"
		case len(c.Currency) != 3 || strings.ToUpper(c.Currency) != c.Currency:
			return "currency " + c.Currency
		case c.Value.IsNegative() || (c.Value.IsZero() && !rules.SendZeroValue):
			return "value " + c.Value.String()
		case c.Test != w.Test:
			return "test flags differ"
		}
	case mapping.OutcomeRefund:
		if len(w.Refunds) != 1 || w.Refunds[0].OrderID != w.OrderID || !w.Refunds[0].Amount.IsPositive() || len(w.Refunds[0].Currency) != 3 {
			return "refund outcome without one positive refund of the order"
		}
	default:
		return "outcome " + string(w.Outcome)
	}
	return ""
}

func FuzzShopifyVerify(f *testing.F) {
	for _, name := range []string{"orders_paid.json", "orders_create_pending.json", "orders_fulfilled.json", "refunds_create.json"} {
		body := fixture(f, "shopify", name)
		f.Add(body, shopifyTestSecret, signShopify(shopifyTestSecret, body))
	}
	f.Add([]byte("{}"), "", "")
	f.Add([]byte("{}"), "k", "not base64 at all")
	s := NewShopify()
	f.Fuzz(func(t *testing.T, body []byte, secret, sig string) {
		h := http.Header{}
		h.Set("X-Shopify-Hmac-Sha256", sig)
		err := s.Verify(h, body, secret)
		if err != nil && !errors.Is(err, ErrNoValidSignature) {
			t.Fatalf("Verify with a header = %v, want nil or ErrNoValidSignature", err)
		}
		if err == nil && sig != signShopify(secret, body) {
			t.Fatalf("Verify accepted %q, which is not the signature of the body", sig)
		}
		good := signShopify(secret, body)
		h.Set("X-Shopify-Hmac-Sha256", good)
		if err := s.Verify(h, body, secret); (err == nil) != (secret != "") {
			t.Fatalf("Verify(own signature, secret %q) = %v", secret, err)
		}
		if err := s.Verify(h, append(body[:len(body):len(body)], 'x'), secret); err == nil {
			t.Fatalf("Verify accepted a body with a byte appended")
		}
		if err := s.Verify(http.Header{}, body, secret); !errors.Is(err, ErrNotSigned) {
			t.Fatalf("Verify without header = %v, want ErrNotSigned", err)
		}
	})
}

func FuzzShopifyParse(f *testing.F) {
	seeds := map[string]string{
		"orders_paid.json":           "orders/paid",
		"orders_create_pending.json": "orders/create",
		"orders_fulfilled.json":      "orders/fulfilled",
		"refunds_create.json":        "refunds/create",
	}
	for name, topic := range seeds {
		f.Add(topic, fixture(f, "shopify", name), false, false)
	}
	f.Add("orders/edited", []byte(`{"order_edit":{"order_id":1,"created_at":"2025-05-14T11:00:00-04:00"}}`), false, true)
	f.Add("orders/updated", []byte(`{"id":9007199254740993,"financial_status":"paid","total_price":"0","currency":"jpy","processed_at":"2025-05-14T11:00:00Z"}`), true, false)
	s := NewShopify()
	f.Fuzz(func(t *testing.T, topic string, body []byte, fulfilled, presentment bool) {
		rules := mapping.ShopRules{Trigger: mapping.TriggerPaid, ValueRule: mapping.ValueSubtotal}
		if fulfilled {
			rules.Trigger = mapping.TriggerFulfilled
		}
		if presentment {
			rules.Currency = mapping.CurrencyPresentment
		}
		h := shopifyHeaders(topic)
		w, err := s.Parse(h, body, rules)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if w.Topic != h.Get("X-Shopify-Topic") {
			t.Fatalf("Topic = %q, want %q", w.Topic, h.Get("X-Shopify-Topic"))
		}
		if problem := shopifyInconsistent(w, rules); problem != "" {
			t.Fatalf("inconsistent webhook: %s\n%+v", problem, w)
		}
	})
}

func BenchmarkShopifyVerifyParse(b *testing.B) {
	body := fixture(b, "shopify", "orders_paid.json")
	h := shopifyHeaders("orders/paid")
	h.Set("X-Shopify-Hmac-Sha256", signShopify(shopifyTestSecret, body))
	s := NewShopify()
	rules := mapping.ShopRules{}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Verify(h, body, shopifyTestSecret); err != nil {
			b.Fatal(err)
		}
		w, err := s.Parse(h, body, rules)
		if err != nil || w.Outcome != mapping.OutcomeConversion {
			b.Fatalf("Parse = %v, %v", w.Outcome, err)
		}
	}
}

// FuzzShopifyDecodeAgrees checks the decoder Shopify bodies go through
// (encoding/json's API on the json/v2 engine) against encoding/json
// itself: the same bodies fail, and the rest decode to the same order.
// Seeds cover what differs between the engines when misconfigured: case
// and underscore folding of names, duplicate names, invalid UTF-8,
// escapes, numbers in strings, nulls, and odd attribute values.
func FuzzShopifyDecodeAgrees(f *testing.F) {
	for _, name := range []string{"orders_paid.json", "orders_create_pending.json", "orders_fulfilled.json", "refunds_create.json"} {
		f.Add(fixture(f, "shopify", name))
	}
	for _, s := range []string{
		`{"ID":1,"Total_Price":"2.00","CURRENCY":"usd"}`,
		`{"id":1,"totalprice":"3","total-price":"4","total_price":"5"}`,
		`{"id":1,"id":2,"total_price":"1","total_price":"9"}`,
		"{\"id\":1,\"email\":\"a\xffb@example.com\",\"name\":\"\\ud800\"}",
		`{"id":1,"note_attributes":[{"name":"_fbc","value":12},{"name":"x","value":true},{"name":"y","value":{"a":1}},{"name":"z","value":"a\"b"}]}`,
		`{"id":"1","total_price":2}`,
		`{"id":1.5}`,
		`{"id":null,"customer":null,"line_items":null,"test":null}`,
		`{"id":1,"line_items":[{"price":"1","quantity":1e3}]}`,
		`{"id":1,"customer":{"ſ":1,"K":2}}`,
		`[1,2]`,
		`{"id":1}  `,
		`{"id":1} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var want, got shopifyOrder
		werr := json.Unmarshal(body, &want)
		gerr := jsonv1.Unmarshal(body, &got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("encoding/json error %v, ours %v", werr, gerr)
		}
		if werr == nil && !reflect.DeepEqual(want, got) {
			t.Fatalf("decoded differently:\nencoding/json %+v\nours          %+v", want, got)
		}
		var wantR, gotR shopifyRefund
		werr = json.Unmarshal(body, &wantR)
		gerr = jsonv1.Unmarshal(body, &gotR)
		if (werr == nil) != (gerr == nil) || (werr == nil && !reflect.DeepEqual(wantR, gotR)) {
			t.Fatalf("refund: encoding/json %+v (%v), ours %+v (%v)", wantR, werr, gotR, gerr)
		}
	})
}
