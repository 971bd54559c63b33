package platforms

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
)

// Google Ads conversions through Google's Data Manager API
// (IngestionService.IngestEvents), the path Google names for new adopters
// since the Ads API stopped taking click-conversion imports from developer
// tokens that had not used it (Google Ads Developer Blog, 2026-05-15).
//
// Read on 2026-12-03:
//   - the protos, googleapis/googleapis google/ads/datamanager/v1
//     (ingestion_service.proto, event.proto, destination.proto,
//     user_data.proto, consent.proto, cart_data.proto, device_info.proto,
//     error.proto, processing_errors.proto,
//     request_status_per_destination.proto);
//   - https://developers.google.com/data-manager/api/devguides/concepts/understand-errors
//   - https://developers.google.com/data-manager/api/devguides/events/google-ads/conversion-adjustments
//
// What they say, and where it differs from the issue text:
//   - POST /v1/events:ingest, GET /v1/requestStatus:retrieve?requestId=…,
//     OAuth scope https://www.googleapis.com/auth/datamanager; no developer
//     token and no login-customer-id header: the login account travels in
//     the body (Destination.loginAccount).
//   - At most 2000 events per request (IngestEventsRequest.events).
//   - Fast-fail: one record failing validation fails the whole request and
//     nothing in it is processed; BadRequest field violations name the
//     record (events[i]…). We isolate by those indexes, or by halving when
//     Google names none.
//   - Consent values are CONSENT_GRANTED / CONSENT_DENIED (not GRANTED).
//   - A user identifier is one of emailAddress, phoneNumber (both SHA-256 of
//     the normalized value) or address {givenName, familyName (hashed),
//     regionCode, postalCode (plain)}; encoding HEX names the digests'
//     encoding; at most 10 identifiers per event.
//   - DeviceInfo.ipAddress must not be sent for users in the EEA, the UK or
//     Switzerland; we leave it out when the billing country is one of them.
//   - Adjustments have no type: an event with the transactionId of a
//     recorded conversion of the same conversion action restates it (value,
//     or more user data). The guide names restatements only, no
//     retraction, so a full refund restates the value to 0 (the conversion
//     still counts once); only the legacy Ads API path retracts.
//   - The conversion action must be the one the Google tag uses (a WEBSITE
//     action) for tag and server events to deduplicate as one multi-source
//     conversion by transactionId.

// googleDMDefaultBaseURL is Data Manager's public API host.
const googleDMDefaultBaseURL = "https://datamanager.googleapis.com"

// googleDMScope is Data Manager's OAuth scope.
const googleDMScope = "https://www.googleapis.com/auth/datamanager"

// googleDMBatchSize is IngestEventsRequest's limit ("At most 2000 Event
// resources can be sent in a single request").
const googleDMBatchSize = 2000

// googleDMMaxAge is the longest click-through window a Google Ads
// conversion action can have; older events fail in processing
// (PROCESSING_ERROR_REASON_EVENT_TOO_OLD).
const googleDMMaxAge = 90 * 24 * time.Hour

// Compile-time checks.
var (
	_ Sender        = (*GoogleDataManager)(nil)
	_ Adjuster      = (*GoogleDataManager)(nil)
	_ StatusChecker = (*GoogleDataManager)(nil)
)

// GoogleDataManager sends conversions to a Google Ads conversion action
// through the Data Manager API. It is safe for concurrent use.
type GoogleDataManager struct {
	cfg   Config
	oauth *oauthSources
}

// NewGoogleDataManager returns the Data Manager sender. oauthURL is the base
// of Google's OAuth token endpoint (POST {oauthURL}/token); empty means
// Google's.
func NewGoogleDataManager(cfg Config, oauthURL string) *GoogleDataManager {
	cfg = cfg.withDefaults(googleDMDefaultBaseURL, 30*time.Second)
	return &GoogleDataManager{cfg: cfg, oauth: googleOAuth(cfg, oauthURL)}
}

// Name is the platform key.
func (g *GoogleDataManager) Name() string { return "google_ads" }

