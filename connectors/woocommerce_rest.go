package connectors

// WooCommerce REST API v3, for reconciliation: list a shop's orders
// modified in a window, page by page, each shaped as the order.updated
// webhook (WooCommerce builds webhook payloads with the same REST v3
// order schema, so the body is passed through as it came).
//
// Read 2026-12-03 from woocommerce.github.io/woocommerce-rest-api-docs:
// GET /wp-json/wc/v3/orders with per_page (≤ 100), page, status, and
// modified_after / modified_before (ISO 8601; with dates_are_gmt=true they
// are UTC; added in WooCommerce 5.8); pagination through the X-WP-Total and
// X-WP-TotalPages headers. Authentication over HTTPS is HTTP Basic with the
// consumer key and secret; Postback never sends them over plain http
// except to a local host (tests), nor as query parameters.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// WooCommerceREST calls a shop's WooCommerce REST API.
type WooCommerceREST struct {
	client *http.Client
	now    func() time.Time
	// PageSize is the orders asked per page (default 100, the maximum).
	PageSize int
}

var _ OrderLister = (*WooCommerceREST)(nil)

// NewWooCommerceREST returns a client using httpClient (copied; redirects
// are never followed).
func NewWooCommerceREST(httpClient *http.Client) *WooCommerceREST {
	return &WooCommerceREST{client: storeHTTPClient(httpClient), now: time.Now, PageSize: 100}
}

// do sends one authenticated request and returns the body of a 2xx answer.
func (w *WooCommerceREST) do(ctx context.Context, cred StoreCredentials, method, path string, q url.Values, body []byte) ([]byte, http.Header, error) {
	base, err := storeBaseURL(cred.StoreURL)
	if err != nil {
		return nil, nil, err
	}
	if cred.ConsumerKey == "" || cred.ConsumerSecret == "" {
		return nil, nil, fmt.Errorf("%w: consumer_key and consumer_secret", ErrStoreNotConnected)
	}
	u := base + "/wp-json/wc/v3" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd *bytesReader
	if body != nil {
		rd = newBytesReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd.reader())
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrStoreBadAnswer, err)
	}
	req.SetBasicAuth(cred.ConsumerKey, cred.ConsumerSecret)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, nil, storeNetError(err)
	}
	defer resp.Body.Close()
	raw, err := readStoreBody(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, nil, storeStatusError(resp, w.now())
	}
	return raw, resp.Header, nil
}

// ListOrders lists the orders modified in [since, until) in a paid state
// (processing or completed; completed alone for the fulfilled trigger),
// each shaped as the order.updated webhook. Parse then decides from the
// order's status and the shop's rules, as for a webhook.
func (w *WooCommerceREST) ListOrders(ctx context.Context, cred StoreCredentials, since, until time.Time, trigger mapping.Trigger) ([]StoreOrder, error) {
	status := "processing,completed"
	if trigger == mapping.TriggerFulfilled {
		status = "completed"
	}
	var out []StoreOrder
	for page := 1; page <= storeAPIMaxPages; page++ {
		q := url.Values{}
		q.Set("status", status)
		q.Set("modified_after", since.UTC().Format("2006-01-02T15:04:05"))
		q.Set("modified_before", until.UTC().Format("2006-01-02T15:04:05"))
		q.Set("dates_are_gmt", "true")
		q.Set("orderby", "id")
		q.Set("order", "asc")
		q.Set("per_page", strconv.Itoa(w.PageSize))
		q.Set("page", strconv.Itoa(page))
		raw, h, err := w.do(ctx, cred, http.MethodGet, "/orders", q, nil)
		if err != nil {
			return out, err
		}
		var orders []json.RawMessage
		if err := json.Unmarshal(raw, &orders); err != nil {
			return out, fmt.Errorf("%w: orders are not a JSON list; is the store URL the WordPress site?", ErrStoreBadAnswer)
		}
		for _, o := range orders {
			var ref struct {
				ID json.Number `json:"id"`
			}
			if err := json.Unmarshal(o, &ref); err != nil || ref.ID == "" {
				return out, fmt.Errorf("%w: order without id", ErrStoreBadAnswer)
			}
			hd := http.Header{}
			hd.Set(wooHeaderTopic, "order.updated")
			out = append(out, StoreOrder{ID: ref.ID.String(), Header: hd, Body: o})
		}
		total, _ := strconv.Atoi(h.Get("X-WP-TotalPages"))
		if len(orders) == 0 || page >= total {
			return out, nil
		}
	}
	return out, fmt.Errorf("%w: more than %d pages of orders", ErrStoreBadAnswer, storeAPIMaxPages)
}

