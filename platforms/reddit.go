package platforms

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// Reddit Conversions API: v3 (pixel id) and the legacy v2.0 (ad account id).
//
// Sources: Reddit's v3 migration guide, Direct Integration and error pages as
// captured verbatim in Segment's Reddit destination (V3-API-REFERENCE.md),
// Reddit's "Manual Advanced Matching" page for the hashing rules, and the
// Segment and RudderStack Reddit destinations.
const (
	redditDefaultURL = "https://ads-api.reddit.com"
	// redditBatchSize: "1,000 events/request"; more is a 400 Bad Request.
	redditBatchSize = 1000
	// redditMaxAge: "Events must be sent within 7 days after they occur."
	redditMaxAge = 7 * 24 * time.Hour
)

// Reddit sends conversions to the Reddit Conversions API. A destination with
// a pixel_id uses v3; one with an ad_account_id uses the legacy v2.0.
type Reddit struct {
	cfg Config
}

var _ Sender = (*Reddit)(nil)

// NewReddit returns a Reddit sender. An empty BaseURL means Reddit's public
// Ads API host; a nil Client gets one with a 15-second timeout.
func NewReddit(cfg Config) *Reddit {
	cfg = cfg.withDefaults(redditDefaultURL, 15*time.Second)
	return &Reddit{cfg: cfg}
}

// Name is the platform key.
func (r *Reddit) Name() string { return "reddit" }

// Fields lists the credentials and settings of a Reddit destination. Exactly
// one of pixel_id and ad_account_id must be set.
func (r *Reddit) Fields() []Field {
	return []Field{
		{Name: "pixel_id", Label: "Pixel ID (Conversions API v3)",
			Help: "Events Manager ▸ your pixel (a2_…). Set this or the ad account ID, not both."},
		{Name: "ad_account_id", Label: "Ad account ID (legacy Conversions API v2.0)",
			Help: "Only for the older v2.0 endpoint. Set this or the pixel ID, not both."},
		{Name: "access_token", Label: "Conversion access token", Required: true, Secret: true,
			Help: "Events Manager ▸ Conversions API ▸ Generate access token (shown once)."},
		{Name: "test_mode", Label: "Test mode", Setting: true,
			Help: "v3: paste the test ID from Events Manager ▸ Event Testing (sent as test_id; Event Testing shows one event per request). v2.0: enter true. Clear it for production."},
	}
}

// BatchSize is the most events one request may carry.
func (r *Reddit) BatchSize() int { return redditBatchSize }

// MaxAge is how old an event Reddit accepts.
func (r *Reddit) MaxAge() time.Duration { return redditMaxAge }

// TestMode reports whether the destination sends test events.
func (r *Reddit) TestMode(d Destination) bool {
	v := strings.TrimSpace(d.Settings["test_mode"])
	if v == "" {
		return false
	}
	on, err := strconv.ParseBool(v)
	return err != nil || on // anything not boolean is a v3 test id
}

// redditCreds is a destination's configuration, checked.
type redditCreds struct {
	v3       bool
	id       string // pixel id (v3) or ad account id (v2.0)
	token    string
	testID   string // v3
	testMode bool   // v2.0
}

func redditCredsOf(d Destination) (redditCreds, error) {
	pixel := strings.TrimSpace(d.Credentials["pixel_id"])
	account := strings.TrimSpace(d.Credentials["ad_account_id"])
	c := redditCreds{token: strings.TrimSpace(d.Credentials["access_token"])}
	switch {
	case pixel != "" && account != "":
		return c, Auth(0, "config", "reddit destination has both pixel_id and ad_account_id; keep one")
	case pixel != "":
		c.v3, c.id = true, pixel
	case account != "":
		c.id = account
	default:
		return c, Auth(0, "config", "reddit destination needs a pixel_id (v3) or an ad_account_id (v2.0)")
	}
	if c.token == "" {
		return c, Auth(0, "config", "reddit destination has no access_token")
	}
	test := strings.TrimSpace(d.Settings["test_mode"])
	on, boolErr := strconv.ParseBool(test)
	switch {
	case test == "":
	case c.v3 && boolErr == nil && on:
		// v3 has no boolean test mode: events reach Event Testing only with
		// the test id it shows.
		return c, Auth(0, "config", "reddit v3 test mode needs the test ID from Events Manager ▸ Event Testing, not true")
	case c.v3 && boolErr != nil:
		c.testID = test
	case !c.v3:
		c.testMode = boolErr != nil || on
	}
	return c, nil
}

