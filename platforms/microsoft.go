package platforms

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// Microsoft delivers conversions to Microsoft Advertising's UET Conversions
// API (POST {BaseURL}/v1/{uet_tag_id}/events), authorised with the
// Conversions API token generated on the UET tag.
//
// Each conversion is a "custom" event whose eventName is the goal's event
// action ("purchase" for purchases), deduplicated with the UET tag on
// eventId + eventName. Requests ask Microsoft to continue on validation
// errors, so one bad event does not sink the batch; the answer's
// error.details name the failing events by index.
type Microsoft struct {
	cfg Config
}

var _ Sender = (*Microsoft)(nil)

const (
	microsoftDefaultBaseURL = "https://capi.uet.microsoft.com"
	// microsoftBatchSize is the most events one request may carry.
	microsoftBatchSize = 1000
	// microsoftMaxAge: events must be sent within 7 days of happening.
	microsoftMaxAge = 7 * 24 * time.Hour
	// microsoftDataProvider names the integration in each request.
	microsoftDataProvider = "Postback"
)

// NewMicrosoft returns the Microsoft UET sender.
func NewMicrosoft(cfg Config) *Microsoft {
	cfg = cfg.withDefaults(microsoftDefaultBaseURL, 30*time.Second)
	return &Microsoft{cfg: cfg}
}

// Name is the platform key.
func (m *Microsoft) Name() string { return "microsoft" }

// Fields lists the destination's credentials.
func (m *Microsoft) Fields() []Field {
	return []Field{
		{Name: "uet_tag_id", Label: "UET tag ID", Required: true,
			Help: "The numeric id of the UET tag (Microsoft Advertising ▸ Conversion tracking ▸ UET tags). Its goals must use the event action \"purchase\"."},
		{Name: "access_token", Label: "Conversions API token", Required: true, Secret: true,
			Help: "The token shown after choosing \"Use Conversions API\" on the UET tag (not an Ads API OAuth token)."},
	}
}

// BatchSize is the UET Conversions API's limit per request.
func (m *Microsoft) BatchSize() int { return microsoftBatchSize }

// MaxAge is the 7-day window.
func (m *Microsoft) MaxAge() time.Duration { return microsoftMaxAge }

// TestMode is always false: the UET Conversions API has no test flag (a
// separate UET tag is Microsoft's answer), so test orders are never sent to
// Microsoft.
func (m *Microsoft) TestMode(Destination) bool { return false }

// microsoftRequest is the request body.
type microsoftRequest struct {
	Data                      []json.RawMessage `json:"data"`
	ContinueOnValidationError bool              `json:"continueOnValidationError"`
	DataProvider              string            `json:"dataProvider"`
}

// microsoftEvent is one server-side UET event.
type microsoftEvent struct {
	EventType      string              `json:"eventType"`
	EventID        string              `json:"eventId,omitempty"`
	EventName      string              `json:"eventName"`
	EventTime      int64               `json:"eventTime"` // Unix seconds
	EventSourceURL string              `json:"eventSourceUrl,omitempty"`
	UserData       microsoftUserData   `json:"userData"`
	CustomData     microsoftCustomData `json:"customData"`
}

// microsoftUserData holds the identifiers; em and ph are SHA-256 hex, the
// rest plain.
type microsoftUserData struct {
	Em              string `json:"em,omitempty"`
	Ph              string `json:"ph,omitempty"`
	Msclkid         string `json:"msclkid,omitempty"`
	ClientIPAddress string `json:"clientIpAddress,omitempty"`
	ClientUserAgent string `json:"clientUserAgent,omitempty"`
}

type microsoftCustomData struct {
	Value         json.Number     `json:"value"`
	Currency      string          `json:"currency"`
	TransactionID string          `json:"transactionId,omitempty"`
	PageType      string          `json:"pageType,omitempty"`
	ItemIDs       []string        `json:"itemIds,omitempty"`
	Items         []microsoftItem `json:"items,omitempty"`
}

type microsoftItem struct {
	ID       string      `json:"id"`
	Name     string      `json:"name,omitempty"`
	Price    json.Number `json:"price"`
	Quantity int         `json:"quantity"`
}

// microsoftEventNames maps canonical event names to the goal event actions
// Postback documents for UET goals.
var microsoftEventNames = map[string]string{
	mapping.EventPurchase:  "purchase",
	mapping.EventSubscribe: "subscribe",
}