// Fields lists a Data Manager destination's credentials and settings.
func (g *GoogleDataManager) Fields() []Field {
	return []Field{
		{Name: "customer_id", Label: "Customer ID", Required: true,
			Help: "The Google Ads account that owns the conversion action, e.g. 123-456-7890."},
		{Name: "conversion_action_id", Label: "Conversion action ID", Required: true,
			Help: "ID of the website conversion action your Google tag already uses for purchases (Goals > Conversions > the action's ctId), so Google counts tag and server once by transaction id."},
		{Name: "client_id", Label: "OAuth client ID", Required: true,
			Help: "OAuth client of a Google Cloud project where the Data Manager API is enabled."},
		{Name: "client_secret", Label: "OAuth client secret", Required: true, Secret: true},
		{Name: "refresh_token", Label: "Refresh token", Required: true, Secret: true,
			Help: "Refresh token of a Google user with access to the Google Ads account, granted for the scope " + googleDMScope + "."},
		{Name: "login_customer_id", Label: "Manager account ID",
			Help: "Only when that user reaches the account through a manager account."},
		{Name: "validate_only", Label: "Validate only (test mode)", Setting: true, Bool: true,
			Help: "Google checks each request (validateOnly) but records nothing."},
		{Name: "ad_user_data_consent", Label: "Ad user data consent", Setting: true, Choices: googleConsentChoices,
			Help: "Sent as consent.adUserData when the browser did not report its own; leave it unspecified when you do not collect it."},
		{Name: "ad_personalization_consent", Label: "Ad personalization consent", Setting: true, Choices: googleConsentChoices,
			Help: "Sent as consent.adPersonalization when the browser did not report its own; leave it unspecified when you do not collect it."},
	}
}

// BatchSize is the most events one request may carry.
func (g *GoogleDataManager) BatchSize() int { return googleDMBatchSize }

// MaxAge is the longest click-through window Google allows.
func (g *GoogleDataManager) MaxAge() time.Duration { return googleDMMaxAge }

// TestMode reports whether the destination only validates.
func (g *GoogleDataManager) TestMode(d Destination) bool {
	return googleBool(d.Settings["validate_only"])
}

// googleDMAccount is a destination's checked configuration.
type googleDMAccount struct {
	customerID, actionID, loginID string
	oauth                         oauthCreds
	validateOnly                  bool
	adUserData, adPersonalization string
}

// googleDMAccountOf reads and checks a destination. Failures are ErrAuth
// (the destination cannot work until fixed) and start with the field's name.
func googleDMAccountOf(d Destination) (googleDMAccount, error) {
	cr := func(k string) string { return strings.TrimSpace(d.Credentials[k]) }
	a := googleDMAccount{
		oauth:        oauthCreds{clientID: cr("client_id"), clientSecret: cr("client_secret"), refreshToken: cr("refresh_token")},
		validateOnly: googleBool(d.Settings["validate_only"]),
	}
	var ok bool
	if a.customerID, ok = googleCustomerID(cr("customer_id")); !ok {
		return a, googleConfigError("customer_id must be a 10-digit Google Ads customer id, e.g. 123-456-7890")
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
		{"client_id", a.oauth.clientID}, {"client_secret", a.oauth.clientSecret}, {"refresh_token", a.oauth.refreshToken},
	} {
		if f.v == "" {
			return a, googleConfigError(f.name + " is missing")
		}
	}
	var err error
	if a.adUserData, err = googleDMConsentOf(d, "ad_user_data_consent"); err != nil {
		return a, err
	}
	if a.adPersonalization, err = googleDMConsentOf(d, "ad_personalization_consent"); err != nil {
		return a, err
	}
	return a, nil
}

// googleDMConsentOf maps a GRANTED/DENIED setting to Data Manager's
// ConsentStatus.
func googleDMConsentOf(d Destination, name string) (string, error) {
	switch v := strings.ToUpper(strings.TrimSpace(d.Settings[name])); v {
	case "":
		return "", nil
	case "GRANTED", "CONSENT_GRANTED":
		return "CONSENT_GRANTED", nil
	case "DENIED", "CONSENT_DENIED":
		return "CONSENT_DENIED", nil
	}
	return "", googleConfigError(name + " must be GRANTED, DENIED or empty")
}