func (c redditCreds) url(base string) string {
	if c.v3 {
		return base + "/api/v3/pixels/" + url.PathEscape(c.id) + "/conversion_events"
	}
	return base + "/api/v2.0/conversions/events/" + url.PathEscape(c.id)
}

// redditUser holds the match keys. Reddit recommends SHA-256 for every
// personal key and, unlike Meta, wants the IP address hashed too; the user
// agent stays plain. uuid is the Reddit Pixel's first-party cookie
// (_rdt_uuid), sent as the cookie holds it, in v3 and v2.0 alike (Reddit
// Ads API, Post Conversion Events, user.uuid: "the value from the
// first-party Pixel _rdt_uuid cookie", ads-api.reddit.com/docs/v3, read
// 2026-12-03; Reddit's own Segment destination sends user.uuid unhashed).
type redditUser struct {
	Email       string `json:"email,omitempty"`
	PhoneNumber string `json:"phone_number,omitempty"`
	ExternalID  string `json:"external_id,omitempty"`
	IPAddress   string `json:"ip_address,omitempty"`
	UserAgent   string `json:"user_agent,omitempty"`
	UUID        string `json:"uuid,omitempty"`
}

type redditType struct {
	TrackingType    string `json:"tracking_type"`
	CustomEventName string `json:"custom_event_name,omitempty"`
}

// v3 event. Reddit's migration guide: event_at became Unix milliseconds,
// event_type became type (UPPER_SNAKE_CASE), event_metadata became metadata,
// value_decimal became value (a double in major units), action_source is
// required.
type redditEventV3 struct {
	EventAt        int64            `json:"event_at"`
	ActionSource   string           `json:"action_source"`
	EventSourceURL string           `json:"event_source_url,omitempty"`
	ClickID        string           `json:"click_id,omitempty"`
	Type           redditType       `json:"type"`
	Metadata       redditMetadataV3 `json:"metadata"`
	User           redditUser       `json:"user"`
}

type redditMetadataV3 struct {
	ConversionID string            `json:"conversion_id,omitempty"`
	Currency     string            `json:"currency,omitempty"`
	Value        json.Number       `json:"value,omitempty"`
	ItemCount    int               `json:"item_count,omitempty"`
	Products     []redditProductV3 `json:"products,omitempty"`
}

type redditProductV3 struct {
	ID        string      `json:"id"`
	Name      string      `json:"name,omitempty"`
	Quantity  int         `json:"quantity,omitempty"`
	ItemPrice json.Number `json:"item_price,omitempty"`
}

// v2.0 event: event_at is an ISO-8601 string and the value goes in
// value_decimal (major units); the older integer value is minor units.
type redditEventV2 struct {
	EventAt       string           `json:"event_at"`
	ClickID       string           `json:"click_id,omitempty"`
	EventType     redditType       `json:"event_type"`
	EventMetadata redditMetadataV2 `json:"event_metadata"`
	User          redditUser       `json:"user"`
}

type redditMetadataV2 struct {
	ConversionID string            `json:"conversion_id,omitempty"`
	Currency     string            `json:"currency,omitempty"`
	ValueDecimal json.Number       `json:"value_decimal,omitempty"`
	ItemCount    int               `json:"item_count,omitempty"`
	Products     []redditProductV2 `json:"products,omitempty"`
}

