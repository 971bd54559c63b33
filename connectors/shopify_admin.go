package connectors

// Shopify's GraphQL Admin API, for reconciliation: list the orders that
// were paid (or fulfilled) in a window and shape each as the orders/paid
// webhook would have carried it. The REST Admin API is legacy since
// 2024-10-01, so only GraphQL is used.
//
// Read 2026-12-03 from shopify.dev:
//   - endpoint POST {store}/admin/api/{version}/graphql.json with
//     X-Shopify-Access-Token (docs/api/admin-graphql, queries/orders);
//     version 2026-10 is the stable release current on that date.
//   - orders(first, after, query: "financial_status:paid updated_at:>…"),
//     pageInfo { hasNextPage endCursor } (connections, pagination-graphql).
//   - rate limits: calculated query cost, leaky bucket per app and store
//     (Standard 100 points/s); every answer carries extensions.cost
//     { requestedQueryCost, actualQueryCost, throttleStatus { maximumAvailable,
//     currentlyAvailable, restoreRate } }; a throttled call answers
//     errors[].extensions.code = "THROTTLED" (docs/apps/build/apis/
//     graphql-admin/rate-limits). HTTP 429 with Retry-After is honoured too.
//   - Order.customerJourneySummary { firstVisit lastVisit { landingPage
//     referrerUrl } } (objects/CustomerVisit; needs read_orders).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// ShopifyAdminVersion is the GraphQL Admin API version Postback calls.
const ShopifyAdminVersion = "2026-10"

// shopifyMaxThrottleWait is the longest a listing waits for Shopify's cost
// bucket to refill before giving up with a ThrottledError.
const shopifyMaxThrottleWait = 30 * time.Second

// ShopifyAdmin calls a shop's GraphQL Admin API.
type ShopifyAdmin struct {
	client *http.Client
	now    func() time.Time
	// sleep waits between throttled calls; tests replace it.
	sleep func(context.Context, time.Duration) error
	// PageSize is the orders asked per page (default 50).
	PageSize int
}

var _ OrderLister = (*ShopifyAdmin)(nil)

// NewShopifyAdmin returns a client using httpClient (copied; redirects are
// never followed).
func NewShopifyAdmin(httpClient *http.Client) *ShopifyAdmin {
	return &ShopifyAdmin{client: storeHTTPClient(httpClient), now: time.Now, sleep: sleepCtx, PageSize: 50}
}

// WithSleep replaces the wait used while throttled (tests).
func (a *ShopifyAdmin) WithSleep(f func(context.Context, time.Duration) error) *ShopifyAdmin {
	a.sleep = f
	return a
}

type shopifyGQLAnswer struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code string `json:"code"`
		} `json:"extensions"`
	} `json:"errors"`
	Extensions struct {
		Cost struct {
			RequestedQueryCost float64 `json:"requestedQueryCost"`
			ThrottleStatus     struct {
				MaximumAvailable   float64 `json:"maximumAvailable"`
				CurrentlyAvailable float64 `json:"currentlyAvailable"`
				RestoreRate        float64 `json:"restoreRate"`
			} `json:"throttleStatus"`
		} `json:"cost"`
	} `json:"extensions"`
}

// costWait is how long until the bucket holds what the last query asked.
func (g *shopifyGQLAnswer) costWait() time.Duration {
	c := g.Extensions.Cost
	t := c.ThrottleStatus
	if t.RestoreRate <= 0 || c.RequestedQueryCost <= t.CurrentlyAvailable {
		return 0
	}
	secs := (c.RequestedQueryCost - t.CurrentlyAvailable) / t.RestoreRate
	return time.Duration(math.Ceil(secs*1000)) * time.Millisecond
}

