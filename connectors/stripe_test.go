package connectors

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"
	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/webhook"

	"github.com/postbackhq/postback/internal/testutil"
	"github.com/postbackhq/postback/mapping"
)

const (
	stripeTestSecret    = "whsec_Ex4mpleSigningSecretF0rTests0nly1234"
	stripeTestOldSecret = "whsec_Ex4mpleRolledSecretStillActive56789"
)

// stripeTestNow is the fixed clock the connector checks timestamps against.
var stripeTestNow = time.Unix(1718905400, 0)

func newTestStripe() *Stripe {
	return NewStripe(WithStripeClock(func() time.Time { return stripeTestNow }))
}

// stripeSignature is the hand-rolled v1 signature Stripe documents:
// hex(HMAC-SHA256(secret, "<t>.<body>")).
func stripeSignature(body []byte, secret string, t time.Time) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(t.Unix(), 10) + "."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// stripeSign returns a Stripe-Signature header signed by hand.
func stripeSign(body []byte, secret string, t time.Time) string {
	return fmt.Sprintf("t=%d,v1=%s", t.Unix(), stripeSignature(body, secret, t))
}

func stripeHeaders(sig string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	if sig != "" {
		h.Set(StripeSignatureHeader, sig)
	}
	return h
}

func TestStripeVerify(t *testing.T) {
	body := fixture(t, "stripe", "checkout_session_completed.json")
	now := stripeTestNow
	goSigned := func(secret string, at time.Time, scheme string) string {
		return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
			Payload: body, Secret: secret, Timestamp: at, Scheme: scheme,
		}).Header
	}
	tests := []struct {
		name    string
		headers http.Header
		body    []byte
		secret  string
		want    error // nil, ErrNotSigned, ErrNoValidSignature or ErrTooOld
		wantToo error // a further error the chain must hold
	}{
		{name: "signed by stripe-go", headers: stripeHeaders(goSigned(stripeTestSecret, now, ""))},
		{name: "signed by hand", headers: stripeHeaders(stripeSign(body, stripeTestSecret, now))},
		{
			name: "rotation: old secret's v1 first",
			headers: stripeHeaders(fmt.Sprintf("t=%d,v1=%s,v1=%s", now.Unix(),
				stripeSignature(body, stripeTestOldSecret, now), stripeSignature(body, stripeTestSecret, now))),
		},
		{
			name: "rotation: new secret's v1 first",
			headers: stripeHeaders(fmt.Sprintf("t=%d,v1=%s,v1=%s", now.Unix(),
				stripeSignature(body, stripeTestSecret, now), stripeSignature(body, stripeTestOldSecret, now))),
		},
		{
			name:    "rotation: only the old secret signed",
			headers: stripeHeaders(stripeSign(body, stripeTestOldSecret, now)),
			want:    ErrNoValidSignature, wantToo: webhook.ErrNoValidSignature,
		},
		{
			name: "test mode with extra v0",
			headers: stripeHeaders(fmt.Sprintf("t=%d,v1=%s,v0=%s", now.Unix(),
				stripeSignature(body, stripeTestSecret, now), strings.Repeat("ab", 32))),
		},
		{
			name:    "v0 only, even with a correct HMAC",
			headers: stripeHeaders(goSigned(stripeTestSecret, now, "v0")),
			want:    ErrNoValidSignature, wantToo: webhook.ErrNoValidSignature,
		},
		{
			name:    "wrong secret",
			headers: stripeHeaders(stripeSign(body, "whsec_someoneElse", now)),
			want:    ErrNoValidSignature,
		},
		{
			name:    "signed with the secret's whsec_ prefix stripped",
			headers: stripeHeaders(stripeSign(body, strings.TrimPrefix(stripeTestSecret, "whsec_"), now)),
			want:    ErrNoValidSignature,
		},
		{
			name:    "body changed after signing",
			headers: stripeHeaders(stripeSign(body, stripeTestSecret, now)),
			body:    append(slices.Clone(body), '\n'),
			want:    ErrNoValidSignature,
		},
		{name: "exactly 300 s old", headers: stripeHeaders(stripeSign(body, stripeTestSecret, now.Add(-300*time.Second)))},
		{
			name:    "stale: 301 s old",
			headers: stripeHeaders(goSigned(stripeTestSecret, now.Add(-301*time.Second), "")),
			want:    ErrTooOld,
		},
		{
			name:    "stale: a day old",
			headers: stripeHeaders(stripeSign(body, stripeTestSecret, now.Add(-24*time.Hour))),
			want:    ErrTooOld,
		},
		{name: "299 s in the future", headers: stripeHeaders(stripeSign(body, stripeTestSecret, now.Add(299*time.Second)))},
		{
			name:    "future: 301 s ahead",
			headers: stripeHeaders(stripeSign(body, stripeTestSecret, now.Add(301*time.Second))),
			want:    ErrTooOld,
		},
		{
			name:    "stale and wrongly signed is a bad signature",
			headers: stripeHeaders(stripeSign(body, "whsec_someoneElse", now.Add(-time.Hour))),
			want:    ErrNoValidSignature,
		},
		{name: "missing header", headers: stripeHeaders(""), want: ErrNotSigned},
		{name: "blank header", headers: http.Header{"Stripe-Signature": {"  "}}, want: ErrNotSigned},
		{
			name:    "garbage header",
			headers: stripeHeaders("sha256=deadbeef=="),
			want:    ErrNoValidSignature, wantToo: webhook.ErrInvalidHeader,
		},
		{
			name:    "not key=value",
			headers: stripeHeaders("nonsense"),
			want:    ErrNoValidSignature, wantToo: webhook.ErrInvalidHeader,
		},
		{
			name:    "timestamp not a number",
			headers: stripeHeaders("t=yesterday,v1=" + stripeSignature(body, stripeTestSecret, now)),
			want:    ErrNoValidSignature, wantToo: webhook.ErrInvalidHeader,
		},
		{
			name:    "no timestamp, v1 over the epoch",
			headers: stripeHeaders("v1=" + stripeSignature(body, stripeTestSecret, time.Unix(0, 0))),
			want:    ErrNoValidSignature, wantToo: webhook.ErrInvalidHeader,
		},
		{
			name: "two timestamps",
			headers: stripeHeaders(fmt.Sprintf("t=%d,t=%d,v1=%s", now.Add(-time.Hour).Unix(), now.Unix(),
				stripeSignature(body, stripeTestSecret, now))),
			want: ErrNoValidSignature, wantToo: webhook.ErrInvalidHeader,
		},
		{
			name:    "v1 not hex",
			headers: stripeHeaders(fmt.Sprintf("t=%d,v1=not-hex", now.Unix())),
			want:    ErrNoValidSignature, wantToo: webhook.ErrNoValidSignature,
		},
		{
			name:    "no secret configured",
			headers: stripeHeaders(stripeSign(body, "", now)),
			secret:  "-",
			want:    ErrNoValidSignature,
		},
		{
			name: "two Stripe-Signature headers",
			headers: http.Header{"Stripe-Signature": {
				stripeSign(body, stripeTestSecret, now), stripeSign(body, stripeTestOldSecret, now),
			}},
			want: ErrNoValidSignature,
		},
	}
	s := newTestStripe()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := body
			if tt.body != nil {
				b = tt.body
			}
			secret := stripeTestSecret
			switch tt.secret {
			case "":
			case "-":
				secret = ""
			default:
				secret = tt.secret
			}
			err := s.Verify(tt.headers, b, secret)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify(%q) = %v, want nil", tt.headers.Get(StripeSignatureHeader), err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify(%q) = %v, want %v", tt.headers.Get(StripeSignatureHeader), err, tt.want)
			}
			if tt.wantToo != nil && !errors.Is(err, tt.wantToo) {
				t.Errorf("Verify(%q) = %v, want it to wrap %v too", tt.headers.Get(StripeSignatureHeader), err, tt.wantToo)
			}
			if strings.Contains(err.Error(), secret) && secret != "" {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

// TestStripeVerifyWallClock checks the default clock, and that we agree with
// stripe-go's own verification where it has an opinion.
func TestStripeVerifyWallClock(t *testing.T) {
	body := fixture(t, "stripe", "payment_intent_succeeded.json")
	s := NewStripe()
	for _, tt := range []struct {
		name string
		at   time.Time
		want error
	}{
		{"now", time.Now(), nil},
		{"ten minutes ago", time.Now().Add(-10 * time.Minute), ErrTooOld},
	} {
		t.Run(tt.name, func(t *testing.T) {
			header := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
				Payload: body, Secret: stripeTestSecret, Timestamp: tt.at,
			}).Header
			err := s.Verify(stripeHeaders(header), body, stripeTestSecret)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify(%q) = %v, want %v", header, err, tt.want)
			}
			goErr := webhook.ValidatePayloadWithTolerance(body, header, stripeTestSecret, StripeTolerance)
			if (goErr == nil) != (err == nil) {
				t.Errorf("stripe-go says %v, we say %v", goErr, err)
			}
		})
	}
}