type redditProductV2 struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

type redditBodyV3 struct {
	Data struct {
		TestID string            `json:"test_id,omitempty"`
		Events []json.RawMessage `json:"events"`
	} `json:"data"`
}

type redditBodyV2 struct {
	TestMode bool              `json:"test_mode,omitempty"`
	Events   []json.RawMessage `json:"events"`
}

// redditActionSource is v3's action_source (WEBSITE, APP, PHYSICAL_STORE,
// OTHER): WEBSITE for a website purchase or one with browser context, OTHER
// for renewals and purchases nothing places on the web.
func redditActionSource(c mapping.Conversion) string {
	switch c.Where() {
	case mapping.ChannelWebsite:
		return "WEBSITE"
	case mapping.ChannelRenewal:
		return "OTHER"
	}
	if strings.TrimSpace(c.SourceURL) != "" || strings.TrimSpace(c.UserAgent) != "" {
		return "WEBSITE"
	}
	return "OTHER"
}

// redditEventType maps a canonical event name to Reddit's tracking type.
// Reddit has no subscribe type, so it is a custom event.
func redditEventType(name string, v3 bool) redditType {
	switch {
	case name == mapping.EventPurchase && v3:
		return redditType{TrackingType: "PURCHASE"}
	case name == mapping.EventPurchase:
		return redditType{TrackingType: "Purchase"}
	case v3:
		return redditType{TrackingType: "CUSTOM", CustomEventName: name}
	}
	return redditType{TrackingType: "Custom", CustomEventName: name}
}

// redditNormalizeEmail canonicalizes an email as Reddit's advanced-matching
// guide asks: lowercase, drop the "+alias" from the user name, then drop
// every non-alphanumeric character from the user name ("Al.ice$+Apple@
// Example.Com" → "alice@example.com"). This differs from our docs (and
// Meta), which keep dots and +tags: Reddit's rule wins here.
func redditNormalizeEmail(raw string) string {
	s := mapping.NormalizeEmail(raw)
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return ""
	}
	local, domain := s[:at], s[at:]
	if i := strings.IndexByte(local, '+'); i >= 0 {
		local = local[:i]
	}
	var b strings.Builder
	for _, r := range local {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return b.String() + domain
}

func redditHashEmail(raw string) string {
	s := strings.TrimSpace(raw)
	if mapping.IsHashed(s) {
		return strings.ToLower(s)
	}
	return mapping.Hash(redditNormalizeEmail(s))
}

// redditHashPhone hashes the E.164 form with its "+", as Reddit's guide asks
// ("must start with +"). A phone that cannot be read is left out.
func redditHashPhone(raw, country string) string {
	e164, err := mapping.NormalizePhone(raw, country)
	if err != nil || e164 == "" {
		return ""
	}
	return mapping.Hash(e164)
}

// redditHashIP hashes the IP in its canonical text form, so "2001:DB8::0:1"
// and "2001:db8::1" hash alike.
func redditHashIP(raw string) string {
	s := strings.TrimSpace(raw)
	if s == "" {
		return ""
	}
	if a, err := netip.ParseAddr(s); err == nil {
		s = a.Unmap().String()
	}
	return mapping.Hash(s)
}