// Query runs one GraphQL document, waiting out throttling up to a bound,
// and decodes data into out.
func (a *ShopifyAdmin) Query(ctx context.Context, cred StoreCredentials, query string, vars map[string]any, out any) error {
	base, err := storeBaseURL(cred.StoreURL)
	if err != nil {
		return err
	}
	if cred.AdminAPIToken == "" {
		return fmt.Errorf("%w: admin_api_token", ErrStoreNotConnected)
	}
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	var waited time.Duration
	for {
		ans, err := a.post(ctx, base, cred.AdminAPIToken, body)
		var th *ThrottledError
		if errors.As(err, &th) {
			if waited+th.RetryAfter > shopifyMaxThrottleWait {
				return err
			}
			waited += th.RetryAfter
			if err := a.sleep(ctx, th.RetryAfter); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if w := ans.costWait(); w > 0 {
			// Keep the bucket from running dry before the next call.
			if err := a.sleep(ctx, min(w, shopifyMaxThrottleWait)); err != nil {
				return err
			}
		}
		if err := json.Unmarshal(ans.Data, out); err != nil {
			return fmt.Errorf("%w: shopify data: %v", ErrStoreBadAnswer, err)
		}
		return nil
	}
}

// post sends one GraphQL request and classifies the answer.
func (a *ShopifyAdmin) post(ctx context.Context, base, token string, body []byte) (*shopifyGQLAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/admin/api/"+ShopifyAdminVersion+"/graphql.json", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStoreBadAnswer, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Shopify-Access-Token", token)
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, storeNetError(err)
	}
	defer resp.Body.Close()
	raw, err := readStoreBody(resp.Body)
	if err != nil {
		return nil, err
	}
	var ans shopifyGQLAnswer
	jsonErr := json.Unmarshal(raw, &ans)
	if resp.StatusCode != http.StatusOK {
		serr := storeStatusError(resp, a.now())
		var th *ThrottledError
		if errors.As(serr, &th) && jsonErr == nil && resp.Header.Get("Retry-After") == "" {
			if w := ans.costWait(); w > 0 {
				th.RetryAfter = w
			}
		}
		return nil, serr
	}
	if jsonErr != nil {
		return nil, fmt.Errorf("%w: not JSON; is the store URL the shop's myshopify.com address?", ErrStoreBadAnswer)
	}
	for _, e := range ans.Errors {
		switch e.Extensions.Code {
		case "THROTTLED":
			w := ans.costWait()
			if w <= 0 {
				w = time.Second
			}
			return nil, &ThrottledError{RetryAfter: w}
		case "ACCESS_DENIED", "UNAUTHORIZED":
			return nil, fmt.Errorf("%w: %s", ErrStoreAuth, clip(e.Message, 200))
		}
	}
	if len(ans.Errors) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrStoreBadAnswer, clip(ans.Errors[0].Message, 200))
	}
	if len(ans.Data) == 0 || string(ans.Data) == "null" {
		return nil, fmt.Errorf("%w: no data", ErrStoreBadAnswer)
	}
	return &ans, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// shopifyOrdersQuery selects what the orders/paid webhook carries and
// Parse reads, plus the customer journey for click ids.
const shopifyOrdersQuery = `query PostbackOrders($first: Int!, $after: String, $query: String!) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      legacyResourceId name email phone test
      displayFinancialStatus displayFulfillmentStatus cancelledAt
      createdAt processedAt updatedAt currencyCode clientIp
      totalPriceSet { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }
      totalTaxSet { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }
      totalShippingPriceSet { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }
      customAttributes { key value }
      customer { legacyResourceId firstName lastName }
      billingAddress { firstName lastName address1 city provinceCode zip countryCodeV2 phone }
      shippingAddress { firstName lastName address1 city provinceCode zip countryCodeV2 phone }
      fulfillments(first: 10) { createdAt status }
      lineItems(first: 100) { nodes {
        id sku title vendor quantity
        product { legacyResourceId } variant { legacyResourceId }
        originalUnitPriceSet { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }
        customAttributes { key value }
      } }
      customerJourneySummary {
        firstVisit { landingPage referrerUrl }
        lastVisit { landingPage referrerUrl }
      }
    }
  }
}`

type gqlMoney struct {
	Amount       string `json:"amount"`
	CurrencyCode string `json:"currencyCode"`
}

