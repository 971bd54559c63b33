package platforms

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// TikTok Events API 2.0 (web events).
//
// Sources: TikTok's Events API 2.0 reference (business-api.tiktok.com portal,
// via partner copies), TikTok's own server-side GTM template
// (tiktok/gtm-template-eapi), Segment's TikTok Conversions destination (built
// with TikTok) and RudderStack's response handler.
const (
	tiktokDefaultURL = "https://business-api.tiktok.com"
	tiktokPath       = "/open_api/v1.3/event/track/"
	// tiktokBatchSize is the documented maximum of events in data[].
	tiktokBatchSize = 1000
	// tiktokMaxAge: TikTok asks for real-time events and publishes no
	// back-dating limit for web events; 7 days is what integrators enforce.
	tiktokMaxAge = 7 * 24 * time.Hour
)

// TikTok's answer codes. TikTok answers HTTP 200 even when it refuses a
// request; the outcome is in the body's "code".
const (
	tiktokCodeOK           = 0
	tiktokCodePartial      = 20001 // accepted, some fields or events dropped
	tiktokCodeNoPermission = 40001 // token has no access to the pixel
	tiktokCodeInvalid      = 40002 // parameter validation failed
	tiktokCodeRateLimit    = 40100 // QPS limit
	tiktokCodeTokenExpiry  = 40102 // access token expired
	tiktokCodeTokenEmpty   = 40104 // access token missing
	tiktokCodeTokenBad     = 40105 // access token wrong or revoked
	tiktokCodeBusy         = 40700 // internal timeout; RudderStack retries it as a 5xx
	tiktokCodeServerMin    = 50000 // 5xxxx: TikTok's own failures
)

// TikTok sends conversions to the TikTok Events API 2.0.
type TikTok struct {
	cfg Config
}

var _ Sender = (*TikTok)(nil)

// NewTikTok returns a TikTok sender. An empty BaseURL means TikTok's public
// host; a nil Client gets one with a 15-second timeout.
func NewTikTok(cfg Config) *TikTok {
	cfg = cfg.withDefaults(tiktokDefaultURL, 15*time.Second)
	return &TikTok{cfg: cfg}
}

// Name is the platform key.
func (t *TikTok) Name() string { return "tiktok" }

// Fields lists the credentials and settings of a TikTok destination.
func (t *TikTok) Fields() []Field {
	return []Field{
		{Name: "pixel_code", Label: "Pixel code", Required: true,
			Help: "Events Manager ▸ Web events ▸ your pixel: the pixel code (e.g. C9XXXXXXXXXXXXXXXXXX)."},
		{Name: "access_token", Label: "Events API access token", Required: true, Secret: true,
			Help: "Events Manager ▸ your pixel ▸ Settings ▸ Events API ▸ Generate access token."},
		{Name: "test_event_code", Label: "Test event code", Setting: true,
			Help: "From Events Manager ▸ Test events. While set, events show only in the test tool; clear it for production."},
	}
}

// BatchSize is the most events one request may carry.
func (t *TikTok) BatchSize() int { return tiktokBatchSize }

// MaxAge is the age past which a conversion is no longer sent to TikTok.
func (t *TikTok) MaxAge() time.Duration { return tiktokMaxAge }

// TestMode reports whether the destination sends with a test event code.
func (t *TikTok) TestMode(d Destination) bool {
	return strings.TrimSpace(d.Settings["test_event_code"]) != ""
}

// tiktokCreds is a destination's configuration, checked.
type tiktokCreds struct {
	pixel    string
	token    string
	testCode string
}

func tiktokCredsOf(d Destination) (tiktokCreds, error) {
	c := tiktokCreds{
		pixel:    strings.TrimSpace(d.Credentials["pixel_code"]),
		token:    strings.TrimSpace(d.Credentials["access_token"]),
		testCode: strings.TrimSpace(d.Settings["test_event_code"]),
	}
	if c.pixel == "" {
		return c, Auth(0, "config", "tiktok destination has no pixel_code")
	}
	if c.token == "" {
		return c, Auth(0, "config", "tiktok destination has no access_token")
	}
	return c, nil
}

// tiktokRequest is the body of POST /event/track/.
type tiktokRequest struct {
	EventSource   string            `json:"event_source"`
	EventSourceID string            `json:"event_source_id"`
	TestEventCode string            `json:"test_event_code,omitempty"`
	Data          []json.RawMessage `json:"data"`
}

type tiktokEvent struct {
	Event      string           `json:"event"`
	EventTime  int64            `json:"event_time"` // Unix seconds
	EventID    string           `json:"event_id,omitempty"`
	User       tiktokUser       `json:"user"`
	Properties tiktokProperties `json:"properties"`
	Page       *tiktokPage      `json:"page,omitempty"`
}

