package platforms

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// Snapchat Conversions API v3.
//
// Sources: developers.snap.com Conversions API pages (Introduction, Using the
// API, Parameters, Verify Set Up, Offline Events), the official
// Snapchat/business-sdk-v3-java OpenAPI spec (api/openapi.yaml) and
// RudderStack's Snapchat destination.
const (
	snapchatDefaultURL = "https://tr.snapchat.com"
	// snapchatBatchSize: the schema's maxItems for data[] (2,000), also what
	// RudderStack and Tealium batch.
	snapchatBatchSize = 2000
	// snapchatMaxAge: "events can have a date (timestamp) of maximum 37 days
	// back to be eligible to be reported via the Conversions API".
	snapchatMaxAge = 37 * 24 * time.Hour
)

// Snapchat sends conversions to the Snapchat Conversions API v3. The access
// token travels in the query string, so URLs are never logged and Render
// shows it redacted.
type Snapchat struct {
	cfg Config
}

var _ Sender = (*Snapchat)(nil)

// NewSnapchat returns a Snapchat sender. An empty BaseURL means Snap's public
// host; a nil Client gets one with a 15-second timeout.
func NewSnapchat(cfg Config) *Snapchat {
	cfg = cfg.withDefaults(snapchatDefaultURL, 15*time.Second)
	return &Snapchat{cfg: cfg}
}

// Name is the platform key.
func (s *Snapchat) Name() string { return "snapchat" }

// Fields lists the credentials and settings of a Snapchat destination.
func (s *Snapchat) Fields() []Field {
	return []Field{
		{Name: "pixel_id", Label: "Pixel ID", Required: true,
			Help: "Ads Manager ▸ Events Manager ▸ your Snap Pixel ID."},
		{Name: "access_token", Label: "Conversions API token", Required: true, Secret: true,
			Help: "Business details ▸ Conversions API tokens ▸ Generate token (long-lived)."},
		{Name: "validate_only", Label: "Validate only", Setting: true, Bool: true,
			Help: "Send to Snap's test endpoint (/events/validate): events are checked and shown in Event Testing but never counted."},
		{Name: "test_event_code", Label: "Test event code", Setting: true,
			Help: "Marks events as test events in Events Manager. Clear it for production."},
	}
}

// BatchSize is the most events one request may carry.
func (s *Snapchat) BatchSize() int { return snapchatBatchSize }

// MaxAge is how old an event Snapchat still accepts.
func (s *Snapchat) MaxAge() time.Duration { return snapchatMaxAge }

// TestMode reports whether the destination validates only or sends a test
// event code.
func (s *Snapchat) TestMode(d Destination) bool {
	return snapchatFlag(d.Settings["validate_only"]) || strings.TrimSpace(d.Settings["test_event_code"]) != ""
}

func snapchatFlag(v string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	return err == nil && b
}

type snapchatCreds struct {
	pixel    string
	token    string
	validate bool
	testCode string
}

func snapchatCredsOf(d Destination) (snapchatCreds, error) {
	c := snapchatCreds{
		pixel:    strings.TrimSpace(d.Credentials["pixel_id"]),
		token:    strings.TrimSpace(d.Credentials["access_token"]),
		validate: snapchatFlag(d.Settings["validate_only"]),
		testCode: strings.TrimSpace(d.Settings["test_event_code"]),
	}
	if c.pixel == "" {
		return c, Auth(0, "config", "snapchat destination has no pixel_id")
	}
	if c.token == "" {
		return c, Auth(0, "config", "snapchat destination has no access_token")
	}
	return c, nil
}

// url builds the endpoint with the token in the query, as Snap requires.
// Pass "REDACTED" as token for anything shown or stored.
func (c snapchatCreds) url(base, token string) string {
	u := base + "/v3/" + url.PathEscape(c.pixel) + "/events"
	if c.validate {
		u += "/validate"
	}
	return u + "?access_token=" + url.QueryEscape(token)
}

type snapchatRequest struct {
	Data          []json.RawMessage `json:"data"`
	TestEventCode string            `json:"test_event_code,omitempty"`
}

type snapchatEvent struct {
	EventName      string             `json:"event_name"`
	EventTime      int64              `json:"event_time"` // Unix seconds
	EventID        string             `json:"event_id,omitempty"`
	ActionSource   string             `json:"action_source"`
	EventSourceURL string             `json:"event_source_url,omitempty"`
	UserData       snapchatUserData   `json:"user_data"`
	CustomData     snapchatCustomData `json:"custom_data"`
}