func TestStripeVerifyTolerance(t *testing.T) {
	body := fixture(t, "stripe", "charge_refunded.json")
	s := NewStripe(WithStripeClock(func() time.Time { return stripeTestNow }), WithStripeTolerance(time.Minute))
	for _, tt := range []struct {
		age  time.Duration
		want error
	}{
		{59 * time.Second, nil},
		{2 * time.Minute, ErrTooOld},
		{-2 * time.Minute, ErrTooOld},
	} {
		header := stripeSign(body, stripeTestSecret, stripeTestNow.Add(-tt.age))
		if err := s.Verify(stripeHeaders(header), body, stripeTestSecret); !errors.Is(err, tt.want) {
			t.Errorf("Verify(signed %s ago) with 1 min tolerance = %v, want %v", tt.age, err, tt.want)
		}
	}
}

// TestStripeVerifyErrorMapping pins how every stripe-go webhook error maps
// onto ours; stripe-go's error stays in the chain.
func TestStripeVerifyErrorMapping(t *testing.T) {
	tests := []struct {
		in, want error
	}{
		{webhook.ErrNotSigned, ErrNotSigned},
		{webhook.ErrInvalidHeader, ErrNoValidSignature},
		{webhook.ErrNoValidSignature, ErrNoValidSignature},
		{webhook.ErrTooOld, ErrTooOld},
		{errors.New("something new in stripe-go"), ErrNoValidSignature},
	}
	for _, tt := range tests {
		got := stripeVerifyError(tt.in)
		if !errors.Is(got, tt.want) || !errors.Is(got, tt.in) {
			t.Errorf("stripeVerifyError(%v) = %v, want %v wrapping the original", tt.in, got, tt.want)
		}
	}
}

func TestStripeSource(t *testing.T) {
	if got := NewStripe().Source(); got != mapping.SourceStripe {
		t.Errorf("Source() = %q, want %q", got, mapping.SourceStripe)
	}
}

// TestStripeParseGolden maps every fixture and compares the whole Webhook
// with its golden file: this is what the store and the platforms receive.
func TestStripeParseGolden(t *testing.T) {
	tests := []struct {
		fixture string
		rules   mapping.ShopRules
	}{
		{fixture: "checkout_session_completed"},
		{fixture: "checkout_session_completed_unpaid"},
		{fixture: "checkout_session_async_payment_succeeded"},
		{fixture: "checkout_session_completed_jpy_2023"},
		{fixture: "checkout_session_completed_basil"},
		{fixture: "payment_intent_succeeded"},
		{fixture: "payment_intent_succeeded_kwd"},
		{fixture: "invoice_paid_subscription_create", rules: mapping.ShopRules{StripeSubscriptionEvent: mapping.EventSubscribe}},
		{fixture: "invoice_paid_subscription_cycle_basil", rules: mapping.ShopRules{StripeRenewals: true}},
		{fixture: "charge_refunded"},
		{fixture: "refund_created"},
	}
	s := newTestStripe()
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			body := fixture(t, "stripe", tt.fixture+".json")
			if err := s.Verify(stripeHeaders(stripeSign(body, stripeTestSecret, stripeTestNow)), body, stripeTestSecret); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			w, err := s.Parse(stripeHeaders(""), body, tt.rules)
			if err != nil {
				t.Fatalf("Parse(%s) error: %v", tt.fixture, err)
			}
			got, err := json.Marshal(w)
			if err != nil {
				t.Fatal(err)
			}
			testutil.GoldenJSON(t, filepath.Join("testdata", "stripe", tt.fixture+".golden.json"), got, *update)
		})
	}
}

