package connectors

// Stripe's API through stripe-go v79, for reconciliation: list every paid
// object the webhook path (stripe.go) turns into a conversion, created in a
// window, and shape each as the event that would have brought it.
//
// Read 2026-12-03 from stripe-go v79.12.0's source (checkout/session,
// invoice and paymentintent List; CheckoutSessionListParams.Status,
// InvoiceListParams.Status, PaymentIntentListParams, which has no Status;
// iter.go): GET /v1/checkout/sessions (status=complete), /v1/invoices
// (status=paid) and /v1/payment_intents (no status filter: the status is
// checked here),
// each with created[gte|lt] and limit ≤ 100, paginated with starting_after,
// which stripe-go's iterator follows. Answers are rendered in the API
// version stripe-go pins (it sends Stripe-Version), which the connector's
// Parse reads like any webhook version. The base URL is
// POSTBACK_STRIPE_URL, so tests point stripe-go at a fake.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/client"

	"github.com/postbackhq/postback/mapping"
)

// StripeAPI lists a Stripe account's Checkout Sessions.
type StripeAPI struct {
	backends *stripe.Backends
}

var _ OrderLister = (*StripeAPI)(nil)

// NewStripeAPI returns a client calling baseURL (Stripe's API when empty)
// through httpClient (copied; redirects are never followed).
func NewStripeAPI(baseURL string, httpClient *http.Client) *StripeAPI {
	if baseURL == "" {
		baseURL = stripe.APIURL
	}
	api := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(baseURL),
		HTTPClient:        storeHTTPClient(httpClient),
		MaxNetworkRetries: stripe.Int64(0), // the reconciler backs off
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	return &StripeAPI{backends: &stripe.Backends{API: api}}
}

// stripeAPIError classifies stripe-go's errors; the message never holds
// the key.
func stripeAPIError(err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return storeNetError(err)
	}
	switch {
	case se.HTTPStatusCode == http.StatusUnauthorized || se.HTTPStatusCode == http.StatusForbidden:
		return fmt.Errorf("%w (HTTP %d)", ErrStoreAuth, se.HTTPStatusCode)
	case se.HTTPStatusCode == http.StatusTooManyRequests:
		return &ThrottledError{RetryAfter: 10 * time.Second}
	case se.HTTPStatusCode >= 500 || se.HTTPStatusCode == 0:
		return fmt.Errorf("%w (HTTP %d)", ErrStoreUnavailable, se.HTTPStatusCode)
	default:
		return fmt.Errorf("%w (HTTP %d): %s", ErrStoreBadAnswer, se.HTTPStatusCode, clip(se.Msg, 200))
	}
}

