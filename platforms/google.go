package platforms

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// Google Ads click-conversion uploads (ConversionUploadService) and refund
// adjustments (ConversionAdjustmentUploadService), over the REST interface.
//
// Where Google's own documentation disagrees with docs/platforms.md, this
// file follows Google:
//
//   - ClickConversion.user_identifiers accepts only hashed_email and
//     hashed_phone_number ("Only hashed_email and hashed_phone_number are
//     supported for conversion uploads", conversion_upload_service.proto), so
//     no addressInfo (names, postal address) is sent with click conversions.
//   - Email normalization follows Google's current formatting guide (Data
//     Manager API "Format user data", which the Google Ads API guides defer
//     to): lowercase, remove all whitespace, and for gmail.com and
//     googlemail.com only, remove every "." before the "@" and drop a
//     "+suffix". Other domains keep dots and +tags.
//   - Consent: only ad_user_data may be set on click conversions
//     (ad_personalization is for OfflineUserDataJobService/UserDataService).
//   - Developer tokens were sunset on 2026-09-09: the header is optional and
//     ignored by Google, so developer_token is optional here and sent only
//     when set.
//   - An adjustment names its conversion by order_id or by
//     gclid_date_time_pair, never both (GCLID_DATE_TIME_PAIR_AND_ORDER_ID_BOTH_SET);
//     a conversion uploaded with an order id must be adjusted by that id.
//   - Restatements and retractions are refused for conversions older than 54
//     days (CONVERSION_EXPIRED) and for conversions younger than 24 hours
//     (TOO_RECENT_CONVERSION).

// googleDefaultBaseURL is Google Ads' public API host.
const googleDefaultBaseURL = "https://googleads.googleapis.com"

// googleDefaultOAuthURL is Google's OAuth 2.0 token endpoint base.
const googleDefaultOAuthURL = "https://oauth2.googleapis.com"

// googleDefaultAPIVersion is the latest active Google Ads API version at the
// time of writing ("The latest active version is v26"); settings can pin
// another.
const googleDefaultAPIVersion = "v26"

// googleBatchSize is ConversionUploadService's limit ("Upload fewer than 2001
// events in a single request"); adjustments share it.
const googleBatchSize = 2000

// googleMaxAge is the longest click-through window a conversion action can
// have (90 days); a conversion is always after its click, so an older one
// cannot be attributed (EXPIRED_EVENT).
const googleMaxAge = 90 * 24 * time.Hour

// googleAdjustMaxAge is how old a conversion may be and still be restated or
// retracted (CONVERSION_EXPIRED: "more than 54 days ago").
const googleAdjustMaxAge = 54 * 24 * time.Hour

// googleTooRecentWait is how long Google asks to wait after
// TOO_RECENT_EVENT and TOO_RECENT_CONVERSION_ACTION ("retry after 6 hours").
const googleTooRecentWait = 6 * time.Hour

// googleAdjustMinAge is how old a conversion must be before it can be
// adjusted (TOO_RECENT_CONVERSION: "at least 24 hours ago").
const googleAdjustMinAge = 24 * time.Hour

// googleRedacted stands in for secrets in rendered requests.
const googleRedacted = "REDACTED"

// googleDateTime is Google Ads' date-time layout ("yyyy-mm-dd hh:mm:ss+|-hh:mm").
const googleDateTime = "2006-01-02 15:04:05-07:00"

// Compile-time checks that GoogleAds is a full sender with adjustments.
var (
	_ Sender   = (*GoogleAds)(nil)
	_ Adjuster = (*GoogleAds)(nil)
)

// GoogleAds uploads click conversions (gclid, gbraid, wbraid and hashed
// email/phone) to a Google Ads conversion action and restates or retracts
// them on refunds. It exchanges each destination's refresh token for access
// tokens, one token source per destination; it is safe for concurrent use.
type GoogleAds struct {
	cfg   Config
	oauth *oauthSources
}

// NewGoogleAds returns the Google Ads sender. oauthURL is the base of the
// OAuth token endpoint (POST {oauthURL}/token); empty means Google's.
func NewGoogleAds(cfg Config, oauthURL string) *GoogleAds {
	cfg = cfg.withDefaults(googleDefaultBaseURL, 30*time.Second)
	return &GoogleAds{cfg: cfg, oauth: googleOAuth(cfg, oauthURL)}
}

// googleOAuth is the token sources of Google's senders (Ads API and Data
// Manager): POST {oauthURL}/token, Google's endpoint when oauthURL is empty.
func googleOAuth(cfg Config, oauthURL string) *oauthSources {
	if oauthURL == "" {
		oauthURL = googleDefaultOAuthURL
	}
	return newOAuthSources("Google", strings.TrimRight(oauthURL, "/")+"/token", cfg.Client, nil)
}