// stripeEdit decodes a fixture, lets edit change it, and encodes it again
// (Parse runs after Verify, so re-encoding is harmless here).
func stripeEdit(t testing.TB, name string, edit func(ev, obj map[string]any)) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(fixture(t, "stripe", name+".json"), &ev); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(ev, ev["data"].(map[string]any)["object"].(map[string]any))
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStripeParse(t *testing.T) {
	type want struct {
		outcome   mapping.Outcome
		reason    string // substring; "" means Reason must be empty
		orderID   string
		aliases   []string
		eventName string
		value     string
		currency  string
		test      bool
	}
	tests := []struct {
		name  string
		body  []byte
		rules mapping.ShopRules
		want  want
	}{
		{
			name: "checkout paid",
			body: fixture(t, "stripe", "checkout_session_completed.json"),
			want: want{outcome: mapping.OutcomeConversion, orderID: "cs_live_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZExample01",
				aliases: []string{"pi_3PTExampleCheckout01AbCd"}, eventName: "Purchase", value: "85.32", currency: "USD"},
		},
		{
			name:  "checkout paid, subtotal rule takes off tax and shipping",
			body:  fixture(t, "stripe", "checkout_session_completed.json"),
			rules: mapping.ShopRules{ValueRule: mapping.ValueSubtotal},
			want: want{outcome: mapping.OutcomeConversion, orderID: "cs_live_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZExample01",
				aliases: []string{"pi_3PTExampleCheckout01AbCd"}, eventName: "Purchase", value: "79", currency: "USD"},
		},
		{
			name: "checkout unpaid (SEPA) waits",
			body: fixture(t, "stripe", "checkout_session_completed_unpaid.json"),
			want: want{outcome: mapping.OutcomeIgnored, reason: "payment not settled yet: waiting for async_payment_succeeded",
				orderID: "cs_test_b1C2d3E4f5G6h7I8j9K0lMnOpQrStUvWxYzExample02", aliases: []string{"pi_3PUExampleSepa02XyZw"}, test: true},
		},
		{
			name: "async payment succeeded converts",
			body: fixture(t, "stripe", "checkout_session_async_payment_succeeded.json"),
			want: want{outcome: mapping.OutcomeConversion, orderID: "cs_test_b1C2d3E4f5G6h7I8j9K0lMnOpQrStUvWxYzExample02",
				aliases: []string{"pi_3PUExampleSepa02XyZw"}, eventName: "Purchase", value: "45", currency: "EUR", test: true},
		},
		{
			name: "async payment failed",
			body: stripeEdit(t, "checkout_session_completed_unpaid", func(ev, _ map[string]any) {
				ev["type"] = "checkout.session.async_payment_failed"
			}),
			want: want{outcome: mapping.OutcomeIgnored, reason: "delayed payment failed",
				orderID: "cs_test_b1C2d3E4f5G6h7I8j9K0lMnOpQrStUvWxYzExample02", aliases: []string{"pi_3PUExampleSepa02XyZw"}, test: true},
		},
		{
			name: "session expired",
			body: stripeEdit(t, "checkout_session_completed_unpaid", func(ev, o map[string]any) {
				ev["type"] = "checkout.session.expired"
				o["status"], o["payment_intent"] = "expired", nil
			}),
			want: want{outcome: mapping.OutcomeIgnored, reason: "expired",
				orderID: "cs_test_b1C2d3E4f5G6h7I8j9K0lMnOpQrStUvWxYzExample02", test: true},
		},
		{
			name: "no payment required, zero value not sent",
			body: stripeEdit(t, "checkout_session_completed", func(_, o map[string]any) {
				o["payment_status"], o["amount_total"], o["payment_intent"] = "no_payment_required", 0, nil
			}),
			want: want{outcome: mapping.OutcomeIgnored, reason: "free order (no_payment_required): the shop does not send zero-value conversions",
				orderID: "cs_live_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZExample01"},
		},
		{
			name: "no payment required, zero value sent",
			body: stripeEdit(t, "checkout_session_completed", func(_, o map[string]any) {
				o["payment_status"], o["amount_total"], o["payment_intent"] = "no_payment_required", 0, nil
			}),
			rules: mapping.ShopRules{SendZeroValue: true},
			want: want{outcome: mapping.OutcomeConversion, orderID: "cs_live_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZExample01",
				eventName: "Purchase", value: "0", currency: "USD"},
		},
		{
			name: "setup session is no purchase",
			body: stripeEdit(t, "checkout_session_completed", func(_, o map[string]any) {
				o["mode"], o["payment_status"], o["payment_intent"], o["setup_intent"] = "setup", "no_payment_required", nil, "seti_1Example"
			}),
			want: want{outcome: mapping.OutcomeIgnored, reason: "setup session", orderID: "cs_live_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZExample01"},
		},
		{
			name: "subscription checkout names its invoice and uses the subscription event",
			body: stripeEdit(t, "checkout_session_completed", func(_, o map[string]any) {
				o["mode"], o["payment_intent"], o["invoice"], o["subscription"] = "subscription", nil, "in_1PXExampleSubCreate09", "sub_1PXExampleCoffee09"
			}),
			rules: mapping.ShopRules{StripeSubscriptionEvent: "Subscribe"},
			want: want{outcome: mapping.OutcomeConversion, orderID: "cs_live_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZExample01",
				aliases: []string{"in_1PXExampleSubCreate09"}, eventName: "Subscribe", value: "85.32", currency: "USD"},
		},
		{
			name: "unknown payment status",
			body: stripeEdit(t, "checkout_session_completed", func(_, o map[string]any) { o["payment_status"] = "pending_review" }),
			want: want{outcome: mapping.OutcomeIgnored, reason: `unknown payment_status "pending_review"`,
				orderID: "cs_live_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZExample01", aliases: []string{"pi_3PTExampleCheckout01AbCd"}},
		},
		{
			name: "payment intent succeeded",
			body: fixture(t, "stripe", "payment_intent_succeeded.json"),
			want: want{outcome: mapping.OutcomeConversion, orderID: "pi_3PVExampleElements03QrSt",
				aliases: []string{"ch_3PVExampleElements03QrSt"}, eventName: "Purchase", value: "49.99", currency: "USD"},
		},
		{
			name: "payment intent of an invoice is left to invoice.paid",
			body: stripeEdit(t, "payment_intent_succeeded", func(_, o map[string]any) { o["invoice"] = "in_1QZExampleRenewal10" }),
			want: want{outcome: mapping.OutcomeIgnored, reason: "converted through invoice.paid",
				orderID: "pi_3PVExampleElements03QrSt", aliases: []string{"ch_3PVExampleElements03QrSt"}},
		},
		{
			name: "zero-decimal JPY",
			body: fixture(t, "stripe", "checkout_session_completed_jpy_2023.json"),
			want: want{outcome: mapping.OutcomeConversion, orderID: "cs_live_c1D2e3F4g5H6i7J8k9L0mNoPqRsTuVwXyZExample06",
				aliases: []string{"pi_3OzExampleJpy06AbCd"}, eventName: "Purchase", value: "12800", currency: "JPY", reason: ""},
		},
		{
			name: "three-decimal KWD",
			body: fixture(t, "stripe", "payment_intent_succeeded_kwd.json"),
			want: want{outcome: mapping.OutcomeConversion, orderID: "pi_3PWExampleKwd08IjKl",
				aliases: []string{"ch_3PWExampleKwd08IjKl"}, eventName: "Purchase", value: "12.34", currency: "KWD"},
		},
		{
			name: "first subscription invoice, default event",
			body: fixture(t, "stripe", "invoice_paid_subscription_create.json"),
			want: want{outcome: mapping.OutcomeConversion, orderID: "in_1PXExampleSubCreate09",
				aliases: []string{"pi_3PXExampleSubCreate09"}, eventName: "Purchase", value: "29", currency: "USD"},
		},
		{
			name:  "first subscription invoice as Subscribe",
			body:  fixture(t, "stripe", "invoice_paid_subscription_create.json"),
			rules: mapping.ShopRules{StripeSubscriptionEvent: "Subscribe"},
			want: want{outcome: mapping.OutcomeConversion, orderID: "in_1PXExampleSubCreate09",
				aliases: []string{"pi_3PXExampleSubCreate09"}, eventName: "Subscribe", value: "29", currency: "USD"},
		},
		{
			name:  "first subscription invoice, unknown event setting",
			body:  fixture(t, "stripe", "invoice_paid_subscription_create.json"),
			rules: mapping.ShopRules{StripeSubscriptionEvent: "StartTrial"},
			want: want{outcome: mapping.OutcomeConversion, orderID: "in_1PXExampleSubCreate09", reason: `unknown stripe_subscription_event "StartTrial"`,
				aliases: []string{"pi_3PXExampleSubCreate09"}, eventName: "Purchase", value: "29", currency: "USD"},
		},
		{
			name: "trial start: zero first invoice",
			body: stripeEdit(t, "invoice_paid_subscription_create", func(_, o map[string]any) {
				o["amount_paid"], o["total"], o["total_excluding_tax"], o["payment_intent"] = 0, 0, 0, nil
			}),
			want: want{outcome: mapping.OutcomeIgnored, reason: "zero-value order", orderID: "in_1PXExampleSubCreate09"},
		},
		{
			name: "renewal not sent by default",
			body: fixture(t, "stripe", "invoice_paid_subscription_cycle_basil.json"),
			want: want{outcome: mapping.OutcomeIgnored, reason: "subscription renewal: the shop does not send renewals",
				orderID: "in_1QZExampleRenewal10"},
		},
		{
			name:  "renewal sent when the shop wants renewals, even with Subscribe",
			body:  fixture(t, "stripe", "invoice_paid_subscription_cycle_basil.json"),
			rules: mapping.ShopRules{StripeRenewals: true, StripeSubscriptionEvent: "Subscribe"},
			want: want{outcome: mapping.OutcomeConversion, orderID: "in_1QZExampleRenewal10",
				eventName: "Purchase", value: "31.9", currency: "USD"},
		},
		{
			name:  "renewal subtotal takes off tax",
			body:  fixture(t, "stripe", "invoice_paid_subscription_cycle_basil.json"),
			rules: mapping.ShopRules{StripeRenewals: true, ValueRule: mapping.ValueSubtotal},
			want: want{outcome: mapping.OutcomeConversion, orderID: "in_1QZExampleRenewal10",
				eventName: "Purchase", value: "29", currency: "USD"},
		},
		{
			name: "basil invoice with payments included names its payment intent",
			body: stripeEdit(t, "invoice_paid_subscription_cycle_basil", func(_, o map[string]any) {
				o["payments"] = map[string]any{"object": "list", "data": []any{
					map[string]any{"id": "inpay_1Example", "payment": map[string]any{"type": "payment_intent", "payment_intent": "pi_3QZExampleRenewal10"}},
				}}
			}),
			rules: mapping.ShopRules{StripeRenewals: true},
			want: want{outcome: mapping.OutcomeConversion, orderID: "in_1QZExampleRenewal10", aliases: []string{"pi_3QZExampleRenewal10"},
				eventName: "Purchase", value: "31.9", currency: "USD"},
		},
		{
			name: "manual invoice",
			body: stripeEdit(t, "invoice_paid_subscription_create", func(_, o map[string]any) { o["billing_reason"] = "manual" }),
			want: want{outcome: mapping.OutcomeIgnored, reason: `billing_reason "manual" is not converted`,
				orderID: "in_1PXExampleSubCreate09", aliases: []string{"pi_3PXExampleSubCreate09"}},
		},
		{
			name: "charge refunded",
			body: fixture(t, "stripe", "charge_refunded.json"),
			want: want{outcome: mapping.OutcomeRefund, orderID: "pi_3PVExampleElements03QrSt", aliases: []string{"ch_3PVExampleElements03QrSt"}},
		},
		{
			name: "refund created",
			body: fixture(t, "stripe", "refund_created.json"),
			want: want{outcome: mapping.OutcomeRefund, orderID: "pi_3PVExampleElements03QrSt", aliases: []string{"ch_3PVExampleElements03QrSt"}},
		},
		{
			name: "refund failed",
			body: stripeEdit(t, "refund_created", func(_, o map[string]any) { o["status"] = "failed" }),
			want: want{outcome: mapping.OutcomeIgnored, reason: "refund failed",
				orderID: "pi_3PVExampleElements03QrSt", aliases: []string{"ch_3PVExampleElements03QrSt"}},
		},
		{
			name: "refund that names no payment",
			body: stripeEdit(t, "refund_created", func(_, o map[string]any) { o["charge"], o["payment_intent"] = nil, nil }),
			want: want{outcome: mapping.OutcomeIgnored, reason: "refund names no payment"},
		},
		{
			name: "unknown event type",
			body: stripeEdit(t, "payment_intent_succeeded", func(ev, _ map[string]any) { ev["type"] = "customer.subscription.created" }),
			want: want{outcome: mapping.OutcomeIgnored, reason: "event type customer.subscription.created is not used"},
		},
		{
			name: "API 2023-10-16",
			body: stripeEdit(t, "checkout_session_completed", func(ev, _ map[string]any) { ev["api_version"] = "2023-10-16" }),
			want: want{outcome: mapping.OutcomeConversion, orderID: "cs_live_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZExample01",
				aliases: []string{"pi_3PTExampleCheckout01AbCd"}, eventName: "Purchase", value: "85.32", currency: "USD"},
		},
		{
			name: "API 2025-03-31.basil",
			body: fixture(t, "stripe", "checkout_session_completed_basil.json"),
			want: want{outcome: mapping.OutcomeConversion, orderID: "cs_live_d1E2f3G4h5I6j7K8l9M0nOpQrStUvWxYzExample07",
				aliases: []string{"pi_3RExampleBasil07EfGh"}, eventName: "Purchase", value: "44.95", currency: "GBP"},
		},
		{
			// Before 2017-05-25 request was a bare id, which stripe.Event
			// cannot decode.
			name: "API 2017-02-14 with request as a string",
			body: stripeEdit(t, "payment_intent_succeeded", func(ev, o map[string]any) {
				ev["api_version"], ev["request"] = "2017-02-14", "req_ExampleOld"
				delete(o, "latest_charge")
				o["charges"] = map[string]any{"object": "list", "data": []any{map[string]any{
					"id": "ch_1OldExample", "billing_details": map[string]any{"email": "old.api@example.com", "name": "Old Api", "phone": nil,
						"address": map[string]any{"country": "US", "postal_code": "98101"}},
				}}}
			}),
			want: want{outcome: mapping.OutcomeConversion, orderID: "pi_3PVExampleElements03QrSt",
				aliases: []string{"ch_1OldExample"}, eventName: "Purchase", value: "49.99", currency: "USD"},
		},
		{
			name: "thin v2 event",
			body: []byte(`{"id":"evt_test_65R9Ijk8","object":"v2.core.event","type":"v1.checkout.session.completed",
				"created":"2024-09-26T16:37:42.123Z","livemode":false,
				"related_object":{"id":"cs_test_123","type":"checkout.session","url":"/v1/checkout/sessions/cs_test_123"}}`),
			want: want{outcome: mapping.OutcomeIgnored, reason: "thin event", test: true},
		},
	}
	s := newTestStripe()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := s.Parse(stripeHeaders(""), tt.body, tt.rules)
			if err != nil {
				t.Fatalf("Parse() error: %v", err)
			}
			if w.Source != mapping.SourceStripe || w.DeliveryID == "" || w.OccurredAt.IsZero() || w.Topic == "" {
				t.Errorf("envelope: Source %q, DeliveryID %q, Topic %q, OccurredAt %v; want all set", w.Source, w.DeliveryID, w.Topic, w.OccurredAt)
			}
			if w.Outcome != tt.want.outcome {
				t.Fatalf("Outcome = %q (reason %q), want %q", w.Outcome, w.Reason, tt.want.outcome)
			}
			if tt.want.reason == "" && w.Reason != "" && w.Outcome != mapping.OutcomeConversion {
				t.Errorf("Reason = %q, want empty", w.Reason)
			}
			if !strings.Contains(w.Reason, tt.want.reason) {
				t.Errorf("Reason = %q, want it to contain %q", w.Reason, tt.want.reason)
			}
			if w.OrderID != tt.want.orderID {
				t.Errorf("OrderID = %q, want %q", w.OrderID, tt.want.orderID)
			}
			if diff := cmp.Diff(tt.want.aliases, w.OrderAliases); diff != "" {
				t.Errorf("OrderAliases (-want +got):\n%s", diff)
			}
			if w.Test != tt.want.test {
				t.Errorf("Test = %v, want %v", w.Test, tt.want.test)
			}
			c := w.Conversion
			if (c != nil) != (tt.want.outcome == mapping.OutcomeConversion) {
				t.Fatalf("Conversion = %+v with outcome %q", c, w.Outcome)
			}
			if c == nil {
				return
			}
			if c.OrderID != w.OrderID || c.EventName != tt.want.eventName || c.Currency != tt.want.currency ||
				!c.Value.Equal(decimal.RequireFromString(tt.want.value)) {
				t.Errorf("Conversion order %q event %q value %s %s, want %q %q %s %s",
					c.OrderID, c.EventName, c.Value, c.Currency, w.OrderID, tt.want.eventName, tt.want.value, tt.want.currency)
			}
			if !c.EventTime.Equal(w.OccurredAt) || c.EventTime.Location() != time.UTC {
				t.Errorf("EventTime = %v, want event.created %v in UTC", c.EventTime, w.OccurredAt)
			}
			if c.Test != w.Test {
				t.Errorf("Conversion.Test = %v, want %v", c.Test, w.Test)
			}
		})
	}
}

