package platforms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// LinkedIn delivers conversions to the LinkedIn Conversions API
// (POST {BaseURL}/rest/conversionEvents).
//
// One conversion is sent as a single event (answered 201 Created); several
// go in one Rest.li BATCH_CREATE call ({"elements": [...]}, answered 200 with
// a status per element). LinkedIn rejects a whole batch when one element is
// invalid, so an invalid answer to a batch is isolated: the elements its
// message names fail, the others are sent again.
//
// Credentials are a conversion rule and an OAuth access token. When a refresh
// token, client id and client secret are also set, access tokens are minted
// at LinkedIn's token endpoint, kept until they expire, and refreshed once
// when LinkedIn answers 401.
type LinkedIn struct {
	cfg   Config
	oauth *oauthSources
	// refused remembers, per destination, a stored access_token LinkedIn
	// refused, so that minted tokens are used from then on.
	mu      sync.Mutex
	refused map[int64]string
}

var _ Sender = (*LinkedIn)(nil)

const (
	linkedinDefaultBaseURL  = "https://api.linkedin.com"
	linkedinDefaultOAuthURL = "https://www.linkedin.com/oauth/v2/accessToken"
	// linkedinDefaultVersion is the LinkedIn-Version header sent when the
	// destination does not set api_version. LinkedIn ships a version a month
	// and keeps each for about a year; see Versions in versions.go for the
	// source and the older versions' ends.
	linkedinDefaultVersion = "202607"
	// linkedinBatchSize is LinkedIn's limit for one BATCH_CREATE call.
	linkedinBatchSize = 5000
	// linkedinMaxAge: LinkedIn rejects conversions that happened more than
	// 90 days ago.
	linkedinMaxAge = 90 * 24 * time.Hour
)

// NewLinkedIn returns the LinkedIn sender. oauthURL is LinkedIn's OAuth
// token endpoint; "" means https://www.linkedin.com/oauth/v2/accessToken.
func NewLinkedIn(cfg Config, oauthURL string) *LinkedIn {
	cfg = cfg.withDefaults(linkedinDefaultBaseURL, 30*time.Second)
	if oauthURL == "" {
		oauthURL = linkedinDefaultOAuthURL
	}
	return &LinkedIn{cfg: cfg, oauth: newOAuthSources("LinkedIn", oauthURL, cfg.Client, nil), refused: map[int64]string{}}
}

// Name is the platform key.
func (l *LinkedIn) Name() string { return "linkedin" }

// Fields lists the destination's credentials and settings.
func (l *LinkedIn) Fields() []Field {
	return []Field{
		{Name: "conversion_rule_id", Label: "Conversion rule ID", Required: true,
			Help: "The numeric id of a conversion rule whose method is Conversions API (Campaign Manager ▸ Conversion tracking)."},
		{Name: "access_token", Label: "Access token", Required: true, Secret: true,
			Help: "OAuth access token with the rw_conversions scope, from a member with a role on the ad account."},
		{Name: "refresh_token", Label: "Refresh token", Secret: true,
			Help: "Optional. With a client id and secret, Postback mints new access tokens before the old one expires."},
		{Name: "client_id", Label: "Client ID",
			Help: "Optional. The LinkedIn app's client id, for refreshing access tokens."},
		{Name: "client_secret", Label: "Client secret", Secret: true,
			Help: "Optional. The LinkedIn app's client secret, for refreshing access tokens."},
		{Name: "api_version", Label: "API version", Setting: true,
			Help: "LinkedIn-Version header (YYYYMM). Empty means " + linkedinDefaultVersion + "; raise it when LinkedIn sunsets a version."},
	}
}

// BatchSize is LinkedIn's BATCH_CREATE limit.
func (l *LinkedIn) BatchSize() int { return linkedinBatchSize }

// MaxAge is LinkedIn's 90-day window.
func (l *LinkedIn) MaxAge() time.Duration { return linkedinMaxAge }

// TestMode is always false: the Conversions API has no test mode, so test
// orders are never sent to LinkedIn.
func (l *LinkedIn) TestMode(Destination) bool { return false }

