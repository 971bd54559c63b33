package web

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/delivery"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
)

type eventJSON struct {
	ID                int64               `json:"id"`
	ShopID            int64               `json:"shop_id"`
	Source            string              `json:"source"`
	Topic             string              `json:"topic"`
	Kind              string              `json:"kind"`
	DeliveryID        string              `json:"delivery_id"`
	OrderID           string              `json:"order_id"`
	Status            string              `json:"status"`
	Reason            string              `json:"reason"`
	DuplicateOf       *int64              `json:"duplicate_of"`
	Duplicates        int64               `json:"duplicates"`
	LastDuplicateAt   *string             `json:"last_duplicate_at"`
	ReceivedAt        *string             `json:"received_at"`
	OccurredAt        *string             `json:"occurred_at"`
	Value             *string             `json:"value"`
	Currency          string              `json:"currency"`
	EventName         string              `json:"event_name"`
	ConversionEventID string              `json:"conversion_event_id"`
	Test              bool                `json:"test"`
	Origin            string              `json:"origin"`
	Match             *mapping.Match      `json:"match"`
	Refunds           []mapping.Refund    `json:"refunds,omitempty"`
	Deliveries        []deliveryJSON      `json:"deliveries"`
	Conversion        *mapping.Conversion `json:"conversion,omitempty"`
	Body              *string             `json:"body,omitempty"`
}

type deliveryJSON struct {
	ID            int64  `json:"id"`
	DestinationID int64  `json:"destination_id"`
	Platform      string `json:"platform"`
	Kind          string `json:"kind"`
	Status        string `json:"status"`
	Attempts      int    `json:"attempts"`
	LastError     string `json:"last_error"`
	ErrorClass    string `json:"error_class"`
	// The last error explained: one plain headline, the step that fixes
	// it, and the platform's own code, words and HTTP status, apart.
	// last_error keeps the full text as before.
	ErrorHeadline   string          `json:"error_headline,omitempty"`
	ErrorFix        string          `json:"error_fix,omitempty"`
	ErrorCode       string          `json:"error_code,omitempty"`
	ErrorMessage    string          `json:"error_message,omitempty"`
	ErrorHTTPStatus int             `json:"error_http_status,omitempty"`
	Parked          bool            `json:"parked"`
	NextAttemptAt   *string         `json:"next_attempt_at"`
	DeliveredAt     *string         `json:"delivered_at"`
	ExpiresAt       *string         `json:"expires_at"`
	Match           *mapping.Match  `json:"match"`
	StatusCode      int             `json:"status_code,omitempty"`
	Payload         json.RawMessage `json:"payload,omitempty"`
	Response        *string         `json:"response,omitempty"`
	History         []attemptJSON   `json:"history,omitempty"`
	// The platform's own verdict on a request it processes later (Google
	// Data Manager): "processing", then "accepted", "partial", "rejected"
	// or "unknown", with its counts and reasons.
	PlatformRequestID string `json:"platform_request_id,omitempty"`
	PlatformStatus    string `json:"platform_status,omitempty"`
	PlatformDetail    string `json:"platform_detail,omitempty"`
}

type attemptJSON struct {
	Attempt    int     `json:"attempt"`
	StartedAt  *string `json:"started_at"`
	LatencyMS  int64   `json:"latency_ms"`
	StatusCode int     `json:"status_code"`
	Outcome    string  `json:"outcome"`
	Error      string  `json:"error,omitempty"`
	Response   string  `json:"response,omitempty"`
}

func toEventJSON(e store.Event, detail bool) eventJSON {
	out := eventJSON{
		ID: e.ID, ShopID: e.ShopID, Source: e.Source, Topic: e.Topic, Kind: e.Kind, DeliveryID: e.DeliveryID,
		OrderID: e.OrderID, Status: e.Status, Reason: e.Reason, ReceivedAt: timeOrNil(e.ReceivedAt),
		Duplicates: e.Duplicates, LastDuplicateAt: timeOrNil(e.LastDuplicateAt),
		OccurredAt: timeOrNil(e.OccurredAt), Currency: e.Currency, EventName: e.EventName,
		ConversionEventID: e.ConversionEventID, Test: e.Test, Origin: e.Origin, Match: e.Match, Refunds: e.Refunds,
		Deliveries: make([]deliveryJSON, 0, len(e.Deliveries)),
	}
	if e.Value != "" {
		v := e.Value
		out.Value = &v
	}
	if e.DuplicateOf != 0 {
		d := e.DuplicateOf
		out.DuplicateOf = &d
	}
	for _, d := range e.Deliveries {
		out.Deliveries = append(out.Deliveries, toDeliveryJSON(d, detail))
	}
	if detail {
		out.Conversion = e.Conversion
		if e.Body != nil {
			b := string(e.Body)
			out.Body = &b
		}
	}
	return out
}

