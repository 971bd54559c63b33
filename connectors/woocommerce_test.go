package connectors

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/internal/testutil"
	"github.com/postbackhq/postback/mapping"
)

// wpDecodePreg and wpDecodeStrtr are WordPress' wp_specialchars_decode(…,
// ENT_QUOTES) tables, transcribed as they are: a preg_replace pass that
// removes zero padding from numeric entities, then a strtr pass. signWoo
// uses them so that the tests do not sign with the decoder under test.
var (
	wpDecodePreg = []struct {
		re   *regexp.Regexp
		repl string
	}{
		{regexp.MustCompile(`&#0*39;`), "&#039;"},
		{regexp.MustCompile(`(?i)&#x0*27;`), "&#x27;"},
		{regexp.MustCompile(`&#0*34;`), "&#034;"},
		{regexp.MustCompile(`(?i)&#x0*22;`), "&#x22;"},
		{regexp.MustCompile(`&#0*60;`), "&#060;"},
		{regexp.MustCompile(`&#0*62;`), "&#062;"},
		{regexp.MustCompile(`&#0*38;`), "&#038;"},
		{regexp.MustCompile(`(?i)&#x0*26;`), "&#x26;"},
	}
	wpDecodeStrtr = strings.NewReplacer(
		"&#039;", "'", "&#x27;", "'",
		"&quot;", `"`, "&#034;", `"`, "&#x22;", `"`,
		"&lt;", "<", "&#060;", "<", "&gt;", ">", "&#062;", ">",
		"&amp;", "&", "&#038;", "&", "&#x26;", "&",
	)
)

// wpSpecialcharsDecode is the PHP-shaped reference decoder.
func wpSpecialcharsDecode(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	for _, p := range wpDecodePreg {
		s = p.re.ReplaceAllString(s, p.repl)
	}
	return wpDecodeStrtr.Replace(s)
}

// signWoo signs body as WC_Webhook::generate_signature() does:
// base64(hash_hmac('sha256', body, wp_specialchars_decode(secret, ENT_QUOTES), true)).
func signWoo(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(wpSpecialcharsDecode(secret)))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

const wooTestSecret = "wc_s3cr3t-Ab&amp;Cd&lt;Ef&gt;Gh&quot;Ij&#039;Kl&#39;Mn{}[]~"

// wooHeaders builds the headers WC_Webhook::deliver() sends.
func wooHeaders(topic, signature string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "WooCommerce/9.8.5 Hookshot (WordPress/6.8.1)")
	h.Set("X-WC-Webhook-Source", "https://woo.example.com/")
	if topic != "" {
		h.Set("X-WC-Webhook-Topic", topic)
		resource, event, _ := strings.Cut(topic, ".")
		h.Set("X-WC-Webhook-Resource", resource)
		h.Set("X-WC-Webhook-Event", event)
	}
	h.Set("X-WC-Webhook-ID", "7")
	h.Set("X-WC-Webhook-Delivery-ID", "3f1b6c0d2e9a8b7c6d5e4f3a2b1c0d9e")
	if signature != "" {
		h.Set("X-WC-Webhook-Signature", signature)
	}
	return h
}

// wooEdit returns the fixture with edit applied to its decoded JSON.
func wooEdit(t testing.TB, body []byte, edit func(o map[string]any)) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var o map[string]any
	if err := dec.Decode(&o); err != nil {
		t.Fatal(err)
	}
	edit(o)
	out, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wooParse parses body under topic, failing the test on error.
func wooParse(t *testing.T, topic string, body []byte, rules mapping.ShopRules) mapping.Webhook {
	t.Helper()
	wh, err := NewWooCommerce().Parse(wooHeaders(topic, signWoo(wooTestSecret, body)), body, rules)
	if err != nil {
		t.Fatalf("Parse(%s) error: %v", topic, err)
	}
	return wh
}

func wooUTC(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestWooCommerceSpecialcharsDecode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain-secret_123", "plain-secret_123"},
		{"a&amp;b", "a&b"},
		{"&lt;&gt;&quot;", `<>"`},
		{"&#039;&#39;&#0039;&#x27;&#X27;&#x0027;", "''''''"},
		{"&#34;&#034;&#x22;&#X022;", `""""`},
		{"&#60;&#060;&#62;&#0062;", "<<>>"},
		{"&#38;&#038;&#x26;&#X26;", "&&&&"},
		// strtr does not decode its own output.
		{"&amp;lt;", "&lt;"},
		{"&amp;amp;", "&amp;"},
		{"&#038;#39;", "&#39;"},
		// Case-sensitive names; entities WordPress leaves alone.
		{"&QUOT;&Amp;&apos;&nbsp;&#x3c;&#x3C;&#160;&copy;", "&QUOT;&Amp;&apos;&nbsp;&#x3c;&#x3C;&#160;&copy;"},
		// Not entities.
		{"&#;&#x;&#39&#x27 &amp &", "&#;&#x;&#39&#x27 &amp &"},
		{"&#0x27;&#390;&#3 9;", "&#0x27;&#390;&#3 9;"},
		{"trailing&", "trailing&"},
		{"&#x2", "&#x2"},
	}
	for _, tt := range tests {
		if got := wooSpecialcharsDecode(tt.in); got != tt.want {
			t.Errorf("wooSpecialcharsDecode(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := wpSpecialcharsDecode(tt.in); got != tt.want {
			t.Errorf("reference wpSpecialcharsDecode(%q) = %q, want %q (test table is wrong)", tt.in, got, tt.want)
		}
	}
}

