package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/delivery"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/web"
)

// namedSender is the fake sender under a real platform's key, so pages
// show that platform's title; send, when set, answers instead.
type namedSender struct {
	fakeSender
	name string
	send func(convs []mapping.Conversion) []platforms.Result
}

func (s namedSender) Name() string { return s.name }
func (s namedSender) Send(ctx context.Context, d platforms.Destination, convs []mapping.Conversion) []platforms.Result {
	if s.send != nil {
		return s.send(convs)
	}
	return s.fakeSender.Send(ctx, d, convs)
}

// adjustingSender also takes refund adjustments.
type adjustingSender struct{ namedSender }

func (adjustingSender) Adjust(ctx context.Context, d platforms.Destination, adjs []platforms.Adjustment) []platforms.Result {
	return make([]platforms.Result, len(adjs))
}

func withSenders(senders ...platforms.Sender) func(*web.Config) {
	return func(c *web.Config) {
		for _, s := range senders {
			c.Senders[s.Name()] = s // routing shares the map
		}
	}
}

func (h *harness) createDestFor(t *testing.T, shopID int64, platform string, settings map[string]any) int64 {
	t.Helper()
	var d struct{ ID int64 }
	if code := h.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shopID), map[string]any{
		"platform": platform, "credentials": map[string]any{"pixel": "p1", "token": "fake-secret-token"}, "settings": settings,
	}, &d); code != http.StatusCreated {
		t.Fatalf("create %s destination: %d", platform, code)
	}
	return d.ID
}

// complete records one outcome for the destination's only due delivery.
func (h *harness) complete(t *testing.T, destID int64, o store.Outcome) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	claimed, err := h.store.Claim(ctx, destID, "test", 10, now, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim for destination %d: %v %v", destID, claimed, err)
	}
	o.DeliveryID, o.Attempt, o.CountAttempt, o.StartedAt = claimed[0].ID, 1, true, now
	if err := h.store.Complete(ctx, "test", []store.Outcome{o}, now); err != nil {
		t.Fatal(err)
	}
}