func toDeliveryJSON(d store.Delivery, detail bool) deliveryJSON {
	out := deliveryJSON{
		ID: d.ID, DestinationID: d.DestinationID, Platform: d.Platform, Kind: d.Kind, Status: d.Status,
		Attempts: d.Attempts, LastError: d.LastError, ErrorClass: d.ErrorClass, Parked: d.Parked,
		NextAttemptAt: timeOrNil(d.NextAttemptAt), DeliveredAt: timeOrNil(d.DeliveredAt), ExpiresAt: timeOrNil(d.ExpiresAt),
		Match: d.Match, StatusCode: d.StatusCode,
		PlatformRequestID: d.PlatformRequestID, PlatformStatus: d.PlatformStatus, PlatformDetail: d.PlatformDetail,
	}
	x := delivery.ExplainDelivery(d)
	out.ErrorHeadline, out.ErrorFix, out.ErrorCode, out.ErrorMessage, out.ErrorHTTPStatus = x.Headline, x.Fix, x.Code, x.Message, x.StatusCode
	if !detail {
		return out
	}
	if d.Payload != "" && json.Valid([]byte(d.Payload)) {
		out.Payload = json.RawMessage(d.Payload)
	}
	if d.Response != "" {
		r := d.Response
		out.Response = &r
	}
	for _, a := range d.History {
		out.History = append(out.History, attemptJSON{
			Attempt: a.Attempt, StartedAt: timeOrNil(a.StartedAt), LatencyMS: a.Latency.Milliseconds(),
			StatusCode: a.StatusCode, Outcome: a.Outcome, Error: a.Error, Response: a.Response,
		})
	}
	return out
}

var eventStatuses = map[string]bool{store.StatusAccepted: true, store.StatusIgnored: true, store.StatusDuplicate: true, store.StatusError: true}
var deliveryStatuses = map[string]bool{store.DeliveryPending: true, store.DeliveryRetrying: true, store.DeliveryWaitingCredentials: true, store.DeliveryDelivered: true, store.DeliveryFailed: true, store.DeliverySkipped: true}

// eventFilter reads the list filters from the query, answering 400 for a
// value that cannot be right.
func eventFilter(c *gin.Context, cfg Config) (store.EventFilter, bool) {
	f, err := parseEventFilter(c.Request.URL.Query(), platformNames(cfg.Senders))
	if err != nil {
		jsonError(c, http.StatusBadRequest, err.Error())
		return f, false
	}
	return f, true
}

func handleEventList(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		f, ok := eventFilter(c, cfg)
		if !ok {
			return
		}
		if c.Query("format") == "csv" {
			streamEventsCSV(c, cfg, f)
			return
		}
		if f.Limit == 0 {
			f.Limit = 50
		}
		events, err := cfg.Store.Events(c.Request.Context(), f)
		if err != nil {
			storeError(c, cfg.Log, err, "events")
			return
		}
		out := make([]eventJSON, 0, len(events))
		for _, e := range events {
			out = append(out, toEventJSON(e, false))
		}
		var next *string
		if len(events) == f.Limit {
			s := strconv.FormatInt(events[len(events)-1].ID, 10)
			next = &s
		}
		c.JSON(http.StatusOK, gin.H{"events": out, "next_cursor": next})
	}
}

func handleEventGet(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		e, err := cfg.Store.Event(c.Request.Context(), id)
		if err != nil {
			storeError(c, cfg.Log, err, "event")
			return
		}
		c.JSON(http.StatusOK, toEventJSON(e, true))
	}
}

func handleEventRedeliver(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		var in struct {
			All bool `json:"all"`
		}
		if c.Request.ContentLength != 0 && !bindJSON(c, &in) {
			return
		}
		n, err := cfg.Store.Redeliver(c.Request.Context(), id, in.All, cfg.Routing, cfg.Now())
		if err != nil {
			storeError(c, cfg.Log, err, "event")
			return
		}
		cfg.Notify()
		c.JSON(http.StatusAccepted, gin.H{"queued": n})
	}
}