// linkedinEvent is one conversion event as LinkedIn takes it.
type linkedinEvent struct {
	Conversion           string         `json:"conversion"`
	ConversionHappenedAt int64          `json:"conversionHappenedAt"` // Unix milliseconds
	ConversionValue      *linkedinMoney `json:"conversionValue,omitempty"`
	EventID              string         `json:"eventId,omitempty"`
	User                 linkedinUser   `json:"user"`
}

type linkedinMoney struct {
	CurrencyCode string `json:"currencyCode"`
	Amount       string `json:"amount"` // LinkedIn wants the amount as a string
}

type linkedinUser struct {
	UserIDs  []linkedinUserID  `json:"userIds"`
	UserInfo *linkedinUserInfo `json:"userInfo,omitempty"`
}

type linkedinUserID struct {
	IDType  string `json:"idType"`
	IDValue string `json:"idValue"`
}

// linkedinUserInfo is sent in plain text, as LinkedIn's schema asks; when
// present, firstName and lastName are both required.
type linkedinUserInfo struct {
	FirstName   string `json:"firstName"`
	LastName    string `json:"lastName"`
	CountryCode string `json:"countryCode,omitempty"`
}

// build turns one conversion into LinkedIn's event and reports which
// identifiers it carries. A conversion LinkedIn cannot match fails here.
func (l *LinkedIn) build(d Destination, c mapping.Conversion) (linkedinEvent, mapping.Match, error) {
	u := c.User
	var ev linkedinEvent
	var m mapping.Match

	if h := linkedinEmailHash(u.Email); h != "" {
		ev.User.UserIDs = append(ev.User.UserIDs, linkedinUserID{IDType: "SHA256_EMAIL", IDValue: h})
		m.Email = true
	}
	if id := strings.TrimSpace(c.ClickIDs.LiFatID); id != "" {
		ev.User.UserIDs = append(ev.User.UserIDs, linkedinUserID{IDType: "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", IDValue: id})
		m.ClickID = true
	}
	first, last := strings.TrimSpace(u.FirstName), strings.TrimSpace(u.LastName)
	if first != "" && last != "" {
		ev.User.UserInfo = &linkedinUserInfo{FirstName: first, LastName: last}
		if cc := mapping.NormalizeCountry(u.Country); cc != "" {
			ev.User.UserInfo.CountryCode = strings.ToUpper(cc)
		}
		m.Name = true
	}
	m = m.Score()

	rule, err := credential(d, "conversion_rule_id")
	if err != nil {
		return ev, m, err
	}
	if len(ev.User.UserIDs) == 0 {
		return ev, m, Invalid(0, "no_identifier", "LinkedIn matches only on an email or a li_fat_id click id, and this conversion has neither; not sent")
	}
	cur, err := mapping.NormalizeCurrency(c.Currency)
	if err != nil {
		return ev, m, Invalid(0, "invalid_currency", err.Error())
	}
	ev.Conversion = "urn:lla:llaPartnerConversion:" + rule
	ev.ConversionHappenedAt = c.EventTime.UnixMilli()
	ev.ConversionValue = &linkedinMoney{CurrencyCode: cur, Amount: c.Value.String()}
	ev.EventID = c.EventID
	return ev, m, nil
}

// linkedinEmailHash is SHA256_EMAIL: the SHA-256 of the trimmed, lower-cased
// address. An email that already is a SHA-256 digest passes through.
func linkedinEmailHash(raw string) string {
	s := strings.TrimSpace(raw)
	if mapping.IsHashed(s) {
		return strings.ToLower(s)
	}
	return mapping.Hash(mapping.NormalizeEmail(s))
}

func (l *LinkedIn) endpoint() string { return l.cfg.BaseURL + "/rest/conversionEvents" }

func (l *LinkedIn) headers(d Destination, token string, batch bool) map[string]string {
	version := strings.TrimSpace(d.Settings["api_version"])
	if version == "" {
		version = linkedinDefaultVersion
	}
	h := map[string]string{
		"Authorization":             "Bearer " + token,
		"Content-Type":              "application/json",
		"LinkedIn-Version":          version,
		"X-Restli-Protocol-Version": "2.0.0",
	}
	if batch {
		h["X-RestLi-Method"] = "BATCH_CREATE"
	}
	return h
}

// body wraps events: one event is sent bare, several as BATCH_CREATE
// elements.
func linkedinBody(events []json.RawMessage) ([]byte, error) {
	if len(events) == 1 {
		return events[0], nil
	}
	return json.Marshal(struct {
		Elements []json.RawMessage `json:"elements"`
	}{events})
}