// Name is the platform key.
func (g *GoogleAds) Name() string { return "google_ads" }

// Fields lists the credentials and settings of a Google Ads destination.
func (g *GoogleAds) Fields() []Field {
	return []Field{
		{Name: "customer_id", Label: "Customer ID", Required: true,
			Help: "The Google Ads account that owns the conversion action, e.g. 123-456-7890."},
		{Name: "conversion_action_id", Label: "Conversion action ID", Required: true,
			Help: "ID of a conversion action of type Import > clicks (UPLOAD_CLICKS)."},
		{Name: "client_id", Label: "OAuth client ID", Required: true,
			Help: "OAuth client of the Google Cloud project with Google Ads API access."},
		{Name: "client_secret", Label: "OAuth client secret", Required: true, Secret: true},
		{Name: "refresh_token", Label: "Refresh token", Required: true, Secret: true,
			Help: "Refresh token granted for the https://www.googleapis.com/auth/adwords scope."},
		{Name: "login_customer_id", Label: "Manager account ID",
			Help: "Only when access goes through a manager account (login-customer-id)."},
		{Name: "developer_token", Label: "Developer token", Secret: true,
			Help: "Optional: Google sunset developer tokens on 2026-09-09 and ignores them; access now comes from the OAuth client's Cloud project."},
		{Name: "validate_only", Label: "Validate only (test mode)", Setting: true, Bool: true,
			Help: "Google checks each conversion but records nothing."},
		{Name: "api_version", Label: "API version", Setting: true,
			Help: "Google Ads API version, default " + googleDefaultAPIVersion + "."},
		{Name: "ad_user_data_consent", Label: "Ad user data consent", Setting: true, Choices: googleConsentChoices,
			Help: "Sent as consent.adUserData on every conversion; leave it unspecified when you do not collect it."},
	}
}

// googleConsentChoices are the consent settings' values: Google's
// ConsentStatus GRANTED or DENIED, or unspecified (nothing sent). Data
// Manager spells them CONSENT_GRANTED and CONSENT_DENIED, and its
// CONSENT_STATUS_UNSPECIFIED is the same as sending none
// (developers.google.com/data-manager/api/reference/rest/v1/Consent, and
// google-ads/api/reference/rpc/v22/Consent, read 2026-12-03).
var googleConsentChoices = []Choice{
	{Value: "", Label: "Unspecified (not sent)", Aliases: []string{"CONSENT_STATUS_UNSPECIFIED", "UNSPECIFIED"}},
	{Value: "GRANTED", Label: "Granted", Aliases: []string{"CONSENT_GRANTED"}},
	{Value: "DENIED", Label: "Denied", Aliases: []string{"CONSENT_DENIED"}},
}

// BatchSize is the most conversions one upload may carry.
func (g *GoogleAds) BatchSize() int { return googleBatchSize }

// MaxAge is the longest click-through window Google allows.
func (g *GoogleAds) MaxAge() time.Duration { return googleMaxAge }

// TestMode reports whether the destination only validates (validateOnly).
func (g *GoogleAds) TestMode(d Destination) bool {
	return googleBool(d.Settings["validate_only"])
}

// googleAccount is a destination's parsed configuration.
type googleAccount struct {
	customerID   string
	actionID     string
	loginID      string
	devToken     string
	clientID     string
	clientSecret string
	refreshToken string
	version      string
	validateOnly bool
	consent      string
	base         string
}

