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

// Pinterest delivers conversions to the Pinterest Conversions API v5
// (POST {BaseURL}/v5/ad_accounts/{ad_account_id}/events), authorised with a
// conversion access token from Ads Manager (or an OAuth token with
// ads:write).
//
// Pinterest answers every request with a status per event (events[], in
// request order), so one bad event fails alone. The destination's test
// setting adds ?test=true: Pinterest then validates and answers as usual
// but records nothing.
type Pinterest struct {
	cfg Config
}

var _ Sender = (*Pinterest)(nil)

const (
	pinterestDefaultBaseURL = "https://api.pinterest.com"
	// pinterestBatchSize is the most events one request may carry.
	pinterestBatchSize = 1000
	// pinterestMaxAge: the Send conversions endpoint takes events from the
	// last 7 days (events older than an hour already count as offline).
	pinterestMaxAge = 7 * 24 * time.Hour
)

// NewPinterest returns the Pinterest sender.
func NewPinterest(cfg Config) *Pinterest {
	cfg = cfg.withDefaults(pinterestDefaultBaseURL, 30*time.Second)
	return &Pinterest{cfg: cfg}
}

// Name is the platform key.
func (p *Pinterest) Name() string { return "pinterest" }

// Fields lists the destination's credentials and settings.
func (p *Pinterest) Fields() []Field {
	return []Field{
		{Name: "ad_account_id", Label: "Ad account ID", Required: true,
			Help: "The numeric id of the Pinterest ad account that owns the tag."},
		{Name: "access_token", Label: "Conversion access token", Required: true, Secret: true,
			Help: "Generated in Ads Manager ▸ Conversions (or an OAuth token with ads:write)."},
		{Name: "tag_id", Label: "Tag ID", Setting: true,
			Help: "Optional: the Pinterest Tag's id, only for firing the tag with Postback's event id from the Shopify custom pixel or WooCommerce snippet."},
		{Name: "test", Label: "Test mode", Setting: true, Bool: true,
			Help: "Send with ?test=true: Pinterest validates the events but does not record them. Turn off for real orders."},
	}
}

// BatchSize is the Conversions API's limit per request.
func (p *Pinterest) BatchSize() int { return pinterestBatchSize }

// MaxAge is the 7-day window.
func (p *Pinterest) MaxAge() time.Duration { return pinterestMaxAge }

// TestMode reports whether the destination's test setting is on.
func (p *Pinterest) TestMode(d Destination) bool {
	on, err := strconv.ParseBool(strings.TrimSpace(d.Settings["test"]))
	return err == nil && on
}

// pinterestEvent is one conversion event; user_data's hashed fields are
// arrays of SHA-256 hex.
type pinterestEvent struct {
	EventName      string              `json:"event_name"`
	ActionSource   string              `json:"action_source"`
	EventTime      int64               `json:"event_time"` // Unix seconds
	EventID        string              `json:"event_id"`
	EventSourceURL string              `json:"event_source_url,omitempty"`
	UserData       pinterestUserData   `json:"user_data"`
	CustomData     pinterestCustomData `json:"custom_data"`
}

type pinterestUserData struct {
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
	ClickID         string   `json:"click_id,omitempty"` // epik, never hashed
}

type pinterestCustomData struct {
	Currency   string             `json:"currency"`
	Value      string             `json:"value"` // Pinterest takes the value as a string
	ContentIDs []string           `json:"content_ids,omitempty"`
	Contents   []pinterestContent `json:"contents,omitempty"`
	NumItems   int                `json:"num_items,omitempty"`
	OrderID    string             `json:"order_id,omitempty"`
}

type pinterestContent struct {
	ID        string `json:"id"`
	ItemPrice string `json:"item_price"`
	Quantity  int    `json:"quantity"`
	ItemName  string `json:"item_name,omitempty"`
	ItemBrand string `json:"item_brand,omitempty"`
}

// pinterestEventNames maps canonical event names to Pinterest's.
var pinterestEventNames = map[string]string{
	mapping.EventPurchase:  "checkout",
	mapping.EventSubscribe: "subscribe",
}

// pinterestActionSource is "web" for a purchase made on a website (or one
// with a page URL when nothing else is known) and "offline" for renewals and
// purchases nothing places on the web (Pinterest takes web, app_android,
// app_ios and offline).
func pinterestActionSource(c mapping.Conversion) string {
	switch c.Where() {
	case mapping.ChannelWebsite:
		return "web"
	case mapping.ChannelRenewal:
		return "offline"
	}
	if strings.TrimSpace(c.SourceURL) != "" {
		return "web"
	}
	return "offline"
}

