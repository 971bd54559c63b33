package platforms

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// Meta sends conversions to Meta's Conversions API:
// POST {base}/{api_version}/{pixel_id}/events with a JSON body
// {"data": [...], "access_token": ..., "test_event_code": ...}.
//
// Failures wrap these classes (see classify): ErrTransient for no answer,
// 5xx, is_transient and codes 1, 2, 341, 368; ErrThrottled for HTTP 429 and
// codes 4, 17, 32, 613 and 80000–80014; ErrAuth for codes 190, 102, 10,
// 200–299, 33 (and 100 with subcode 33, an unknown pixel), and for a
// destination whose credentials are missing or malformed; ErrInvalid for
// code 100, 3, 294, any other 4xx, and for conversions refused before
// sending (older than 7 days, no usable identifier, bad currency).
type Meta struct {
	cfg Config
}

var _ Sender = (*Meta)(nil)

const (
	metaBaseURL = "https://graph.facebook.com"
	// metaVersion is the newest Marketing API version (see Versions in
	// versions.go for its source and the older versions' ends); a
	// destination can pin another with the api_version setting.
	metaVersion   = "v27.0"
	metaBatchSize = 1000
	metaMaxAge    = 7 * 24 * time.Hour
	// metaRedacted stands in for the access token in a rendered request.
	metaRedacted = "REDACTED"
	// metaMaxRegain caps the wait read from Meta's usage headers.
	metaMaxRegain = 24 * time.Hour
)

var (
	metaVersionPattern = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)
	metaPixelPattern   = regexp.MustCompile(`^[0-9]{1,32}$`)
)

// NewMeta returns the Meta Conversions API sender. An empty cfg.BaseURL
// means https://graph.facebook.com; a nil cfg.Client gets a 30-second
// timeout.
func NewMeta(cfg Config) *Meta {
	cfg = cfg.withDefaults(metaBaseURL, 30*time.Second)
	return &Meta{cfg: cfg}
}

// Name is "meta".
func (m *Meta) Name() string { return "meta" }

// Fields lists the pixel id and access token, and the optional test event
// code and Graph API version.
func (m *Meta) Fields() []Field {
	return []Field{
		{Name: "pixel_id", Label: "Pixel (dataset) ID", Required: true,
			Help: "The number shown in Events Manager under Data sources for your pixel or dataset."},
		{Name: "access_token", Label: "Conversions API access token", Required: true, Secret: true,
			Help: "Generated in Events Manager: your pixel, Settings, Conversions API, Generate access token."},
		{Name: "test_event_code", Label: "Test event code", Setting: true,
			Help: "From Events Manager, Test events (e.g. TEST12345). Events then show in the Test events tab; remove it for production."},
		{Name: "api_version", Label: "Graph API version", Setting: true,
			Help: "Defaults to " + metaVersion + "."},
	}
}

// BatchSize is Meta's limit of 1,000 events per request.
func (m *Meta) BatchSize() int { return metaBatchSize }

// MaxAge is 7 days: Meta rejects a whole request holding an older event.
func (m *Meta) MaxAge() time.Duration { return metaMaxAge }

// TestMode reports whether the destination has a test event code.
func (m *Meta) TestMode(d Destination) bool {
	return strings.TrimSpace(d.Settings["test_event_code"]) != ""
}

// metaDest is a destination's checked credentials and settings.
type metaDest struct {
	url, token, testCode, version string
}