// ListOrders lists the paid objects created in [since, until) that
// Stripe's webhooks would have brought as conversions, each shaped as its
// event: completed Checkout Sessions (checkout.session.completed), paid
// invoices (invoice.paid) and succeeded PaymentIntents
// (payment_intent.succeeded). The connector's Parse decides from each, as
// for webhooks, what converts (a session's payment_status, an invoice's
// billing_reason and the shop's renewals setting, a PaymentIntent that
// belongs to an invoice). One purchase appears as several objects sharing
// order keys (a session names its PaymentIntent and invoice, an invoice its
// PaymentIntent), so sessions come first, then invoices, then
// PaymentIntents: the richest object stands for the purchase, and the
// others are recognized by those keys. Stripe has no fulfilled state; the
// trigger is ignored.
func (s *StripeAPI) ListOrders(ctx context.Context, cred StoreCredentials, since, until time.Time, _ mapping.Trigger) ([]StoreOrder, error) {
	if cred.StripeAPIKey == "" {
		return nil, fmt.Errorf("%w: stripe_api_key", ErrStoreNotConnected)
	}
	api := client.New(cred.StripeAPIKey, s.backends)
	created := &stripe.RangeQueryParams{GreaterThanOrEqual: since.Unix(), LesserThan: until.Unix()}
	var out []StoreOrder

	sessions := &stripe.CheckoutSessionListParams{Status: stripe.String(string(stripe.CheckoutSessionStatusComplete)), CreatedRange: created}
	sessions.Context, sessions.Limit = ctx, stripe.Int64(100)
	err := stripeEach(api.CheckoutSessions.List(sessions).Iter, "checkout sessions", func(item any, raw json.RawMessage) error {
		cs := item.(*stripe.CheckoutSession)
		return stripeShape(&out, cs.ID, stripe.EventTypeCheckoutSessionCompleted, cs.Created, cs.Livemode, raw)
	})
	if err != nil {
		return out, err
	}

	invoices := &stripe.InvoiceListParams{Status: stripe.String(string(stripe.InvoiceStatusPaid)), CreatedRange: created}
	invoices.Context, invoices.Limit = ctx, stripe.Int64(100)
	err = stripeEach(api.Invoices.List(invoices).Iter, "invoices", func(item any, raw json.RawMessage) error {
		in := item.(*stripe.Invoice)
		at := in.Created
		if t := in.StatusTransitions; t != nil && t.PaidAt > 0 {
			at = t.PaidAt
		}
		return stripeShape(&out, in.ID, stripe.EventTypeInvoicePaid, at, in.Livemode, raw)
	})
	if err != nil {
		return out, err
	}

	// PaymentIntents cannot be filtered by status in the list call.
	intents := &stripe.PaymentIntentListParams{CreatedRange: created}
	intents.Context, intents.Limit = ctx, stripe.Int64(100)
	err = stripeEach(api.PaymentIntents.List(intents).Iter, "payment intents", func(item any, raw json.RawMessage) error {
		pi := item.(*stripe.PaymentIntent)
		if pi.Status != stripe.PaymentIntentStatusSucceeded {
			return nil
		}
		return stripeShape(&out, pi.ID, stripe.EventTypePaymentIntentSucceeded, pi.Created, pi.Livemode, raw)
	})
	return out, err
}

// stripeShape appends the event that would have brought obj.
func stripeShape(out *[]StoreOrder, id string, typ stripe.EventType, created int64, livemode bool, obj json.RawMessage) error {
	ev, err := json.Marshal(map[string]any{
		"id": "evt_reconcile_" + id, "object": "event", "type": typ,
		"created": created, "livemode": livemode, "data": map[string]any{"object": obj},
	})
	if err != nil {
		return err
	}
	*out = append(*out, StoreOrder{ID: id, Header: http.Header{}, Body: ev})
	return nil
}

// stripeEach walks one of stripe-go's list iterators (which follows
// starting_after from page to page) and gives visit each item with its
// JSON exactly as Stripe sent it: each page's raw answer is split by id
// when the iterator moves to it, so no field stripe-go's types drop is
// lost to the connector's Parse.
func stripeEach(it *stripe.Iter, what string, visit func(item any, raw json.RawMessage) error) error {
	raw := map[string]json.RawMessage{}
	var page stripe.ListContainer
	n := 0
	for it.Next() {
		if l := it.List(); l != page {
			page = l
			clear(raw)
			if err := stripeSplitPage(l, what, raw); err != nil {
				return err
			}
		}
		item := it.Current()
		id := stripeItemID(item)
		obj, ok := raw[id]
		if id == "" || !ok {
			return fmt.Errorf("%w: %s: item missing from its page", ErrStoreBadAnswer, what)
		}
		if err := visit(item, obj); err != nil {
			return err
		}
		if n++; n > storeAPIMaxPages*100 {
			return fmt.Errorf("%w: more than %d %s", ErrStoreBadAnswer, storeAPIMaxPages*100, what)
		}
	}
	if err := it.Err(); err != nil {
		return stripeAPIError(err)
	}
	return nil
}