func TestWooCommerceVerify(t *testing.T) {
	body := fixture(t, "woocommerce", "order_updated_processing.json")
	sig := signWoo(wooTestSecret, body)
	sha1Sig := func() string {
		mac := hmac.New(sha1.New, []byte(wpSpecialcharsDecode(wooTestSecret)))
		mac.Write(body)
		return base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}()
	hexSig := func() string {
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(raw)
	}()
	reencoded := func() []byte {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()
	tampered := bytes.Replace(body, []byte(`"total":"84.87"`), []byte(`"total":"84.88"`), 1)
	if bytes.Equal(tampered, body) {
		t.Fatal("fixture changed: tamper target not found")
	}

	tests := []struct {
		name   string
		body   []byte
		sig    string // "" = no header
		secret string
		want   error
	}{
		{"valid", body, sig, wooTestSecret, nil},
		{"valid, secret pasted with whitespace", body, sig, "  " + wooTestSecret + "\n", nil},
		{"valid, secret pasted already decoded", body, sig, wpSpecialcharsDecode(wooTestSecret), nil},
		{"valid, plain secret", body, signWoo("s3cret", body), "s3cret", nil},
		{"valid, signature header padded", body, " " + sig + " ", wooTestSecret, nil},
		{"entity secret signed with raw key", body, func() string {
			mac := hmac.New(sha256.New, []byte(wooTestSecret))
			mac.Write(body)
			return base64.StdEncoding.EncodeToString(mac.Sum(nil))
		}(), wooTestSecret, ErrNoValidSignature},
		{"no signature header", body, "", wooTestSecret, ErrNotSigned},
		{"wrong secret", body, sig, "another-secret", ErrNoValidSignature},
		{"empty secret", body, signWoo("", body), "", ErrNoValidSignature},
		{"body changed", tampered, sig, wooTestSecret, ErrNoValidSignature},
		{"body re-encoded by Go", reencoded, sig, wooTestSecret, ErrNoValidSignature},
		{"trailing newline added", append(append([]byte{}, body...), '\n'), sig, wooTestSecret, ErrNoValidSignature},
		{"not base64", body, "not*base64!", wooTestSecret, ErrNoValidSignature},
		{"hex instead of base64", body, hexSig, wooTestSecret, ErrNoValidSignature},
		{"truncated signature", body, sig[:20], wooTestSecret, ErrNoValidSignature},
		{"sha1 signature", body, sha1Sig, wooTestSecret, ErrNoValidSignature},
	}
	w := NewWooCommerce()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := w.Verify(wooHeaders("order.updated", tt.sig), tt.body, tt.secret)
			if tt.want == nil && err != nil {
				t.Fatalf("Verify(sig %q, secret %q) = %v, want nil", tt.sig, tt.secret, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify(sig %q, secret %q) = %v, want %v", tt.sig, tt.secret, err, tt.want)
			}
		})
	}
}

func TestWooCommerceIsPing(t *testing.T) {
	form := func(ct string) http.Header {
		h := http.Header{}
		h.Set("User-Agent", "WooCommerce/9.8.5 Hookshot (WordPress/6.8.1)")
		if ct != "" {
			h.Set("Content-Type", ct)
		}
		return h
	}
	signed := fixture(t, "woocommerce", "order_updated_processing.json")
	tests := []struct {
		name string
		h    http.Header
		body string
		want bool
	}{
		{"form content type", form("application/x-www-form-urlencoded"), "webhook_id=7", true},
		{"form with charset", form("application/x-www-form-urlencoded; charset=UTF-8"), "webhook_id=12345", true},
		{"no content type", form(""), "webhook_id=7", true},
		{"signed real delivery", wooHeaders("order.updated", signWoo(wooTestSecret, signed)), string(signed), false},
		{"ping body with a signature header", func() http.Header {
			h := form("application/x-www-form-urlencoded")
			h.Set("X-WC-Webhook-Signature", "abc=")
			return h
		}(), "webhook_id=7", false},
		{"json body without signature", form("application/json"), `{"webhook_id":7}`, false},
		{"no id", form(""), "webhook_id=", false},
		{"id not numeric", form(""), "webhook_id=seven", false},
		{"extra field", form(""), "webhook_id=7&x=1", false},
		{"trailing newline", form(""), "webhook_id=7\n", false},
		{"other field", form(""), "hook_id=7", false},
		{"empty body", form(""), "", false},
		{"id too long", form(""), "webhook_id=123456789012345678901", false},
	}
	w := NewWooCommerce()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := w.IsPing(tt.h, []byte(tt.body)); got != tt.want {
				t.Errorf("IsPing(%v, %.60q) = %v, want %v", tt.h, tt.body, got, tt.want)
			}
		})
	}
}