func TestStripeParseRefunds(t *testing.T) {
	at := time.Date(2024, 6, 26, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		body []byte
		want mapping.Refund
	}{
		{
			name: "charge.refunded: 15.00 of 49.99",
			body: fixture(t, "stripe", "charge_refunded.json"),
			want: mapping.Refund{RefundID: "ch_3PVExampleElements03QrSt:1500", OrderID: "pi_3PVExampleElements03QrSt",
				Amount: decimal.RequireFromString("15"), Currency: "USD", Time: at, Cumulative: true},
		},
		{
			name: "charge.refunded: second partial refund reports the cumulative 25.00",
			body: stripeEdit(t, "charge_refunded", func(_, o map[string]any) { o["amount_refunded"] = 2500 }),
			want: mapping.Refund{RefundID: "ch_3PVExampleElements03QrSt:2500", OrderID: "pi_3PVExampleElements03QrSt",
				Amount: decimal.RequireFromString("25"), Currency: "USD", Time: at, Cumulative: true},
		},
		{
			name: "charge.refunded: full",
			body: stripeEdit(t, "charge_refunded", func(_, o map[string]any) { o["amount_refunded"], o["refunded"] = 4999, true }),
			want: mapping.Refund{RefundID: "ch_3PVExampleElements03QrSt:4999", OrderID: "pi_3PVExampleElements03QrSt",
				Amount: decimal.RequireFromString("49.99"), Currency: "USD", Full: true, Time: at, Cumulative: true},
		},
		{
			name: "charge.refunded before 2022-11-15 names the latest refund",
			body: stripeEdit(t, "charge_refunded", func(ev, o map[string]any) {
				ev["api_version"] = "2022-08-01"
				o["refunds"] = map[string]any{"object": "list", "has_more": false, "data": []any{
					map[string]any{"id": "re_newest", "amount": 500, "reason": "requested_by_customer"},
					map[string]any{"id": "re_older", "amount": 1000},
				}}
			}),
			want: mapping.Refund{RefundID: "re_newest", OrderID: "pi_3PVExampleElements03QrSt",
				Amount: decimal.RequireFromString("15"), Currency: "USD", Time: at, Reason: "requested_by_customer", Cumulative: true},
		},
		{
			name: "charge.refunded without a payment intent (Charges API)",
			body: stripeEdit(t, "charge_refunded", func(_, o map[string]any) { o["payment_intent"] = nil }),
			want: mapping.Refund{RefundID: "ch_3PVExampleElements03QrSt:1500", OrderID: "ch_3PVExampleElements03QrSt",
				Amount: decimal.RequireFromString("15"), Currency: "USD", Time: at, Cumulative: true},
		},
		{
			name: "refund.created: this refund's own amount",
			body: fixture(t, "stripe", "refund_created.json"),
			want: mapping.Refund{RefundID: "re_3PVExampleRefund11", OrderID: "pi_3PVExampleElements03QrSt",
				Amount: decimal.RequireFromString("10"), Currency: "USD", Time: time.Unix(1719500001, 0).UTC(), Reason: "requested_by_customer"},
		},
		{
			name: "refund.created in JPY",
			body: stripeEdit(t, "refund_created", func(_, o map[string]any) { o["currency"], o["amount"] = "jpy", 3000 }),
			want: mapping.Refund{RefundID: "re_3PVExampleRefund11", OrderID: "pi_3PVExampleElements03QrSt",
				Amount: decimal.RequireFromString("3000"), Currency: "JPY", Time: time.Unix(1719500001, 0).UTC(), Reason: "requested_by_customer"},
		},
	}
	s := newTestStripe()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := s.Parse(stripeHeaders(""), tt.body, mapping.ShopRules{})
			if err != nil {
				t.Fatalf("Parse() error: %v", err)
			}
			if w.Outcome != mapping.OutcomeRefund || len(w.Refunds) != 1 || w.Conversion != nil {
				t.Fatalf("Outcome %q, %d refunds, conversion %v; want one refund", w.Outcome, len(w.Refunds), w.Conversion)
			}
			if diff := cmp.Diff(tt.want, w.Refunds[0], cmp.Comparer(decimal.Decimal.Equal)); diff != "" {
				t.Errorf("Refund (-want +got):\n%s", diff)
			}
			if w.OrderID != tt.want.OrderID {
				t.Errorf("OrderID = %q, want %q", w.OrderID, tt.want.OrderID)
			}
		})
	}
}

