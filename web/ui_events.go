package web

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/delivery"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// eventsPerPage is the events list's page size.
const eventsPerPage = 50

type eventListPage struct {
	page
	Events     []store.Event
	ShopNames  map[int64]string
	Shops      []shopView
	Filter     store.EventFilter
	Query      string
	NextCursor int64
	Live       bool
	Platforms  []string
}

// ExportURL downloads the filtered list as CSV.
func (p eventListPage) ExportURL() string { return p.listURL("/admin/events/export.csv", 0) }

// MatchBands lists the match filter's values.
func (eventListPage) MatchBands() []string { return store.MatchBands }

// FromDate and ToDate show the date range in the form's date inputs; To is
// exclusive, so a range ending at midnight shows the day before.
func (p eventListPage) FromDate() string { return dateInput(p.Filter.From, false) }
func (p eventListPage) ToDate() string   { return dateInput(p.Filter.To, true) }

func dateInput(t time.Time, end bool) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	if end && t.Equal(t.Truncate(24*time.Hour)) {
		t = t.AddDate(0, 0, -1)
	}
	return t.Format(time.DateOnly)
}

// RefreshURL, NewestURL and OlderURL keep the filters in the list's links.
func (p eventListPage) RefreshURL() string { return p.listURL("/admin/events/rows", 0) }
func (p eventListPage) NewestURL() string  { return p.listURL("/admin/events", 0) }
func (p eventListPage) OlderURL() string   { return p.listURL("/admin/events", p.NextCursor) }

func (p eventListPage) listURL(path string, cursor int64) string {
	q := p.Query
	if cursor != 0 {
		if q != "" {
			q += "&"
		}
		q += "cursor=" + strconv.FormatInt(cursor, 10)
	}
	if q == "" {
		return path
	}
	return path + "?" + q
}

// Choice lists for the filter form.
func (eventListPage) Statuses() []string {
	return []string{store.StatusAccepted, store.StatusIgnored, store.StatusDuplicate, store.StatusError}
}
func (eventListPage) DeliveryStatuses() []string { return deliveryStatusNames() }
func (eventListPage) Sources() []mapping.Source  { return mapping.Sources }

// uiEventFilter reads the list's filters from the query; a value that
// cannot be right is a 400 page.
func uiEventFilter(c *gin.Context, cfg Config, v *views) (store.EventFilter, bool) {
	f, err := parseEventFilter(c.Request.URL.Query(), platformNames(cfg.Senders))
	if err != nil {
		msg := err.Error()
		v.fail(c, http.StatusBadRequest, "Bad filter", strings.ToUpper(msg[:1])+msg[1:]+".")
		return f, false
	}
	f.Limit = eventsPerPage
	return f, true
}

// filterQuery encodes the filters (not the cursor) for links.
func filterQuery(f store.EventFilter) string { return encodeEventFilter(f) }

func loadEventList(c *gin.Context, cfg Config, v *views) (eventListPage, bool) {
	f, ok := uiEventFilter(c, cfg, v)
	if !ok {
		return eventListPage{}, false
	}
	ctx := c.Request.Context()
	events, err := cfg.Store.Events(ctx, f)
	if err != nil {
		v.storeFail(c, err, "events")
		return eventListPage{}, false
	}
	shops, err := cfg.Store.Shops(ctx)
	if err != nil {
		v.storeFail(c, err, "shops")
		return eventListPage{}, false
	}
	p := eventListPage{
		page: pageFor(c, "Events", "events"), Events: events, ShopNames: map[int64]string{}, Filter: f,
		Query: filterQuery(f), Live: f.Before == 0, Platforms: platformNames(cfg.Senders),
	}
	for _, sh := range shops {
		p.ShopNames[sh.ID] = sh.Name
		p.Shops = append(p.Shops, viewShop(sh, cfg.Now()))
	}
	if len(events) == f.Limit {
		p.NextCursor = events[len(events)-1].ID
	}
	return p, true
}

func handleUIEventList(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := loadEventList(c, cfg, v)
		if !ok {
			return
		}
		v.render(c, http.StatusOK, "events", p)
	}
}

// handleUIEventRows renders only the list's rows, for the page's refresh.
func handleUIEventRows(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := loadEventList(c, cfg, v)
		if !ok {
			return
		}
		v.render(c, http.StatusOK, "event_rows", p)
	}
}

type eventPage struct {
	page
	Event         store.Event
	Shop          shopView
	Timeline      []timelineItem
	Deliveries    []deliveryView
	Conversion    string
	Body          string
	Redeliverable bool
	// SendingSoon says a delivery is due within two minutes (just queued,
	// redelivered, or retrying): the page then reloads itself until it is
	// done, so the outcome shows without a manual reload.
	SendingSoon bool
}

// timelineItem is one step of an event's life.
type timelineItem struct {
	At     time.Time
	Title  string
	Detail string
	Class  string // ok, bad, warn, info
}

type deliveryView struct {
	store.Delivery
	Payload  string
	Response string
}