// redditRender turns one conversion into Reddit's event for the API version.
func redditRender(c mapping.Conversion, v3 bool, now time.Time) (json.RawMessage, mapping.Match, error) {
	cur, err := mapping.NormalizeCurrency(c.Currency)
	if err != nil {
		return nil, mapping.Match{}, Invalid(0, "currency", fmt.Sprintf("reddit: %v", err))
	}
	at := c.EventTime
	if at.After(now) { // Reddit refuses events more than minutes in the future
		at = now
	}
	u := redditUser{
		Email:       redditHashEmail(c.User.Email),
		PhoneNumber: redditHashPhone(c.User.Phone, c.User.Country),
		// Reddit's guide only trims the external id; it is not lowercased.
		ExternalID: mapping.Hash(strings.TrimSpace(c.User.ExternalID)),
		IPAddress:  redditHashIP(c.ClientIP),
		UserAgent:  strings.TrimSpace(c.UserAgent),
		UUID:       strings.TrimSpace(c.ClickIDs.RDTUUID),
	}
	itemCount := 0
	for _, it := range c.Items {
		itemCount += it.Quantity
	}
	typ := redditEventType(c.EventName, v3)
	clickID := strings.TrimSpace(c.ClickIDs.RDTCID)
	var ev any
	if v3 {
		e := redditEventV3{
			EventAt:        at.UnixMilli(),
			ActionSource:   redditActionSource(c),
			EventSourceURL: strings.TrimSpace(c.SourceURL),
			ClickID:        clickID,
			Type:           typ,
			Metadata: redditMetadataV3{
				// The dedup key is sent as it is: it must equal the pixel's
				// conversionId byte for byte.
				ConversionID: c.EventID,
				Currency:     cur,
				Value:        json.Number(c.Value.String()),
				ItemCount:    itemCount,
			},
			User: u,
		}
		for _, it := range c.Items {
			e.Metadata.Products = append(e.Metadata.Products, redditProductV3{
				ID: it.ID, Name: it.Title, Quantity: it.Quantity, ItemPrice: json.Number(it.Price.String()),
			})
		}
		ev = e
	} else {
		e := redditEventV2{
			EventAt:   at.UTC().Format(time.RFC3339),
			ClickID:   clickID,
			EventType: typ,
			EventMetadata: redditMetadataV2{
				ConversionID: c.EventID,
				Currency:     cur,
				ValueDecimal: json.Number(c.Value.String()),
				ItemCount:    itemCount,
			},
			User: u,
		}
		for _, it := range c.Items {
			e.EventMetadata.Products = append(e.EventMetadata.Products, redditProductV2{ID: it.ID, Name: it.Title})
		}
		ev = e
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, mapping.Match{}, Invalid(0, "", fmt.Sprintf("reddit: cannot encode event: %v", err))
	}
	m := mapping.Match{
		ClickID:    clickID != "",
		Email:      u.Email != "",
		Phone:      u.PhoneNumber != "",
		ExternalID: u.ExternalID != "",
		IP:         u.IPAddress != "",
		UserAgent:  u.UserAgent != "",
	}
	return b, m.Score(), nil
}

// spec describes Reddit to the shared send path for d's API version.
// Reddit rejects a whole batch when one event is invalid ("None were
// processed"), so a refused batch is split until the bad event stands
// alone.
func (r *Reddit) spec(d Destination) spec {
	v3 := strings.TrimSpace(d.Credentials["pixel_id"]) != ""
	return spec{
		name: "reddit", title: "Reddit", batchSize: redditBatchSize, maxAge: redditMaxAge,
		check: func(d Destination) error { _, err := redditCredsOf(d); return err },
		build: func(c mapping.Conversion, now time.Time) (json.RawMessage, mapping.Match, error) {
			return redditRender(c, v3, now)
		},
		request: func(_ context.Context, d Destination, events []json.RawMessage) (outgoing, error) {
			creds, err := redditCredsOf(d)
			if err != nil {
				return outgoing{}, err
			}
			body, err := creds.body(events)
			if err != nil {
				return outgoing{}, Invalid(0, "", fmt.Sprintf("reddit: cannot encode request: %v", err))
			}
			return outgoing{url: creds.url(r.cfg.BaseURL), header: bearerHeaders(creds.token), body: body}, nil
		},
		read: func(a answer, _ []json.RawMessage, now time.Time) verdict {
			if failure := redditClassify(a, now); failure != nil {
				return verdict{whole: failure}
			}
			return verdict{events: []*Error{}}
		},
	}
}