// --- request bodies --------------------------------------------------------

type googleDMProductAccount struct {
	AccountType string `json:"accountType"`
	AccountID   string `json:"accountId"`
}

type googleDMDestination struct {
	OperatingAccount     googleDMProductAccount  `json:"operatingAccount"`
	LoginAccount         *googleDMProductAccount `json:"loginAccount,omitempty"`
	ProductDestinationID string                  `json:"productDestinationId"`
}

type googleDMDeviceInfo struct {
	UserAgent string `json:"userAgent,omitempty"`
	IPAddress string `json:"ipAddress,omitempty"`
}

type googleDMAdIdentifiers struct {
	Gclid                 string              `json:"gclid,omitempty"`
	Gbraid                string              `json:"gbraid,omitempty"`
	Wbraid                string              `json:"wbraid,omitempty"`
	LandingPageDeviceInfo *googleDMDeviceInfo `json:"landingPageDeviceInfo,omitempty"`
}

type googleDMAddress struct {
	GivenName  string `json:"givenName"`
	FamilyName string `json:"familyName"`
	RegionCode string `json:"regionCode"`
	PostalCode string `json:"postalCode"`
}

type googleDMUserIdentifier struct {
	EmailAddress string           `json:"emailAddress,omitempty"`
	PhoneNumber  string           `json:"phoneNumber,omitempty"`
	Address      *googleDMAddress `json:"address,omitempty"`
}

type googleDMUserData struct {
	UserIdentifiers []googleDMUserIdentifier `json:"userIdentifiers"`
}

type googleDMConsent struct {
	AdUserData        string `json:"adUserData,omitempty"`
	AdPersonalization string `json:"adPersonalization,omitempty"`
}

type googleDMItem struct {
	MerchantProductID string      `json:"merchantProductId,omitempty"`
	Quantity          int64       `json:"quantity,string"` // int64: a string in proto3 JSON
	UnitPrice         json.Number `json:"unitPrice"`
}

type googleDMCartData struct {
	Items []googleDMItem `json:"items"`
}

type googleDMEvent struct {
	TransactionID        string                 `json:"transactionId"`
	EventTimestamp       string                 `json:"eventTimestamp"`
	LastUpdatedTimestamp string                 `json:"lastUpdatedTimestamp,omitempty"`
	EventSource          string                 `json:"eventSource"`
	ConversionValue      json.Number            `json:"conversionValue"`
	Currency             string                 `json:"currency,omitempty"`
	AdIdentifiers        *googleDMAdIdentifiers `json:"adIdentifiers,omitempty"`
	UserData             *googleDMUserData      `json:"userData,omitempty"`
	Consent              *googleDMConsent       `json:"consent,omitempty"`
	CartData             *googleDMCartData      `json:"cartData,omitempty"`
}

type googleDMIngestRequest struct {
	Destinations []googleDMDestination `json:"destinations"`
	Events       []json.RawMessage     `json:"events"`
	ValidateOnly bool                  `json:"validateOnly,omitempty"`
	Encoding     string                `json:"encoding"`
}

// destination is the request's one Destination.
func (a googleDMAccount) destination() googleDMDestination {
	d := googleDMDestination{
		OperatingAccount:     googleDMProductAccount{AccountType: "GOOGLE_ADS", AccountID: a.customerID},
		ProductDestinationID: a.actionID,
	}
	if a.loginID != "" {
		d.LoginAccount = &googleDMProductAccount{AccountType: "GOOGLE_ADS", AccountID: a.loginID}
	}
	return d
}

// body wraps events in an IngestEventsRequest.
func (a googleDMAccount) body(events []json.RawMessage) ([]byte, error) {
	return json.Marshal(googleDMIngestRequest{
		Destinations: []googleDMDestination{a.destination()},
		Events:       events,
		ValidateOnly: a.validateOnly,
		Encoding:     "HEX",
	})
}