// microsoftMsclkidRE accepts an msclkid as Microsoft issues it: a GUID,
// with or without dashes. Anything else would fail validation.
var microsoftMsclkidRE = regexp.MustCompile(`^[0-9a-fA-F]{32}$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// build turns one conversion into a UET event and reports the identifiers
// it carries.
func (m *Microsoft) build(c mapping.Conversion) (microsoftEvent, mapping.Match, error) {
	u := c.User
	ud := microsoftUserData{
		Em:              microsoftEmailHash(u.Email),
		Ph:              microsoftPhoneHash(u),
		ClientIPAddress: strings.TrimSpace(c.ClientIP),
		ClientUserAgent: strings.TrimSpace(c.UserAgent),
	}
	if id := strings.TrimSpace(c.ClickIDs.MSCLKID); microsoftMsclkidRE.MatchString(id) {
		ud.Msclkid = id
	}
	match := mapping.Match{
		ClickID:   ud.Msclkid != "",
		Email:     ud.Em != "",
		Phone:     ud.Ph != "",
		IP:        ud.ClientIPAddress != "",
		UserAgent: ud.ClientUserAgent != "",
	}.Score()

	if ud == (microsoftUserData{}) {
		return microsoftEvent{}, match, Invalid(0, "no_identifier", "Microsoft needs at least one identifier (email, phone, msclkid, IP or user agent) and this conversion has none; not sent")
	}
	cur, err := mapping.NormalizeCurrency(c.Currency)
	if err != nil {
		return microsoftEvent{}, match, Invalid(0, "invalid_currency", err.Error())
	}
	name, ok := microsoftEventNames[c.EventName]
	if !ok {
		name = strings.ToLower(strings.TrimSpace(c.EventName))
	}
	cd := microsoftCustomData{
		Value:         json.Number(c.Value.String()),
		Currency:      cur,
		TransactionID: c.OrderID,
	}
	if c.EventName == mapping.EventPurchase {
		cd.PageType = "purchase"
	}
	for _, it := range c.Items {
		if it.ID == "" {
			continue
		}
		cd.ItemIDs = append(cd.ItemIDs, it.ID)
		cd.Items = append(cd.Items, microsoftItem{ID: it.ID, Name: it.Title, Price: json.Number(it.Price.String()), Quantity: it.Quantity})
	}
	ev := microsoftEvent{
		EventType:      "custom",
		EventID:        c.EventID,
		EventName:      name,
		EventTime:      c.EventTime.Unix(),
		EventSourceURL: c.SourceURL,
		UserData:       ud,
		CustomData:     cd,
	}
	return ev, match, nil
}

// microsoftEmailHash hashes an email the way Microsoft canonicalises it for
// UET matching: trimmed and lower-cased, with the dots and any "+tag"
// removed from the local part (walkerOS implements the same rule from
// Microsoft's guide; our platforms.md marked it unverified). An email that
// already is a SHA-256 digest passes through.
func microsoftEmailHash(raw string) string {
	s := strings.TrimSpace(raw)
	if mapping.IsHashed(s) {
		return strings.ToLower(s)
	}
	s = mapping.NormalizeEmail(s)
	at := strings.LastIndexByte(s, '@')
	if at < 1 {
		return ""
	}
	local, domain := s[:at], s[at+1:]
	if plus := strings.IndexByte(local, '+'); plus >= 0 {
		local = local[:plus]
	}
	local = strings.ReplaceAll(local, ".", "")
	if local == "" {
		return ""
	}
	return mapping.Hash(local + "@" + domain)
}

// microsoftPhoneHash hashes the phone in E.164 form, "+" included, as
// Microsoft's enhanced conversions and offline conversions take it (our
// platforms.md suggested digits only, from Segment; E.164 is what
// Microsoft's own hashed-phone fields specify). A phone that already is a
// SHA-256 digest passes through.
func microsoftPhoneHash(u mapping.User) string {
	p := strings.TrimSpace(u.Phone)
	if p == "" {
		return ""
	}
	if mapping.IsHashed(p) {
		return strings.ToLower(p)
	}
	e164, err := mapping.NormalizePhone(p, u.Country)
	if err != nil {
		return ""
	}
	return mapping.Hash(e164)
}

func (m *Microsoft) endpoint(d Destination) (string, error) {
	tag, err := credential(d, "uet_tag_id")
	if err != nil {
		return "", err
	}
	return m.cfg.BaseURL + "/v1/" + url.PathEscape(tag) + "/events", nil
}

func microsoftBody(events []json.RawMessage) ([]byte, error) {
	return json.Marshal(microsoftRequest{Data: events, ContinueOnValidationError: true, DataProvider: microsoftDataProvider})
}

// spec describes Microsoft's UET Conversions API to the shared send path.
// Microsoft names invalid events by index; the others of a refused request
// were not ingested and go again without them.
func (m *Microsoft) spec(Destination) spec {
	return spec{
		name: "microsoft", title: "Microsoft", batchSize: microsoftBatchSize, maxAge: microsoftMaxAge,
		check: func(d Destination) error {
			if _, err := m.endpoint(d); err != nil {
				return err
			}
			_, err := credential(d, "access_token")
			return err
		},
		build: func(c mapping.Conversion, _ time.Time) (json.RawMessage, mapping.Match, error) {
			ev, match, err := m.build(c)
			if err != nil {
				return nil, match, err
			}
			raw, err := json.Marshal(ev)
			return raw, match, err
		},
		request: bearerRequest(m.endpoint, microsoftBody),
		read: func(a answer, events []json.RawMessage, now time.Time) verdict {
			n := len(events)
			outs := microsoftOutcomes(a, n, now)
			errs, notes := make([]error, n), make([]string, n)
			for k, o := range outs {
				errs[k], notes[k] = o.err, o.reported
			}
			return verdictOf("microsoft", errs, notes, nil)
		},
	}
}

// Render is the request Send would post for convs (a dry run through the
// send path), with the token redacted.
func (m *Microsoft) Render(d Destination, convs []mapping.Conversion) (Request, error) {
	return render(m.cfg, m.spec(d), d, convs, m.Fields())
}

// Send delivers convs and returns one Result per conversion.
func (m *Microsoft) Send(ctx context.Context, d Destination, convs []mapping.Conversion) []Result {
	return deliver(ctx, m.cfg, m.spec(d), d, convs, m.Fields())
}

// microsoftAnswer is the Conversions API's answer, success or error.
type microsoftAnswer struct {
	EventsReceived *int             `json:"eventsReceived"`
	Error          *microsoftAPIErr `json:"error"`
	TraceID        string           `json:"traceId"`
}

type microsoftAPIErr struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Details []microsoftDetail `json:"details"`
}

// microsoftDetail is one validation finding; Index points into data.
type microsoftDetail struct {
	Index        *int   `json:"index"`
	PropertyName string `json:"propertyName"`
	ErrorMessage string `json:"errorMessage"`
	ErrorCode    string `json:"errorCode"`
	IsWarning    bool   `json:"isWarning"`
}

// microsoftOutcome is what happened to one event of a request.
type microsoftOutcome struct {
	err      error
	reported string // warnings, shown as what Microsoft said about matching
}

// microsoftOutcomes reads an answer to a request of n events into one
// outcome per event:
//   - 401/403: every event fails as auth; 429 throttled; 408/5xx transient.
//   - any other status: an event with its own (non-warning) detail fails as
//     invalid with that detail; warnings never fail an event.
//   - a 2xx: the other events were ingested.
//   - a 4xx that names some events: the others were not ingested because of
//     them, so they are transient and go again in a later batch.
//   - a 4xx that names none: every event fails as invalid.
func microsoftOutcomes(ans answer, n int, now time.Time) []microsoftOutcome {
	out := make([]microsoftOutcome, n)
	var ma microsoftAnswer
	_ = json.Unmarshal(ans.Body, &ma) // an answer in another shape is classed by status alone
	var apiErr microsoftAPIErr
	if ma.Error != nil {
		apiErr = *ma.Error
	}
	msg := apiErr.Message
	if msg == "" {
		msg = http.StatusText(ans.Status)
	}
	msg = "Microsoft: " + truncate(msg, 300)
	ok := ans.Status >= 200 && ans.Status < 300

	switch {
	case ans.Status == http.StatusUnauthorized || ans.Status == http.StatusForbidden:
		return microsoftAll(out, Auth(ans.Status, apiErr.Code, "Microsoft rejected the Conversions API token for this UET tag: "+truncate(apiErr.Message, 300)))
	case ans.Status == http.StatusTooManyRequests || ans.Status == http.StatusRequestTimeout || ans.Status >= 500:
		e := ClassifyStatus(ans.Status, ans.Header, msg, now)
		e.Code = apiErr.Code
		return microsoftAll(out, e)
	}

	failed := make([]bool, n)
	named := false
	for _, det := range apiErr.Details {
		if det.Index == nil || *det.Index < 0 || *det.Index >= n {
			continue
		}
		k := *det.Index
		text := strings.TrimSpace(det.PropertyName + ": " + det.ErrorMessage)
		if det.IsWarning {
			out[k].reported = microsoftJoin(out[k].reported, text)
			continue
		}
		named = true
		failed[k] = true
		code := det.ErrorCode
		if code == "" {
			code = apiErr.Code
		}
		prev := ""
		var pe *Error
		if errors.As(out[k].err, &pe) {
			prev = strings.TrimPrefix(pe.Message, "Microsoft rejected the event: ")
		}
		out[k].err = Invalid(ans.Status, code, "Microsoft rejected the event: "+truncate(microsoftJoin(prev, text), 300))
	}
	for k := range out {
		switch {
		case failed[k], ok:
		case named:
			out[k].err = unprocessed(ans.Status, "Microsoft refused the request because of other events in it; this event will be sent again")
		default:
			out[k].err = Invalid(ans.Status, apiErr.Code, msg)
		}
	}
	return out
}

func microsoftAll(out []microsoftOutcome, err error) []microsoftOutcome {
	for k := range out {
		out[k].err = err
	}
	return out
}

func microsoftJoin(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