// googleAccountOf reads and checks a destination's credentials. Failures are
// ErrAuth: the destination cannot work until its configuration is fixed.
func googleAccountOf(d Destination, base string) (googleAccount, error) {
	cr := func(k string) string { return strings.TrimSpace(d.Credentials[k]) }
	a := googleAccount{
		devToken:     cr("developer_token"),
		clientID:     cr("client_id"),
		clientSecret: cr("client_secret"),
		refreshToken: cr("refresh_token"),
		validateOnly: googleBool(d.Settings["validate_only"]),
		base:         strings.TrimRight(base, "/"),
	}
	var ok bool
	if a.customerID, ok = googleCustomerID(cr("customer_id")); !ok {
		return a, googleConfigError("customer_id must be a 10-digit Google Ads customer id")
	}
	if login := cr("login_customer_id"); login != "" {
		if a.loginID, ok = googleCustomerID(login); !ok {
			return a, googleConfigError("login_customer_id must be a 10-digit Google Ads customer id")
		}
	}
	if a.actionID, ok = googleActionID(cr("conversion_action_id")); !ok {
		return a, googleConfigError("conversion_action_id must be the numeric id of a conversion action")
	}
	for _, f := range []struct{ name, v string }{
		{"client_id", a.clientID}, {"client_secret", a.clientSecret}, {"refresh_token", a.refreshToken},
	} {
		if f.v == "" {
			return a, googleConfigError(f.name + " is missing")
		}
	}
	a.version = strings.TrimSpace(d.Settings["api_version"])
	if a.version == "" {
		a.version = googleDefaultAPIVersion
	}
	if !googleValidVersion(a.version) {
		return a, googleConfigError("api_version must look like " + googleDefaultAPIVersion)
	}
	switch c := strings.ToUpper(strings.TrimSpace(d.Settings["ad_user_data_consent"])); c {
	case "", "GRANTED", "DENIED":
		a.consent = c
	default:
		return a, googleConfigError("ad_user_data_consent must be GRANTED, DENIED or empty")
	}
	return a, nil
}

func googleConfigError(msg string) *Error {
	return Auth(0, "invalid_configuration", msg)
}

func (a googleAccount) endpoint(method string) string {
	return a.base + "/" + a.version + "/customers/" + a.customerID + ":" + method
}

func (a googleAccount) actionName() string {
	return "customers/" + a.customerID + "/conversionActions/" + a.actionID
}

// headers are the Ads API headers for a bearer token.
func (a googleAccount) headers(token string) map[string]string {
	h := map[string]string{"Authorization": "Bearer " + token}
	if a.devToken != "" {
		h["developer-token"] = a.devToken
	}
	if a.loginID != "" {
		h["login-customer-id"] = a.loginID
	}
	return h
}

// googleCustomerID strips the dashes and spaces people type into customer
// ids (123-456-7890) and checks that ten digits remain.
func googleCustomerID(s string) (string, bool) {
	s = strings.NewReplacer("-", "", " ", "").Replace(s)
	return s, len(s) == 10 && googleDigits(s)
}

// googleActionID accepts a numeric id or a full resource name
// (customers/123/conversionActions/456).
func googleActionID(s string) (string, bool) {
	if i := strings.LastIndexByte(s, '/'); i >= 0 && strings.Contains(s, "conversionActions/") {
		s = s[i+1:]
	}
	return s, s != "" && len(s) <= 20 && googleDigits(s)
}

func googleValidVersion(v string) bool {
	return len(v) >= 2 && len(v) <= 4 && v[0] == 'v' && googleDigits(v[1:])
}

func googleDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func googleBool(s string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	return err == nil && b
}

// googleDateTimeOf formats t in UTC in Google's layout, e.g.
// "2026-11-20 10:00:00+00:00".
func googleDateTimeOf(t time.Time) string { return t.UTC().Format(googleDateTime) }

// --- normalization ---------------------------------------------------------