type gqlMoneyBag struct {
	ShopMoney        gqlMoney `json:"shopMoney"`
	PresentmentMoney gqlMoney `json:"presentmentMoney"`
}

func (m gqlMoneyBag) rest() map[string]any {
	return map[string]any{
		"shop_money":        map[string]any{"amount": m.ShopMoney.Amount, "currency_code": m.ShopMoney.CurrencyCode},
		"presentment_money": map[string]any{"amount": m.PresentmentMoney.Amount, "currency_code": m.PresentmentMoney.CurrencyCode},
	}
}

type gqlAttr struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type gqlAddress struct {
	FirstName     string `json:"firstName"`
	LastName      string `json:"lastName"`
	Address1      string `json:"address1"`
	City          string `json:"city"`
	ProvinceCode  string `json:"provinceCode"`
	Zip           string `json:"zip"`
	CountryCodeV2 string `json:"countryCodeV2"`
	Phone         string `json:"phone"`
}

func (a *gqlAddress) rest() any {
	if a == nil {
		return nil
	}
	return map[string]any{
		"first_name": a.FirstName, "last_name": a.LastName, "address1": a.Address1, "city": a.City,
		"province_code": a.ProvinceCode, "zip": a.Zip, "country_code": a.CountryCodeV2, "phone": a.Phone,
	}
}

type gqlVisit struct {
	LandingPage string `json:"landingPage"`
	ReferrerURL string `json:"referrerUrl"`
}

// ShopifyJourney is an order's customer journey summary.
type ShopifyJourney struct {
	FirstVisit *gqlVisit `json:"firstVisit"`
	LastVisit  *gqlVisit `json:"lastVisit"`
}

// LandingPage is the landing page of the visit that led to the order: the
// last visit's, else the first's.
func (j *ShopifyJourney) LandingPage() string {
	if j == nil {
		return ""
	}
	if j.LastVisit != nil && j.LastVisit.LandingPage != "" {
		return j.LastVisit.LandingPage
	}
	if j.FirstVisit != nil {
		return j.FirstVisit.LandingPage
	}
	return ""
}

type gqlOrder struct {
	LegacyResourceID         string      `json:"legacyResourceId"`
	Name                     string      `json:"name"`
	Email                    string      `json:"email"`
	Phone                    string      `json:"phone"`
	Test                     bool        `json:"test"`
	DisplayFinancialStatus   string      `json:"displayFinancialStatus"`
	DisplayFulfillmentStatus string      `json:"displayFulfillmentStatus"`
	CancelledAt              *string     `json:"cancelledAt"`
	CreatedAt                string      `json:"createdAt"`
	ProcessedAt              string      `json:"processedAt"`
	UpdatedAt                string      `json:"updatedAt"`
	CurrencyCode             string      `json:"currencyCode"`
	ClientIP                 string      `json:"clientIp"`
	TotalPriceSet            gqlMoneyBag `json:"totalPriceSet"`
	TotalTaxSet              gqlMoneyBag `json:"totalTaxSet"`
	TotalShippingPriceSet    gqlMoneyBag `json:"totalShippingPriceSet"`
	CustomAttributes         []gqlAttr   `json:"customAttributes"`
	Customer                 *struct {
		LegacyResourceID string `json:"legacyResourceId"`
		FirstName        string `json:"firstName"`
		LastName         string `json:"lastName"`
	} `json:"customer"`
	BillingAddress  *gqlAddress `json:"billingAddress"`
	ShippingAddress *gqlAddress `json:"shippingAddress"`
	Fulfillments    []struct {
		CreatedAt string `json:"createdAt"`
		Status    string `json:"status"`
	} `json:"fulfillments"`
	LineItems struct {
		Nodes []struct {
			ID       string `json:"id"`
			SKU      string `json:"sku"`
			Title    string `json:"title"`
			Vendor   string `json:"vendor"`
			Quantity int    `json:"quantity"`
			Product  *struct {
				LegacyResourceID string `json:"legacyResourceId"`
			} `json:"product"`
			Variant *struct {
				LegacyResourceID string `json:"legacyResourceId"`
			} `json:"variant"`
			OriginalUnitPriceSet gqlMoneyBag `json:"originalUnitPriceSet"`
			CustomAttributes     []gqlAttr   `json:"customAttributes"`
		} `json:"nodes"`
	} `json:"lineItems"`
	CustomerJourneySummary *ShopifyJourney `json:"customerJourneySummary"`
}