// googleDMTime is a protobuf Timestamp in JSON (RFC 3339, UTC).
func googleDMTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// googleDMNoIP are the regions whose users' IP addresses Google Ads must not
// receive (DeviceInfo.ip_address: EEA, United Kingdom, Switzerland).
var googleDMNoIP = map[string]bool{
	"AT": true, "BE": true, "BG": true, "HR": true, "CY": true, "CZ": true, "DK": true, "EE": true, "FI": true,
	"FR": true, "DE": true, "GR": true, "HU": true, "IE": true, "IT": true, "LV": true, "LT": true, "LU": true,
	"MT": true, "NL": true, "PL": true, "PT": true, "RO": true, "SK": true, "SI": true, "ES": true, "SE": true,
	"IS": true, "LI": true, "NO": true, "GB": true, "CH": true,
}

// event builds one conversion's Event and the identifiers it carries.
func (a googleDMAccount) event(c mapping.Conversion) (googleDMEvent, mapping.Match, error) {
	ev := googleDMEvent{
		TransactionID:   googleOrderID(c),
		EventTimestamp:  googleDMTime(c.EventTime),
		EventSource:     "WEB",
		ConversionValue: json.Number(c.Value.String()),
	}
	var m mapping.Match
	ids := googleDMAdIdentifiers{}
	// One click id, as in the legacy path: a gclid is the most precise.
	switch cl := c.ClickIDs; {
	case strings.TrimSpace(cl.GCLID) != "":
		ids.Gclid = strings.TrimSpace(cl.GCLID)
	case strings.TrimSpace(cl.GBRAID) != "":
		ids.Gbraid = strings.TrimSpace(cl.GBRAID)
	case strings.TrimSpace(cl.WBRAID) != "":
		ids.Wbraid = strings.TrimSpace(cl.WBRAID)
	}
	m.ClickID = ids.Gclid != "" || ids.Gbraid != "" || ids.Wbraid != ""
	dev := googleDMDeviceInfo{UserAgent: strings.TrimSpace(c.UserAgent)}
	if !googleDMNoIP[strings.ToUpper(mapping.NormalizeCountry(c.User.Country))] {
		dev.IPAddress = strings.TrimSpace(c.ClientIP)
	}
	if dev != (googleDMDeviceInfo{}) {
		ids.LandingPageDeviceInfo = &dev
		m.UserAgent, m.IP = dev.UserAgent != "", dev.IPAddress != ""
	}
	if ids != (googleDMAdIdentifiers{}) {
		ev.AdIdentifiers = &ids
	}
	var uids []googleDMUserIdentifier
	if em := googleNormalizeEmail(c.User.Email); em != "" {
		uids = append(uids, googleDMUserIdentifier{EmailAddress: mapping.Hash(em)})
		m.Email = true
	}
	if ph := googleNormalizePhone(c.User.Phone, c.User.Country); ph != "" {
		uids = append(uids, googleDMUserIdentifier{PhoneNumber: mapping.Hash(ph)})
		m.Phone = true
	}
	if addr := googleDMAddressOf(c.User); addr != nil {
		uids = append(uids, googleDMUserIdentifier{Address: addr})
		m.Name, m.Address = true, true
	}
	if len(uids) > 0 {
		ev.UserData = &googleDMUserData{UserIdentifiers: uids}
	}
	// The browser's own consent (Consent Mode, from the beacon) wins over
	// the destination's default.
	consent := googleDMConsent{AdUserData: a.adUserData, AdPersonalization: a.adPersonalization}
	if bc := c.Consent; bc != nil {
		consent.AdUserData = googleDMConsentValue(bc.AdUserData, consent.AdUserData)
		consent.AdPersonalization = googleDMConsentValue(bc.AdPersonalization, consent.AdPersonalization)
	}
	if consent != (googleDMConsent{}) {
		ev.Consent = &consent
	}
	for _, it := range c.Items {
		if ev.CartData == nil {
			ev.CartData = &googleDMCartData{}
		}
		ev.CartData.Items = append(ev.CartData.Items, googleDMItem{
			MerchantProductID: strings.TrimSpace(it.ID), Quantity: int64(it.Quantity), UnitPrice: json.Number(it.Price.String()),
		})
	}
	m = m.Score()
	if strings.TrimSpace(c.Currency) != "" {
		cur, err := mapping.NormalizeCurrency(c.Currency)
		if err != nil {
			return ev, m, Invalid(0, "invalid_currency", "currency is not an ISO 4217 code; not sent")
		}
		ev.Currency = cur
	}
	switch {
	case ev.TransactionID == "":
		return ev, m, Invalid(0, "no_transaction_id", "conversion has no event id to deduplicate on; not sent")
	case !m.ClickID && ev.UserData == nil:
		return ev, m, Invalid(0, "NO_IDENTIFIERS_PROVIDED", "no gclid, gbraid, wbraid, email, phone or address to match the conversion on; not sent")
	case c.EventTime.IsZero():
		return ev, m, Invalid(0, "no_event_time", "conversion has no time; not sent")
	}
	return ev, m, nil
}