// body is the request that sends events in the destination's API version.
func (c redditCreds) body(events []json.RawMessage) ([]byte, error) {
	if c.v3 {
		var b redditBodyV3
		b.Data.TestID = c.testID
		b.Data.Events = events
		return json.Marshal(b)
	}
	return json.Marshal(redditBodyV2{TestMode: c.testMode, Events: events})
}

// Render is the request Send would post for convs (a dry run through the
// send path), with the token redacted.
func (r *Reddit) Render(d Destination, convs []mapping.Conversion) (Request, error) {
	return render(r.cfg, r.spec(d), d, convs, r.Fields())
}

// Send delivers convs and returns one Result per conversion.
func (r *Reddit) Send(ctx context.Context, d Destination, convs []mapping.Conversion) []Result {
	return deliver(ctx, r.cfg, r.spec(d), d, convs, r.Fields())
}

// redditAnswer covers Reddit's error shapes: v3 {"error":{"code","message",
// "fields":[…]}}, the OAuth layer's {"error":{"reason","explanation"}}, and
// v2.0 {"message","invalid_events":[{"error_message"}]}.
type redditAnswer struct {
	Error *struct {
		Message     string `json:"message"`
		Reason      string `json:"reason"`
		Explanation string `json:"explanation"`
		Fields      []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"fields"`
	} `json:"error"`
	Message       string `json:"message"`
	InvalidEvents []struct {
		ErrorMessage string `json:"error_message"`
	} `json:"invalid_events"`
}

// redditMessage extracts a safe, short reason from an error body.
func redditMessage(body []byte) string {
	var a redditAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return truncate(strings.TrimSpace(string(body)), 200)
	}
	var parts []string
	if e := a.Error; e != nil {
		for _, s := range []string{e.Message, e.Explanation, e.Reason} {
			if s != "" {
				parts = append(parts, s)
				break
			}
		}
		for _, f := range e.Fields {
			parts = append(parts, f.Field+": "+f.Message)
		}
	}
	if a.Message != "" {
		parts = append(parts, a.Message)
	}
	if len(a.InvalidEvents) > 0 && a.InvalidEvents[0].ErrorMessage != "" {
		parts = append(parts, a.InvalidEvents[0].ErrorMessage)
	}
	if len(parts) == 0 {
		return truncate(strings.TrimSpace(string(body)), 200)
	}
	return truncate(strings.Join(parts, "; "), 300)
}

// redditClassify classes Reddit's answer by HTTP status, as Reddit documents
// it: 2xx accepted; 400 invalid payload (or more than 1,000 events); 401
// missing or invalid token and 403 no permission for the pixel or missing
// adsconversions scope (auth); 404 unknown pixel or account (auth too: the
// destination's id is wrong, no event can succeed); 429 rate limited, retried
// after Retry-After or X-Ratelimit-Reset; 5xx service unavailable
// (transient).
func redditClassify(a answer, now time.Time) *Error {
	if a.Status >= 200 && a.Status < 300 {
		return nil
	}
	msg := "reddit: " + redditMessage(a.Body)
	switch a.Status {
	case http.StatusNotFound:
		return Auth(a.Status, "", msg)
	case http.StatusTooManyRequests:
		return Throttled(a.Status, "", msg, redditRetryAfter(a.Header, now))
	}
	if e := ClassifyStatus(a.Status, a.Header, msg, now); e != nil {
		return e
	}
	return Invalid(a.Status, "", msg)
}

// redditRetryAfter reads Retry-After, or Reddit's X-Ratelimit-Reset
// (seconds until the window resets, possibly fractional).
func redditRetryAfter(h http.Header, now time.Time) time.Duration {
	if d := RetryAfter(h, now); d > 0 {
		return d
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(h.Get("X-Ratelimit-Reset")), 64)
	if err != nil || math.IsNaN(secs) || secs <= 0 || secs > 24*3600 {
		return 0
	}
	return time.Duration(math.Ceil(secs)) * time.Second
}