// TestWooCommerceFixtures runs every fixture through Verify and Parse as the
// web layer does and compares the result with its golden file.
func TestWooCommerceFixtures(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		topic   string
		rules   mapping.ShopRules
		golden  string
		outcome mapping.Outcome
		check   func(t *testing.T, wh mapping.Webhook)
	}{
		{
			name: "processing order converts", fixture: "order_updated_processing.json", topic: "order.updated",
			golden: "order_updated_processing.golden.json", outcome: mapping.OutcomeConversion,
			check: func(t *testing.T, wh mapping.Webhook) {
				c := wh.Conversion
				if want := wooUTC(t, "2025-05-14T15:04:18Z"); !c.EventTime.Equal(want) {
					t.Errorf("EventTime = %v, want date_paid_gmt %v", c.EventTime, want)
				}
				if !c.Value.Equal(decimal.RequireFromString("84.87")) || c.Currency != "EUR" {
					t.Errorf("value = %s %s, want 84.87 EUR", c.Value, c.Currency)
				}
				if c.ClickIDs.FBCLID != "IwZXh0bgNhZW0BMABhZGlkAasWooExampleFbclid_aem_Zz9yExample" {
					t.Errorf("fbclid = %q, want the one in the session entry URL", c.ClickIDs.FBCLID)
				}
				if c.ClickIDs.FBP != "fb.1.1715698682000.987654321" || !strings.HasPrefix(c.ClickIDs.FBC, "fb.1.1715698683000.") {
					t.Errorf("fbp, fbc = %q, %q, want the _fbp/_fbc meta values", c.ClickIDs.FBP, c.ClickIDs.FBC)
				}
				if want := wooUTC(t, "2025-05-14T14:58:02Z"); !c.ClickTime.Equal(want) {
					t.Errorf("ClickTime = %v, want session start %v", c.ClickTime, want)
				}
				if c.User.Phone != "+35315550199" {
					t.Errorf("phone = %q, want +35315550199", c.User.Phone)
				}
				if wh.Refunds != nil {
					t.Errorf("Refunds = %v, want none", wh.Refunds)
				}
			},
		},
		{
			name: "pending order is ignored", fixture: "order_created_pending.json", topic: "order.created",
			golden: "order_created_pending.golden.json", outcome: mapping.OutcomeIgnored,
			check: func(t *testing.T, wh mapping.Webhook) {
				if !strings.Contains(wh.Reason, "pending") {
					t.Errorf("Reason = %q, want it to name the status", wh.Reason)
				}
			},
		},
		{
			name: "completed order under trigger paid", fixture: "order_completed.json", topic: "order.updated",
			rules:  mapping.ShopRules{Trigger: mapping.TriggerPaid},
			golden: "order_completed_paid.golden.json", outcome: mapping.OutcomeConversion,
			check: func(t *testing.T, wh mapping.Webhook) {
				if want := wooUTC(t, "2025-05-09T10:20:09Z"); !wh.Conversion.EventTime.Equal(want) {
					t.Errorf("EventTime = %v, want date_paid_gmt %v", wh.Conversion.EventTime, want)
				}
				wooCheckPartialRefund(t, wh)
			},
		},
		{
			name: "completed order under trigger fulfilled", fixture: "order_completed.json", topic: "order.updated",
			rules:  mapping.ShopRules{Trigger: mapping.TriggerFulfilled},
			golden: "order_completed_fulfilled.golden.json", outcome: mapping.OutcomeConversion,
			check: func(t *testing.T, wh mapping.Webhook) {
				if want := wooUTC(t, "2025-05-10T14:47:31Z"); !wh.Conversion.EventTime.Equal(want) {
					t.Errorf("EventTime = %v, want date_completed_gmt %v", wh.Conversion.EventTime, want)
				}
				if wh.Conversion.User.ExternalID != "57" {
					t.Errorf("ExternalID = %q, want customer_id 57", wh.Conversion.User.ExternalID)
				}
				if wh.Conversion.ClickIDs.Any() {
					t.Errorf("ClickIDs = %+v, want none (organic visit)", wh.Conversion.ClickIDs)
				}
				wooCheckPartialRefund(t, wh)
			},
		},
	}
	w := NewWooCommerce()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := fixture(t, "woocommerce", tt.fixture)
			h := wooHeaders(tt.topic, signWoo(wooTestSecret, body))
			if w.IsPing(h, body) {
				t.Fatal("IsPing = true for a signed delivery")
			}
			if err := w.Verify(h, body, wooTestSecret); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			wh, err := w.Parse(h, body, tt.rules)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if wh.Outcome != tt.outcome {
				t.Fatalf("Outcome = %q (reason %q), want %q", wh.Outcome, wh.Reason, tt.outcome)
			}
			if wh.Source != mapping.SourceWooCommerce || wh.Topic != tt.topic || wh.DeliveryID != "3f1b6c0d2e9a8b7c6d5e4f3a2b1c0d9e" {
				t.Errorf("Source, Topic, DeliveryID = %q, %q, %q", wh.Source, wh.Topic, wh.DeliveryID)
			}
			if wh.OccurredAt.IsZero() || wh.OccurredAt.Location() != time.UTC {
				t.Errorf("OccurredAt = %v, want date_modified_gmt in UTC", wh.OccurredAt)
			}
			if (wh.Conversion != nil) != (tt.outcome == mapping.OutcomeConversion) {
				t.Errorf("Conversion = %+v with outcome %q", wh.Conversion, wh.Outcome)
			}
			if c := wh.Conversion; c != nil && (c.EventID != wh.OrderID || c.OrderID != wh.OrderID || c.EventName != mapping.EventPurchase) {
				t.Errorf("EventID, OrderID, EventName = %q, %q, %q; webhook order %q", c.EventID, c.OrderID, c.EventName, wh.OrderID)
			}
			tt.check(t, wh)
			got, err := json.Marshal(wh)
			if err != nil {
				t.Fatal(err)
			}
			testutil.GoldenJSON(t, filepath.Join("testdata", "woocommerce", tt.golden), got, *update)
		})
	}
}

// wooCheckPartialRefund checks order_completed.json's partial refund.
func wooCheckPartialRefund(t *testing.T, wh mapping.Webhook) {
	t.Helper()
	want := []mapping.Refund{{
		RefundID: "5134", OrderID: "5098", Amount: decimal.RequireFromString("6.00"), Currency: "EUR",
		Time: wooUTC(t, "2025-05-12T08:02:44Z"), Reason: "Chipped handle",
	}}
	if diff := cmp.Diff(want, wh.Refunds); diff != "" {
		t.Errorf("Refunds mismatch (-want +got):\n%s", diff)
	}
}