func handleUIEvent(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := uiID(c, v, "This event")
		if !ok {
			return
		}
		ctx := c.Request.Context()
		e, err := cfg.Store.Event(ctx, id)
		if err != nil {
			v.storeFail(c, err, "This event")
			return
		}
		sh, err := cfg.Store.Shop(ctx, e.ShopID)
		if err != nil {
			v.storeFail(c, err, "This event's shop")
			return
		}
		p := eventPage{
			page: pageFor(c, fmt.Sprintf("Event %d", e.ID), "events"), Event: e, Shop: viewShop(sh, cfg.Now()),
			Timeline: timeline(e, cfg.Now()), Body: bodyText(e.Body),
			Redeliverable: e.Status == store.StatusAccepted && e.Conversion != nil,
		}
		if e.Conversion != nil {
			p.Conversion = prettyValue(e.Conversion)
		}
		for _, d := range e.Deliveries {
			p.Deliveries = append(p.Deliveries, deliveryView{Delivery: d, Payload: prettyJSON(d.Payload), Response: prettyJSON(d.Response)})
			if (d.Status == store.DeliveryPending || d.Status == store.DeliveryRetrying) && d.NextAttemptAt.Before(cfg.Now().Add(2*time.Minute)) {
				p.SendingSoon = true
			}
		}
		v.render(c, http.StatusOK, "event", p)
	}
}

// bodyText shows a raw webhook body: indented when it is JSON, as text
// when it is UTF-8, and as a note otherwise.
func bodyText(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if !utf8.Valid(b) {
		return fmt.Sprintf("(%d bytes, not UTF-8 text)", len(b))
	}
	return prettyJSON(string(b))
}

// timeline orders what happened to an event: received, mapped, then each
// delivery attempt and the next one planned.
func timeline(e store.Event, now time.Time) []timelineItem {
	items := []timelineItem{{At: e.ReceivedAt, Title: "Webhook received", Class: "info",
		Detail: strings.TrimSpace(sourceLabel(e.Source) + " " + e.Topic)}}
	mapped := timelineItem{At: e.ReceivedAt}
	switch e.Status {
	case store.StatusAccepted:
		mapped.Title, mapped.Class = "Mapped to a conversion", "ok"
		mapped.Detail = strings.TrimSpace(fmt.Sprintf("%s %s %s · event id %s", e.EventName, e.Value, e.Currency, e.ConversionEventID))
		if e.Conversion == nil {
			mapped.Title, mapped.Detail = "Accepted", platforms.Titled(e.Reason)
		}
	case store.StatusIgnored:
		mapped.Title, mapped.Class, mapped.Detail = "Ignored", "warn", platforms.Titled(e.Reason)
	case store.StatusDuplicate:
		mapped.Title, mapped.Class, mapped.Detail = "Duplicate: nothing sent", "warn", platforms.Titled(e.Reason)
	case store.StatusError:
		mapped.Title, mapped.Class, mapped.Detail = "Could not be read", "bad", platforms.Titled(e.Reason)
	}
	items = append(items, mapped)
	var later []timelineItem
	for _, d := range e.Deliveries {
		name := platformLabel(d.Platform)
		if d.Kind == store.KindAdjustment {
			name += " refund adjustment"
		}
		for _, a := range d.History {
			it := timelineItem{At: a.StartedAt, Title: fmt.Sprintf("%s · attempt %d · %s", name, a.Attempt, a.Outcome)}
			parts := []string{}
			if a.StatusCode != 0 {
				parts = append(parts, "HTTP "+strconv.Itoa(a.StatusCode))
			}
			parts = append(parts, strconv.FormatInt(a.Latency.Milliseconds(), 10)+" ms")
			if a.Error != "" {
				parts = append(parts, delivery.Explain(d.Platform, a.Outcome, "", a.Error).Headline)
			}
			it.Detail = strings.Join(parts, " · ")
			switch a.Outcome {
			case store.DeliveryDelivered:
				it.Class = "ok"
			case store.DeliveryFailed:
				it.Class = "bad"
			default:
				it.Class = "warn"
			}
			later = append(later, it)
		}
		switch {
		case d.Status == store.DeliveryWaitingCredentials:
			later = append(later, timelineItem{At: d.ExpiresAt, Title: name + " · waiting for credentials", Class: "warn",
				Detail: delivery.ExplainDelivery(d).Headline + " · the platform's window closes " + fmtAgo(now, d.ExpiresAt) + "; fix and save the destination to send at once"})
		case (d.Status == store.DeliveryPending || d.Status == store.DeliveryRetrying) && !d.NextAttemptAt.IsZero():
			later = append(later, timelineItem{At: d.NextAttemptAt, Title: name + " · queued", Class: "info", Detail: "next attempt " + fmtAgo(now, d.NextAttemptAt)})
		}
	}
	sort.SliceStable(later, func(i, j int) bool { return later[i].At.Before(later[j].At) })
	return append(items, later...)
}

func handleUIEventRedeliver(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := uiID(c, v, "This event")
		if !ok {
			return
		}
		all := c.PostForm("all") == "true"
		n, err := cfg.Store.Redeliver(c.Request.Context(), id, all, cfg.Routing, cfg.Now())
		switch {
		case errors.Is(err, store.ErrNotRedeliverable):
			v.fail(c, http.StatusConflict, "Cannot redeliver", "Only accepted conversions can be sent again; this event is not one.")
			return
		case err != nil:
			v.storeFail(c, err, "This event")
			return
		}
		if n == 0 {
			c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/events/%d?msg=redelivered-none", id))
			return
		}
		cfg.Notify()
		c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/events/%d?msg=redelivered", id))
	}
}

// handleUIEventExport streams the filtered list as CSV.
func handleUIEventExport(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		f, ok := uiEventFilter(c, cfg, v)
		if !ok {
			return
		}
		streamEventsCSV(c, cfg, f)
	}
}