// tiktokUser holds the match keys. email, phone and external_id are arrays
// of SHA-256 hex; first_name, last_name and zip_code are hashed strings;
// city, state and country are sent normalized but plain (as TikTok's partner
// integrations send them); click and browser ids, IP and user agent are
// never hashed.
type tiktokUser struct {
	Email      []string `json:"email,omitempty"`
	Phone      []string `json:"phone,omitempty"`
	ExternalID []string `json:"external_id,omitempty"`
	FirstName  string   `json:"first_name,omitempty"`
	LastName   string   `json:"last_name,omitempty"`
	City       string   `json:"city,omitempty"`
	State      string   `json:"state,omitempty"`
	Country    string   `json:"country,omitempty"`
	ZipCode    string   `json:"zip_code,omitempty"`
	TTCLID     string   `json:"ttclid,omitempty"`
	TTP        string   `json:"ttp,omitempty"`
	IP         string   `json:"ip,omitempty"`
	UserAgent  string   `json:"user_agent,omitempty"`
}

type tiktokProperties struct {
	Value       json.Number     `json:"value,omitempty"` // major units
	Currency    string          `json:"currency,omitempty"`
	OrderID     string          `json:"order_id,omitempty"`
	ContentType string          `json:"content_type,omitempty"`
	Contents    []tiktokContent `json:"contents,omitempty"`
}

type tiktokContent struct {
	ContentID   string      `json:"content_id"`
	ContentName string      `json:"content_name,omitempty"`
	Price       json.Number `json:"price,omitempty"`
	Quantity    int         `json:"quantity,omitempty"`
	Brand       string      `json:"brand,omitempty"`
}

type tiktokPage struct {
	URL string `json:"url"`
}

// tiktokEventName maps a canonical event name to TikTok's. TikTok renamed
// CompletePayment to Purchase (the old name still works); we send the
// current one, so the browser pixel must track "Purchase" too.
func tiktokEventName(name string) string {
	switch name {
	case mapping.EventPurchase:
		return "Purchase"
	case mapping.EventSubscribe:
		return "Subscribe"
	}
	return name
}

// tiktokHashEmail normalizes and hashes an email, passing an already hashed
// one through.
func tiktokHashEmail(raw string) string {
	s := strings.TrimSpace(raw)
	if mapping.IsHashed(s) {
		return strings.ToLower(s)
	}
	return mapping.Hash(mapping.NormalizeEmail(s))
}

// tiktokHashPhone hashes a phone in E.164 form with its "+": TikTok's
// partner integrations hash "+14155550100", unlike Meta and Snapchat, which
// drop the "+". A phone that cannot be read is left out.
func tiktokHashPhone(raw, country string) string {
	e164, err := mapping.NormalizePhone(raw, country)
	if err != nil || e164 == "" {
		return ""
	}
	return mapping.Hash(e164)
}

// tiktokRender turns one conversion into TikTok's event and reports which
// identifiers it carries.
func tiktokRender(c mapping.Conversion, now time.Time) (json.RawMessage, mapping.Match, error) {
	cur, err := mapping.NormalizeCurrency(c.Currency)
	if err != nil {
		return nil, mapping.Match{}, Invalid(0, "currency", fmt.Sprintf("tiktok: %v", err))
	}
	at := c.EventTime
	if at.After(now) { // clock skew: TikTok refuses events from the future
		at = now
	}
	u := c.User
	ev := tiktokEvent{
		Event:     tiktokEventName(c.EventName),
		EventTime: at.Unix(),
		EventID:   c.EventID,
		User: tiktokUser{
			FirstName: mapping.Hash(mapping.NormalizeName(u.FirstName)),
			LastName:  mapping.Hash(mapping.NormalizeName(u.LastName)),
			City:      mapping.NormalizeCity(u.City),
			State:     mapping.NormalizeState(u.State, u.Country),
			Country:   mapping.NormalizeCountry(u.Country),
			ZipCode:   mapping.Hash(mapping.NormalizeZip(u.Zip, u.Country)),
			TTCLID:    strings.TrimSpace(c.ClickIDs.TTCLID),
			TTP:       strings.TrimSpace(c.ClickIDs.TTP),
			IP:        strings.TrimSpace(c.ClientIP),
			UserAgent: strings.TrimSpace(c.UserAgent),
		},
		Properties: tiktokProperties{
			Value:       json.Number(c.Value.String()),
			Currency:    cur,
			OrderID:     c.OrderID,
			ContentType: "product",
		},
	}
	if h := tiktokHashEmail(u.Email); h != "" {
		ev.User.Email = []string{h}
	}
	if h := tiktokHashPhone(u.Phone, u.Country); h != "" {
		ev.User.Phone = []string{h}
	}
	if h := mapping.Hash(mapping.NormalizeExternalID(u.ExternalID)); h != "" {
		ev.User.ExternalID = []string{h}
	}
	for _, it := range c.Items {
		ev.Properties.Contents = append(ev.Properties.Contents, tiktokContent{
			ContentID:   it.ID,
			ContentName: it.Title,
			Price:       json.Number(it.Price.String()),
			Quantity:    it.Quantity,
			Brand:       it.Brand,
		})
	}
	if len(ev.Properties.Contents) == 0 {
		ev.Properties.ContentType = ""
	}
	if url := strings.TrimSpace(c.SourceURL); url != "" {
		ev.Page = &tiktokPage{URL: url}
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, mapping.Match{}, Invalid(0, "", fmt.Sprintf("tiktok: cannot encode event: %v", err))
	}
	m := mapping.Match{
		ClickID:    ev.User.TTCLID != "",
		Email:      len(ev.User.Email) > 0,
		Phone:      len(ev.User.Phone) > 0,
		Name:       ev.User.FirstName != "" || ev.User.LastName != "",
		Address:    ev.User.City != "" || ev.User.ZipCode != "" || ev.User.State != "",
		ExternalID: len(ev.User.ExternalID) > 0,
		IP:         ev.User.IP != "",
		UserAgent:  ev.User.UserAgent != "",
	}
	return b, m.Score(), nil
}