// spec describes LinkedIn to the shared send path. Several events go as
// one BATCH_CREATE; LinkedIn answers per element, or refuses the batch
// naming the bad elements ("Index: 3, ERROR :: ..."), whose others go again
// without them.
func (l *LinkedIn) spec(d Destination) spec {
	return spec{
		name: "linkedin", title: "LinkedIn", batchSize: linkedinBatchSize, maxAge: linkedinMaxAge,
		build: func(c mapping.Conversion, _ time.Time) (json.RawMessage, mapping.Match, error) {
			return encoded(l.build(d, c))
		},
		request: func(ctx context.Context, d Destination, events []json.RawMessage) (outgoing, error) {
			token := "REDACTED"
			if !dryRun(ctx) {
				var err error
				if token, err = l.accessToken(ctx, d, ""); err != nil {
					return outgoing{}, err
				}
			}
			body, err := linkedinBody(events)
			if err != nil {
				return outgoing{}, Invalid(0, "", fmt.Sprintf("cannot encode batch: %v", err))
			}
			return outgoing{url: l.endpoint(), header: l.headers(d, token, len(events) > 1), body: body, token: token}, nil
		},
		renew: func(ctx context.Context, d Destination, stale string) (bool, error) {
			if !linkedinCanRefresh(d) {
				return false, nil
			}
			_, err := l.accessToken(ctx, d, stale)
			return err == nil, err
		},
		read: func(a answer, events []json.RawMessage, now time.Time) verdict {
			n := len(events)
			failure := linkedinClassify(a, d, now)
			switch {
			case failure == nil && n > 1:
				return l.batchVerdict(a, n, now)
			case failure == nil:
				return verdict{events: []*Error{}}
			case errors.Is(failure, ErrInvalid) && n > 1:
				failed := linkedinFailedIndexes(a.Body, n)
				if len(failed) == 0 {
					return verdict{whole: failure}
				}
				v := verdict{events: make([]*Error, n), resend: make([]bool, n)}
				for k := range n {
					if msg, ok := failed[k]; ok {
						v.events[k] = Invalid(a.Status, "", "LinkedIn rejected the event: "+truncate(msg, 300))
					} else {
						v.resend[k] = true
					}
				}
				return v
			}
			return verdict{whole: failure}
		},
	}
}

// Render is the request Send would post for convs (a dry run through the
// send path), with the access token redacted.
func (l *LinkedIn) Render(d Destination, convs []mapping.Conversion) (Request, error) {
	return render(l.cfg, l.spec(d), d, convs, l.Fields())
}

// Send delivers convs and returns one Result per conversion.
func (l *LinkedIn) Send(ctx context.Context, d Destination, convs []mapping.Conversion) []Result {
	return deliver(ctx, l.cfg, l.spec(d), d, convs, l.Fields())
}

// linkedinBatchAnswer is Rest.li's BATCH_CREATE answer: one status per
// element, in request order.
type linkedinBatchAnswer struct {
	Elements []struct {
		Status int `json:"status"`
		Error  *struct {
			Message string `json:"message"`
			Code    string `json:"code"`
		} `json:"error"`
	} `json:"elements"`
}

// batchVerdict reads the per-element statuses of an accepted batch. When
// the answer does not list the elements, the 2xx status stands for all.
func (l *LinkedIn) batchVerdict(a answer, n int, now time.Time) verdict {
	var ba linkedinBatchAnswer
	v := verdict{events: make([]*Error, n)}
	if err := json.Unmarshal(a.Body, &ba); err != nil || len(ba.Elements) != n {
		return v
	}
	for k, el := range ba.Elements {
		if el.Status == 0 || el.Status < 300 {
			continue
		}
		msg, code := http.StatusText(el.Status), ""
		if el.Error != nil {
			msg, code = el.Error.Message, el.Error.Code
		}
		v.events[k] = linkedinStatusError(el.Status, nil, code, "LinkedIn rejected the event: "+truncate(msg, 300), now)
	}
	return v
}