// snapchatUserData: every personal key is an array of SHA-256 hex; IP, user
// agent, the ScCid click id and the _scid cookie are plain.
type snapchatUserData struct {
	Em              []string `json:"em,omitempty"`
	Ph              []string `json:"ph,omitempty"`
	Fn              []string `json:"fn,omitempty"`
	Ln              []string `json:"ln,omitempty"`
	Ge              []string `json:"ge,omitempty"`
	Db              []string `json:"db,omitempty"`
	Ct              []string `json:"ct,omitempty"`
	St              []string `json:"st,omitempty"`
	Zp              []string `json:"zp,omitempty"`
	Country         []string `json:"country,omitempty"`
	ExternalID      []string `json:"external_id,omitempty"`
	ClientIPAddress string   `json:"client_ip_address,omitempty"`
	ClientUserAgent string   `json:"client_user_agent,omitempty"`
	ScClickID       string   `json:"sc_click_id,omitempty"`
	ScCookie1       string   `json:"sc_cookie1,omitempty"`
}

type snapchatCustomData struct {
	Currency   string            `json:"currency,omitempty"`
	Value      json.Number       `json:"value,omitempty"` // major units
	OrderID    string            `json:"order_id,omitempty"`
	NumItems   int               `json:"num_items,omitempty"`
	ContentIDs []string          `json:"content_ids,omitempty"`
	Contents   []snapchatContent `json:"contents,omitempty"`
}

// snapchatContent: Snap's spec types quantity and item_price as strings.
type snapchatContent struct {
	ID        string `json:"id"`
	Quantity  string `json:"quantity,omitempty"`
	ItemPrice string `json:"item_price,omitempty"`
	Brand     string `json:"brand,omitempty"`
}

// snapchatEventName maps a canonical event name to Snap's enum. Snap takes
// only its own names, so anything else fails before sending.
func snapchatEventName(name string) (string, bool) {
	switch name {
	case mapping.EventPurchase:
		return "PURCHASE", true
	case mapping.EventSubscribe:
		return "SUBSCRIBE", true
	}
	return "", false
}

func snapchatHashEmail(raw string) string {
	s := strings.TrimSpace(raw)
	if mapping.IsHashed(s) {
		return strings.ToLower(s)
	}
	return mapping.Hash(mapping.NormalizeEmail(s))
}

// snapchatHashPhone hashes the phone as digits with the country code and
// without "+": Snap's example is "+44 844 412 4653" → "448444124653".
func snapchatHashPhone(raw, country string) string {
	e164, err := mapping.NormalizePhone(raw, country)
	if err != nil || e164 == "" {
		return ""
	}
	return mapping.Hash(mapping.PhoneDigits(e164))
}