// googleDMConsentValue is a browser's yes/no as a ConsentStatus, or def
// when the browser said nothing.
func googleDMConsentValue(v *bool, def string) string {
	switch {
	case v == nil:
		return def
	case *v:
		return "CONSENT_GRANTED"
	}
	return "CONSENT_DENIED"
}

// googleDMAddressOf is Data Manager's AddressInfo, which needs all four
// parts: names lowercased without punctuation and hashed, region and postal
// code in clear. nil when a part is missing.
func googleDMAddressOf(u mapping.User) *googleDMAddress {
	given, family := mapping.NormalizeName(u.FirstName), mapping.NormalizeName(u.LastName)
	region := strings.ToUpper(mapping.NormalizeCountry(u.Country))
	postal := strings.TrimSpace(u.Zip)
	if given == "" || family == "" || region == "" || postal == "" {
		return nil
	}
	return &googleDMAddress{GivenName: mapping.Hash(given), FamilyName: mapping.Hash(family), RegionCode: region, PostalCode: postal}
}

// --- sending ---------------------------------------------------------------

func (g *GoogleDataManager) ingestURL() string { return g.cfg.BaseURL + "/v1/events:ingest" }

// spec describes Data Manager to the shared send path. Google fast-fails:
// one invalid event refuses the whole request and nothing in it is
// processed. The events its field violations name (events[i]…) fail with
// Google's reason and the others go again without them; when it names
// none, the send path splits the request until the bad event is alone.
func (g *GoogleDataManager) spec(d Destination) spec {
	a, aErr := googleDMAccountOf(d)
	return spec{
		name: "google_ads", title: "Google Ads", batchSize: googleDMBatchSize, maxAge: googleDMMaxAge,
		check: func(Destination) error { return aErr },
		build: func(c mapping.Conversion, _ time.Time) (json.RawMessage, mapping.Match, error) {
			return encoded(a.event(c))
		},
		request: func(ctx context.Context, d Destination, events []json.RawMessage) (outgoing, error) {
			token, err := g.token(ctx, d, a, "")
			if err != nil {
				return outgoing{}, err
			}
			body, err := a.body(events)
			if err != nil {
				return outgoing{}, Invalid(0, "", fmt.Sprintf("cannot encode request: %v", err))
			}
			return outgoing{url: g.ingestURL(), header: bearerHeaders(token), body: body, token: token}, nil
		},
		renew: func(ctx context.Context, d Destination, stale string) (bool, error) {
			_, err := g.token(ctx, d, a, stale)
			return err == nil, err
		},
		read: func(ans answer, events []json.RawMessage, now time.Time) verdict {
			return googleDMVerdict(ans, len(events), now)
		},
	}
}

// token is the destination's access token (a placeholder in a dry run).
func (g *GoogleDataManager) token(ctx context.Context, d Destination, a googleDMAccount, stale string) (string, error) {
	if dryRun(ctx) {
		return googleRedacted, nil
	}
	return g.oauth.token(ctx, d.ID, a.oauth, stale)
}

// Render is the ingest request Send would post for convs (a dry run
// through the send path), with secrets and the bearer token redacted.
func (g *GoogleDataManager) Render(d Destination, convs []mapping.Conversion) (Request, error) {
	return render(g.cfg, g.spec(d), d, convs, g.Fields())
}