// linkedinIndexRE matches the per-element lines of LinkedIn's batch error
// message: "Index: 1, ERROR :: /conversionHappenedAt :: ...".
var linkedinIndexRE = regexp.MustCompile(`Index: (\d+), ERROR :: ([^\n]*)`)

// linkedinFailedIndexes reads which elements of an n-element batch LinkedIn
// named in an error answer, with each one's message.
func linkedinFailedIndexes(body []byte, n int) map[int]string {
	var e struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Message == "" {
		return nil
	}
	out := map[int]string{}
	for _, m := range linkedinIndexRE.FindAllStringSubmatch(e.Message, -1) {
		k, err := strconv.Atoi(m[1])
		if err != nil || k < 0 || k >= n {
			continue
		}
		out[k] = strings.TrimSpace(m[2])
	}
	return out
}

// linkedinError is LinkedIn's error body.
type linkedinError struct {
	Status           int    `json:"status"`
	ServiceErrorCode int    `json:"serviceErrorCode"`
	Code             string `json:"code"`
	Message          string `json:"message"`
}

// linkedinClassify classes an answer: 2xx is success; 401 and 403 are
// auth; 426 (the LinkedIn-Version has been sunset) parks the destination
// like an auth failure, since only a settings change fixes it; 429 is
// throttled; 5xx is transient; 400, 422 and other 4xx are invalid.
func linkedinClassify(ans answer, d Destination, now time.Time) *Error {
	if ans.Status >= 200 && ans.Status < 300 {
		return nil
	}
	var le linkedinError
	_ = json.Unmarshal(ans.Body, &le) // a body that is not LinkedIn's shape leaves the status to speak
	msg := le.Message
	if msg == "" {
		msg = http.StatusText(ans.Status)
	}
	msg = truncate(msg, 300)
	code := le.Code
	if code == "" && le.ServiceErrorCode != 0 {
		code = strconv.Itoa(le.ServiceErrorCode)
	}
	var e *Error
	switch ans.Status {
	case http.StatusUpgradeRequired:
		version := strings.TrimSpace(d.Settings["api_version"])
		if version == "" {
			version = linkedinDefaultVersion
		}
		e = VersionError("linkedin", ans.Status, code, version)
	case http.StatusUnauthorized:
		e = Auth(ans.Status, code, "LinkedIn rejected the access token: "+msg)
	case http.StatusForbidden:
		e = Auth(ans.Status, code, "LinkedIn refused access (check the rw_conversions scope and the member's ad account role): "+msg)
	default:
		e = linkedinStatusError(ans.Status, ans.Header, code, "LinkedIn: "+msg, now)
	}
	return e
}

// linkedinStatusError classes a failed status with ClassifyStatus; a status
// it does not class (1xx, 3xx) counts as invalid.
func linkedinStatusError(status int, h http.Header, code, msg string, now time.Time) *Error {
	e := ClassifyStatus(status, h, msg, now)
	if e == nil {
		e = Invalid(status, "", msg)
	}
	e.Code = code
	return e
}

func linkedinCanRefresh(d Destination) bool {
	c := d.Credentials
	return strings.TrimSpace(c["refresh_token"]) != "" && strings.TrimSpace(c["client_id"]) != "" &&
		strings.TrimSpace(c["client_secret"]) != ""
}

// accessToken returns the token to use. Without refresh credentials it is
// the stored access_token. With them it is the stored access_token until
// LinkedIn refuses it, then a token minted from the refresh token (cached
// while it lives). stale is a token LinkedIn just refused.
func (l *LinkedIn) accessToken(ctx context.Context, d Destination, stale string) (string, error) {
	if !linkedinCanRefresh(d) {
		return credential(d, "access_token")
	}
	c := d.Credentials
	given := strings.TrimSpace(c["access_token"])
	l.mu.Lock()
	if stale != "" && stale == given {
		l.refused[d.ID] = given
	}
	refused := l.refused[d.ID] == given
	l.mu.Unlock()
	if given != "" && !refused {
		return given, nil
	}
	creds := oauthCreds{clientID: strings.TrimSpace(c["client_id"]), clientSecret: strings.TrimSpace(c["client_secret"]),
		refreshToken: strings.TrimSpace(c["refresh_token"])}
	if stale == given {
		stale = "" // the stored token, not a minted one, was refused
	}
	return l.oauth.token(ctx, d.ID, creds, stale)
}