// section is the part of body from the element with id to the next
// section's end.
func section(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("page has no #%s: %s", id, clip(body))
	}
	rest := body[i:]
	if j := strings.Index(rest, "</section>"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// TestDeliveryErrorsReadAsOneHeadline: a refused access token and a
// refused event each read as one plain headline with the step that fixes
// it, the same on the dashboard, the events list and the event page, with
// the platform's own code and words folded under it, never doubled; the
// API adds the parts and keeps last_error.
func TestDeliveryErrorsReadAsOneHeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withSenders(namedSender{name: "tiktok"}, namedSender{name: "meta"}))
	shop := h.createShop(t, "s3cret")
	tiktok := h.createDestFor(t, shop.ID, "tiktok", nil)
	meta := h.createDestFor(t, shop.ID, "meta", nil)
	ev := h.paidEvent(t, shop, "1100")

	refusal := platforms.Auth(200, "40105", "tiktok: Access token is invalid or has expired")
	h.complete(t, tiktok, store.Outcome{Status: store.DeliveryRetrying, ErrorClass: "auth", Parked: true,
		Error: refusal.Error() + "; waiting for new credentials", NextAttemptAt: time.Now(), StatusCode: 200,
		Match: `{"quality":10,"email":true}`})
	now := time.Now()
	if err := h.store.ParkDestinationUntil(context.Background(), tiktok, refusal.Error(), 1, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	h.complete(t, meta, store.Outcome{Status: store.DeliveryFailed, ErrorClass: "invalid", StatusCode: 400,
		Error: platforms.Invalid(400, "100/2804003", "Invalid email hash").Error(), Match: `{"quality":7,"email":true}`})

	const (
		tiktokHeadline = "TikTok refused the access token"
		tiktokDetail   = "code 40105 · HTTP 200 · Access token is invalid or has expired"
		metaHeadline   = "Meta rejected the event: invalid email hash"
	)
	// Postback's wrapping, which the merchant must never read.
	doubled := []string{"credentials rejected:", "event rejected:", "http 200:", "tiktok: Access", "(code 40105)", "refused the credentials: "}

	b := h.loggedIn(t)
	page := b.get(t, fmt.Sprintf("/admin/events/%d", ev))
	var ids struct {
		Deliveries []struct {
			ID       int64  `json:"id"`
			Platform string `json:"platform"`
		} `json:"deliveries"`
	}
	if code := h.api(t, "GET", fmt.Sprintf("/api/v1/events/%d", ev), nil, &ids); code != 200 || len(ids.Deliveries) != 2 {
		t.Fatalf("event: %d %+v", code, ids)
	}
	for _, d := range ids.Deliveries {
		card := section(t, page.body, fmt.Sprintf("delivery-%d", d.ID))
		switch d.Platform {
		case "tiktok":
			mustContain(t, "TikTok's card", card, "<strong>"+tiktokHeadline+".</strong>",
				"Paste a new access token in the destination&#39;s credentials and save",
				fmt.Sprintf(`<a href="/admin/destinations/%d">Open the TikTok destination</a>`, tiktok),
				"<details", tiktokDetail)
			mustNotContain(t, "TikTok's card", card, doubled...)
			if strings.Count(card, "Access token is invalid") != 1 {
				t.Errorf("TikTok's card repeats the platform's words: %s", card)
			}
			mustNotContain(t, "TikTok's card (no quality on refused credentials)", card, "Match quality")
		case "meta":
			mustContain(t, "Meta's card", card, "<strong>"+metaHeadline+".</strong>", "code 100/2804003 · HTTP 400", "redeliver the event")
			mustNotContain(t, "Meta's card", card, doubled...)
			if strings.Count(card, "nvalid email hash") != 1 {
				t.Errorf("Meta's card repeats the platform's words: %s", card)
			}
		}
	}
	mustNotContain(t, "event page timeline", page.body, doubled...)

	list := b.get(t, "/admin/events")
	mustContain(t, "events list row", list.body, `<p class="row-reason row-reason-waiting_credentials" title="`+tiktokHeadline+`">`+tiktokHeadline+`</p>`,
		`<p class="row-reason row-reason-failed" title="`+metaHeadline+`">`+metaHeadline+`</p>`)
	mustNotContain(t, "events list", list.body, doubled...)

	dash := b.get(t, "/admin/")
	mustContain(t, "dashboard", dash.body, "TikTok for Acme needs new credentials — 1 order waiting",
		`<span class="muted small problem-detail">`+tiktokHeadline+`.</span>`, tiktokDetail,
		// A refused event is a problem too: nothing sends it again.
		"Meta for Acme: 1 order failed in the last 24 hours and will not be retried.",
		`<span class="muted small problem-detail">Latest: `+metaHeadline+`.</span>`,
		fmt.Sprintf(`href="/admin/events?shop_id=%d&amp;platform=meta&amp;delivery_status=failed">See the orders`, shop.ID))
	mustNotContain(t, "dashboard", dash.body, doubled...)

	dest := b.get(t, fmt.Sprintf("/admin/destinations/%d", tiktok))
	mustContain(t, "destination page", dest.body, "<strong>"+tiktokHeadline+".</strong> Deliveries wait until you save new ones.", tiktokDetail)
	mustNotContain(t, "destination page", dest.body, doubled...)

	var api struct {
		Deliveries []struct {
			Platform        string `json:"platform"`
			LastError       string `json:"last_error"`
			ErrorHeadline   string `json:"error_headline"`
			ErrorFix        string `json:"error_fix"`
			ErrorCode       string `json:"error_code"`
			ErrorMessage    string `json:"error_message"`
			ErrorHTTPStatus int    `json:"error_http_status"`
		} `json:"deliveries"`
	}
	if code := h.api(t, "GET", fmt.Sprintf("/api/v1/events/%d", ev), nil, &api); code != 200 {
		t.Fatalf("API: %d", code)
	}
	for _, d := range api.Deliveries {
		if d.Platform != "tiktok" {
			continue
		}
		if d.LastError != refusal.Error()+"; waiting for new credentials" {
			t.Errorf("last_error = %q; existing clients read it as before", d.LastError)
		}
		if d.ErrorHeadline != tiktokHeadline || d.ErrorCode != "40105" || d.ErrorHTTPStatus != 200 ||
			d.ErrorMessage != "Access token is invalid or has expired" || !strings.HasPrefix(d.ErrorFix, "Paste a new access token") {
			t.Errorf("API delivery = %+v; want the headline, fix, code, message and status apart", d)
		}
	}
}