// Send delivers a batch in requests of at most BatchSize events and returns
// one Result per conversion. An event Google refuses fails alone with
// Google's reason; the others are sent again without it.
func (g *GoogleDataManager) Send(ctx context.Context, d Destination, convs []mapping.Conversion) []Result {
	return deliver(ctx, g.cfg, g.spec(d), d, convs, g.Fields())
}

// googleDMVerdict reads Data Manager's answer to a request of n events.
func googleDMVerdict(ans answer, n int, now time.Time) verdict {
	if ans.Status == http.StatusOK {
		return verdict{}
	}
	st := googleDMStatusOf(ans)
	e := st.classify(ans, now)
	if e.Class != ErrInvalid {
		return verdict{whole: e}
	}
	v := verdict{events: st.eventErrors(n), resend: make([]bool, n)}
	named := false
	for k, be := range v.events {
		if be != nil {
			named = true
			be.StatusCode = ans.Status
			continue
		}
		v.resend[k] = true
		v.events[k] = unprocessed(ans.Status, "not processed: Google refused another event of the request")
	}
	if !named {
		if msg := st.violation(); msg != "" {
			e.Message = truncate(msg, 300)
		}
		return verdict{whole: e}
	}
	return v
}

// --- answers ---------------------------------------------------------------

// googleDMStatus is the google.rpc.Status of a failed request, with the
// details Data Manager sends.
type googleDMStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
	Details []struct {
		Type            string `json:"@type"`
		Reason          string `json:"reason"`     // ErrorInfo
		RetryDelay      string `json:"retryDelay"` // RetryInfo
		FieldViolations []struct {
			Field       string `json:"field"`
			Description string `json:"description"`
			Reason      string `json:"reason"`
		} `json:"fieldViolations"` // BadRequest
	} `json:"details"`
}

func googleDMStatusOf(ans answer) googleDMStatus {
	var body struct {
		Error googleDMStatus `json:"error"`
	}
	_ = json.Unmarshal(ans.Body, &body) // an unreadable body is classed by status alone
	return body.Error
}

// reason is the ErrorInfo reason (Data Manager's ErrorReason), or "".
func (s googleDMStatus) reason() string {
	for _, d := range s.Details {
		if strings.HasSuffix(d.Type, "google.rpc.ErrorInfo") && d.Reason != "" {
			return d.Reason
		}
	}
	return ""
}

func (s googleDMStatus) retryDelay() time.Duration {
	var out time.Duration
	for _, d := range s.Details {
		out = max(out, googleDuration(d.RetryDelay))
	}
	return out
}

// googleDMConfigReasons are refusals only a change to the destination (or
// the Google Ads account) can fix.
var googleDMConfigReasons = map[string]string{
	"INVALID_CONVERSION_ACTION_ID":    "Google does not know conversion_action_id in this account; check the conversion action",
	"INVALID_CONVERSION_ACTION_TYPE":  "the conversion action cannot take these events; use the website conversion action your Google tag uses",
	"INVALID_DESTINATION":             "Google refused the destination; check customer_id, login_customer_id and conversion_action_id",
	"PERMISSION_DENIED":               "the OAuth user cannot write to this Google Ads account; check customer_id and login_customer_id",
	"NOT_FOUND":                       "Google does not know this account or conversion action",
	"TERMS_AND_CONDITIONS_NOT_SIGNED": "the Google Ads account has not accepted the customer data terms; accept them in Google Ads",
	"DESTINATION_ACCOUNT_ENHANCED_CONVERSIONS_TERMS_NOT_SIGNED":      "the Google Ads account has not accepted the enhanced conversions terms",
	"DESTINATION_ACCOUNT_DATA_POLICY_PROHIBITS_ENHANCED_CONVERSIONS": "Google's customer data policies bar enhanced conversions for this account",
}