func TestWooCommerceStatuses(t *testing.T) {
	base := fixture(t, "woocommerce", "order_updated_processing.json")
	paidAt := "2025-05-14T15:04:18Z"
	tests := []struct {
		name    string
		status  string
		edit    func(o map[string]any)
		rules   mapping.ShopRules
		outcome mapping.Outcome
		at      string // conversion time, for conversions
		reason  string // substring of Reason, for ignored
	}{
		{name: "pending", status: "pending", outcome: mapping.OutcomeIgnored, reason: "status pending"},
		{name: "on-hold", status: "on-hold", outcome: mapping.OutcomeIgnored, reason: "status on-hold"},
		{name: "failed", status: "failed", outcome: mapping.OutcomeIgnored, reason: "status failed"},
		{name: "cancelled even with date_paid", status: "cancelled", outcome: mapping.OutcomeIgnored, reason: "status cancelled"},
		{name: "checkout-draft", status: "checkout-draft", outcome: mapping.OutcomeIgnored, reason: "status checkout-draft"},
		{name: "trash", status: "trash", outcome: mapping.OutcomeIgnored, reason: "status trash"},
		{name: "unknown status", status: "shipped", outcome: mapping.OutcomeIgnored, reason: "status shipped is not a paid status"},
		{name: "no status", status: "", outcome: mapping.OutcomeIgnored, reason: "no status"},
		{name: "processing with date_paid", status: "processing", outcome: mapping.OutcomeConversion, at: paidAt},
		{name: "processing with date_paid, upper case", status: "Processing", outcome: mapping.OutcomeConversion, at: paidAt},
		{
			name: "processing without date_paid", status: "processing",
			edit:    func(o map[string]any) { o["date_paid_gmt"] = nil },
			outcome: mapping.OutcomeIgnored, reason: "status processing without a payment date",
		},
		{
			name: "cash on delivery counts as paid", status: "processing",
			edit:    func(o map[string]any) { o["payment_method"] = "cod" },
			outcome: mapping.OutcomeConversion, at: paidAt,
		},
		{
			name: "completed converts at date_paid", status: "completed",
			edit:    func(o map[string]any) { o["date_completed_gmt"] = "2025-05-16T09:00:00" },
			outcome: mapping.OutcomeConversion, at: paidAt,
		},
		{
			name: "completed without date_paid converts at completion", status: "completed",
			edit: func(o map[string]any) {
				o["date_paid_gmt"] = nil
				o["date_completed_gmt"] = "2025-05-16T09:00:00"
			},
			outcome: mapping.OutcomeConversion, at: "2025-05-16T09:00:00Z",
		},
		{name: "ready-for-pickup paid online", status: "ready-for-pickup", outcome: mapping.OutcomeConversion, at: paidAt},
		{
			name: "ready-for-pickup to pay at pickup", status: "ready-for-pickup",
			edit:    func(o map[string]any) { o["date_paid_gmt"] = nil },
			outcome: mapping.OutcomeIgnored, reason: "status ready-for-pickup",
		},
		{
			name: "custom paid status", status: "shipped",
			rules:   mapping.ShopRules{PaidStatuses: []string{"partial-payment", "shipped"}},
			outcome: mapping.OutcomeConversion, at: paidAt,
		},
		{
			name: "custom paid status with wc- prefix, no date_paid", status: "shipped",
			edit:    func(o map[string]any) { o["date_paid_gmt"] = nil },
			rules:   mapping.ShopRules{PaidStatuses: []string{"wc-Shipped"}},
			outcome: mapping.OutcomeConversion, at: "2025-05-14T15:04:19Z",
		},
		{
			name: "on-hold configured as paid", status: "on-hold",
			rules:   mapping.ShopRules{PaidStatuses: []string{"on-hold"}},
			outcome: mapping.OutcomeConversion, at: paidAt,
		},
		{
			name: "cancelled configured as paid stays ignored", status: "cancelled",
			rules:   mapping.ShopRules{PaidStatuses: []string{"cancelled", "failed", "trash"}},
			outcome: mapping.OutcomeIgnored, reason: "status cancelled",
		},
		{
			name: "failed configured as paid stays ignored", status: "failed",
			rules:   mapping.ShopRules{PaidStatuses: []string{"failed"}},
			outcome: mapping.OutcomeIgnored, reason: "status failed",
		},
		{
			name: "processing under trigger fulfilled", status: "processing",
			rules:   mapping.ShopRules{Trigger: mapping.TriggerFulfilled},
			outcome: mapping.OutcomeIgnored, reason: "trigger fulfilled",
		},
		{
			name: "custom paid status under trigger fulfilled", status: "shipped",
			rules:   mapping.ShopRules{Trigger: mapping.TriggerFulfilled, PaidStatuses: []string{"shipped"}},
			outcome: mapping.OutcomeIgnored, reason: "trigger fulfilled",
		},
		{
			name: "completed under trigger fulfilled", status: "completed",
			edit:    func(o map[string]any) { o["date_completed_gmt"] = "2025-05-16T09:00:00" },
			rules:   mapping.ShopRules{Trigger: mapping.TriggerFulfilled},
			outcome: mapping.OutcomeConversion, at: "2025-05-16T09:00:00Z",
		},
		{name: "refunded", status: "refunded", outcome: mapping.OutcomeRefund},
		{
			name: "refunded under trigger fulfilled", status: "refunded",
			rules: mapping.ShopRules{Trigger: mapping.TriggerFulfilled}, outcome: mapping.OutcomeRefund,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := wooEdit(t, base, func(o map[string]any) {
				o["status"] = tt.status
				if tt.edit != nil {
					tt.edit(o)
				}
			})
			wh := wooParse(t, "order.updated", body, tt.rules)
			if wh.Outcome != tt.outcome {
				t.Fatalf("status %q, rules %+v: Outcome = %q (reason %q), want %q", tt.status, tt.rules, wh.Outcome, wh.Reason, tt.outcome)
			}
			if wh.OrderID != "5120" {
				t.Errorf("OrderID = %q, want 5120", wh.OrderID)
			}
			switch tt.outcome {
			case mapping.OutcomeConversion:
				if want := wooUTC(t, tt.at); wh.Conversion == nil || !wh.Conversion.EventTime.Equal(want) {
					t.Errorf("status %q: conversion %+v, want EventTime %v", tt.status, wh.Conversion, want)
				}
			case mapping.OutcomeIgnored:
				if wh.Conversion != nil || !strings.Contains(wh.Reason, tt.reason) {
					t.Errorf("status %q: Reason = %q, Conversion = %v; want reason containing %q and no conversion", tt.status, wh.Reason, wh.Conversion, tt.reason)
				}
			case mapping.OutcomeRefund:
				if wh.Conversion != nil || len(wh.Refunds) != 1 || !wh.Refunds[0].Full {
					t.Errorf("status %q: Conversion = %v, Refunds = %+v; want one full refund", tt.status, wh.Conversion, wh.Refunds)
				}
			}
		})
	}
}

func TestWooCommerceRefunds(t *testing.T) {
	base := fixture(t, "woocommerce", "order_updated_processing.json")
	modified := wooUTC(t, "2025-05-14T15:04:19Z")
	refund := func(id, amount string, full bool, reason string) mapping.Refund {
		return mapping.Refund{
			RefundID: id, OrderID: "5120", Amount: decimal.RequireFromString(amount), Currency: "EUR",
			Full: full, Time: modified, Reason: reason,
		}
	}
	tests := []struct {
		name    string
		status  string
		refunds any
		outcome mapping.Outcome
		want    []mapping.Refund
	}{
		{
			name: "refunded without refund entries", status: "refunded", outcome: mapping.OutcomeRefund,
			want: []mapping.Refund{refund("5120-full", "84.87", true, "order status refunded")},
		},
		{
			name: "refunded by entries covering the total", status: "refunded", outcome: mapping.OutcomeRefund,
			refunds: []any{
				map[string]any{"id": 5200, "reason": "", "total": "-80.00"},
				map[string]any{"id": 5190, "reason": "Damaged", "total": "-4.87"},
			},
			want: []mapping.Refund{refund("5200", "80.00", true, ""), refund("5190", "4.87", true, "Damaged")},
		},
		{
			name: "refunded with entries short of the total", status: "refunded", outcome: mapping.OutcomeRefund,
			refunds: []any{map[string]any{"id": 5190, "reason": "", "total": "-4.87"}},
			want: []mapping.Refund{
				refund("5190", "4.87", true, ""),
				refund("5120-full", "80.00", true, "order status refunded"),
			},
		},
		{
			name: "partial refund on a paid order rides with the conversion", status: "processing", outcome: mapping.OutcomeConversion,
			refunds: []any{map[string]any{"id": 5190, "reason": " Late ", "total": "-10.00"}},
			want:    []mapping.Refund{refund("5190", "10.00", false, "Late")},
		},
		{
			name: "partial refund on a cancelled order is still recorded", status: "cancelled", outcome: mapping.OutcomeIgnored,
			refunds: []any{map[string]any{"id": 5190, "reason": "", "total": "-10.00"}},
			want:    []mapping.Refund{refund("5190", "10.00", false, "")},
		},
		{
			name: "zero refund is skipped", status: "processing", outcome: mapping.OutcomeConversion,
			refunds: []any{map[string]any{"id": 5190, "reason": "", "total": "-0.00"}},
		},
		{
			name: "refunds as a PHP object", status: "processing", outcome: mapping.OutcomeConversion,
			refunds: map[string]any{"3": map[string]any{"id": 5190, "reason": "", "total": "-1.50"}},
			want:    []mapping.Refund{refund("5190", "1.50", false, "")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := wooEdit(t, base, func(o map[string]any) {
				o["status"] = tt.status
				if tt.refunds != nil {
					o["refunds"] = tt.refunds
				}
			})
			wh := wooParse(t, "order.updated", body, mapping.ShopRules{})
			if wh.Outcome != tt.outcome {
				t.Fatalf("Outcome = %q (reason %q), want %q", wh.Outcome, wh.Reason, tt.outcome)
			}
			if diff := cmp.Diff(tt.want, wh.Refunds); diff != "" {
				t.Errorf("refunds %v: Refunds mismatch (-want +got):\n%s", tt.refunds, diff)
			}
		})
	}
}

