package connectors

// Stripe's API through stripe-go v79, for reconciliation: list the Checkout
// Sessions completed in a window and shape each as the
// checkout.session.completed event that would have brought it.
//
// Read 2026-12-03 from docs.stripe.com/api/checkout/sessions/list and
// stripe-go v79 (checkout/session.List, stripe.CheckoutSessionListParams):
// GET /v1/checkout/sessions with created[gte|lt], status=complete, limit
// ≤ 100, paginated with starting_after, which stripe-go's iterator follows.
// The base URL is POSTBACK_STRIPE_URL, so tests point stripe-go at a fake.
// Payments made without Checkout (PaymentIntents alone, invoices) are not
// listed.

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

// ListOrders lists the Checkout Sessions created in [since, until) that
// completed. Stripe has no fulfilled state; the trigger is ignored.
func (s *StripeAPI) ListOrders(ctx context.Context, cred StoreCredentials, since, until time.Time, _ mapping.Trigger) ([]StoreOrder, error) {
	if cred.StripeAPIKey == "" {
		return nil, fmt.Errorf("%w: stripe_api_key", ErrStoreNotConnected)
	}
	api := client.New(cred.StripeAPIKey, s.backends)
	params := &stripe.CheckoutSessionListParams{
		Status:       stripe.String(string(stripe.CheckoutSessionStatusComplete)),
		CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: since.Unix(), LesserThan: until.Unix()},
	}
	params.Context = ctx
	params.Limit = stripe.Int64(100)
	it := api.CheckoutSessions.List(params)
	var out []StoreOrder
	var page *stripe.CheckoutSessionList
	raw := map[string]json.RawMessage{}
	for it.Next() {
		// Keep the session exactly as Stripe sent it: each page's raw JSON
		// is split by id when the iterator moves to it.
		if l := it.CheckoutSessionList(); l != page {
			page = l
			if err := stripeSplitPage(l, raw); err != nil {
				return out, err
			}
		}
		cs := it.CheckoutSession()
		obj, ok := raw[cs.ID]
		if !ok {
			return out, fmt.Errorf("%w: session missing from its page", ErrStoreBadAnswer)
		}
		ev, err := json.Marshal(map[string]any{
			"id": "evt_reconcile_" + cs.ID, "object": "event", "type": "checkout.session.completed",
			"created": cs.Created, "livemode": cs.Livemode, "data": map[string]any{"object": obj},
		})
		if err != nil {
			return out, err
		}
		out = append(out, StoreOrder{ID: cs.ID, Header: http.Header{}, Body: ev})
		if len(out) > storeAPIMaxPages*100 {
			return out, fmt.Errorf("%w: more than %d sessions", ErrStoreBadAnswer, storeAPIMaxPages*100)
		}
	}
	if err := it.Err(); err != nil {
		return out, stripeAPIError(err)
	}
	return out, nil
}

func stripeSplitPage(l *stripe.CheckoutSessionList, into map[string]json.RawMessage) error {
	if l == nil || l.LastResponse == nil {
		return fmt.Errorf("%w: no page", ErrStoreBadAnswer)
	}
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(l.LastResponse.RawJSON, &page); err != nil {
		return fmt.Errorf("%w: checkout sessions page: %v", ErrStoreBadAnswer, err)
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