func snapchatRender(c mapping.Conversion, now time.Time) (json.RawMessage, mapping.Match, error) {
	name, ok := snapchatEventName(c.EventName)
	if !ok {
		return nil, mapping.Match{}, Invalid(0, "event_name", fmt.Sprintf("snapchat has no standard event for %q", c.EventName))
	}
	cur, err := mapping.NormalizeCurrency(c.Currency)
	if err != nil {
		return nil, mapping.Match{}, Invalid(0, "currency", fmt.Sprintf("snapchat: %v", err))
	}
	at := c.EventTime
	if at.After(now) {
		at = now
	}
	u := c.User
	ev := snapchatEvent{
		EventName: name,
		EventTime: at.Unix(),
		EventID:   c.EventID,
		// Snap requires event_source_url for WEB events. An order with no
		// page URL never passed through a tracked storefront session (a phone
		// or draft order, a hosted checkout), so it goes as OFFLINE, which
		// Snap attributes by the hashed personal keys, rather than as a WEB
		// event Snap would refuse.
		ActionSource:   "OFFLINE",
		EventSourceURL: strings.TrimSpace(c.SourceURL),
		UserData: snapchatUserData{
			Fn:              hashedField(mapping.NormalizeName(u.FirstName)),
			Ln:              hashedField(mapping.NormalizeName(u.LastName)),
			Ge:              hashedField(mapping.NormalizeGender(u.Gender)),
			Db:              hashedField(mapping.NormalizeBirthDate(u.BirthDate)),
			Ct:              hashedField(mapping.NormalizeCity(u.City)),
			St:              hashedField(mapping.NormalizeState(u.State, u.Country)),
			Zp:              hashedField(mapping.NormalizeZip(u.Zip, u.Country)),
			Country:         hashedField(mapping.NormalizeCountry(u.Country)),
			ExternalID:      hashedField(mapping.NormalizeExternalID(u.ExternalID)),
			ClientIPAddress: strings.TrimSpace(c.ClientIP),
			ClientUserAgent: strings.TrimSpace(c.UserAgent),
			ScClickID:       strings.TrimSpace(c.ClickIDs.ScCID),
			ScCookie1:       strings.TrimSpace(c.ClickIDs.SCID),
		},
		CustomData: snapchatCustomData{
			Currency: cur,
			Value:    json.Number(c.Value.String()),
			OrderID:  c.OrderID,
		},
	}
	if c.Where() == mapping.ChannelWebsite || (c.Where() == mapping.ChannelUnknown && ev.EventSourceURL != "") {
		ev.ActionSource = "WEB"
	}
	if ev.EventSourceURL == "" {
		// Snap requires event_source_url on WEB events: a website purchase
		// whose page is unknown goes as OFFLINE rather than be refused.
		ev.ActionSource = "OFFLINE"
	}
	if h := snapchatHashEmail(u.Email); h != "" {
		ev.UserData.Em = []string{h}
	}
	if h := snapchatHashPhone(u.Phone, u.Country); h != "" {
		ev.UserData.Ph = []string{h}
	}
	for _, it := range c.Items {
		ev.CustomData.NumItems += it.Quantity
		ev.CustomData.ContentIDs = append(ev.CustomData.ContentIDs, it.ID)
		ev.CustomData.Contents = append(ev.CustomData.Contents, snapchatContent{
			ID:        it.ID,
			Quantity:  strconv.Itoa(it.Quantity),
			ItemPrice: it.Price.String(),
			Brand:     it.Brand,
		})
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, mapping.Match{}, Invalid(0, "", fmt.Sprintf("snapchat: cannot encode event: %v", err))
	}
	ud := ev.UserData
	m := mapping.Match{
		ClickID:    ud.ScClickID != "",
		Email:      len(ud.Em) > 0,
		Phone:      len(ud.Ph) > 0,
		Name:       len(ud.Fn) > 0 || len(ud.Ln) > 0,
		Address:    len(ud.Ct) > 0 || len(ud.Zp) > 0 || len(ud.St) > 0,
		ExternalID: len(ud.ExternalID) > 0,
		IP:         ud.ClientIPAddress != "",
		UserAgent:  ud.ClientUserAgent != "",
	}
	return b, m.Score(), nil
}

// spec describes Snapchat to the shared send path. When Snap refuses a
// batch it does not say whether the others were kept, so a refused batch is
// split until the bad event stands alone (event_id deduplicates any event
// Snap had kept).
func (s *Snapchat) spec(Destination) spec {
	return spec{
		name: "snapchat", title: "Snapchat", batchSize: snapchatBatchSize, maxAge: snapchatMaxAge,
		check: func(d Destination) error { _, err := snapchatCredsOf(d); return err },
		build: snapchatRender,
		request: func(_ context.Context, d Destination, events []json.RawMessage) (outgoing, error) {
			creds, err := snapchatCredsOf(d)
			if err != nil {
				return outgoing{}, err
			}
			body, err := creds.body(events)
			if err != nil {
				return outgoing{}, Invalid(0, "", fmt.Sprintf("snapchat: cannot encode request: %v", err))
			}
			return outgoing{url: creds.url(s.cfg.BaseURL, creds.token), body: body}, nil
		},
		read: func(a answer, events []json.RawMessage, now time.Time) verdict {
			n := len(events)
			v := snapchatClassify(a, n, now)
			if v.perEvent == nil {
				if v.batch != nil {
					return verdict{whole: v.batch}
				}
				return verdict{events: []*Error{}}
			}
			return verdict{events: v.perEvent, notes: v.warnings}
		},
	}
}

// body is the request that sends events, with the test event code if set.
func (c snapchatCreds) body(events []json.RawMessage) ([]byte, error) {
	return json.Marshal(snapchatRequest{TestEventCode: c.testCode, Data: events})
}

// Render is the request Send would post for convs (a dry run through the
// send path), with the access token in the URL redacted.
func (s *Snapchat) Render(d Destination, convs []mapping.Conversion) (Request, error) {
	return render(s.cfg, s.spec(d), d, convs, s.Fields())
}