// googleNormalizeEmail normalizes an email address by Google's rules:
// lowercase, no whitespace anywhere, and for gmail.com and googlemail.com no
// dots in the local part and no "+suffix". It returns "" for anything that is
// not an address. A value that already is a SHA-256 digest is returned
// lowercased, to be passed through unhashed.
func googleNormalizeEmail(raw string) string {
	s := strings.Join(strings.Fields(raw), "")
	if mapping.IsHashed(s) {
		return strings.ToLower(s)
	}
	s = mapping.NormalizeEmail(s)
	if s == "" {
		return ""
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if domain != "gmail.com" && domain != "googlemail.com" {
		return s
	}
	if i := strings.IndexByte(local, '+'); i >= 0 {
		local = local[:i]
	}
	local = strings.ReplaceAll(local, ".", "")
	if local == "" {
		return ""
	}
	return local + "@" + domain
}

// googleNormalizePhone returns a phone in E.164 form with its "+", as Google
// hashes it; a pre-hashed value is passed through; "" when unusable.
func googleNormalizePhone(raw, country string) string {
	s := strings.TrimSpace(raw)
	if mapping.IsHashed(s) {
		return strings.ToLower(s)
	}
	e164, err := mapping.NormalizePhone(s, country)
	if err != nil {
		return ""
	}
	return e164
}

// --- request bodies --------------------------------------------------------

type googleUserIdentifier struct {
	UserIdentifierSource string `json:"userIdentifierSource,omitempty"`
	HashedEmail          string `json:"hashedEmail,omitempty"`
	HashedPhoneNumber    string `json:"hashedPhoneNumber,omitempty"`
}

type googleConsent struct {
	AdUserData string `json:"adUserData"`
}

type googleClickConversion struct {
	Gclid              string                 `json:"gclid,omitempty"`
	Gbraid             string                 `json:"gbraid,omitempty"`
	Wbraid             string                 `json:"wbraid,omitempty"`
	ConversionAction   string                 `json:"conversionAction"`
	ConversionDateTime string                 `json:"conversionDateTime"`
	ConversionValue    json.Number            `json:"conversionValue"`
	CurrencyCode       string                 `json:"currencyCode,omitempty"`
	OrderID            string                 `json:"orderId,omitempty"`
	UserIdentifiers    []googleUserIdentifier `json:"userIdentifiers,omitempty"`
	Consent            *googleConsent         `json:"consent,omitempty"`
}

type googleUploadRequest struct {
	Conversions    []json.RawMessage `json:"conversions"`
	PartialFailure bool              `json:"partialFailure"`
	ValidateOnly   bool              `json:"validateOnly"`
}

type googleRestatementValue struct {
	AdjustedValue json.Number `json:"adjustedValue"`
	CurrencyCode  string      `json:"currencyCode,omitempty"`
}

type googleGclidDateTimePair struct {
	Gclid              string `json:"gclid"`
	ConversionDateTime string `json:"conversionDateTime"`
}

type googleConversionAdjustment struct {
	ConversionAction   string                   `json:"conversionAction"`
	AdjustmentType     string                   `json:"adjustmentType"`
	AdjustmentDateTime string                   `json:"adjustmentDateTime"`
	OrderID            string                   `json:"orderId,omitempty"`
	GclidDateTimePair  *googleGclidDateTimePair `json:"gclidDateTimePair,omitempty"`
	RestatementValue   *googleRestatementValue  `json:"restatementValue,omitempty"`
}

type googleAdjustRequest struct {
	ConversionAdjustments []json.RawMessage `json:"conversionAdjustments"`
	PartialFailure        bool              `json:"partialFailure"`
	ValidateOnly          bool              `json:"validateOnly"`
}

// googleOrderID is the order id a conversion is uploaded with, and therefore
// the one its adjustments must name. It is the event id shared with the
// browser tag (its transaction_id), so the same purchase carries the same id
// everywhere, and redeliveries of one order are refused by Google as
// ORDER_ID_ALREADY_IN_USE instead of counted twice.
func googleOrderID(c mapping.Conversion) string {
	if id := strings.TrimSpace(c.EventID); id != "" {
		return id
	}
	return strings.TrimSpace(c.OrderID)
}

// clickConversion builds one ClickConversion and the identifiers it carries.
func (a googleAccount) clickConversion(c mapping.Conversion) (googleClickConversion, mapping.Match, error) {
	cc := googleClickConversion{
		ConversionAction:   a.actionName(),
		ConversionDateTime: googleDateTimeOf(c.EventTime),
		ConversionValue:    json.Number(c.Value.String()),
		OrderID:            googleOrderID(c),
	}
	// Exactly one click id: Google refuses gbraid with wbraid
	// (GBRAID_WBRAID_BOTH_SET) and its samples set only one of the three; a
	// gclid is the most precise, so it wins.
	switch ids := c.ClickIDs; {
	case strings.TrimSpace(ids.GCLID) != "":
		cc.Gclid = strings.TrimSpace(ids.GCLID)
	case strings.TrimSpace(ids.GBRAID) != "":
		cc.Gbraid = strings.TrimSpace(ids.GBRAID)
	case strings.TrimSpace(ids.WBRAID) != "":
		cc.Wbraid = strings.TrimSpace(ids.WBRAID)
	}
	var m mapping.Match
	m.ClickID = cc.Gclid != "" || cc.Gbraid != "" || cc.Wbraid != ""
	if em := googleNormalizeEmail(c.User.Email); em != "" {
		cc.UserIdentifiers = append(cc.UserIdentifiers, googleUserIdentifier{
			UserIdentifierSource: "FIRST_PARTY", HashedEmail: mapping.Hash(em)})
		m.Email = true
	}
	if ph := googleNormalizePhone(c.User.Phone, c.User.Country); ph != "" {
		cc.UserIdentifiers = append(cc.UserIdentifiers, googleUserIdentifier{
			UserIdentifierSource: "FIRST_PARTY", HashedPhoneNumber: mapping.Hash(ph)})
		m.Phone = true
	}
	if a.consent != "" {
		cc.Consent = &googleConsent{AdUserData: a.consent}
	}
	m = m.Score()
	if strings.TrimSpace(c.Currency) != "" {
		cur, err := mapping.NormalizeCurrency(c.Currency)
		if err != nil {
			return cc, m, Invalid(0, "invalid_currency", "currency is not an ISO 4217 code; not sent")
		}
		cc.CurrencyCode = cur
	}
	if !m.ClickID && !m.Email && !m.Phone {
		return cc, m, Invalid(0, "no_identifier", "no gclid, gbraid, wbraid, email or phone to match the conversion on; not sent")
	}
	if c.EventTime.IsZero() {
		return cc, m, Invalid(0, "no_event_time", "conversion has no time; not sent")
	}
	return cc, m, nil
}

// spec describes the legacy click-conversion upload to the shared send
// path. Uploads use partial failure, so Google answers per row; a request
// refused as a whole is classed by googleRequestError.
func (g *GoogleAds) spec(d Destination) spec {
	a, aErr := googleAccountOf(d, g.cfg.BaseURL)
	sp := g.uploadSpec(a, aErr, "uploadClickConversions",
		func(events []json.RawMessage) any {
			return googleUploadRequest{Conversions: events, PartialFailure: true, ValidateOnly: a.validateOnly}
		},
		func(e googleAdsError, _ json.RawMessage) *Error { return googleConversionRowError(e, 0) })
	sp.build = func(c mapping.Conversion, _ time.Time) (json.RawMessage, mapping.Match, error) {
		return encoded(a.clickConversion(c))
	}
	return sp
}

// uploadSpec is what click conversions and adjustments share: the account
// check, the OAuth bearer, the per-row reading of a partial-failure answer.
// wrap builds the method's request body; rowError classes a row's Google
// error given the row as sent.
func (g *GoogleAds) uploadSpec(a googleAccount, aErr error, method string, wrap func([]json.RawMessage) any,
	rowError func(googleAdsError, json.RawMessage) *Error) spec {
	return spec{
		name: "google_ads", title: "Google Ads", batchSize: googleBatchSize, maxAge: googleMaxAge,
		check: func(Destination) error { return aErr },
		request: func(ctx context.Context, d Destination, events []json.RawMessage) (outgoing, error) {
			token := googleRedacted
			if !dryRun(ctx) {
				var err error
				if token, err = g.accessToken(ctx, d, a, ""); err != nil {
					return outgoing{}, err
				}
			}
			body, err := json.Marshal(wrap(events))
			if err != nil {
				return outgoing{}, Invalid(0, "", fmt.Sprintf("cannot encode request: %v", err))
			}
			return outgoing{url: a.endpoint(method), header: a.headers(token), body: body, token: token}, nil
		},
		renew: func(ctx context.Context, d Destination, stale string) (bool, error) {
			_, err := g.accessToken(ctx, d, a, stale)
			return err == nil, err
		},
		read: func(ans answer, events []json.RawMessage, now time.Time) verdict {
			n := len(events)
			if ans.Status != http.StatusOK {
				return verdict{whole: googleRequestError(ans, now)}
			}
			outs := googleRows(ans, n, a.validateOnly, func(e googleAdsError, k int) *Error { return rowError(e, events[k]) })
			errs, notes, responses := make([]error, n), make([]string, n), make([]string, n)
			for k, o := range outs {
				errs[k], notes[k], responses[k] = o.err, o.reported, o.response
			}
			return verdictOf("google_ads", errs, notes, responses)
		},
	}
}

// Render is the upload request Send would post for convs (a dry run
// through the send path), with secrets and the bearer token redacted.
func (g *GoogleAds) Render(d Destination, convs []mapping.Conversion) (Request, error) {
	return render(g.cfg, g.spec(d), d, convs, g.Fields())
}

// Send uploads convs and returns one Result per conversion, in order.
func (g *GoogleAds) Send(ctx context.Context, d Destination, convs []mapping.Conversion) []Result {
	return deliver(ctx, g.cfg, g.spec(d), d, convs, g.Fields())
}

// googleOutcome is what happened to one sent row.
type googleOutcome struct {
	status   int
	response string
	err      error
	reported string
}

// googleSame is one outcome for every row of a request that failed as a
// whole. Reported stays empty: Google said nothing about any row.
func googleSame(n, status int, response string, err error) []googleOutcome {
	out := make([]googleOutcome, n)
	for i := range out {
		out[i] = googleOutcome{status: status, response: response, err: err}
	}
	return out
}

func googleBody(ans answer) string { return truncate(string(ans.Body), 4096) }

// --- OAuth -----------------------------------------------------------------

// accessToken returns an access token for the destination. stale is a
// token the Ads API just refused: it is replaced unless another request
// already did so.
func (g *GoogleAds) accessToken(ctx context.Context, d Destination, a googleAccount, stale string) (string, error) {
	return g.oauth.token(ctx, d.ID, oauthCreds{clientID: a.clientID, clientSecret: a.clientSecret, refreshToken: a.refreshToken}, stale)
}

// --- responses -------------------------------------------------------------

// googleStatus is a google.rpc.Status as REST renders it.
type googleStatus struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Status  string            `json:"status"`
	Details []json.RawMessage `json:"details"`
}

