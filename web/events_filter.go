package web

import (
	"errors"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
)

// maxQueryLen bounds the search box: no id or email a person searches for
// is longer.
const maxQueryLen = 200

// parseEventFilter reads the events list's filters, the same for the JSON
// API, the admin list and the CSV export. Its errors are sentences a person
// can act on; the API and the UI show them as they are.
//
//	shop_id, cursor, limit   positive integers
//	status                   the event's status
//	source                   shopify, woocommerce or stripe
//	delivery_status          a delivery's state
//	platform                 a configured platform (google_ads, meta, …)
//	q                        order name or number, order id, pixel event id,
//	                         click id, or the buyer's email (matched by hash)
//	from, to                 received from (inclusive) and to (exclusive):
//	                         RFC 3339 times, or dates (YYYY-MM-DD, UTC;
//	                         a to date includes that whole day)
//	match                    low, medium or high match quality
func parseEventFilter(v url.Values, platformNames []string) (store.EventFilter, error) {
	var f store.EventFilter
	num := func(name string) (int64, error) {
		raw := v.Get(name)
		if raw == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			return 0, errors.New(name + " must be a positive integer")
		}
		return n, nil
	}
	var err error
	if f.ShopID, err = num("shop_id"); err != nil {
		return f, err
	}
	if f.Before, err = num("cursor"); err != nil {
		return f, err
	}
	limit, err := num("limit")
	if err != nil {
		return f, err
	}
	f.Limit = int(min(limit, 500))
	f.Status, f.Source, f.DeliveryStatus = v.Get("status"), v.Get("source"), v.Get("delivery_status")
	f.Platform, f.Match = v.Get("platform"), v.Get("match")
	f.Query = strings.TrimSpace(v.Get("q"))
	switch {
	case f.Status != "" && !eventStatuses[f.Status]:
		return f, errors.New("status must be accepted, ignored, duplicate or error")
	case f.DeliveryStatus != "" && !deliveryStatuses[f.DeliveryStatus]:
		return f, errors.New("delivery_status must be " + orList(deliveryStatusNames()))
	case f.Source != "" && !mapping.Source(f.Source).Valid():
		return f, errors.New("source must be shopify, woocommerce or stripe")
	case f.Platform != "" && !slices.Contains(platformNames, f.Platform):
		return f, errors.New("platform must be " + orList(platformNames))
	case f.Match != "" && !slices.Contains(store.MatchBands, f.Match):
		return f, errors.New("match must be " + orList(store.MatchBands))
	case len(f.Query) > maxQueryLen:
		return f, errors.New("q must be at most 200 characters")
	}
	if f.From, err = parseTimeBound(v.Get("from"), false); err != nil {
		return f, errors.New("from " + err.Error())
	}
	if f.To, err = parseTimeBound(v.Get("to"), true); err != nil {
		return f, errors.New("to " + err.Error())
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, errors.New("from must be before to")
	}
	return f, nil
}

// parseTimeBound reads an RFC 3339 time or a date; a date that ends a range
// means the end of that day.
func parseTimeBound(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, errors.New("must be a date (2026-11-30) or an RFC 3339 time (2026-11-30T14:00:00Z)")
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}

// deliveryStatusNames lists the delivery states a filter takes, in the
// order a delivery moves through them.
func deliveryStatusNames() []string {
	order := []string{store.DeliveryPending, store.DeliveryRetrying, "waiting_credentials", store.DeliveryDelivered, store.DeliveryFailed, "skipped"}
	var out []string
	for _, s := range order {
		if deliveryStatuses[s] {
			out = append(out, s)
		}
	}
	for _, s := range slices.Sorted(maps.Keys(deliveryStatuses)) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// orList joins names as "a, b or c".
func orList(names []string) string {
	switch len(names) {
	case 0:
		return "empty"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// encodeEventFilter is f as a query string (without the cursor or limit),
// for links that keep the filters.
func encodeEventFilter(f store.EventFilter) string {
	q := url.Values{}
	if f.ShopID != 0 {
		q.Set("shop_id", strconv.FormatInt(f.ShopID, 10))
	}
	for k, v := range map[string]string{
		"status": f.Status, "source": f.Source, "delivery_status": f.DeliveryStatus,
		"platform": f.Platform, "q": f.Query, "match": f.Match,
	} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.From.IsZero() {
		q.Set("from", f.From.UTC().Format(time.RFC3339))
	}
	if !f.To.IsZero() {
		q.Set("to", f.To.UTC().Format(time.RFC3339))
	}
	return q.Encode()
}