// Send delivers convs and returns one Result per conversion.
func (s *Snapchat) Send(ctx context.Context, d Destination, convs []mapping.Conversion) []Result {
	return deliver(ctx, s.cfg, s.spec(d), d, convs, s.Fields())
}

// snapchatAnswer is Snap's response: {"status":"VALID"|"INVALID","reason",
// "errors":{"codes","error_msgs"}} from /events (an "event" index may name
// the offender; Send resends a refused batch event by event anyway), and
// additionally {"test_event":true,"event_logs":[{"event","status","errors",
// "warnings"}]} from /events/validate.
type snapchatAnswer struct {
	Status    string              `json:"status"`
	Reason    string              `json:"reason"`
	Errors    *snapchatErrors     `json:"errors"`
	EventLogs []snapchatEventLogs `json:"event_logs"`
}

type snapchatErrors struct {
	Codes     []string `json:"codes"`
	ErrorMsgs []string `json:"error_msgs"`
}

type snapchatEventLogs struct {
	Event    int             `json:"event"`
	Status   string          `json:"status"`
	Errors   *snapchatErrors `json:"errors"`
	Warnings []string        `json:"warnings"`
}

// snapchatVerdict is the outcome of one request: one failure for the whole
// batch, or (when Snap reports per event) one failure and warning text per
// event, in request order.
type snapchatVerdict struct {
	batch    *Error
	perEvent []*Error
	warnings []string
}

func snapchatDescribe(reason string, errs *snapchatErrors) (msg, code string) {
	parts := []string{}
	if reason != "" {
		parts = append(parts, reason)
	}
	if errs != nil {
		parts = append(parts, errs.ErrorMsgs...)
		code = strings.Join(errs.Codes, ",")
	}
	if len(parts) == 0 {
		parts = append(parts, "event refused")
	}
	return "snapchat: " + truncate(strings.Join(parts, "; "), 300), truncate(code, 100)
}

// snapchatClassify reads Snap's answer for a request of n events. HTTP
// status comes first (401/403 auth, 429 throttled, 408/5xx transient); then
// the body's status: VALID accepted, INVALID refused (400 or 200 alike).
// Per-event logs (validate endpoint), when present, decide each event.
func snapchatClassify(a answer, n int, now time.Time) snapchatVerdict {
	var ans snapchatAnswer
	parsed := json.Unmarshal(a.Body, &ans) == nil
	msg, code := snapchatDescribe(ans.Reason, ans.Errors)
	if !parsed {
		msg = "snapchat: " + truncate(strings.TrimSpace(string(a.Body)), 200)
	}
	switch {
	case a.Status == http.StatusUnauthorized || a.Status == http.StatusForbidden ||
		a.Status == http.StatusTooManyRequests || a.Status == http.StatusRequestTimeout || a.Status >= 500:
		return snapchatVerdict{batch: ClassifyStatus(a.Status, a.Header, msg, now)}
	}
	if parsed && len(ans.EventLogs) > 0 {
		v := snapchatVerdict{perEvent: make([]*Error, n), warnings: make([]string, n)}
		logged := make([]bool, n)
		for _, l := range ans.EventLogs {
			if l.Event < 0 || l.Event >= n {
				continue
			}
			logged[l.Event] = true
			v.warnings[l.Event] = truncate(strings.Join(l.Warnings, "; "), 300)
			if !strings.EqualFold(l.Status, "VALID") {
				m, c := snapchatDescribe("", l.Errors)
				v.perEvent[l.Event] = Invalid(a.Status, c, m)
			}
		}
		if strings.EqualFold(ans.Status, "VALID") && a.Status < 400 {
			return v
		}
		// A refusal: events without a log share its reason, and a refusal
		// whose logs blame no event fails them all.
		blamed := false
		for i := range v.perEvent {
			if !logged[i] {
				v.perEvent[i] = Invalid(a.Status, code, msg)
			}
			blamed = blamed || v.perEvent[i] != nil
		}
		if !blamed {
			return snapchatVerdict{batch: Invalid(a.Status, code, msg)}
		}
		return v
	}
	invalid := strings.EqualFold(ans.Status, "INVALID")
	if a.Status >= 400 || invalid {
		e := Invalid(a.Status, code, msg)
		if a.Status >= 400 && !invalid {
			e = ClassifyStatus(a.Status, a.Header, msg, now)
		}
		return snapchatVerdict{batch: e}
	}
	return snapchatVerdict{}
}