// googleDetail is one element of Status.details: a GoogleAdsFailure or a
// google.rpc.RetryInfo.
type googleDetail struct {
	Type       string           `json:"@type"`
	Errors     []googleAdsError `json:"errors"`
	RequestID  string           `json:"requestId"`
	RetryDelay string           `json:"retryDelay"`
}

// googleAdsError is a GoogleAdsError: errorCode is a oneof rendered as one
// key ({"conversionUploadError": "CLICK_NOT_FOUND"}).
type googleAdsError struct {
	ErrorCode map[string]json.RawMessage `json:"errorCode"`
	Message   string                     `json:"message"`
	Location  struct {
		FieldPathElements []struct {
			FieldName string `json:"fieldName"`
			Index     *int   `json:"index"`
		} `json:"fieldPathElements"`
	} `json:"location"`
	Details struct {
		QuotaErrorDetails struct {
			RetryDelay string `json:"retryDelay"`
		} `json:"quotaErrorDetails"`
	} `json:"details"`
}

// kind and code return the error's family (conversionUploadError,
// quotaError, …) and enum value.
func (e googleAdsError) kind() (string, string) {
	for k, v := range e.ErrorCode {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		return k, s
	}
	return "", ""
}

// index is the request row the error is about, or -1.
func (e googleAdsError) index() int {
	if p := e.Location.FieldPathElements; len(p) > 0 && p[0].Index != nil {
		return *p[0].Index
	}
	return -1
}