// pinterestEmail normalizes an email (trimmed, lower case); a SHA-256 digest
// passes through.
func pinterestEmail(raw string) string {
	s := strings.TrimSpace(raw)
	if mapping.IsHashed(s) {
		return strings.ToLower(s)
	}
	return mapping.NormalizeEmail(s)
}

// pinterestPhone is the phone as Pinterest's spec asks: digits only, with
// the country code, no "+" and no leading zeros. A SHA-256 digest passes
// through.
func pinterestPhone(u mapping.User) string {
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
	return mapping.PhoneDigits(e164)
}

// build turns one conversion into Pinterest's event and reports the
// identifiers it carries.
func (p *Pinterest) build(c mapping.Conversion) (pinterestEvent, mapping.Match, error) {
	u := c.User
	// zp: the spec asks for digits (a US ZIP, cut to 5); postcodes elsewhere
	// keep their letters, normalized as for Meta.
	ud := pinterestUserData{
		Em:              hashedField(pinterestEmail(u.Email)),
		Ph:              hashedField(pinterestPhone(u)),
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
		ClickID:         strings.TrimSpace(c.ClickIDs.EPIK),
	}
	match := mapping.Match{
		ClickID:    ud.ClickID != "",
		Email:      ud.Em != nil,
		Phone:      ud.Ph != nil,
		Name:       ud.Fn != nil || ud.Ln != nil,
		Address:    ud.Ct != nil || ud.St != nil || ud.Zp != nil,
		ExternalID: ud.ExternalID != nil,
		IP:         ud.ClientIPAddress != "",
		UserAgent:  ud.ClientUserAgent != "",
	}.Score()

	// Pinterest's spec: user_data needs at least an email, a mobile ad id,
	// or the client IP together with the user agent.
	if ud.Em == nil && (ud.ClientIPAddress == "" || ud.ClientUserAgent == "") {
		return pinterestEvent{}, match, Invalid(0, "no_identifier", "Pinterest needs an email, or the browser's IP and user agent together, and this conversion has neither; not sent")
	}
	cur, err := mapping.NormalizeCurrency(c.Currency)
	if err != nil {
		return pinterestEvent{}, match, Invalid(0, "invalid_currency", err.Error())
	}
	name, ok := pinterestEventNames[c.EventName]
	if !ok {
		name = "custom"
	}
	cd := pinterestCustomData{Currency: cur, Value: c.Value.String(), OrderID: c.OrderID}
	for _, it := range c.Items {
		cd.NumItems += it.Quantity
		if it.ID == "" {
			continue
		}
		cd.ContentIDs = append(cd.ContentIDs, it.ID)
		cd.Contents = append(cd.Contents, pinterestContent{
			ID: it.ID, ItemPrice: it.Price.String(), Quantity: it.Quantity, ItemName: it.Title, ItemBrand: it.Brand,
		})
	}
	ev := pinterestEvent{
		EventName:      name,
		ActionSource:   pinterestActionSource(c),
		EventTime:      c.EventTime.Unix(),
		EventID:        c.EventID,
		EventSourceURL: c.SourceURL,
		UserData:       ud,
		CustomData:     cd,
	}
	return ev, match, nil
}

func (p *Pinterest) endpoint(d Destination) (string, error) {
	account, err := credential(d, "ad_account_id")
	if err != nil {
		return "", err
	}
	u := p.cfg.BaseURL + "/v5/ad_accounts/" + url.PathEscape(account) + "/events"
	if p.TestMode(d) {
		u += "?test=true"
	}
	return u, nil
}

func pinterestBody(events []json.RawMessage) ([]byte, error) {
	return json.Marshal(struct {
		Data []json.RawMessage `json:"data"`
	}{events})
}

// spec describes Pinterest to the shared send path. Pinterest answers per
// event, so each event keeps its own verdict.
func (p *Pinterest) spec(Destination) spec {
	return spec{
		name: "pinterest", title: "Pinterest", batchSize: pinterestBatchSize, maxAge: pinterestMaxAge,
		check: func(d Destination) error {
			if _, err := p.endpoint(d); err != nil {
				return err
			}
			_, err := credential(d, "access_token")
			return err
		},
		build: func(c mapping.Conversion, _ time.Time) (json.RawMessage, mapping.Match, error) {
			ev, match, err := p.build(c)
			if err != nil {
				return nil, match, err
			}
			raw, err := json.Marshal(ev)
			return raw, match, err
		},
		request: bearerRequest(p.endpoint, pinterestBody),
		read: func(a answer, events []json.RawMessage, now time.Time) verdict {
			n := len(events)
			outs := pinterestOutcomes(a, n, now)
			errs, notes, responses := make([]error, n), make([]string, n), make([]string, n)
			for k, o := range outs {
				errs[k], notes[k], responses[k] = o.err, o.reported, o.response
			}
			return verdictOf("pinterest", errs, notes, responses)
		},
	}
}