// TestNoQualityWhereItMeansNothing: a test event the platform refused
// shows no match quality, nor do refused credentials, refund adjustments
// or skipped deliveries in the list.
func TestNoQualityWhereItMeansNothing(t *testing.T) {
	t.Parallel()
	refused := namedSender{name: "tiktok", send: func(convs []mapping.Conversion) []platforms.Result {
		out := make([]platforms.Result, len(convs))
		for i := range out {
			out[i] = platforms.Result{StatusCode: 200, Payload: json.RawMessage(`{}`),
				Match: mapping.Match{Email: true, Phone: true, ClickID: true, Quality: 10},
				Err:   platforms.Auth(200, "40105", "tiktok: Access token is invalid or has expired")}
		}
		return out
	}}
	h := newHarness(t, withSenders(refused))
	shop := h.createShop(t, "s3cret")
	dest := h.createDestFor(t, shop.ID, "tiktok", map[string]any{"test": true})
	b := h.loggedIn(t)
	b.get(t, fmt.Sprintf("/admin/destinations/%d", dest))
	p := b.post(t, fmt.Sprintf("/admin/destinations/%d/test", dest), nil)
	result := section(t, p.body, "test")
	mustContain(t, "failed test event", result, "<strong>TikTok refused the access token.</strong>", "code 40105 · HTTP 200")
	mustNotContain(t, "failed test event", result, "Match quality", "10<small>/10</small>", "credentials rejected")

	// In the list: no Q on refused credentials, a skipped delivery or a
	// refund adjustment; a delivered conversion keeps its Q.
	ev := h.paidEvent(t, shop, "2001")
	h.complete(t, dest, store.Outcome{Status: store.DeliveryFailed, ErrorClass: "auth", Error: platforms.Auth(401, "", "tiktok: bad token").Error(),
		Match: `{"quality":10,"email":true}`})
	list := b.get(t, "/admin/events")
	mustContain(t, "list", list.body, "TikTok · failed")
	mustNotContain(t, "list (auth failure)", list.body, "· Q10")
	page := b.get(t, fmt.Sprintf("/admin/events/%d", ev))
	if n := strings.Count(page.body, "Match quality"); n != 1 {
		t.Errorf("event page shows %d match quality scores, want only the order's own (none on the refused delivery)", n)
	}
}

// TestRowsSayWhy: the events list shows on each row why an event was
// ignored, a duplicate, or why its delivery was skipped or failed; refund
// notes name platforms by their titles and link to the purchase.
func TestRowsSayWhy(t *testing.T) {
	t.Parallel()
	gads := adjustingSender{namedSender{name: "google_ads"}}
	h := newHarness(t, withSenders(gads))
	shop := h.createShop(t, "s3cret")
	dest := h.createDestFor(t, shop.ID, "google_ads", nil)

	ignored := h.signedEvent(t, shop, []byte(`{"order":"3001","paid":false}`))
	skipped := h.paidEvent(t, shop, "3002")
	h.complete(t, dest, store.Outcome{Status: store.DeliverySkipped, ErrorClass: "invalid",
		Error: platforms.Invalid(0, "no_identifier", "no gclid, gbraid, wbraid, email or phone to match the conversion on; not sent").Error()})
	failed := h.paidEvent(t, shop, "3003")
	h.complete(t, dest, store.Outcome{Status: store.DeliveryFailed, ErrorClass: "invalid", StatusCode: 400,
		Error: platforms.Invalid(400, "INVALID_CONVERSION_ACTION", "Google Ads rejected the event: conversion action is not enabled").Error()})
	purchase := h.paidEvent(t, shop, "3004")
	h.complete(t, dest, store.Outcome{Status: store.DeliveryDelivered})

	// A refund of order 3004, as a store's refund webhook brings it, then
	// the same refund in another webhook: a duplicate.
	refundOf := func(delivery string) store.Incoming {
		return store.Incoming{ShopID: shop.ID, Source: mapping.SourceShopify, Topic: "refunds/create", ReceivedAt: time.Now(), Body: []byte(`{}`),
			Webhook: mapping.Webhook{Source: mapping.SourceShopify, Topic: "refunds/create", DeliveryID: delivery, OrderID: "3004", Outcome: mapping.OutcomeRefund,
				Refunds: []mapping.Refund{{RefundID: "r1", OrderID: "3004", Amount: decimal.RequireFromString("2.50"), Currency: "USD", Time: time.Now()}}}}
	}
	routing := delivery.NewRouting(map[string]platforms.Sender{"google_ads": gads})
	var ids []int64
	for _, d := range []string{"refund-1", "refund-2"} {
		res, err := h.store.CommitBatch(context.Background(), []store.Incoming{refundOf(d)}, routing)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res[0].EventID)
	}
	refund, duplicate := ids[0], ids[1]

	b := h.loggedIn(t)
	list := b.get(t, "/admin/events")
	rows := map[int64]string{}
	for _, id := range []int64{ignored, skipped, failed, duplicate, refund} {
		i := strings.Index(list.body, fmt.Sprintf(`<tr data-id="%d">`, id))
		if i < 0 {
			t.Fatalf("no row for event %d", id)
		}
		row := list.body[i:]
		row = row[:strings.Index(row, "</tr>")]
		rows[id] = row
	}
	mustContain(t, "ignored row", rows[ignored], "not paid")
	mustContain(t, "skipped row", rows[skipped], "Not sent to Google Ads: no gclid, gbraid, wbraid, email or phone to match the conversion on")
	mustContain(t, "failed row", rows[failed], "Google Ads rejected the event: conversion action is not enabled")
	mustContain(t, "duplicate row", rows[duplicate], "chip-duplicate", "refund was already recorded")
	mustContain(t, "refund row", rows[refund], fmt.Sprintf("refund linked to event %d; adjustment queued for Google Ads", purchase))
	for id, row := range rows {
		mustNotContain(t, fmt.Sprintf("row %d", id), row, "google_ads")
	}
	page := b.get(t, fmt.Sprintf("/admin/events/%d", refund))
	mustContain(t, "refund page", page.body, fmt.Sprintf("refund linked to event %d", purchase), "Google Ads")
	mustNotContain(t, "refund page", page.body, "google_ads", fmt.Sprintf("refund linked to event %d", refund))
}