func TestWooCommerceTopics(t *testing.T) {
	full := fixture(t, "woocommerce", "order_updated_processing.json")
	tests := []struct {
		name    string
		h       http.Header
		body    []byte
		orderID string
		reason  string
	}{
		{"order.deleted", wooHeaders("order.deleted", "x"), []byte(`{"id":5120}`), "5120", "trash"},
		{"order.restored", wooHeaders("order.restored", "x"), full, "5120", "restored"},
		{"product.updated", wooHeaders("product.updated", "x"), []byte(`{"id":33,"name":"Mug"}`), "", "topic product.updated is not used"},
		{"coupon.created", wooHeaders("coupon.created", "x"), []byte(`{"id":9}`), "", "topic coupon.created is not used"},
		{"action topic", wooHeaders("action.woocommerce_payment_complete", "x"), []byte(`{"action":"woocommerce_payment_complete","arg":5120}`), "", "is not used"},
		{"no topic header", wooHeaders("", "x"), full, "", "no X-WC-Webhook-Topic"},
		{"topic from resource and event", func() http.Header {
			h := wooHeaders("", "x")
			h.Set("X-WC-Webhook-Resource", "order")
			h.Set("X-WC-Webhook-Event", "deleted")
			return h
		}(), []byte(`{"id":5120}`), "5120", "trash"},
	}
	w := NewWooCommerce()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wh, err := w.Parse(tt.h, tt.body, mapping.ShopRules{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if wh.Outcome != mapping.OutcomeIgnored || wh.Conversion != nil || wh.Refunds != nil {
				t.Errorf("Outcome = %q, Conversion = %v, Refunds = %v; want ignored with nothing", wh.Outcome, wh.Conversion, wh.Refunds)
			}
			if wh.OrderID != tt.orderID || !strings.Contains(wh.Reason, tt.reason) {
				t.Errorf("OrderID, Reason = %q, %q; want %q, reason containing %q", wh.OrderID, wh.Reason, tt.orderID, tt.reason)
			}
		})
	}
}

func TestWooCommerceValue(t *testing.T) {
	base := fixture(t, "woocommerce", "order_updated_processing.json")
	zero := wooEdit(t, base, func(o map[string]any) {
		o["total"], o["total_tax"], o["shipping_total"] = "0.00", "0.00", "0.00"
	})
	noTaxShipping := wooEdit(t, base, func(o map[string]any) { o["total"] = "5.00"; o["total_tax"] = "1.15" })
	tests := []struct {
		name     string
		body     []byte
		rules    mapping.ShopRules
		outcome  mapping.Outcome
		value    string
		eventID  string
		inReason string
	}{
		{name: "total", body: base, outcome: mapping.OutcomeConversion, value: "84.87", eventID: "5120"},
		{name: "explicit total rule", body: base, rules: mapping.ShopRules{ValueRule: mapping.ValueTotal}, outcome: mapping.OutcomeConversion, value: "84.87", eventID: "5120"},
		// 84.87 - 15.87 tax - 5.00 shipping.
		{name: "subtotal", body: base, rules: mapping.ShopRules{ValueRule: mapping.ValueSubtotal}, outcome: mapping.OutcomeConversion, value: "64.00", eventID: "5120"},
		{name: "event id template", body: base, rules: mapping.ShopRules{EventIDTemplate: "purchase-{order_id}"}, outcome: mapping.OutcomeConversion, value: "84.87", eventID: "purchase-5120"},
		{name: "zero value ignored", body: zero, outcome: mapping.OutcomeIgnored, inReason: "zero"},
		{name: "zero value sent when allowed", body: zero, rules: mapping.ShopRules{SendZeroValue: true}, outcome: mapping.OutcomeConversion, value: "0", eventID: "5120"},
		{name: "subtotal below zero ignored", body: noTaxShipping, rules: mapping.ShopRules{ValueRule: mapping.ValueSubtotal, SendZeroValue: true}, outcome: mapping.OutcomeIgnored, inReason: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wh := wooParse(t, "order.updated", tt.body, tt.rules)
			if wh.Outcome != tt.outcome {
				t.Fatalf("rules %+v: Outcome = %q (reason %q), want %q", tt.rules, wh.Outcome, wh.Reason, tt.outcome)
			}
			if tt.outcome == mapping.OutcomeIgnored {
				if !strings.Contains(wh.Reason, tt.inReason) {
					t.Errorf("Reason = %q, want it to contain %q", wh.Reason, tt.inReason)
				}
				return
			}
			c := wh.Conversion
			if !c.Value.Equal(decimal.RequireFromString(tt.value)) || c.EventID != tt.eventID {
				t.Errorf("rules %+v: Value, EventID = %s, %q; want %s, %q", tt.rules, c.Value, c.EventID, tt.value, tt.eventID)
			}
		})
	}
}