// Render is the request Send would post for convs (a dry run through the
// send path), with the token redacted.
func (p *Pinterest) Render(d Destination, convs []mapping.Conversion) (Request, error) {
	return render(p.cfg, p.spec(d), d, convs, p.Fields())
}

// Send delivers convs and returns one Result per conversion.
func (p *Pinterest) Send(ctx context.Context, d Destination, convs []mapping.Conversion) []Result {
	return deliver(ctx, p.cfg, p.spec(d), d, convs, p.Fields())
}

// pinterestAnswer is the Conversions API's answer: per-event statuses on
// success, {code, message} on error.
type pinterestAnswer struct {
	NumEventsReceived  *int              `json:"num_events_received"`
	NumEventsProcessed *int              `json:"num_events_processed"`
	Events             []json.RawMessage `json:"events"`
	Code               *int              `json:"code"`
	Message            string            `json:"message"`
}

// pinterestEventStatus is one entry of events[].
type pinterestEventStatus struct {
	Status         string  `json:"status"` // "processed" or "failed"
	ErrorMessage   *string `json:"error_message"`
	WarningMessage *string `json:"warning_message"`
}

// pinterestOutcome is what happened to one event of a request.
type pinterestOutcome struct {
	err      error
	response string
	reported string
}

// pinterestOutcomes reads an answer to a request of n events into one
// outcome per event. When the answer lists every event (events[] in request
// order), each event takes its own status: "failed" is invalid with
// Pinterest's error_message, and warning_message is kept as what Pinterest
// reported. Otherwise the status speaks for the whole request: 401 and 403
// are auth (Pinterest codes 2 and 29), 429 throttled (code 8), 5xx
// transient (503 code 4197: endpoint ramped down), other 4xx invalid.
func pinterestOutcomes(ans answer, n int, now time.Time) []pinterestOutcome {
	out := make([]pinterestOutcome, n)
	var pa pinterestAnswer
	_ = json.Unmarshal(ans.Body, &pa) // an answer in another shape is classed by status alone
	body := string(ans.Body)
	ok := ans.Status >= 200 && ans.Status < 300

	if len(pa.Events) == n && (ok || ans.Status == http.StatusBadRequest || ans.Status == http.StatusUnprocessableEntity) {
		for k, raw := range pa.Events {
			out[k].response = string(raw)
			var st pinterestEventStatus
			if err := json.Unmarshal(raw, &st); err != nil {
				out[k].err = Transient(ans.Status, "", "Pinterest's answer for this event could not be read; it will be sent again")
				continue
			}
			if st.WarningMessage != nil {
				out[k].reported = truncate(*st.WarningMessage, 300)
			}
			switch st.Status {
			case "processed":
			case "failed":
				msg := "event failed"
				if st.ErrorMessage != nil && *st.ErrorMessage != "" {
					msg = *st.ErrorMessage
				}
				out[k].err = Invalid(ans.Status, "", "Pinterest rejected the event: "+truncate(msg, 300))
			default:
				out[k].err = Transient(ans.Status, "", fmt.Sprintf("Pinterest reported status %q for this event; it will be sent again", truncate(st.Status, 40)))
			}
		}
		return out
	}

	var e *Error
	code := ""
	if pa.Code != nil {
		code = strconv.Itoa(*pa.Code)
	}
	msg := pa.Message
	if msg == "" {
		msg = http.StatusText(ans.Status)
	}
	msg = truncate(msg, 300)
	switch {
	case ok:
		// A success that does not list the events: trust the counts when
		// they say everything was processed, else send again.
		if pa.NumEventsProcessed != nil && *pa.NumEventsProcessed == n {
			e = nil
		} else {
			e = Transient(ans.Status, "", "Pinterest did not report on each event; they will be sent again")
		}
	case ans.Status == http.StatusUnauthorized:
		e = Auth(ans.Status, code, "Pinterest rejected the access token: "+msg)
	case ans.Status == http.StatusForbidden:
		e = Auth(ans.Status, code, "Pinterest refused access to the ad account: "+msg)
	default:
		e = ClassifyStatus(ans.Status, ans.Header, "Pinterest: "+msg, now)
		if e == nil {
			e = Invalid(ans.Status, "", "Pinterest: "+msg)
		}
		e.Code = code
	}
	for k := range out {
		out[k].response = body
		if e != nil {
			out[k].err = e
		}
	}
	return out
}