// TestGoogleConsentIsAChoice: Google's consent settings are selects of
// unspecified, granted and denied; the form and the API refuse anything
// else, and take Data Manager's spelling.
func TestGoogleConsentIsAChoice(t *testing.T) {
	t.Parallel()
	pc := platforms.Config{BaseURL: "http://127.0.0.1:1", Client: http.DefaultClient}
	google := platforms.NewAPIChoice("google_ads",
		platforms.API{Name: "data_manager", Label: "Data Manager", Sender: platforms.NewGoogleDataManager(pc, "http://127.0.0.1:1")},
		platforms.API{Name: "google_ads_api", Label: "Google Ads API", Sender: platforms.NewGoogleAds(pc, "http://127.0.0.1:1")})
	h := newHarness(t, withSenders(google))
	shop := h.createShop(t, "s3cret")
	b := h.loggedIn(t)
	form := b.get(t, fmt.Sprintf("/admin/shops/%d/destinations/new?platform=google_ads", shop.ID))
	mustContain(t, "new Google destination", form.body,
		`<select name="settings.ad_user_data_consent"><option value="" selected>Unspecified (not sent)</option><option value="GRANTED" >Granted</option><option value="DENIED" >Denied</option></select>`,
		`<select name="settings.ad_personalization_consent">`)
	mustNotContain(t, "new Google destination", form.body, `<input name="settings.ad_user_data_consent"`)

	creds := map[string]any{"customer_id": "1234567890", "conversion_action_id": "987654321", "client_id": "id.apps.googleusercontent.com",
		"client_secret": "secret", "refresh_token": "1//refresh", "developer_token": "dev"}
	var out struct {
		ID    int64  `json:"id"`
		Error string `json:"error"`
	}
	code := h.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID), map[string]any{
		"platform": "google_ads", "credentials": creds, "settings": map[string]any{"ad_user_data_consent": "yes please"}}, &out)
	if code != http.StatusUnprocessableEntity || !strings.Contains(out.Error, "settings.ad_user_data_consent must be one of GRANTED, DENIED or empty") {
		t.Errorf("free-text consent: %d %q; want 422 naming the choices", code, out.Error)
	}
	code = h.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID), map[string]any{
		"platform": "google_ads", "credentials": creds, "settings": map[string]any{"ad_user_data_consent": "consent_granted", "ad_personalization_consent": "denied"}}, &out)
	if code != http.StatusCreated {
		t.Fatalf("Data Manager's spelling: %d %q", code, out.Error)
	}
	d, err := h.store.Destination(context.Background(), out.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Settings["ad_user_data_consent"] != "GRANTED" || d.Settings["ad_personalization_consent"] != "DENIED" {
		t.Errorf("stored consent = %v; want GRANTED and DENIED", d.Settings)
	}
	edit := b.get(t, fmt.Sprintf("/admin/destinations/%d", out.ID))
	mustContain(t, "destination form", edit.body, `<option value="GRANTED" selected>Granted</option>`, `<option value="DENIED" selected>Denied</option>`)

	// The form refuses a value that is not a choice, beside the field.
	bad := b.post(t, fmt.Sprintf("/admin/destinations/%d", out.ID), url.Values{"settings.ad_user_data_consent": {"maybe"}, "enabled": {"true"}})
	if bad.code != http.StatusUnprocessableEntity && bad.code != http.StatusBadRequest {
		t.Errorf("form with consent %q: %d, want it refused", "maybe", bad.code)
	}
	mustContain(t, "refused form", bad.body, "Must be one of GRANTED, DENIED or empty")
}