// Webhooks through the REST API v3 (read 2026-12-03,
// woocommerce.github.io/woocommerce-rest-api-docs#webhooks): GET/POST
// /wp-json/wc/v3/webhooks with {name, topic, delivery_url, secret, status};
// status is active, paused or disabled, and WooCommerce disables a webhook
// after 5 failed deliveries in a row (WC_Webhook::failed_delivery), without
// retrying any. PUT /webhooks/{id} {status: active} turns it back on.

var _ Registrar = (*WooCommerceREST)(nil)

type wooWebhook struct {
	ID          json.Number `json:"id"`
	Name        string      `json:"name"`
	Status      string      `json:"status"`
	Topic       string      `json:"topic"`
	DeliveryURL string      `json:"delivery_url"`
}

// Subscriptions lists every webhook of the store, page by page.
func (w *WooCommerceREST) Subscriptions(ctx context.Context, cred StoreCredentials) ([]Subscription, error) {
	var out []Subscription
	for page := 1; page <= storeAPIMaxPages; page++ {
		q := url.Values{}
		q.Set("per_page", "100")
		q.Set("page", strconv.Itoa(page))
		raw, h, err := w.do(ctx, cred, http.MethodGet, "/webhooks", q, nil)
		if err != nil {
			return out, err
		}
		var hooks []wooWebhook
		if err := json.Unmarshal(raw, &hooks); err != nil {
			return out, fmt.Errorf("%w: webhooks are not a JSON list", ErrStoreBadAnswer)
		}
		for _, hk := range hooks {
			out = append(out, Subscription{ID: hk.ID.String(), Topic: hk.Topic, URL: hk.DeliveryURL, Active: hk.Status == "active", Status: hk.Status})
		}
		total, _ := strconv.Atoi(h.Get("X-WP-TotalPages"))
		if len(hooks) == 0 || page >= total {
			return out, nil
		}
	}
	return out, fmt.Errorf("%w: more than %d pages of webhooks", ErrStoreBadAnswer, storeAPIMaxPages)
}

// Subscribe creates an active webhook per topic, signed with secret.
func (w *WooCommerceREST) Subscribe(ctx context.Context, cred StoreCredentials, deliveryURL string, topics []string, secret string) (string, error) {
	if secret == "" {
		return "", fmt.Errorf("subscribe: no signing secret")
	}
	for _, t := range topics {
		body, err := json.Marshal(map[string]string{"name": "Postback " + t, "topic": t, "delivery_url": deliveryURL, "secret": secret, "status": "active"})
		if err != nil {
			return "", err
		}
		if _, _, err := w.do(ctx, cred, http.MethodPost, "/webhooks", nil, body); err != nil {
			return "", err
		}
	}
	return secret, nil
}

// Reactivate sets a paused or disabled webhook back to active.
func (w *WooCommerceREST) Reactivate(ctx context.Context, cred StoreCredentials, s Subscription) error {
	if _, err := strconv.ParseUint(s.ID, 10, 64); err != nil {
		return fmt.Errorf("%w: webhook id %q", ErrStoreBadAnswer, s.ID)
	}
	_, _, err := w.do(ctx, cred, http.MethodPut, "/webhooks/"+s.ID, nil, []byte(`{"status":"active"}`))
	return err
}