// dest checks a destination's credentials and settings. A missing or
// malformed one is an ErrAuth failure: the destination must be fixed.
func (m *Meta) dest(d Destination) (metaDest, error) {
	pixel := strings.TrimSpace(d.Credentials["pixel_id"])
	token := strings.TrimSpace(d.Credentials["access_token"])
	version := strings.TrimSpace(d.Settings["api_version"])
	if version == "" {
		version = metaVersion
	}
	switch {
	case pixel == "":
		return metaDest{}, Auth(0, "missing_pixel_id", "meta destination has no pixel_id")
	case !metaPixelPattern.MatchString(pixel):
		return metaDest{}, Auth(0, "bad_pixel_id", "meta pixel_id must be the numeric pixel (dataset) id")
	case token == "":
		return metaDest{}, Auth(0, "missing_access_token", "meta destination has no access_token")
	case !metaVersionPattern.MatchString(version):
		return metaDest{}, Auth(0, "bad_api_version", fmt.Sprintf("meta api_version %q is not of the form %s", version, metaVersion))
	}
	return metaDest{
		url:      m.cfg.BaseURL + "/" + version + "/" + pixel + "/events",
		token:    token,
		testCode: strings.TrimSpace(d.Settings["test_event_code"]),
		version:  version,
	}, nil
}

// metaRequest is the request body after its first field, "data" (the
// events), which withEvents puts in front.
type metaRequest struct {
	AccessToken   string `json:"access_token"`
	TestEventCode string `json:"test_event_code,omitempty"`
	// PartnerAgent names the integration, so Meta's diagnostics can be
	// filtered to Postback's events.
	PartnerAgent string `json:"partner_agent,omitempty"`
}

// metaEvent is one server event.
type metaEvent struct {
	EventName      string          `json:"event_name"`
	EventTime      int64           `json:"event_time"`
	EventID        string          `json:"event_id,omitempty"`
	ActionSource   string          `json:"action_source"`
	EventSourceURL string          `json:"event_source_url,omitempty"`
	UserData       metaUserData    `json:"user_data"`
	CustomData     *metaCustomData `json:"custom_data,omitempty"`
}

// metaUserData holds the customer information parameters. Hashed fields are
// arrays of lowercase SHA-256 hex, as Meta's SDKs send them; the browser
// fields are never hashed.
type metaUserData struct {
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
	FBC             string   `json:"fbc,omitempty"`
	FBP             string   `json:"fbp,omitempty"`
}

// metaCustomData carries the order. Amounts are JSON numbers written from
// the decimal's own digits, so no float rounding creeps in.
type metaCustomData struct {
	Value       json.Number   `json:"value,omitempty"`
	Currency    string        `json:"currency,omitempty"`
	Contents    []metaContent `json:"contents,omitempty"`
	ContentIDs  []string      `json:"content_ids,omitempty"`
	ContentType string        `json:"content_type,omitempty"`
	OrderID     string        `json:"order_id,omitempty"`
	NumItems    int           `json:"num_items,omitempty"`
}

type metaContent struct {
	ID        string      `json:"id"`
	Quantity  int         `json:"quantity"`
	ItemPrice json.Number `json:"item_price"`
}

// event builds one conversion's server event and says which identifiers it
// carries. It refuses, with an ErrInvalid failure, a conversion Meta would
// reject, since one bad event makes Meta reject the whole batch.
func (m *Meta) event(c mapping.Conversion, now time.Time) (metaEvent, mapping.Match, error) {
	if strings.TrimSpace(c.EventName) == "" {
		return metaEvent{}, mapping.Match{}, Invalid(0, "missing_event_name", "conversion has no event name")
	}
	if c.EventTime.IsZero() {
		return metaEvent{}, mapping.Match{}, Invalid(0, "missing_event_time", "conversion has no event time")
	}
	if tooOld(c, metaMaxAge, now) {
		return metaEvent{}, mapping.Match{}, ageError("Meta", metaMaxAge)
	}
	ud, match := metaUser(c)
	if !metaStrongKey(ud) {
		return metaEvent{}, match, Invalid(0, "no_identifier",
			"meta needs an email, phone, external id, fbp or fbc, or the buyer's IP address with user agent; this conversion has none")
	}
	cd, err := metaCustom(c)
	if err != nil {
		return metaEvent{}, match, err
	}
	// Meta refuses event times in the future; a webhook's clock a little
	// ahead of ours is still the order's time, so clamp it to now.
	t := c.EventTime
	if t.After(now) {
		t = now
	}
	ev := metaEvent{
		EventName:  c.EventName, // canonical names are Meta's standard names
		EventTime:  t.Unix(),
		EventID:    c.EventID,
		UserData:   ud,
		CustomData: cd,
	}
	if metaPageURL(c.SourceURL) {
		ev.EventSourceURL = strings.TrimSpace(c.SourceURL)
	}
	ev.ActionSource = metaActionSource(c, ud.ClientUserAgent)
	return ev, match, nil
}