// parse decodes the status details.
func (s googleStatus) parse() (errs []googleAdsError, retry time.Duration) {
	for _, raw := range s.Details {
		var d googleDetail
		if json.Unmarshal(raw, &d) != nil {
			continue
		}
		errs = append(errs, d.Errors...)
		retry = max(retry, googleDuration(d.RetryDelay))
		for _, e := range d.Errors {
			retry = max(retry, googleDuration(e.Details.QuotaErrorDetails.RetryDelay))
		}
	}
	return errs, retry
}

// googleDuration parses a protobuf Duration in JSON form ("30s", "1.5s").
func googleDuration(s string) time.Duration {
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// googleRequestError classes an answer other than 200: the whole request
// failed.
func googleRequestError(ans answer, now time.Time) *Error {
	var body struct {
		Error googleStatus `json:"error"`
	}
	_ = json.Unmarshal(ans.Body, &body) // an unparseable body is classed by status alone
	st := body.Error
	errs, retry := st.parse()
	retry = max(retry, RetryAfter(ans.Header, now))
	kind, code := "", st.Status
	msg := truncate(st.Message, 300)
	if len(errs) > 0 {
		kind, code = errs[0].kind()
		if m := truncate(errs[0].Message, 300); m != "" {
			msg = m
		}
	}
	if msg == "" {
		msg = "Google Ads refused the request"
	}
	if e := googleNotAllowlisted(ans.Status, code); e != nil {
		return e
	}
	switch {
	case ans.Status == http.StatusTooManyRequests || st.Status == "RESOURCE_EXHAUSTED" || kind == "quotaError":
		return Throttled(ans.Status, code, msg, retry)
	case ans.Status >= 500 || ans.Status == http.StatusRequestTimeout ||
		st.Status == "UNAVAILABLE" || st.Status == "INTERNAL" || kind == "internalError":
		e := Transient(ans.Status, code, msg)
		e.RetryAfter = retry
		return e
	case ans.Status == http.StatusUnauthorized || ans.Status == http.StatusForbidden ||
		ans.Status == http.StatusNotFound || googleAuthKind(kind):
		// 404: the customer or API version in the URL does not exist, which
		// only a configuration change can fix.
		return Auth(ans.Status, code, msg)
	}
	return Invalid(ans.Status, code, msg)
}

// googleAuthKind reports error families that need the merchant to fix the
// destination rather than the event.
func googleAuthKind(kind string) bool {
	switch kind {
	case "authenticationError", "authorizationError", "headerError", "notAllowlistedError":
		return true
	}
	return false
}

// googleRows classes a 200 answer per row. Rows named by an error in
// partialFailureError failed; a row Google answered with an empty result
// failed too (for errors without a location); the rest were applied.
func googleRows(ans answer, n int, validateOnly bool, rowError func(googleAdsError, int) *Error) []googleOutcome {
	var body struct {
		PartialFailureError *googleStatus     `json:"partialFailureError"`
		Results             []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(ans.Body, &body); err != nil {
		// Whether anything was applied is unknown; a retry is safe because
		// Google refuses a second upload of the same order id.
		return googleSame(n, ans.Status, googleBody(ans), Transient(ans.Status, "", "unreadable answer from Google Ads"))
	}
	byRow := make([][]googleAdsError, n)
	var unplaced []googleAdsError
	if pf := body.PartialFailureError; pf != nil {
		errs, _ := pf.parse()
		for _, e := range errs {
			if i := e.index(); i >= 0 && i < n {
				byRow[i] = append(byRow[i], e)
			} else {
				unplaced = append(unplaced, e)
			}
		}
		if len(errs) == 0 && pf.Code != 0 {
			unplaced = append(unplaced, googleAdsError{Message: pf.Message})
		}
	}
	out := make([]googleOutcome, n)
	for i := range out {
		out[i] = googleOutcome{status: ans.Status}
		errs := byRow[i]
		if len(errs) == 0 && len(unplaced) > 0 && !validateOnly && len(body.Results) == n && googleEmpty(body.Results[i]) {
			errs = unplaced
		}
		if len(errs) == 0 {
			if i < len(body.Results) {
				out[i].response = string(body.Results[i])
			}
			continue
		}
		resp, _ := json.Marshal(errs) // re-encoding decoded JSON cannot fail
		out[i].response = truncate(string(resp), 4096)
		_, out[i].reported = errs[0].kind()
		if out[i].reported == "" {
			out[i].reported = "UNKNOWN"
		}
		if e := rowError(errs[0], i); e != nil {
			e.StatusCode = ans.Status
			out[i].err = e
		}
	}
	return out
}

func googleEmpty(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "{}" || s == "null"
}

// googleConversionRowError classes one click conversion's error.
func googleConversionRowError(e googleAdsError, _ int) *Error {
	kind, code := e.kind()
	msg := truncate(e.Message, 300)
	if msg == "" {
		msg = "Google Ads refused the conversion"
	}
	switch {
	case code == "ORDER_ID_ALREADY_IN_USE" || code == "CLICK_CONVERSION_ALREADY_EXISTS":
		// The conversion is already recorded (an earlier delivery of the
		// same order): nothing left to do.
		return nil
	case code == "TOO_RECENT_EVENT" || code == "TOO_RECENT_CONVERSION_ACTION":
		e := Transient(0, code, msg)
		e.RetryAfter = googleTooRecentWait
		return e
	}
	return googleRowClass(kind, code, msg)
}

// googleNotAllowlistedMessage tells the merchant what to do when Google no
// longer takes click-conversion imports through the Ads API (since 15 June
// 2026 for developer tokens that had not imported before, Google Ads
// Developer Blog 2026-05-15; since the developer-token sunset of 2026-09-09
// API access belongs to the OAuth client's Cloud project).
const googleNotAllowlistedMessage = "Google Ads no longer accepts click-conversion uploads through the Google Ads API " +
	"from this Cloud project or developer token (CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE); set the destination's api to data_manager " +
	"(the default: Google's Data Manager API, with an OAuth client of a Cloud project where that API is enabled)"

// googleNotAllowlisted is the configuration failure for an allowlisting
// refusal, or nil for any other code.
func googleNotAllowlisted(status int, code string) *Error {
	if code != "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE" {
		return nil
	}
	return Auth(status, code, googleNotAllowlistedMessage)
}

// googleRowClass classes row errors of families shared by both methods.
func googleRowClass(kind, code, msg string) *Error {
	if e := googleNotAllowlisted(0, code); e != nil {
		return e
	}
	switch {
	case kind == "quotaError":
		return Throttled(0, code, msg, 0)
	case kind == "internalError":
		return Transient(0, code, msg)
	case googleAuthKind(kind):
		return Auth(0, code, msg)
	}
	if code == "" {
		code = "UNKNOWN"
	}
	return Invalid(0, code, msg)
}

// --- adjustments -----------------------------------------------------------

// Adjust restates (partial refund) or retracts (full refund) conversions
// delivered before, and returns one Result per adjustment, in order. The
// conversion is named by the order id it was uploaded with.
func (g *GoogleAds) Adjust(ctx context.Context, d Destination, adjs []Adjustment) []Result {
	a, aErr := googleAccountOf(d, g.cfg.BaseURL)
	if aErr != nil {
		return failAll(len(adjs), aErr)
	}
	sp := g.uploadSpec(a, aErr, "uploadConversionAdjustments",
		func(events []json.RawMessage) any {
			return googleAdjustRequest{ConversionAdjustments: events, PartialFailure: true, ValidateOnly: a.validateOnly}
		},
		func(e googleAdsError, row json.RawMessage) *Error {
			var ca struct {
				AdjustmentType string `json:"adjustmentType"`
			}
			_ = json.Unmarshal(row, &ca) // our own encoding: it always reads
			return googleAdjustmentRowError(e, ca.AdjustmentType)
		})
	now := g.cfg.now()
	return adjust(ctx, g.cfg, sp, d, g.Fields(), adjs, func(adj Adjustment) (googleConversionAdjustment, mapping.Match, error) {
		return a.conversionAdjustment(adj, now)
	})
}

// conversionAdjustment builds one adjustment: a RESTATEMENT to the value
// left after refunds, or a RETRACTION when nothing is left.
func (a googleAccount) conversionAdjustment(adj Adjustment, now time.Time) (googleConversionAdjustment, mapping.Match, error) {
	o := adj.Original
	ca := googleConversionAdjustment{ConversionAction: a.actionName(), AdjustmentType: "RETRACTION"}
	var m mapping.Match
	at := adj.Refund.Time
	if at.IsZero() {
		at = now
	}
	if !at.After(o.EventTime) {
		// Google wants the adjustment after the conversion
		// (ADJUSTMENT_PRECEDES_CONVERSION); a refund stamped at or before the
		// payment is clock skew between store events.
		at = o.EventTime.Add(time.Second)
	}
	ca.AdjustmentDateTime = googleDateTimeOf(at)
	if id := googleOrderID(o); id != "" {
		ca.OrderID = id
	} else if gclid := strings.TrimSpace(o.ClickIDs.GCLID); gclid != "" {
		ca.GclidDateTimePair = &googleGclidDateTimePair{Gclid: gclid, ConversionDateTime: googleDateTimeOf(o.EventTime)}
		m.ClickID = true
	}
	if adj.Remaining.IsPositive() {
		cur := o.Currency
		if strings.TrimSpace(cur) == "" {
			cur = adj.Refund.Currency
		}
		ca.AdjustmentType = "RESTATEMENT"
		ca.RestatementValue = &googleRestatementValue{AdjustedValue: json.Number(adj.Remaining.String())}
		if strings.TrimSpace(cur) != "" {
			code, err := mapping.NormalizeCurrency(cur)
			if err != nil {
				return ca, m, Invalid(0, "invalid_currency", "currency is not an ISO 4217 code; not sent")
			}
			ca.RestatementValue.CurrencyCode = code
		}
	}
	switch age := now.Sub(o.EventTime); {
	case o.EventTime.IsZero():
		return ca, m, Invalid(0, "no_event_time", "the original conversion has no time; not sent")
	case ca.OrderID == "" && ca.GclidDateTimePair == nil:
		return ca, m, Invalid(0, "no_identifier", "the original conversion has neither an order id nor a gclid; not sent")
	case age > googleAdjustMaxAge:
		return ca, m, Invalid(0, "CONVERSION_EXPIRED", "Google Ads adjusts only conversions of the last 54 days; not sent")
	case age < googleAdjustMinAge:
		e := Transient(0, "TOO_RECENT_CONVERSION", "Google Ads adjusts a conversion only 24 hours after it; will retry")
		e.RetryAfter = googleAdjustMinAge - age
		return ca, m, e
	}
	return ca, m, nil
}

// googleAdjustmentRowError classes one adjustment's error.
func googleAdjustmentRowError(e googleAdsError, adjType string) *Error {
	kind, code := e.kind()
	msg := truncate(e.Message, 300)
	if msg == "" {
		msg = "Google Ads refused the adjustment"
	}
	switch code {
	case "RESTATEMENT_ALREADY_EXISTS":
		// The same restatement (same adjustment time) is already recorded.
		return nil
	case "CONVERSION_ALREADY_RETRACTED":
		if adjType == "RETRACTION" {
			return nil
		}
	case "TOO_RECENT_CONVERSION":
		e := Transient(0, code, msg)
		e.RetryAfter = time.Hour
		return e
	case "TOO_RECENT_CONVERSION_ACTION":
		e := Transient(0, code, msg)
		e.RetryAfter = googleTooRecentWait
		return e
	}
	return googleRowClass(kind, code, msg)
}