func TestWooCommerceMalformed(t *testing.T) {
	base := fixture(t, "woocommerce", "order_updated_processing.json")
	edit := func(f func(o map[string]any)) []byte { return wooEdit(t, base, f) }
	tests := []struct {
		name  string
		topic string
		body  []byte
		also  error
	}{
		{name: "not JSON", topic: "order.updated", body: []byte("webhook_id=7")},
		{name: "truncated", topic: "order.updated", body: base[:len(base)/2]},
		{name: "empty", topic: "order.updated", body: nil},
		{name: "array", topic: "order.updated", body: []byte(`[]`)},
		{name: "null", topic: "order.updated", body: []byte(`null`)},
		{name: "empty object", topic: "order.created", body: []byte(`{}`)},
		{name: "id zero", topic: "order.updated", body: edit(func(o map[string]any) { o["id"] = 0 })},
		{name: "id not a number", topic: "order.updated", body: edit(func(o map[string]any) { o["id"] = "abc" })},
		{name: "id negative", topic: "order.updated", body: edit(func(o map[string]any) { o["id"] = -5 })},
		{name: "total not a number", topic: "order.updated", body: edit(func(o map[string]any) { o["total"] = "eighty" })},
		{name: "total huge exponent", topic: "order.updated", body: edit(func(o map[string]any) { o["total"] = "1e999999999" })},
		{name: "total missing", topic: "order.updated", body: edit(func(o map[string]any) { delete(o, "total") })},
		{name: "date not a date", topic: "order.updated", body: edit(func(o map[string]any) { o["date_paid_gmt"] = "yesterday" })},
		{name: "date a number", topic: "order.updated", body: edit(func(o map[string]any) { o["date_modified_gmt"] = 1715699059 })},
		{name: "status an object", topic: "order.updated", body: edit(func(o map[string]any) { o["status"] = map[string]any{} })},
		{name: "line items not a list", topic: "order.updated", body: edit(func(o map[string]any) { o["line_items"] = "none" })},
		{name: "refund without id", topic: "order.updated", body: edit(func(o map[string]any) {
			o["refunds"] = []any{map[string]any{"reason": "", "total": "-1.00"}}
		})},
		{name: "unknown currency", topic: "order.updated", body: edit(func(o map[string]any) { o["currency"] = "XYZ" }), also: mapping.ErrCurrency},
		{name: "no currency", topic: "order.updated", body: edit(func(o map[string]any) { o["currency"] = "" }), also: mapping.ErrCurrency},
		{name: "unknown currency on a refund", topic: "order.updated", body: edit(func(o map[string]any) {
			o["status"], o["currency"] = "refunded", "EURO"
		}), also: mapping.ErrCurrency},
		{name: "deleted without id", topic: "order.deleted", body: []byte(`{}`)},
		{name: "deleted not JSON", topic: "order.deleted", body: []byte(`id=5`)},
	}
	w := NewWooCommerce()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := wooHeaders(tt.topic, signWoo(wooTestSecret, tt.body))
			wh, err := w.Parse(h, tt.body, mapping.ShopRules{})
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%.80q) = %+v, %v; want ErrMalformed", tt.body, wh, err)
			}
			if tt.also != nil && !errors.Is(err, tt.also) {
				t.Errorf("Parse error %v, want it to wrap %v too", err, tt.also)
			}
			if wh.Source != mapping.SourceWooCommerce || wh.Topic != tt.topic || wh.DeliveryID == "" {
				t.Errorf("on error Source, Topic, DeliveryID = %q, %q, %q; want them kept", wh.Source, wh.Topic, wh.DeliveryID)
			}
		})
	}
}

func TestWooCommerceMeta(t *testing.T) {
	base := fixture(t, "woocommerce", "order_updated_processing.json")
	meta := func(kv ...any) []any {
		var out []any
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, map[string]any{"id": 90000 + i, "key": kv[i], "value": kv[i+1]})
		}
		return out
	}
	tests := []struct {
		name  string
		meta  any
		rules mapping.ShopRules
		check func(t *testing.T, c *mapping.Conversion, wh mapping.Webhook)
	}{
		{
			name: "non-string values are skipped",
			meta: meta(
				"_wc_order_attribution_session_entry", map[string]any{"url": "https://x.example/?gclid=obj"},
				"gclid", []any{"arr"},
				"_fbp", true,
				"_fbc", nil,
				"ttclid", json.Number("12345"),
				"_wc_order_attribution_session_start_time", 1715698682,
				"_wcpay_mode", map[string]any{"mode": "test"},
				"_ttp", "ttp-cookie-value",
			),
			check: func(t *testing.T, c *mapping.Conversion, wh mapping.Webhook) {
				want := mapping.ClickIDs{TTCLID: "12345", TTP: "ttp-cookie-value"}
				if diff := cmp.Diff(want, c.ClickIDs); diff != "" {
					t.Errorf("ClickIDs mismatch (-want +got):\n%s", diff)
				}
				if c.SourceURL != "" || wh.Test {
					t.Errorf("SourceURL, Test = %q, %v; want none from non-string values", c.SourceURL, wh.Test)
				}
				if want := wooUTC(t, "2025-05-14T15:04:12Z"); !c.ClickTime.Equal(want) {
					t.Errorf("ClickTime = %v, want date_created_gmt %v when no session start", c.ClickTime, want)
				}
			},
		},
		{
			name: "meta_data written as a PHP object",
			meta: map[string]any{
				"0": map[string]any{"id": 1, "key": "_fbc", "value": "fb.1.1715698683000.abc"},
				"4": map[string]any{"id": 5, "key": "gclid", "value": "Cj0KCQ-gclid"},
			},
			check: func(t *testing.T, c *mapping.Conversion, wh mapping.Webhook) {
				if c.ClickIDs.FBC != "fb.1.1715698683000.abc" || c.ClickIDs.GCLID != "Cj0KCQ-gclid" {
					t.Errorf("ClickIDs = %+v, want fbc and gclid from the object", c.ClickIDs)
				}
			},
		},
		{
			name:  "shop-named keys",
			meta:  meta("my_google_click", "Cj-custom", "pys_fbp", "fb.1.2.3", "gclid", "ignored-second"),
			rules: mapping.ShopRules{AttributeNames: map[string]string{"my_google_click": "gclid", "pys_fbp": "_fbp"}},
			check: func(t *testing.T, c *mapping.Conversion, wh mapping.Webhook) {
				if c.ClickIDs.GCLID != "Cj-custom" || c.ClickIDs.FBP != "fb.1.2.3" {
					t.Errorf("ClickIDs = %+v, want gclid and fbp from shop-named keys, first value kept", c.ClickIDs)
				}
			},
		},
		{
			name: "landing URL wins over a plugin key, (none) is empty",
			meta: meta(
				"_wc_order_attribution_session_entry", "https://woo.example.com/?gclid=from-url&ScCid=snap1",
				"gclid", "from-meta",
				"_wc_order_attribution_user_agent", "(none)",
				"_wc_order_attribution_session_start_time", "2025-05-14 15:00:00",
			),
			check: func(t *testing.T, c *mapping.Conversion, wh mapping.Webhook) {
				if c.ClickIDs.GCLID != "from-url" || c.ClickIDs.ScCID != "snap1" {
					t.Errorf("ClickIDs = %+v, want the landing URL's ids", c.ClickIDs)
				}
				if c.SourceURL != "https://woo.example.com/?gclid=from-url&ScCid=snap1" {
					t.Errorf("SourceURL = %q", c.SourceURL)
				}
				if want := wooUTC(t, "2025-05-14T15:00:00Z"); !c.ClickTime.Equal(want) {
					t.Errorf("ClickTime = %v, want %v", c.ClickTime, want)
				}
			},
		},
		{
			name: "relative or placeholder entry is no source URL",
			meta: meta("_wc_order_attribution_session_entry", "(none)"),
			check: func(t *testing.T, c *mapping.Conversion, wh mapping.Webhook) {
				if c.SourceURL != "" {
					t.Errorf("SourceURL = %q, want empty", c.SourceURL)
				}
			},
		},
		{
			name: "WooPayments test mode",
			meta: meta("_wcpay_mode", "test"),
			check: func(t *testing.T, c *mapping.Conversion, wh mapping.Webhook) {
				if !wh.Test || !c.Test {
					t.Errorf("Test = %v, %v; want a test order", wh.Test, c.Test)
				}
			},
		},
		{
			name: "no meta at all",
			meta: nil,
			check: func(t *testing.T, c *mapping.Conversion, wh mapping.Webhook) {
				if c.ClickIDs != (mapping.ClickIDs{}) || wh.Test {
					t.Errorf("ClickIDs, Test = %+v, %v; want none", c.ClickIDs, wh.Test)
				}
				// The order's own user agent is used, not the meta one.
				if !strings.HasPrefix(c.UserAgent, "Mozilla/5.0 (iPhone") {
					t.Errorf("UserAgent = %q", c.UserAgent)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := wooEdit(t, base, func(o map[string]any) { o["meta_data"] = tt.meta })
			wh := wooParse(t, "order.updated", body, tt.rules)
			if wh.Outcome != mapping.OutcomeConversion {
				t.Fatalf("meta %v: Outcome = %q (reason %q), want conversion", tt.meta, wh.Outcome, wh.Reason)
			}
			tt.check(t, wh.Conversion, wh)
		})
	}
}