// classify classes a non-200 answer.
func (s googleDMStatus) classify(ans answer, now time.Time) *Error {
	reason := s.reason()
	code := reason
	if code == "" {
		code = s.Status
	}
	msg := truncate(s.Message, 300)
	if msg == "" {
		msg = "Google Data Manager refused the request"
	}
	switch {
	case ans.Status == http.StatusTooManyRequests || s.Status == "RESOURCE_EXHAUSTED":
		return Throttled(ans.Status, code, msg, max(s.retryDelay(), RetryAfter(ans.Header, now)))
	case ans.Status >= 500 || ans.Status == http.StatusRequestTimeout ||
		s.Status == "UNAVAILABLE" || s.Status == "INTERNAL" || s.Status == "DEADLINE_EXCEEDED":
		e := Transient(ans.Status, code, msg)
		e.RetryAfter = max(s.retryDelay(), RetryAfter(ans.Header, now))
		return e
	case ans.Status == http.StatusUnauthorized || s.Status == "UNAUTHENTICATED":
		return Auth(ans.Status, code, "Google refused the OAuth token: "+msg)
	case googleDMConfigReasons[reason] != "":
		return Auth(ans.Status, code, googleDMConfigReasons[reason]+" ("+msg+")")
	case s.destinationViolation() != "":
		// The request's destination, not an event, is wrong: splitting the
		// batch would only repeat the refusal.
		return Auth(ans.Status, code, googleDMConfigReasons["INVALID_DESTINATION"]+" ("+truncate(s.destinationViolation(), 300)+")")
	case ans.Status == http.StatusForbidden || ans.Status == http.StatusNotFound ||
		s.Status == "PERMISSION_DENIED" || s.Status == "NOT_FOUND":
		return Auth(ans.Status, code, googleDMConfigReasons["PERMISSION_DENIED"]+" ("+msg+")")
	}
	return Invalid(ans.Status, code, msg)
}

// violation is the first field violation as "field: description", or "".
func (s googleDMStatus) violation() string {
	for _, d := range s.Details {
		for _, v := range d.FieldViolations {
			if v.Description != "" {
				return v.Field + ": " + v.Description
			}
		}
	}
	return ""
}

// destinationViolation is the first field violation about the request's
// destinations, as "field: description", or "".
func (s googleDMStatus) destinationViolation() string {
	for _, d := range s.Details {
		for _, v := range d.FieldViolations {
			if strings.HasPrefix(strings.ToLower(v.Field), "destinations") {
				return v.Field + ": " + v.Description
			}
		}
	}
	return ""
}

// googleDMEventIndex finds the event a field violation is about
// ("events[3].ad_identifiers.gclid").
var googleDMEventIndex = regexp.MustCompile(`(?i)\bevents\[(\d+)\]`)

// eventErrors is, per event of an n-event request, the error Google named it
// in, or nil. A violation naming no event (or one out of range) names none.
func (s googleDMStatus) eventErrors(n int) []*Error {
	out := make([]*Error, n)
	for _, d := range s.Details {
		for _, v := range d.FieldViolations {
			m := googleDMEventIndex.FindStringSubmatch(v.Field)
			if m == nil {
				continue
			}
			i, err := strconv.Atoi(m[1])
			if err != nil || i < 0 || i >= n || out[i] != nil {
				continue
			}
			code := v.Reason
			if code == "" {
				code = s.reason()
			}
			if code == "" {
				code = "INVALID_ARGUMENT"
			}
			msg := v.Description
			if msg == "" {
				msg = s.Message
			}
			out[i] = Invalid(0, code, truncate(v.Field+": "+msg, 300))
		}
	}
	return out
}

// --- adjustments -------------------------------------------------------------

// Adjust restates conversions delivered before to the value left after
// refunds: an event with the original transactionId, time and identifiers,
// the new value, and the refund's time as lastUpdatedTimestamp. A full
// refund restates to 0 (Data Manager documents no retraction).
func (g *GoogleDataManager) Adjust(ctx context.Context, d Destination, adjs []Adjustment) []Result {
	a, err := googleDMAccountOf(d)
	if err != nil {
		return failAll(len(adjs), err)
	}
	now := g.cfg.now()
	return adjust(ctx, g.cfg, g.spec(d), d, g.Fields(), adjs, func(adj Adjustment) (googleDMEvent, mapping.Match, error) {
		return a.adjustment(adj, now)
	})
}