// TestStripeParseConversionFields checks the identifiers one conversion
// carries, field by field, for cases the goldens do not show.
func TestStripeParseConversionFields(t *testing.T) {
	tests := []struct {
		name   string
		body   []byte
		rules  mapping.ShopRules
		check  func(c *mapping.Conversion) (got, want any)
		reason string // substring of Reason
	}{
		{
			name:  "event id from the shop's template",
			body:  fixture(t, "stripe", "checkout_session_completed.json"),
			rules: mapping.ShopRules{EventIDTemplate: "stripe-{order_id}"},
			check: func(c *mapping.Conversion) (any, any) {
				return c.EventID, "stripe-cs_live_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZExample01"
			},
		},
		{
			name:  "metadata event_id wins over the template",
			body:  stripeEdit(t, "checkout_session_completed", func(_, o map[string]any) { stripeMeta(o)["event_id"] = "px-123" }),
			rules: mapping.ShopRules{EventIDTemplate: "stripe-{order_id}"},
			check: func(c *mapping.Conversion) (any, any) { return c.EventID, "px-123" },
		},
		{
			name:  "metadata pixel_event_id",
			body:  stripeEdit(t, "payment_intent_succeeded", func(_, o map[string]any) { stripeMeta(o)["pixel_event_id"] = " px-456 " }),
			check: func(c *mapping.Conversion) (any, any) { return c.EventID, "px-456" },
		},
		{
			name: "name split on the last space",
			body: stripeEdit(t, "checkout_session_completed", func(_, o map[string]any) {
				o["customer_details"].(map[string]any)["name"] = "  Anna  Maria van Berg "
			}),
			check: func(c *mapping.Conversion) (any, any) {
				return [2]string{c.User.FirstName, c.User.LastName}, [2]string{"Anna Maria van", "Berg"}
			},
		},
		{
			name: "checkout without a landing URL is a website purchase on its success page",
			body: stripeEdit(t, "checkout_session_completed", func(_, o map[string]any) {
				for _, k := range []string{"landing_url", "landing_page", "landing_site"} {
					delete(stripeMeta(o), k)
				}
			}),
			check: func(c *mapping.Conversion) (any, any) {
				return [2]string{string(c.Channel), c.SourceURL}, [2]string{"website", "https://www.summit-coffee.example/thanks"}
			},
		},
		{
			name: "metadata page_url and user_agent win over the success page",
			body: stripeEdit(t, "checkout_session_completed", func(_, o map[string]any) {
				stripeMeta(o)["page_url"] = "https://shop.example/checkout"
				stripeMeta(o)["user_agent"] = "Mozilla/5.0"
			}),
			check: func(c *mapping.Conversion) (any, any) {
				return [3]string{string(c.Channel), c.SourceURL, c.UserAgent}, [3]string{"website", "https://shop.example/checkout", "Mozilla/5.0"}
			},
		},
		{
			name:  "payment intent with a user agent in metadata is a website purchase",
			body:  stripeEdit(t, "payment_intent_succeeded", func(_, o map[string]any) { stripeMeta(o)["user_agent"] = "Mozilla/5.0" }),
			check: func(c *mapping.Conversion) (any, any) { return c.Channel, mapping.ChannelWebsite },
		},
		{
			name:  "renewal invoice is a renewal",
			body:  fixture(t, "stripe", "invoice_paid_subscription_cycle_basil.json"),
			rules: mapping.ShopRules{StripeRenewals: true},
			check: func(c *mapping.Conversion) (any, any) { return c.Channel, mapping.ChannelRenewal },
		},
		{
			name:  "national phone read with the address country",
			body:  fixture(t, "stripe", "invoice_paid_subscription_create.json"),
			check: func(c *mapping.Conversion) (any, any) { return c.User.Phone, "+15125550142" },
		},
		{
			name:  "UK national phone",
			body:  fixture(t, "stripe", "checkout_session_completed_basil.json"),
			check: func(c *mapping.Conversion) (any, any) { return c.User.Phone, "+442079460018" },
		},
		{
			name: "unparseable phone is left out and noted",
			body: stripeEdit(t, "checkout_session_completed", func(_, o map[string]any) {
				o["customer_details"].(map[string]any)["phone"] = "call me maybe"
			}),
			check: func(c *mapping.Conversion) (any, any) {
				return [2]string{c.User.Phone, c.User.PhoneUnparsed}, [2]string{"", "call me maybe"}
			},
			reason: "phone number could not be parsed: left out",
		},
		{
			name: "no email and no phone still converts, noted",
			body: stripeEdit(t, "payment_intent_succeeded", func(_, o map[string]any) {
				o["receipt_email"], o["shipping"] = nil, nil
				delete(stripeMeta(o), "email")
			}),
			check:  func(c *mapping.Conversion) (any, any) { return c.User.Email + c.User.Phone, "" },
			reason: "no email or phone: low match quality",
		},
		{
			name: "customer_email when customer_details has none",
			body: stripeEdit(t, "checkout_session_completed", func(_, o map[string]any) {
				o["customer_details"].(map[string]any)["email"] = nil
				o["customer_email"] = "prefilled@example.com"
			}),
			check: func(c *mapping.Conversion) (any, any) { return c.User.Email, "prefilled@example.com" },
		},
		{
			name:  "external id is the customer",
			body:  fixture(t, "stripe", "checkout_session_completed.json"),
			check: func(c *mapping.Conversion) (any, any) { return c.User.ExternalID, "cus_QJExample7Hd2kL" },
		},
		{
			name: "expanded customer object",
			body: stripeEdit(t, "checkout_session_completed", func(_, o map[string]any) {
				o["customer"] = map[string]any{"id": "cus_Expanded1", "object": "customer", "email": "x@example.com"}
			}),
			check: func(c *mapping.Conversion) (any, any) { return c.User.ExternalID, "cus_Expanded1" },
		},
		{
			name:  "external id is client_reference_id for a guest",
			body:  fixture(t, "stripe", "checkout_session_completed_jpy_2023.json"),
			check: func(c *mapping.Conversion) (any, any) { return c.User.ExternalID, "cart_jp_5521" },
		},
		{
			name: "shipping fills a missing billing address and name (basil location)",
			body: stripeEdit(t, "checkout_session_completed_basil", func(_, o map[string]any) {
				o["customer_details"].(map[string]any)["address"] = nil
				o["customer_details"].(map[string]any)["name"] = nil
			}),
			check: func(c *mapping.Conversion) (any, any) {
				u := c.User
				return []string{u.FirstName, u.LastName, u.Street, u.City, u.Zip, u.Country},
					[]string{"Olivia", "Example", "1 Sample Street", "London", "EC1A 1BB", "GB"}
			},
		},
		{
			name: "shipping before 2022-08-01",
			body: stripeEdit(t, "checkout_session_completed", func(ev, o map[string]any) {
				ev["api_version"] = "2020-08-27"
				o["shipping"] = o["shipping_details"]
				delete(o, "shipping_details")
				o["customer_details"].(map[string]any)["address"] = nil
			}),
			check: func(c *mapping.Conversion) (any, any) {
				return c.User.Street + "|" + c.User.City, "742 Demo Boulevard Unit 12|Denver"
			},
		},
		{
			name: "click ids, browser ids, IP, user agent and landing URL from metadata",
			body: fixture(t, "stripe", "checkout_session_completed.json"),
			check: func(c *mapping.Conversion) (any, any) {
				return []string{c.ClickIDs.FBCLID, c.ClickIDs.FBC, c.ClickIDs.FBP, c.ClientIP, c.UserAgent[:11], c.SourceURL},
					[]string{"IwZXh0bgNhZW0BMABhZGlkAasStripeExampleFbclid_aem_Qq1Example",
						"fb.1.1718904712345.IwZXh0bgNhZW0BMABhZGlkAasStripeExampleFbclid_aem_Qq1Example",
						"fb.1.1718904500123.2094857361", "203.0.113.201", "Mozilla/5.0",
						"https://www.summit-coffee.example/espresso-kit?utm_source=facebook&fbclid=IwZXh0bgNhZW0BMABhZGlkAasStripeExampleFbclid_aem_Qq1Example"}
			},
		},
		{
			name: "every click id spelling",
			body: stripeEdit(t, "payment_intent_succeeded", func(_, o map[string]any) {
				m := stripeMeta(o)
				for k, v := range map[string]string{"gbraid": "gb1", "wbraid": "wb1", "ttclid": "tt1", "msclkid": "ms1",
					"rdt_cid": "rd1", "li_fat_id": "li1", "epik": "ep1", "ScCid": "sc1", "_fbp": "fb.1.1.2", "_fbc": "fb.1.1715696012345.x", "ttp": "ttp1"} {
					m[k] = v
				}
			}),
			check: func(c *mapping.Conversion) (any, any) {
				k := c.ClickIDs
				return []string{k.GCLID, k.GBRAID, k.WBRAID, k.TTCLID, k.MSCLKID, k.RDTCID, k.LiFatID, k.EPIK, k.ScCID, k.FBP, k.FBC, k.TTP},
					[]string{"Cj0KCQjwStripeExampleGclid-PI_BwE", "gb1", "wb1", "tt1", "ms1", "rd1", "li1", "ep1", "sc1", "fb.1.1.2", "fb.1.1715696012345.x", "ttp1"}
			},
		},
		{
			name:  "shop-configured attribute name",
			body:  stripeEdit(t, "checkout_session_completed_jpy_2023", func(_, o map[string]any) { stripeMeta(o)["tiktok_click"] = "E.C.P.custom" }),
			rules: mapping.ShopRules{AttributeNames: map[string]string{"tiktok_click": "ttclid"}},
			check: func(c *mapping.Conversion) (any, any) { return c.ClickIDs.TTCLID, "E.C.P.custom" },
		},
		{
			name: "landing URL fills click ids",
			body: fixture(t, "stripe", "checkout_session_completed_basil.json"),
			check: func(c *mapping.Conversion) (any, any) {
				return c.ClickIDs.MSCLKID + " " + c.ClientIP, "ExampleMsclkid07 2001:db8::7"
			},
		},
		{
			name:   "invalid client IP is left out and noted",
			body:   stripeEdit(t, "checkout_session_completed", func(_, o map[string]any) { stripeMeta(o)["client_ip"] = "not-an-ip" }),
			check:  func(c *mapping.Conversion) (any, any) { return c.ClientIP, "" },
			reason: "client IP in metadata is not an IP address",
		},
		{
			name: "subscription metadata reaches an invoice conversion",
			body: fixture(t, "stripe", "invoice_paid_subscription_create.json"),
			check: func(c *mapping.Conversion) (any, any) {
				return []string{c.ClickIDs.FBCLID, c.ClickIDs.FBP, c.ClientIP, c.OrderName},
					[]string{"IwAR3ExampleSubscriptionFbclid09", "fb.1.1719299000000.5566778899", "198.51.100.23", "8F3A2C1B-0001"}
			},
		},
		{
			name:  "invoice lines become items (basil pricing)",
			body:  fixture(t, "stripe", "invoice_paid_subscription_cycle_basil.json"),
			rules: mapping.ShopRules{StripeRenewals: true},
			check: func(c *mapping.Conversion) (any, any) {
				if len(c.Items) != 1 {
					return len(c.Items), 1
				}
				i := c.Items[0]
				return fmt.Sprintf("%s %s %d %s", i.ID, i.VariantID, i.Quantity, i.Price), "prod_QPExampleCoffeeClub price_1PXExampleMonthly 1 29"
			},
		},
		{
			name:  "checkout sessions carry no items",
			body:  fixture(t, "stripe", "checkout_session_completed.json"),
			check: func(c *mapping.Conversion) (any, any) { return len(c.Items), 0 },
		},
	}
	s := newTestStripe()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := s.Parse(stripeHeaders(""), tt.body, tt.rules)
			if err != nil {
				t.Fatalf("Parse() error: %v", err)
			}
			if w.Conversion == nil {
				t.Fatalf("Outcome %q (%q), want a conversion", w.Outcome, w.Reason)
			}
			if got, want := tt.check(w.Conversion); !cmp.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			if !strings.Contains(w.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", w.Reason, tt.reason)
			}
			if strings.Contains(w.Reason, "@") {
				t.Errorf("Reason %q carries customer data", w.Reason)
			}
		})
	}
}