// gidNumber is the numeric tail of a GraphQL global id
// (gid://shopify/LineItem/123), or of a bare legacy id.
func gidNumber(s string) int64 {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func gqlAttrs(in []gqlAttr) []map[string]string {
	out := make([]map[string]string, 0, len(in))
	for _, a := range in {
		out = append(out, map[string]string{"name": a.Key, "value": a.Value})
	}
	return out
}

// restOrder shapes a GraphQL order as the REST Order resource the
// orders/* webhooks carry, with the fields Parse reads.
func (o *gqlOrder) restOrder() map[string]any {
	var fulfillment any
	if o.DisplayFulfillmentStatus == "FULFILLED" {
		fulfillment = "fulfilled"
	} else if o.DisplayFulfillmentStatus == "PARTIALLY_FULFILLED" {
		fulfillment = "partial"
	}
	var cancelled any
	if o.CancelledAt != nil {
		cancelled = *o.CancelledAt
	}
	items := make([]map[string]any, 0, len(o.LineItems.Nodes))
	for _, li := range o.LineItems.Nodes {
		it := map[string]any{
			"id": gidNumber(li.ID), "sku": li.SKU, "title": li.Title, "vendor": li.Vendor, "quantity": li.Quantity,
			"price": li.OriginalUnitPriceSet.ShopMoney.Amount, "price_set": li.OriginalUnitPriceSet.rest(),
			"properties": gqlAttrs(li.CustomAttributes),
		}
		if li.Product != nil {
			it["product_id"] = gidNumber(li.Product.LegacyResourceID)
		}
		if li.Variant != nil {
			it["variant_id"] = gidNumber(li.Variant.LegacyResourceID)
		}
		items = append(items, it)
	}
	fulfillments := make([]map[string]any, 0, len(o.Fulfillments))
	for _, f := range o.Fulfillments {
		fulfillments = append(fulfillments, map[string]any{"created_at": f.CreatedAt, "status": strings.ToLower(f.Status)})
	}
	rest := map[string]any{
		"id": gidNumber(o.LegacyResourceID), "name": o.Name, "email": o.Email, "phone": o.Phone, "test": o.Test,
		"financial_status": strings.ToLower(o.DisplayFinancialStatus), "fulfillment_status": fulfillment,
		"cancelled_at": cancelled, "created_at": o.CreatedAt, "processed_at": o.ProcessedAt, "updated_at": o.UpdatedAt,
		"currency": o.CurrencyCode, "total_price": o.TotalPriceSet.ShopMoney.Amount, "total_tax": o.TotalTaxSet.ShopMoney.Amount,
		"total_price_set": o.TotalPriceSet.rest(), "total_tax_set": o.TotalTaxSet.rest(),
		"total_shipping_price_set": o.TotalShippingPriceSet.rest(),
		"landing_site":             o.CustomerJourneySummary.LandingPage(),
		"note_attributes":          gqlAttrs(o.CustomAttributes), "browser_ip": o.ClientIP,
		"billing_address": o.BillingAddress.rest(), "shipping_address": o.ShippingAddress.rest(),
		"fulfillments": fulfillments, "line_items": items,
	}
	if o.Customer != nil {
		rest["customer"] = map[string]any{
			"id": gidNumber(o.Customer.LegacyResourceID), "email": o.Email, "phone": o.Phone,
			"first_name": o.Customer.FirstName, "last_name": o.Customer.LastName,
		}
	}
	return rest
}

// shopifySearchTime formats a time for Shopify's search syntax.
func shopifySearchTime(t time.Time) string {
	return "'" + t.UTC().Format(time.RFC3339) + "'"
}

// ListOrders lists the orders updated in [since, until) that are paid (or,
// with the fulfilled trigger, fulfilled), each shaped as the orders/paid
// (orders/fulfilled) webhook. Shopify's search matches updated_at: an
// order paid in the window was updated in it, and Parse then decides from
// the order's state exactly as for a webhook.
func (a *ShopifyAdmin) ListOrders(ctx context.Context, cred StoreCredentials, since, until time.Time, trigger mapping.Trigger) ([]StoreOrder, error) {
	q := "financial_status:paid"
	topic := shopifyOrdersPaid
	if trigger == mapping.TriggerFulfilled {
		q, topic = "fulfillment_status:shipped", shopifyOrdersFulfilled
	}
	q += " updated_at:>=" + shopifySearchTime(since) + " updated_at:<" + shopifySearchTime(until)
	domain := ""
	if u, err := url.Parse(strings.TrimSpace(cred.StoreURL)); err == nil {
		domain = u.Host
	}
	var out []StoreOrder
	var after any
	for page := 0; page < storeAPIMaxPages; page++ {
		var data struct {
			Orders struct {
				PageInfo struct {
					HasNextPage bool   `json:"hasNextPage"`
					EndCursor   string `json:"endCursor"`
				} `json:"pageInfo"`
				Nodes []gqlOrder `json:"nodes"`
			} `json:"orders"`
		}
		vars := map[string]any{"first": a.PageSize, "after": after, "query": q}
		if err := a.Query(ctx, cred, shopifyOrdersQuery, vars, &data); err != nil {
			return out, err
		}
		for i := range data.Orders.Nodes {
			o := &data.Orders.Nodes[i]
			body, err := json.Marshal(o.restOrder())
			if err != nil {
				return out, err
			}
			h := http.Header{}
			h.Set(shopifyTopicHeader, topic)
			if domain != "" {
				h.Set(shopifyShopHeader, domain)
			}
			out = append(out, StoreOrder{ID: strconv.FormatInt(gidNumber(o.LegacyResourceID), 10), Header: h, Body: body})
		}
		if !data.Orders.PageInfo.HasNextPage || data.Orders.PageInfo.EndCursor == "" {
			return out, nil
		}
		after = data.Orders.PageInfo.EndCursor
	}
	return out, fmt.Errorf("%w: more than %d pages of orders", ErrStoreBadAnswer, storeAPIMaxPages)
}

// Webhook subscriptions through the GraphQL Admin API (read 2026-12-03,
// shopify.dev admin-graphql: queries/webhookSubscriptions,
// mutations/webhookSubscriptionCreate; WebhookSubscription.uri replaces the
// deprecated callbackUrl/endpoint). Subscriptions made through the API are
// signed with the app's client secret, so Subscribe returns cred.APISecret.
// Shopify deletes such a subscription after 8 failed retries over about
// 4 hours, which the health check then reports as missing.

var _ Registrar = (*ShopifyAdmin)(nil)

const shopifySubscriptionsQuery = `query PostbackWebhooks($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id topic uri }
  }
}`

const shopifySubscribeMutation = `mutation PostbackSubscribe($topic: WebhookSubscriptionTopic!, $uri: String!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: {uri: $uri, format: JSON}) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}`

// Subscriptions lists the app's webhook subscriptions on the shop.
func (a *ShopifyAdmin) Subscriptions(ctx context.Context, cred StoreCredentials) ([]Subscription, error) {
	var out []Subscription
	var after any
	for page := 0; page < storeAPIMaxPages; page++ {
		var data struct {
			WebhookSubscriptions struct {
				PageInfo struct {
					HasNextPage bool   `json:"hasNextPage"`
					EndCursor   string `json:"endCursor"`
				} `json:"pageInfo"`
				Nodes []struct {
					ID    string `json:"id"`
					Topic string `json:"topic"`
					URI   string `json:"uri"`
				} `json:"nodes"`
			} `json:"webhookSubscriptions"`
		}
		if err := a.Query(ctx, cred, shopifySubscriptionsQuery, map[string]any{"after": after}, &data); err != nil {
			return out, err
		}
		for _, n := range data.WebhookSubscriptions.Nodes {
			// Shopify has no paused state: a subscription exists or not.
			out = append(out, Subscription{ID: n.ID, Topic: n.Topic, URL: n.URI, Active: true, Status: "active"})
		}
		if !data.WebhookSubscriptions.PageInfo.HasNextPage {
			return out, nil
		}
		after = data.WebhookSubscriptions.PageInfo.EndCursor
	}
	return out, fmt.Errorf("%w: more than %d pages of subscriptions", ErrStoreBadAnswer, storeAPIMaxPages)
}

// Subscribe creates one subscription per topic. The store signs them with
// the app's secret, which it returns.
func (a *ShopifyAdmin) Subscribe(ctx context.Context, cred StoreCredentials, uri string, topics []string, _ string) (string, error) {
	if cred.APISecret == "" {
		return "", fmt.Errorf("%w: api_secret (Shopify signs API-made webhooks with the app's secret)", ErrStoreNotConnected)
	}
	for _, t := range topics {
		var data struct {
			WebhookSubscriptionCreate struct {
				UserErrors []struct {
					Message string `json:"message"`
				} `json:"userErrors"`
			} `json:"webhookSubscriptionCreate"`
		}
		if err := a.Query(ctx, cred, shopifySubscribeMutation, map[string]any{"topic": t, "uri": uri}, &data); err != nil {
			return "", err
		}
		if ue := data.WebhookSubscriptionCreate.UserErrors; len(ue) > 0 {
			return "", fmt.Errorf("%w: subscribe %s: %s", ErrStoreBadAnswer, t, clip(ue[0].Message, 200))
		}
	}
	return cred.APISecret, nil
}

// Reactivate does nothing on Shopify, which deletes rather than disables;
// the caller subscribes again.
func (a *ShopifyAdmin) Reactivate(context.Context, StoreCredentials, Subscription) error { return nil }

// Orders without click ids: an order's customer journey (read 2026-12-03,
// shopify.dev admin-graphql objects/Order.customerJourneySummary and
// CustomerVisit.landingPage / referrerUrl; needs read_orders) keeps the
// landing pages Shopify saw even when the webhook's landing_site is empty.

const shopifyJourneyQuery = `query PostbackJourney($id: ID!) {
  order(id: $id) {
    customerJourneySummary {
      firstVisit { landingPage referrerUrl }
      lastVisit { landingPage referrerUrl }
    }
  }
}`

// Journey reads an order's customer journey summary; nil when Shopify has
// none (orders made outside the online store).
func (a *ShopifyAdmin) Journey(ctx context.Context, cred StoreCredentials, orderID string) (*ShopifyJourney, error) {
	if _, err := strconv.ParseUint(orderID, 10, 64); err != nil {
		return nil, fmt.Errorf("journey: order id %q is not a Shopify id", orderID)
	}
	var data struct {
		Order *struct {
			CustomerJourneySummary *ShopifyJourney `json:"customerJourneySummary"`
		} `json:"order"`
	}
	if err := a.Query(ctx, cred, shopifyJourneyQuery, map[string]any{"id": "gid://shopify/Order/" + orderID}, &data); err != nil {
		return nil, err
	}
	if data.Order == nil {
		return nil, nil
	}
	return data.Order.CustomerJourneySummary, nil
}

// EnrichFromJourney takes click ids (and the source URL, when missing)
// from the journey's landing pages, the last visit's first, then the
// first visit's for what the last lacks. Click ids already on c win.
func EnrichFromJourney(c mapping.Conversion, j *ShopifyJourney, names map[string]string) mapping.Conversion {
	if j == nil {
		return c
	}
	for _, v := range []*gqlVisit{j.LastVisit, j.FirstVisit} {
		if v == nil || v.LandingPage == "" {
			continue
		}
		c.ClickIDs.AddLandingURL(v.LandingPage, names)
		if c.SourceURL == "" && (strings.HasPrefix(v.LandingPage, "https://") || strings.HasPrefix(v.LandingPage, "http://")) {
			c.SourceURL = v.LandingPage
		}
	}
	return c
}