func TestWooCommerceUser(t *testing.T) {
	base := fixture(t, "woocommerce", "order_updated_processing.json")
	tests := []struct {
		name      string
		edit      func(o map[string]any)
		phone     string
		reason    []string // substrings of Reason
		notReason string
		user      func(u mapping.User) bool
	}{
		{name: "international phone", phone: "+35315550199", user: func(u mapping.User) bool {
			return u.Email == "aoife.sample@example.com" && u.FirstName == "Aoife" && u.LastName == "Sample" &&
				u.Street == "12 Example Quay" && u.City == "Dublin" && u.State == "D" && u.Zip == "D02 X285" &&
				u.Country == "IE" && u.ExternalID == ""
		}},
		{name: "national phone read with billing country", phone: "+12175550143", edit: func(o map[string]any) {
			b := o["billing"].(map[string]any)
			b["phone"], b["country"] = "(217) 555-0143", "us"
		}, user: func(u mapping.User) bool { return u.Country == "US" }},
		{name: "unparseable phone left out", edit: func(o map[string]any) {
			b := o["billing"].(map[string]any)
			b["phone"], b["country"] = "55-01", ""
		}, reason: []string{"phone number could not be parsed"}, notReason: "55-01"},
		{name: "shipping phone when billing has none", phone: "+35315550100", edit: func(o map[string]any) {
			o["billing"].(map[string]any)["phone"] = ""
			o["shipping"].(map[string]any)["phone"] = "01 555 0100"
		}},
		{name: "no email and no phone still converts", edit: func(o map[string]any) {
			b := o["billing"].(map[string]any)
			b["phone"], b["email"] = "", ""
		}, reason: []string{"low match quality"}},
		{name: "registered customer", phone: "+35315550199", edit: func(o map[string]any) { o["customer_id"] = 57 },
			user: func(u mapping.User) bool { return u.ExternalID == "57" }},
		{name: "customer id as string", phone: "+35315550199", edit: func(o map[string]any) { o["customer_id"] = "58" },
			user: func(u mapping.User) bool { return u.ExternalID == "58" }},
		{name: "no IP or user agent", phone: "+35315550199", edit: func(o map[string]any) {
			o["customer_ip_address"], o["customer_user_agent"] = "", ""
			o["meta_data"] = []any{}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := base
			if tt.edit != nil {
				body = wooEdit(t, base, tt.edit)
			}
			wh := wooParse(t, "order.updated", body, mapping.ShopRules{})
			if wh.Outcome != mapping.OutcomeConversion {
				t.Fatalf("Outcome = %q (reason %q), want conversion", wh.Outcome, wh.Reason)
			}
			u := wh.Conversion.User
			if u.Phone != tt.phone {
				t.Errorf("Phone = %q, want %q", u.Phone, tt.phone)
			}
			for _, r := range tt.reason {
				if !strings.Contains(wh.Reason, r) {
					t.Errorf("Reason = %q, want it to contain %q", wh.Reason, r)
				}
			}
			if tt.reason == nil && wh.Reason != "" {
				t.Errorf("Reason = %q, want none", wh.Reason)
			}
			if tt.notReason != "" && strings.Contains(wh.Reason, tt.notReason) {
				t.Errorf("Reason = %q leaks the raw phone", wh.Reason)
			}
			if tt.user != nil && !tt.user(u) {
				t.Errorf("User = %+v", u)
			}
		})
	}
}