// stripeMeta returns an object's metadata map for editing.
func stripeMeta(o map[string]any) map[string]any {
	m, ok := o["metadata"].(map[string]any)
	if !ok {
		m = map[string]any{}
		o["metadata"] = m
	}
	return m
}

func TestStripeParseMalformed(t *testing.T) {
	tests := []struct {
		name string
		body []byte
	}{
		{"not JSON", []byte(`{"id": "evt_1", "object": "event",`)},
		{"empty body", nil},
		{"JSON array", []byte(`[{"id":"evt_1"}]`)},
		{"not an event", []byte(`{"id":"cs_1","object":"checkout.session","type":"checkout.session.completed","created":1}`)},
		{"no id", stripeEdit(t, "checkout_session_completed", func(ev, _ map[string]any) { delete(ev, "id") })},
		{"no type", stripeEdit(t, "checkout_session_completed", func(ev, _ map[string]any) { ev["type"] = "" })},
		{"no created", stripeEdit(t, "checkout_session_completed", func(ev, _ map[string]any) { delete(ev, "created") })},
		{"created not a time", stripeEdit(t, "checkout_session_completed", func(ev, _ map[string]any) { ev["created"] = "soon" })},
		{"no data.object", stripeEdit(t, "checkout_session_completed", func(ev, _ map[string]any) { ev["data"] = map[string]any{} })},
		{"data.object null", stripeEdit(t, "invoice_paid_subscription_create", func(ev, _ map[string]any) {
			ev["data"] = map[string]any{"object": nil}
		})},
		{"amount is a string", stripeEdit(t, "checkout_session_completed", func(_, o map[string]any) { o["amount_total"] = "85.32" })},
		{"metadata not strings", stripeEdit(t, "payment_intent_succeeded", func(_, o map[string]any) { stripeMeta(o)["n"] = 3 })},
		{"object without id", stripeEdit(t, "payment_intent_succeeded", func(_, o map[string]any) { delete(o, "id") })},
		{"unknown currency", stripeEdit(t, "checkout_session_completed", func(_, o map[string]any) { o["currency"] = "zzz" })},
		{"no currency", stripeEdit(t, "charge_refunded", func(_, o map[string]any) { delete(o, "currency") })},
		{"negative amount", stripeEdit(t, "payment_intent_succeeded", func(_, o map[string]any) {
			o["amount_received"], o["amount"] = -5, -5
		})},
		{"negative refund", stripeEdit(t, "refund_created", func(_, o map[string]any) { o["amount"] = -1 })},
	}
	s := newTestStripe()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := s.Parse(stripeHeaders(""), tt.body, mapping.ShopRules{})
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%.60q) = %q, %v; want ErrMalformed", tt.body, w.Outcome, err)
			}
			if w.Source != mapping.SourceStripe {
				t.Errorf("Source = %q, want stripe even on error", w.Source)
			}
		})
	}
}