// adjustment builds one restatement event.
func (a googleDMAccount) adjustment(adj Adjustment, now time.Time) (googleDMEvent, mapping.Match, error) {
	o := adj.Original
	remaining := adj.Remaining
	if remaining.IsNegative() {
		remaining = decimal.Zero
	}
	o.Value = remaining
	if strings.TrimSpace(o.Currency) == "" {
		o.Currency = adj.Refund.Currency
	}
	ev, m, err := a.event(o)
	if err != nil {
		return ev, m, err
	}
	at := adj.Refund.Time
	if at.IsZero() {
		at = now
	}
	if !at.After(o.EventTime) {
		at = o.EventTime.Add(time.Second)
	}
	ev.LastUpdatedTimestamp = googleDMTime(at)
	// The cart as bought no longer describes the restated value.
	ev.CartData = nil
	return ev, m, nil
}

// --- request status ------------------------------------------------------------

// RequestID reads the requestId Data Manager answered an ingest with (empty
// for validate-only requests, which Google does not track).
func (g *GoogleDataManager) RequestID(response string) string {
	var r struct {
		RequestID string `json:"requestId"`
	}
	if json.Unmarshal([]byte(response), &r) != nil {
		return ""
	}
	return r.RequestID
}

// RequestStatus asks Data Manager how the request went once processed
// (requestStatus:retrieve).
func (g *GoogleDataManager) RequestStatus(ctx context.Context, d Destination, requestID string) (PlatformStatus, error) {
	a, err := googleDMAccountOf(d)
	if err != nil {
		return PlatformStatus{}, err
	}
	u := g.cfg.BaseURL + "/v1/requestStatus:retrieve?requestId=" + url.QueryEscape(requestID)
	var ans answer
	stale := ""
	for try := 0; try < 2; try++ {
		// A 401 refreshes the token once, as sends do.
		token, err := g.oauth.token(ctx, d.ID, a.oauth, stale)
		if err != nil {
			return PlatformStatus{}, err
		}
		if ans, err = call(ctx, g.cfg.Client, http.MethodGet, u, bearerHeaders(token), nil); err != nil {
			return PlatformStatus{}, err
		}
		if ans.Status != http.StatusUnauthorized {
			break
		}
		stale = token
	}
	if ans.Status != http.StatusOK {
		return PlatformStatus{}, googleDMStatusOf(ans).classify(ans, g.cfg.now())
	}
	return googleDMParseStatus(ans.Body)
}

// googleDMParseStatus reads a RetrieveRequestStatusResponse for our one
// destination.
func googleDMParseStatus(body []byte) (PlatformStatus, error) {
	var r struct {
		PerDestination []struct {
			RequestStatus string `json:"requestStatus"`
			ErrorInfo     struct {
				ErrorCounts []struct {
					RecordCount json.Number `json:"recordCount"`
					Reason      string      `json:"reason"`
				} `json:"errorCounts"`
			} `json:"errorInfo"`
			EventsIngestionStatus struct {
				RecordCount json.Number `json:"recordCount"`
			} `json:"eventsIngestionStatus"`
		} `json:"requestStatusPerDestination"`
	}
	if err := json.Unmarshal(body, &r); err != nil || len(r.PerDestination) == 0 {
		return PlatformStatus{}, Transient(http.StatusOK, "", "unreadable request status from Google")
	}
	p := r.PerDestination[0]
	var parts []string
	for _, c := range p.ErrorInfo.ErrorCounts {
		parts = append(parts, fmt.Sprintf("%s ×%s", strings.TrimPrefix(c.Reason, "PROCESSING_ERROR_REASON_"), c.RecordCount))
	}
	sort.Strings(parts)
	st := PlatformStatus{Detail: strings.Join(parts, ", ")}
	switch p.RequestStatus {
	case "PROCESSING", "REQUEST_STATUS_UNKNOWN", "":
		st.State = StatusProcessing
	case "SUCCESS":
		st.State, st.Done = StatusAccepted, true
	case "PARTIAL_SUCCESS":
		st.State, st.Done = StatusPartial, true
	default:
		st.State, st.Done = StatusRejected, true
	}
	if n := p.EventsIngestionStatus.RecordCount.String(); n != "" && st.Done {
		if st.Detail == "" {
			st.Detail = n + " events"
		} else {
			st.Detail = n + " events; errors: " + st.Detail
		}
	}
	return st, nil
}