// spec describes TikTok to the shared send path. TikTok refuses a whole
// request for one invalid event without naming it, so a refused batch is
// split until the bad event stands alone.
func (t *TikTok) spec(Destination) spec {
	return spec{
		name: "tiktok", title: "TikTok", batchSize: tiktokBatchSize, maxAge: tiktokMaxAge,
		check: func(d Destination) error { _, err := tiktokCredsOf(d); return err },
		build: tiktokRender,
		request: func(_ context.Context, d Destination, events []json.RawMessage) (outgoing, error) {
			creds, err := tiktokCredsOf(d)
			if err != nil {
				return outgoing{}, err
			}
			body, err := creds.body(events)
			if err != nil {
				return outgoing{}, Invalid(0, "", fmt.Sprintf("tiktok: cannot encode request: %v", err))
			}
			return outgoing{url: t.cfg.BaseURL + tiktokPath, header: map[string]string{"Access-Token": creds.token}, body: body}, nil
		},
		read: func(a answer, _ []json.RawMessage, now time.Time) verdict {
			reported, failure := tiktokClassify(a, now)
			if failure != nil {
				return verdict{whole: failure}
			}
			return verdict{events: []*Error{}, notes: []string{reported}}
		},
	}
}

// body is the request that sends events to the destination's pixel.
func (c tiktokCreds) body(events []json.RawMessage) ([]byte, error) {
	return json.Marshal(tiktokRequest{EventSource: "web", EventSourceID: c.pixel, TestEventCode: c.testCode, Data: events})
}

// Render is the request Send would post for convs (a dry run through the
// send path), with the access token redacted.
func (t *TikTok) Render(d Destination, convs []mapping.Conversion) (Request, error) {
	return render(t.cfg, t.spec(d), d, convs, t.Fields())
}

// Send delivers convs and returns one Result per conversion.
func (t *TikTok) Send(ctx context.Context, d Destination, convs []mapping.Conversion) []Result {
	return deliver(ctx, t.cfg, t.spec(d), d, convs, t.Fields())
}

// tiktokAnswer is TikTok's response envelope.
type tiktokAnswer struct {
	Code      *int   `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// tiktokClassify reads TikTok's answer. It returns what TikTok reported
// about an accepted request (partial success) or the classified failure.
//
// TikTok's code table (Marketing API "return codes", as used by TikTok's
// partner integrations): 0 ok; 20001 partial success (accepted; the message
// names what was dropped, nothing to retry); 40001 no permission for the
// pixel and 40102/40104/40105 expired, missing or revoked token (auth);
// 40002 and other 4xxxx invalid; 40100 too many requests (throttled); 40700
// and 5xxxx TikTok-side failures (transient). Without a readable code the
// HTTP status decides.
func tiktokClassify(a answer, now time.Time) (string, *Error) {
	var ans tiktokAnswer
	if err := json.Unmarshal(a.Body, &ans); err != nil || ans.Code == nil {
		if e := ClassifyStatus(a.Status, a.Header, "tiktok: "+truncate(strings.TrimSpace(string(a.Body)), 200), now); e != nil {
			return "", e
		}
		return "", Transient(a.Status, "", "tiktok: unreadable answer")
	}
	code := *ans.Code
	msg := "tiktok: " + truncate(ans.Message, 300)
	codeText := strconv.Itoa(code)
	switch {
	case code == tiktokCodeOK || code == tiktokCodePartial:
		if e := ClassifyStatus(a.Status, a.Header, msg, now); e != nil {
			return "", e
		}
		if code == tiktokCodePartial {
			return truncate(ans.Message, 300), nil
		}
		return "", nil
	case code == tiktokCodeRateLimit:
		return "", Throttled(a.Status, codeText, msg, RetryAfter(a.Header, now))
	case code == tiktokCodeNoPermission, code == tiktokCodeTokenExpiry,
		code == tiktokCodeTokenEmpty, code == tiktokCodeTokenBad:
		return "", Auth(a.Status, codeText, msg)
	case code == tiktokCodeBusy, code >= tiktokCodeServerMin:
		e := Transient(a.Status, codeText, msg)
		e.RetryAfter = RetryAfter(a.Header, now)
		return "", e
	}
	return "", Invalid(a.Status, codeText, msg)
}