func stripeItemID(item any) string {
	switch v := item.(type) {
	case *stripe.CheckoutSession:
		return v.ID
	case *stripe.Invoice:
		return v.ID
	case *stripe.PaymentIntent:
		return v.ID
	}
	return ""
}

func stripeSplitPage(l stripe.ListContainer, what string, into map[string]json.RawMessage) error {
	var resp *stripe.APIResponse
	switch v := l.(type) {
	case *stripe.CheckoutSessionList:
		resp = v.LastResponse
	case *stripe.InvoiceList:
		resp = v.LastResponse
	case *stripe.PaymentIntentList:
		resp = v.LastResponse
	}
	if resp == nil {
		return fmt.Errorf("%w: %s: no page", ErrStoreBadAnswer, what)
	}
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(resp.RawJSON, &page); err != nil {
		return fmt.Errorf("%w: %s page: %v", ErrStoreBadAnswer, what, err)
	}
	for _, d := range page.Data {
		var ref struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(d, &ref); err == nil && ref.ID != "" {
			into[ref.ID] = d
		}
	}
	return nil
}

// Webhook endpoints through stripe-go v79 (read 2026-12-03,
// docs.stripe.com/api/webhook_endpoints): List, New with url and
// enabled_events returns the endpoint's secret (only at creation); status
// is enabled or disabled, and Stripe disables an endpoint that keeps
// failing. Endpoints are created pinned to stripe-go's API version
// (stripe.APIVersion), the version connectors/stripe.go parses.

var _ Registrar = (*StripeAPI)(nil)

// Subscriptions lists the account's webhook endpoints, one Subscription
// per enabled event.
func (s *StripeAPI) Subscriptions(ctx context.Context, cred StoreCredentials) ([]Subscription, error) {
	if cred.StripeAPIKey == "" {
		return nil, fmt.Errorf("%w: stripe_api_key", ErrStoreNotConnected)
	}
	api := client.New(cred.StripeAPIKey, s.backends)
	params := &stripe.WebhookEndpointListParams{}
	params.Context = ctx
	params.Limit = stripe.Int64(100)
	it := api.WebhookEndpoints.List(params)
	var out []Subscription
	for it.Next() {
		ep := it.WebhookEndpoint()
		for _, ev := range ep.EnabledEvents {
			out = append(out, Subscription{ID: ep.ID, Topic: ev, URL: ep.URL, Active: ep.Status == "enabled", Status: ep.Status})
		}
	}
	if err := it.Err(); err != nil {
		return out, stripeAPIError(err)
	}
	return out, nil
}

// Subscribe creates one endpoint for all topics and returns its secret.
func (s *StripeAPI) Subscribe(ctx context.Context, cred StoreCredentials, url string, topics []string, _ string) (string, error) {
	if cred.StripeAPIKey == "" {
		return "", fmt.Errorf("%w: stripe_api_key", ErrStoreNotConnected)
	}
	api := client.New(cred.StripeAPIKey, s.backends)
	params := &stripe.WebhookEndpointParams{URL: stripe.String(url), EnabledEvents: stripe.StringSlice(topics),
		APIVersion: stripe.String(stripe.APIVersion), Description: stripe.String("Postback")}
	params.Context = ctx
	ep, err := api.WebhookEndpoints.New(params)
	if err != nil {
		return "", stripeAPIError(err)
	}
	if ep.Secret == "" {
		return "", fmt.Errorf("%w: endpoint created without a secret", ErrStoreBadAnswer)
	}
	return ep.Secret, nil
}

// Reactivate enables a disabled endpoint (its secret is unchanged).
func (s *StripeAPI) Reactivate(ctx context.Context, cred StoreCredentials, sub Subscription) error {
	api := client.New(cred.StripeAPIKey, s.backends)
	params := &stripe.WebhookEndpointParams{Disabled: stripe.Bool(false)}
	params.Context = ctx
	if _, err := api.WebhookEndpoints.Update(sub.ID, params); err != nil {
		return stripeAPIError(err)
	}
	return nil
}