func TestStripeAmount(t *testing.T) {
	tests := []struct {
		minor    int64
		currency string
		want     string
	}{
		{8532, "USD", "85.32"},
		{1, "EUR", "0.01"},
		{12800, "JPY", "12800"},
		{500, "KRW", "500"},
		{1000, "UGX", "1000"},
		{12340, "KWD", "12.34"},
		{1005, "BHD", "1.005"},
		{500, "ISK", "5"}, // two-decimal in the API despite whole krónur
		{100000, "HUF", "1000"},
		{9900, "TWD", "99"},
		{0, "USD", "0"},
	}
	for _, tt := range tests {
		got := stripeAmount(tt.minor, tt.currency)
		if !got.Equal(decimal.RequireFromString(tt.want)) {
			t.Errorf("stripeAmount(%d, %s) = %s, want %s", tt.minor, tt.currency, got, tt.want)
		}
	}
}

// stripeLineItemsPage is one page of GET /v1/checkout/sessions/{id}/line_items.
func stripeLineItemsPage(more bool, items ...string) string {
	return fmt.Sprintf(`{"object":"list","url":"/v1/checkout/sessions/cs_test_a1/line_items","has_more":%t,"data":[%s]}`,
		more, strings.Join(items, ","))
}

func stripeLineItemJSON(id, product, price string, unit, subtotal, qty int64, unitNull bool) string {
	u := strconv.FormatInt(unit, 10)
	if unitNull {
		u = "null"
	}
	return fmt.Sprintf(`{"id":%q,"object":"item","amount_discount":0,"amount_subtotal":%d,"amount_tax":0,"amount_total":%d,
		"currency":"usd","description":"Item %s","price":{"id":%q,"object":"price","currency":"usd","product":%q,
		"type":"one_time","unit_amount":%s},"quantity":%d}`, id, subtotal, subtotal, id, price, product, u, qty)
}