// metaActionSource says where the purchase happened, as Meta asks it be
// accurate (Conversions API "Parameters" and "Server Event Parameters",
// action_source, read 2026-12-03): "system_generated" for a subscription
// renewal, "website" for a purchase made on a website, "other" when nothing
// says where. Meta requires client_user_agent (and event_source_url) on
// website events and refuses the whole request when it is missing, so a
// website purchase whose user agent never reached Postback goes as "other"
// (still with its event_source_url): the merchant passes the browser's user
// agent (Stripe metadata user_agent) to have it counted as a web event.
func metaActionSource(c mapping.Conversion, ua string) string {
	switch c.Where() {
	case mapping.ChannelRenewal:
		return "system_generated"
	case mapping.ChannelWebsite:
		if ua != "" {
			return "website"
		}
	}
	return "other"
}

// metaPartnerAgent is the partner_agent naming Postback and its version.
func metaPartnerAgent(version string) string {
	if v := strings.TrimSpace(version); v != "" {
		return "postback-" + v
	}
	return "postback"
}

// metaUser normalizes and hashes the buyer's identifiers by Meta's rules
// and reports which were sent.
func metaUser(c mapping.Conversion) (metaUserData, mapping.Match) {
	u := c.User
	ud := metaUserData{
		Em:         hashedField(mapping.NormalizeEmail(u.Email)),
		Ph:         hashedField(metaPhone(u, u.Country)),
		Fn:         hashedField(mapping.NormalizeName(u.FirstName)),
		Ln:         hashedField(mapping.NormalizeName(u.LastName)),
		Ge:         hashedField(mapping.NormalizeGender(u.Gender)),
		Db:         hashedField(mapping.NormalizeBirthDate(u.BirthDate)),
		Ct:         hashedField(mapping.NormalizeCity(u.City)),
		St:         hashedField(mapping.NormalizeState(u.State, u.Country)),
		Zp:         hashedField(mapping.NormalizeZip(u.Zip, u.Country)),
		Country:    hashedField(mapping.NormalizeCountry(u.Country)),
		ExternalID: hashedField(mapping.NormalizeExternalID(u.ExternalID)),
		// Browser context is never hashed.
		ClientIPAddress: metaIP(c.ClientIP),
		ClientUserAgent: strings.TrimSpace(c.UserAgent),
		FBC:             strings.TrimSpace(c.ClickIDs.FBC),
		FBP:             strings.TrimSpace(c.ClickIDs.FBP),
	}
	if ud.FBC == "" {
		// Meta prefers the _fbc cookie verbatim; without it, build fbc from
		// the fbclid and the time the click was first seen.
		at := c.ClickTime
		if at.IsZero() {
			at = c.EventTime
		}
		ud.FBC = mapping.FBC(strings.TrimSpace(c.ClickIDs.FBCLID), at)
	}
	match := mapping.Match{
		ClickID:    ud.FBC != "",
		Email:      ud.Em != nil,
		Phone:      ud.Ph != nil,
		Name:       ud.Fn != nil || ud.Ln != nil,
		Address:    ud.Ct != nil || ud.St != nil || ud.Zp != nil,
		ExternalID: ud.ExternalID != nil,
		IP:         ud.ClientIPAddress != "",
		UserAgent:  ud.ClientUserAgent != "",
		FBP:        ud.FBP != "",
		FBC:        ud.FBC != "",
	}
	return ud, match.Score()
}