func TestWooCommerceItems(t *testing.T) {
	base := fixture(t, "woocommerce", "order_updated_processing.json")
	body := wooEdit(t, base, func(o map[string]any) {
		o["line_items"] = []any{
			map[string]any{"id": 1, "name": "Thirds", "product_id": 40, "variation_id": 0, "quantity": 3, "sku": "T-3", "price": json.Number("16.666666666666668")},
			map[string]any{"id": 2, "name": "Gone", "product_id": 0, "variation_id": 0, "quantity": 1, "sku": nil, "price": json.Number("5")},
			map[string]any{"id": 3, "name": "Variant", "product_id": 41, "variation_id": 44, "quantity": 2, "sku": 12345, "price": "7.50"},
			map[string]any{"id": 4, "name": "Deleted with SKU", "product_id": 0, "variation_id": 0, "quantity": 1, "sku": "OLD-1", "price": json.Number("1e1")},
		}
	})
	wh := wooParse(t, "order.updated", body, mapping.ShopRules{})
	if wh.Outcome != mapping.OutcomeConversion {
		t.Fatalf("Outcome = %q (reason %q)", wh.Outcome, wh.Reason)
	}
	want := []mapping.Item{
		{ID: "40", SKU: "T-3", Title: "Thirds", Quantity: 3, Price: decimal.RequireFromString("16.666666666666668")},
		{ID: "", Title: "Gone", Quantity: 1, Price: decimal.RequireFromString("5")},
		{ID: "41", VariantID: "44", SKU: "12345", Title: "Variant", Quantity: 2, Price: decimal.RequireFromString("7.50")},
		{ID: "OLD-1", SKU: "OLD-1", Title: "Deleted with SKU", Quantity: 1, Price: decimal.RequireFromString("10")},
	}
	got := wh.Conversion.Items
	if len(got) != len(want) {
		t.Fatalf("Items = %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.VariantID != w.VariantID || g.SKU != w.SKU || g.Title != w.Title || g.Quantity != w.Quantity || !g.Price.Equal(w.Price) {
			t.Errorf("item %d = %+v (price %s), want %+v (price %s)", i, g, g.Price, w, w.Price)
		}
	}
	if got[0].Price.String() != "16.666666666666668" {
		t.Errorf("price = %s, want every digit PHP sent", got[0].Price)
	}
}

func BenchmarkWooCommerceVerifyParse(b *testing.B) {
	body := fixture(b, "woocommerce", "order_updated_processing.json")
	h := wooHeaders("order.updated", signWoo(wooTestSecret, body))
	w := NewWooCommerce()
	rules := mapping.ShopRules{}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Verify(h, body, wooTestSecret); err != nil {
			b.Fatal(err)
		}
		wh, err := w.Parse(h, body, rules)
		if err != nil || wh.Outcome != mapping.OutcomeConversion {
			b.Fatalf("Parse = %q, %v", wh.Outcome, err)
		}
	}
}

func FuzzWooCommerceVerify(f *testing.F) {
	for _, name := range []string{"order_updated_processing.json", "order_created_pending.json", "order_completed.json"} {
		body := fixture(f, "woocommerce", name)
		f.Add(body, wooTestSecret, signWoo(wooTestSecret, body))
	}
	f.Add([]byte("webhook_id=7"), "a&amp;b", "")
	f.Add([]byte(`{"id":1}`), "&#x27;&#0039;&QUOT;", "AAAA")
	f.Fuzz(func(t *testing.T, body []byte, secret, sig string) {
		w := NewWooCommerce()
		err := w.Verify(wooHeaders("order.updated", sig), body, secret)
		if err != nil && !errors.Is(err, ErrNotSigned) && !errors.Is(err, ErrNoValidSignature) {
			t.Fatalf("Verify error %v is not a verification sentinel", err)
		}
		// WooCommerce's own signature must always verify (a secret that
		// decodes to nothing or pads with whitespace aside, which
		// WooCommerce cannot store).
		key := wpSpecialcharsDecode(strings.TrimSpace(secret))
		if key == "" || strings.TrimSpace(secret) != secret {
			return
		}
		if got := wooSpecialcharsDecode(secret); got != key {
			t.Fatalf("wooSpecialcharsDecode(%q) = %q, WordPress gives %q", secret, got, key)
		}
		if err := w.Verify(wooHeaders("order.updated", signWoo(secret, body)), body, secret); err != nil {
			t.Fatalf("Verify of a WooCommerce signature = %v", err)
		}
	})
}

func FuzzWooCommerceParse(f *testing.F) {
	for _, tc := range []struct{ name, topic string }{
		{"order_updated_processing.json", "order.updated"},
		{"order_created_pending.json", "order.created"},
		{"order_completed.json", "order.updated"},
	} {
		f.Add(fixture(f, "woocommerce", tc.name), tc.topic, "")
		f.Add(fixture(f, "woocommerce", tc.name), tc.topic, "shipped")
	}
	f.Add([]byte(`{"id":5120}`), "order.deleted", "")
	f.Add([]byte(`{"id":1,"status":"refunded","currency":"EUR","total":"1","refunds":{"a":{"id":2,"total":"-1"}}}`), "order.updated", "")
	f.Add([]byte(`{"id":1,"status":"processing","currency":"JPY","total":"1e3","date_paid_gmt":"2025-01-01T00:00:00","meta_data":[{"key":"gclid","value":[1]}]}`), "order.created", "")
	f.Fuzz(func(t *testing.T, body []byte, topic, paidStatus string) {
		rules := []mapping.ShopRules{
			{},
			{Trigger: mapping.TriggerFulfilled, ValueRule: mapping.ValueSubtotal, SendZeroValue: true, PaidStatuses: []string{paidStatus}},
		}
		w := NewWooCommerce()
		for _, r := range rules {
			wh, err := w.Parse(wooHeaders(topic, "sig"), body, r)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
				}
				continue
			}
			switch wh.Outcome {
			case mapping.OutcomeIgnored:
				if wh.Reason == "" || wh.Conversion != nil {
					t.Fatalf("ignored without a reason or with a conversion: %+v", wh)
				}
			case mapping.OutcomeRefund:
				if len(wh.Refunds) == 0 || wh.Conversion != nil {
					t.Fatalf("refund outcome with refunds %v, conversion %v", wh.Refunds, wh.Conversion)
				}
			case mapping.OutcomeConversion:
				c := wh.Conversion
				if c == nil || c.EventID == "" || c.OrderID != wh.OrderID || c.EventTime.IsZero() || c.Value.IsNegative() {
					t.Fatalf("bad conversion %+v", c)
				}
				if _, err := mapping.NormalizeCurrency(c.Currency); err != nil {
					t.Fatalf("conversion currency %q: %v", c.Currency, err)
				}
			default:
				t.Fatalf("Outcome = %q", wh.Outcome)
			}
			for _, rf := range wh.Refunds {
				if rf.RefundID == "" || rf.Amount.IsNegative() || rf.OrderID != wh.OrderID {
					t.Fatalf("bad refund %+v", rf)
				}
			}
			if _, err := json.Marshal(wh); err != nil {
				t.Fatalf("webhook does not marshal: %v", err)
			}
		}
	})
}