func TestStripeEnricher(t *testing.T) {
	const key = "rk_test_51ExampleRestrictedKey"
	session := mapping.Conversion{OrderID: "cs_test_a1", Currency: "USD", Value: decimal.RequireFromString("85.32")}
	page1 := stripeLineItemsPage(true,
		stripeLineItemJSON("li_1", "prod_beans", "price_beans", 1800, 3600, 2, false),
		stripeLineItemJSON("li_2", "prod_grinder", "price_grinder", 4300, 4300, 1, false))
	page2 := stripeLineItemsPage(false,
		stripeLineItemJSON("li_3", "prod_tiered", "price_tiered", 0, 999, 3, true))
	wantItems := []mapping.Item{
		{ID: "prod_beans", VariantID: "price_beans", Title: "Item li_1", Quantity: 2, Price: decimal.RequireFromString("18")},
		{ID: "prod_grinder", VariantID: "price_grinder", Title: "Item li_2", Quantity: 1, Price: decimal.RequireFromString("43")},
		{ID: "prod_tiered", VariantID: "price_tiered", Title: "Item li_3", Quantity: 3, Price: decimal.RequireFromString("3.33")},
	}

	tests := []struct {
		name      string
		key       string
		conv      mapping.Conversion
		status    int
		hang      bool
		wantErr   bool
		wantItems []mapping.Item
		wantCalls int
	}{
		{name: "two pages of line items", key: key, conv: session, status: 200, wantItems: wantItems, wantCalls: 2},
		{name: "bad key", key: key, conv: session, status: 401, wantErr: true, wantCalls: 1},
		{name: "no such session", key: key, conv: session, status: 404, wantErr: true, wantCalls: 1},
		{name: "stripe down", key: key, conv: session, status: 500, wantErr: true, wantCalls: 1},
		{name: "rate limited", key: key, conv: session, status: 429, wantErr: true, wantCalls: 1},
		{name: "hung server", key: key, conv: session, hang: true, wantErr: true, wantCalls: 1},
		{name: "not a checkout session", key: key, conv: mapping.Conversion{OrderID: "pi_3PVExample", Currency: "USD"}},
		{name: "already has items", key: key, conv: mapping.Conversion{OrderID: "cs_test_a1", Items: wantItems[:1]}, wantItems: wantItems[:1]},
		{name: "no key", conv: session, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if r.Method != http.MethodGet || r.URL.Path != "/v1/checkout/sessions/cs_test_a1/line_items" {
					t.Errorf("request %s %s, want GET /v1/checkout/sessions/cs_test_a1/line_items", r.Method, r.URL.Path)
				}
				if got := r.Header.Get("Authorization"); got != "Bearer "+key {
					t.Errorf("Authorization = %q, want Bearer %s", got, key)
				}
				if got := r.Header.Get("Stripe-Version"); got != stripe.APIVersion {
					t.Errorf("Stripe-Version = %q, want %q", got, stripe.APIVersion)
				}
				if got := r.URL.Query().Get("limit"); got != "100" {
					t.Errorf("limit = %q, want 100", got)
				}
				if tt.hang {
					select {
					case <-release:
					case <-r.Context().Done():
					}
					return
				}
				w.Header().Set("Content-Type", "application/json")
				if tt.status != http.StatusOK {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(tt.status)
					fmt.Fprintf(w, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"Invalid API Key provided: %s"}}`, key)
					return
				}
				switch after := r.URL.Query().Get("starting_after"); after {
				case "":
					fmt.Fprint(w, page1)
				case "li_2":
					fmt.Fprint(w, page2)
				default:
					t.Errorf("starting_after = %q, want li_2", after)
					w.WriteHeader(http.StatusBadRequest)
				}
			}))
			defer srv.Close()
			defer close(release)
			e := NewStripeEnricher(srv.URL, srv.Client())
			e.timeout = 300 * time.Millisecond

			start := time.Now()
			got, err := e.Enrich(context.Background(), tt.key, tt.conv)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Enrich() error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "rk_") {
					t.Errorf("error %q contains the key", err)
				}
				if time.Since(start) > 2*time.Second {
					t.Errorf("Enrich took %s, want it bounded by its timeout", time.Since(start))
				}
			}
			if n := int(calls.Load()); n != tt.wantCalls {
				t.Errorf("%d API calls, want %d", n, tt.wantCalls)
			}
			want := tt.conv
			if tt.wantItems != nil {
				want.Items = tt.wantItems
			}
			if diff := cmp.Diff(want, got, cmp.Comparer(decimal.Decimal.Equal)); diff != "" {
				t.Errorf("conversion (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewStripeEnricherDefaults(t *testing.T) {
	e := NewStripeEnricher("", nil)
	b, ok := e.backends.API.(*stripe.BackendImplementation)
	if !ok {
		t.Fatalf("API backend is %T, want *stripe.BackendImplementation", e.backends.API)
	}
	if b.URL != stripe.APIURL || b.HTTPClient == nil || b.HTTPClient.Timeout <= 0 || b.MaxNetworkRetries != 0 {
		t.Errorf("backend URL %q, client %v, retries %d; want %q, a client with a timeout, no retries",
			b.URL, b.HTTPClient, b.MaxNetworkRetries, stripe.APIURL)
	}
}

// stripeReferenceVerify is an independent reading of Stripe's documented
// manual verification, used as the fuzz oracle.
func stripeReferenceVerify(header string, body []byte, secret string, now time.Time) bool {
	if secret == "" {
		return false
	}
	var ts string
	var sigs []string
	for _, el := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(el, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(sec, 0)); d > StripeTolerance || d < -StripeTolerance {
		return false
	}
	want := stripeSignature(body, secret, time.Unix(sec, 0))
	for _, s := range sigs {
		if hmac.Equal([]byte(strings.ToLower(s)), []byte(want)) {
			return true
		}
	}
	return false
}

func stripeFixtures(t testing.TB) [][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "stripe", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, n := range names {
		if strings.HasSuffix(n, ".golden.json") {
			continue
		}
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func FuzzStripeVerify(f *testing.F) {
	for _, body := range stripeFixtures(f) {
		f.Add(body, stripeSign(body, stripeTestSecret, stripeTestNow), stripeTestSecret)
		f.Add(body, stripeSign(body, stripeTestSecret, stripeTestNow.Add(-time.Hour)), stripeTestSecret)
		f.Add(body, fmt.Sprintf("t=%d,v1=%s,v0=%s", stripeTestNow.Unix(),
			stripeSignature(body, stripeTestOldSecret, stripeTestNow), stripeSignature(body, stripeTestSecret, stripeTestNow)), stripeTestSecret)
	}
	f.Add([]byte("{}"), "t=,v1=", "")
	f.Add([]byte("{}"), "garbage", "whsec_x")
	s := newTestStripe()
	f.Fuzz(func(t *testing.T, body []byte, header, secret string) {
		h := http.Header{StripeSignatureHeader: {header}}
		err := s.Verify(h, body, secret)
		if err != nil && !errors.Is(err, ErrNotSigned) && !errors.Is(err, ErrNoValidSignature) && !errors.Is(err, ErrTooOld) {
			t.Fatalf("Verify(%q) = %v, not one of the three sentinels", header, err)
		}
		if err == nil && !stripeReferenceVerify(header, body, secret, stripeTestNow) {
			t.Fatalf("Verify accepted %q for a %d-byte body, the reference rejects it", header, len(body))
		}
		if secret == "" {
			return
		}
		// Any body signed properly with any secret verifies.
		good := stripeSign(body, secret, stripeTestNow)
		if err := s.Verify(http.Header{StripeSignatureHeader: {good}}, body, secret); err != nil {
			t.Fatalf("Verify(properly signed) = %v", err)
		}
		if err := s.Verify(http.Header{StripeSignatureHeader: {good}}, body, secret+"x"); !errors.Is(err, ErrNoValidSignature) {
			t.Fatalf("Verify(other secret) = %v, want ErrNoValidSignature", err)
		}
	})
}

func FuzzStripeParse(f *testing.F) {
	for _, body := range stripeFixtures(f) {
		f.Add(body)
	}
	f.Add([]byte(`{"id":"evt_1","object":"event","type":"invoice.paid","created":1,"data":{"object":{"id":"in_1","billing_reason":"subscription_create","amount_paid":5,"currency":"usd","lines":{"data":[{"quantity":0,"amount":5,"pricing":{"price_details":{"product":"p"},"unit_amount_decimal":"1e400"}}]}}}}`))
	s := newTestStripe()
	outcomes := []mapping.Outcome{mapping.OutcomeConversion, mapping.OutcomeIgnored, mapping.OutcomeRefund}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, rules := range []mapping.ShopRules{{}, {ValueRule: mapping.ValueSubtotal, SendZeroValue: true, StripeRenewals: true}} {
			w, err := s.Parse(nil, body, rules)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
				}
				continue
			}
			if w.Source != mapping.SourceStripe || w.DeliveryID == "" || !slices.Contains(outcomes, w.Outcome) {
				t.Fatalf("Parse = source %q, delivery %q, outcome %q", w.Source, w.DeliveryID, w.Outcome)
			}
			if (w.Conversion != nil) != (w.Outcome == mapping.OutcomeConversion) {
				t.Fatalf("outcome %q with conversion %v", w.Outcome, w.Conversion)
			}
			if c := w.Conversion; c != nil {
				if _, err := mapping.NormalizeCurrency(c.Currency); err != nil || c.Currency != strings.ToUpper(c.Currency) {
					t.Fatalf("conversion currency %q: %v", c.Currency, err)
				}
				if c.Value.IsNegative() || c.OrderID == "" || c.EventID == "" || !c.EventTime.Equal(w.OccurredAt) {
					t.Fatalf("conversion value %s, order %q, event id %q, time %v", c.Value, c.OrderID, c.EventID, c.EventTime)
				}
				if c.Value.IsZero() && !rules.SendZeroValue {
					t.Fatalf("zero-value conversion without SendZeroValue")
				}
			}
			for _, r := range w.Refunds {
				if r.RefundID == "" || r.OrderID == "" || r.Amount.IsNegative() || r.Currency == "" {
					t.Fatalf("refund %+v", r)
				}
			}
			if w.Outcome == mapping.OutcomeRefund && len(w.Refunds) == 0 {
				t.Fatalf("refund outcome without refunds")
			}
		}
	})
}

func BenchmarkStripeVerifyParse(b *testing.B) {
	body := fixture(b, "stripe", "checkout_session_completed.json")
	h := stripeHeaders(stripeSign(body, stripeTestSecret, stripeTestNow))
	s := newTestStripe()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := s.Verify(h, body, stripeTestSecret); err != nil {
			b.Fatal(err)
		}
		w, err := s.Parse(h, body, mapping.ShopRules{})
		if err != nil || w.Conversion == nil {
			b.Fatal(w.Outcome, err)
		}
	}
}