// metaPhone is the phone as Meta hashes it: digits only, with the country
// code. User.Phone is E.164 by contract; a national number is still read in
// the billing country. A number the phone library cannot read (Phone, or
// the connector's PhoneUnparsed) falls back to Meta's published rule
// (mapping.PhoneDigitsLoose) rather than being dropped.
func metaPhone(u mapping.User, country string) string {
	phone := strings.TrimSpace(u.Phone)
	if mapping.IsHashed(phone) {
		return strings.ToLower(phone)
	}
	if phone == "" {
		return mapping.PhoneDigitsLoose(u.PhoneUnparsed, country)
	}
	e164, err := mapping.NormalizePhone(phone, country)
	if err != nil {
		return mapping.PhoneDigitsLoose(phone, country)
	}
	return mapping.PhoneDigits(e164)
}

// metaIP returns a valid IPv4 or IPv6 address in canonical form, or "".
func metaIP(s string) string {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return ""
	}
	return a.WithZone("").String()
}

// metaPageURL reports whether s is an absolute http(s) URL, as Meta wants
// event_source_url.
func metaPageURL(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// metaStrongKey reports whether user data holds an identifier Meta accepts
// on its own: since Graph v13 events with only weak keys (name, address,
// demographics) are rejected.
func metaStrongKey(ud metaUserData) bool {
	return ud.Em != nil || ud.Ph != nil || ud.ExternalID != nil || ud.FBP != "" || ud.FBC != "" ||
		(ud.ClientIPAddress != "" && ud.ClientUserAgent != "")
}

// metaCustom builds custom_data. Purchase requires value and currency.
func metaCustom(c mapping.Conversion) (*metaCustomData, error) {
	cd := &metaCustomData{OrderID: c.OrderID}
	switch {
	case c.Currency != "":
		cur, err := mapping.NormalizeCurrency(c.Currency)
		if err != nil {
			return nil, Invalid(0, "invalid_currency", fmt.Sprintf("currency %q is not an ISO 4217 code", c.Currency))
		}
		if c.Value.IsNegative() {
			return nil, Invalid(0, "negative_value", "conversion value is negative")
		}
		cd.Value = json.Number(c.Value.String())
		// Meta's Python, PHP, Java and Ruby SDKs send the code lower case.
		cd.Currency = strings.ToLower(cur)
	case c.EventName == mapping.EventPurchase:
		return nil, Invalid(0, "missing_currency", "meta requires a currency for Purchase events")
	}
	seen := map[string]bool{}
	for _, it := range c.Items {
		if it.ID == "" {
			continue
		}
		cd.Contents = append(cd.Contents, metaContent{ID: it.ID, Quantity: it.Quantity, ItemPrice: json.Number(it.Price.String())})
		cd.NumItems += it.Quantity
		if !seen[it.ID] {
			seen[it.ID] = true
			cd.ContentIDs = append(cd.ContentIDs, it.ID)
		}
	}
	if len(cd.Contents) > 0 {
		cd.ContentType = "product"
	}
	if cd.Currency == "" && cd.OrderID == "" && len(cd.Contents) == 0 {
		return nil, nil
	}
	return cd, nil
}

// spec describes Meta to the shared send path. Meta rejects a whole
// request for one invalid event, so a refused request is split until the
// bad events stand alone: the good ones are delivered and each bad one
// carries Meta's own reason.
func (m *Meta) spec(d Destination) spec {
	md, mdErr := m.dest(d)
	return spec{
		name: "meta", title: "Meta", batchSize: metaBatchSize, maxAge: metaMaxAge,
		check: func(Destination) error { return mdErr },
		build: func(c mapping.Conversion, now time.Time) (json.RawMessage, mapping.Match, error) {
			ev, match, err := m.event(c, now)
			if err != nil {
				return nil, match, err
			}
			raw, err := json.Marshal(ev)
			if err != nil {
				return nil, match, Invalid(0, "encode", fmt.Sprintf("cannot encode event: %v", err))
			}
			return raw, match, nil
		},
		request: func(_ context.Context, _ Destination, events []json.RawMessage) (outgoing, error) {
			body, err := withEvents("data", events, metaRequest{AccessToken: md.token, TestEventCode: md.testCode,
				PartnerAgent: metaPartnerAgent(m.cfg.Version)})
			if err != nil {
				return outgoing{}, Invalid(0, "encode", fmt.Sprintf("cannot encode request: %v", err))
			}
			return outgoing{url: md.url, body: body}, nil
		},
		read: func(a answer, events []json.RawMessage, _ time.Time) verdict {
			n := len(events)
			reported, err := m.classify(a, md.token, md.version, n)
			if err != nil {
				return verdict{whole: classified(err, "meta")}
			}
			return verdict{events: []*Error{}, notes: []string{reported}}
		},
	}
}

// Render is the request Send would post for convs (a dry run through the
// send path), with the access token redacted. Conversions that would not
// be sent (too old, without a usable identifier) are left out; when none
// remains it returns the first one's failure.
func (m *Meta) Render(d Destination, convs []mapping.Conversion) (Request, error) {
	return render(m.cfg, m.spec(d), d, convs, m.Fields())
}

// Send delivers a batch and returns one Result per conversion.
func (m *Meta) Send(ctx context.Context, d Destination, convs []mapping.Conversion) []Result {
	return deliver(ctx, m.cfg, m.spec(d), d, convs, m.Fields())
}

// metaSuccess is Meta's answer to an accepted request.
type metaSuccess struct {
	EventsReceived *int              `json:"events_received"`
	Messages       []json.RawMessage `json:"messages"`
	FBTraceID      string            `json:"fbtrace_id"`
}

// metaError is the Graph API error object.
type metaError struct {
	Message        string `json:"message"`
	Type           string `json:"type"`
	Code           int    `json:"code"`
	Subcode        int    `json:"error_subcode"`
	IsTransient    bool   `json:"is_transient"`
	ErrorUserTitle string `json:"error_user_title"`
	ErrorUserMsg   string `json:"error_user_msg"`
	FBTraceID      string `json:"fbtrace_id"`
}

// classify reads Meta's answer to a request of n events: what Meta
// reported on success, or the classified failure.
func (m *Meta) classify(a answer, token, version string, n int) (string, error) {
	now := m.cfg.now()
	if a.Status >= 200 && a.Status < 300 {
		var ok metaSuccess
		if err := json.Unmarshal(a.Body, &ok); err != nil || ok.EventsReceived == nil {
			// Without events_received we cannot tell what Meta kept; resending
			// is safe because Meta deduplicates on event_name and event_id.
			return "", Transient(a.Status, "", "meta answered without events_received")
		}
		var notes []string
		for _, msg := range ok.Messages {
			var s string
			if err := json.Unmarshal(msg, &s); err != nil {
				s = string(msg)
			}
			if s = strings.TrimSpace(s); s != "" {
				notes = append(notes, s)
			}
		}
		if *ok.EventsReceived != n {
			notes = append(notes, fmt.Sprintf("meta received %d of %d events", *ok.EventsReceived, n))
		}
		return redact(truncate(strings.Join(notes, "; "), 1000), token), nil
	}
	var body struct {
		Error *metaError `json:"error"`
	}
	if err := json.Unmarshal(a.Body, &body); err != nil || body.Error == nil {
		f := ClassifyStatus(a.Status, a.Header, fmt.Sprintf("meta answered http %d", a.Status), now)
		if f != nil && f.Class == ErrThrottled {
			f.RetryAfter = metaRetryAfter(a.Header, now)
		}
		if f == nil {
			f = Transient(a.Status, "", fmt.Sprintf("meta answered http %d", a.Status))
		}
		return "", f
	}
	return "", metaClassify(a, *body.Error, token, version, now)
}

// metaClassify maps a Graph API error to a failure class, following Meta's
// error-handling guide: the code decides, then is_transient, then the HTTP
// status.
func metaClassify(a answer, e metaError, token, version string, now time.Time) *Error {
	code := strconv.Itoa(e.Code)
	if e.Subcode != 0 {
		code += "/" + strconv.Itoa(e.Subcode)
	}
	msg := e.ErrorUserMsg
	if msg == "" {
		msg = e.Message
	}
	if e.ErrorUserTitle != "" && e.ErrorUserMsg != "" {
		msg = e.ErrorUserTitle + ": " + e.ErrorUserMsg
	}
	if msg == "" {
		msg = "meta refused the request"
	}
	msg = redact(truncate(msg, 500), token)
	switch {
	case e.Code == 2635 || e.Code == 12:
		// 2635: "You are calling a deprecated version of the Ads API";
		// 12: an API removed from the version called. Only a newer
		// api_version fixes it, so the destination is parked.
		return VersionError("meta", a.Status, code, version)
	case a.Status == http.StatusTooManyRequests || metaThrottleCode(e.Code):
		return Throttled(a.Status, code, msg, metaRetryAfter(a.Header, now))
	case metaAuthCode(e.Code, e.Subcode):
		return Auth(a.Status, code, msg)
	case e.IsTransient || e.Code == 1 || e.Code == 2 || e.Code == 341 || e.Code == 368 || a.Status >= 500:
		t := Transient(a.Status, code, msg)
		t.RetryAfter = RetryAfter(a.Header, now)
		return t
	case e.Code == 100 || e.Code == 3 || e.Code == 294:
		return Invalid(a.Status, code, msg)
	}
	f := ClassifyStatus(a.Status, a.Header, msg, now)
	if f == nil {
		// An error object under a 1xx/2xx/3xx status: nothing says it was kept.
		f = Transient(a.Status, "", msg)
	}
	f.Code = code
	return f
}

// metaThrottleCode reports Graph API rate-limit codes: application (4),
// user (17), page (32), custom (613) and business use case (80000–80014)
// limits.
func metaThrottleCode(code int) bool {
	return code == 4 || code == 17 || code == 32 || code == 613 || (code >= 80000 && code <= 80014)
}

// metaAuthCode reports errors that only new credentials or permissions fix:
// an expired or invalid token (190, 102), a missing permission (10,
// 200–299), and a pixel that does not exist or this token cannot reach (33,
// or 100 with subcode 33).
func metaAuthCode(code, subcode int) bool {
	return code == 190 || code == 102 || code == 10 || (code >= 200 && code <= 299) ||
		code == 33 || (code == 100 && subcode == 33)
}

// metaRetryAfter is how long Meta asks to wait: the longer of Retry-After
// and the estimated_time_to_regain_access (minutes) in the usage headers.
func metaRetryAfter(h http.Header, now time.Time) time.Duration {
	wait := RetryAfter(h, now)
	for _, name := range []string{"X-Business-Use-Case-Usage", "X-App-Usage", "X-Ad-Account-Usage"} {
		v := h.Get(name)
		if v == "" {
			continue
		}
		var usage any
		if err := json.Unmarshal([]byte(v), &usage); err != nil {
			continue
		}
		if mins := metaRegainMinutes(usage); mins > 0 {
			// Capped so that a wild value cannot overflow the duration.
			mins = min(mins, metaMaxRegain.Minutes())
			wait = max(wait, time.Duration(mins*float64(time.Minute)))
		}
	}
	return wait
}

// metaRegainMinutes finds the largest estimated_time_to_regain_access in a
// usage header, which nests it under business ids or keeps it at the top.
func metaRegainMinutes(v any) float64 {
	var most float64
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if n, ok := x.(float64); ok && k == "estimated_time_to_regain_access" {
				most = max(most, n)
				continue
			}
			most = max(most, metaRegainMinutes(x))
		}
	case []any:
		for _, x := range v {
			most = max(most, metaRegainMinutes(x))
		}
	}
	return most
}
