package platforms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/postbackhq/postback/mapping"
)

// Microsoft Advertising offline conversions: Campaign Management API v13
// ApplyOfflineConversions and ApplyOfflineConversionAdjustments over REST
// JSON, the generally available path for advertisers outside the UET
// Conversions API pilot.
//
// Read on 2026-12-03: Microsoft Learn, "ApplyOfflineConversions Service
// Operation - Campaign Management"
// (https://learn.microsoft.com/en-us/advertising/campaign-management-service/applyofflineconversions?view=bingads-13),
// "OfflineConversion" and "OfflineConversionAdjustment" data objects,
// "BatchError", the "Offline Conversion" bulk record (Restate/Retract), and
// the "Authentication with OAuth" guide; checked against public clients that
// call POST /CampaignManagement/v13/OfflineConversions/Apply with the
// Authorization, DeveloperToken, CustomerId and CustomerAccountId headers.
//
//   - Body {"OfflineConversions":[{MicrosoftClickId, ConversionName,
//     ConversionTime (UTC), ConversionValue, ConversionCurrencyCode,
//     HashedEmailAddress, HashedPhoneNumber}]}; up to 1,000 per call.
//   - ConversionName is the name of an offline conversion goal in the
//     account; Microsoft asks to wait about two hours after creating it.
//   - The answer lists PartialErrors (BatchError: Index, Code, ErrorCode,
//     Message); the others were applied. Request-level faults carry
//     Errors / OperationErrors.
//   - Hashed email and phone are enhanced conversions: SHA-256 of the
//     normalized email and of the E.164 phone, and can stand in for the
//     click id.
//   - Offline conversions are not deduplicated against the UET tag: the goal
//     must be an offline goal, not the tag's.
//   - Refunds: OfflineConversionAdjustments/Apply, AdjustmentType Restate
//     (AdjustmentValue) or Retract, naming the original click id, goal name
//     and conversion time.
//   - OAuth: Microsoft identity platform, token endpoint
//     https://login.microsoftonline.com/common/oauth2/v2.0/token, scope
//     https://ads.microsoft.com/msads.manage offline_access. Microsoft
//     returns a new refresh token with each access token; Postback keeps
//     refreshing with the stored one, which stays valid until it goes 90
//     days unused.

const (
	microsoftAdsDefaultBaseURL   = "https://campaign.api.bingads.microsoft.com"
	microsoftOAuthDefaultBaseURL = "https://login.microsoftonline.com"
	microsoftAdsScope            = "https://ads.microsoft.com/msads.manage"
	// microsoftOfflineBatchSize is ApplyOfflineConversions' limit.
	microsoftOfflineBatchSize = 1000
	// microsoftOfflineMaxAge: ConversionTime must be within the last 90 days.
	microsoftOfflineMaxAge = 90 * 24 * time.Hour
	// microsoftTokenMargin is how long before its expiry an access token
	// (an hour's) is replaced.
	microsoftTokenMargin = 5 * time.Minute
)

// Compile-time checks.
var (
	_ Sender   = (*MicrosoftOffline)(nil)
	_ Adjuster = (*MicrosoftOffline)(nil)
)

// MicrosoftOffline uploads conversions to a Microsoft Advertising offline
// conversion goal. It is safe for concurrent use.
type MicrosoftOffline struct {
	cfg      Config
	tokenURL string
	// tokenClient is cfg.Client with the scope added to refreshes.
	tokenClient *http.Client
	tokens      oauthTokens
}

// NewMicrosoftOffline returns the offline conversions sender. oauthURL is
// the base of the Microsoft identity platform (POST
// {oauthURL}/common/oauth2/v2.0/token); empty means Microsoft's.
func NewMicrosoftOffline(cfg Config, oauthURL string) *MicrosoftOffline {
	cfg = cfg.withDefaults(microsoftAdsDefaultBaseURL, 30*time.Second)
	if oauthURL == "" {
		oauthURL = microsoftOAuthDefaultBaseURL
	}
	tokenURL := strings.TrimRight(oauthURL, "/") + "/common/oauth2/v2.0/token"
	return &MicrosoftOffline{
		cfg: cfg, tokenURL: tokenURL,
		tokenClient: withFormValues(cfg.Client, url.Values{"scope": {microsoftAdsScope + " offline_access"}}),
	}
}

// Name is the platform key.
func (m *MicrosoftOffline) Name() string { return "microsoft" }

// Fields lists an offline-conversions destination's credentials and
// settings.
func (m *MicrosoftOffline) Fields() []Field {
	return []Field{
		{Name: "customer_id", Label: "Customer ID", Required: true,
			Help: "The Microsoft Advertising customer (manager) id, CID= in the web UI's address."},
		{Name: "account_id", Label: "Account ID", Required: true,
			Help: "The ad account id, AID= in the web UI's address."},
		{Name: "developer_token", Label: "Developer token", Required: true, Secret: true,
			Help: "From the Microsoft Advertising Developer Portal (Account tab)."},
		{Name: "client_id", Label: "OAuth client (application) ID", Required: true,
			Help: "An app registered in Microsoft Entra ID, with a redirect URI, used to grant access."},
		{Name: "client_secret", Label: "OAuth client secret", Required: true, Secret: true},
		{Name: "refresh_token", Label: "Refresh token", Required: true, Secret: true,
			Help: "Granted by a user of the account for the scopes https://ads.microsoft.com/msads.manage offline_access."},
		{Name: "conversion_name", Label: "Conversion goal name", Setting: true,
			Help: "Name of an offline conversion goal in the account (Conversions ▸ Conversion goals ▸ Offline). Required for offline_conversions; Microsoft takes uploads about two hours after the goal is created."},
	}
}

// BatchSize is ApplyOfflineConversions' limit.
func (m *MicrosoftOffline) BatchSize() int { return microsoftOfflineBatchSize }

// MaxAge is how old a conversion may be.
func (m *MicrosoftOffline) MaxAge() time.Duration { return microsoftOfflineMaxAge }

// TestMode: the API has no test mode (Microsoft's sandbox is a separate
// environment with its own accounts).
func (m *MicrosoftOffline) TestMode(Destination) bool { return false }

// microsoftOfflineAccount is a destination's checked configuration.
type microsoftOfflineAccount struct {
	customerID, accountID, devToken, goal string
	oauth                                 oauthCreds
}

func microsoftOfflineAccountOf(d Destination) (microsoftOfflineAccount, error) {
	cr := func(k string) string { return strings.TrimSpace(d.Credentials[k]) }
	a := microsoftOfflineAccount{
		customerID: cr("customer_id"), accountID: cr("account_id"), devToken: cr("developer_token"),
		goal:  strings.TrimSpace(d.Settings["conversion_name"]),
		oauth: oauthCreds{clientID: cr("client_id"), clientSecret: cr("client_secret"), refreshToken: cr("refresh_token")},
	}
	for _, f := range []struct{ name, v string }{{"customer_id", a.customerID}, {"account_id", a.accountID}} {
		if f.v == "" || !googleDigits(f.v) || len(f.v) > 20 {
			return a, Auth(0, "invalid_configuration", f.name+" must be the numeric Microsoft Advertising id")
		}
	}
	for _, f := range []struct{ name, v string }{
		{"developer_token", a.devToken}, {"client_id", a.oauth.clientID},
		{"client_secret", a.oauth.clientSecret}, {"refresh_token", a.oauth.refreshToken},
	} {
		if f.v == "" {
			return a, Auth(0, "invalid_configuration", f.name+" is missing")
		}
	}
	if a.goal == "" || len(a.goal) > 100 {
		return a, Auth(0, "invalid_configuration", "conversion_name must name an offline conversion goal (up to 100 characters)")
	}
	return a, nil
}

// headers are the Campaign Management headers for an access token.
func (a microsoftOfflineAccount) headers(token string) map[string]string {
	h := bearerHeaders(token)
	h["DeveloperToken"] = a.devToken
	h["CustomerId"] = a.customerID
	h["CustomerAccountId"] = a.accountID
	return h
}

type microsoftOfflineConversion struct {
	MicrosoftClickID       string      `json:"MicrosoftClickId,omitempty"`
	ConversionName         string      `json:"ConversionName"`
	ConversionTime         string      `json:"ConversionTime"`
	ConversionValue        json.Number `json:"ConversionValue"`
	ConversionCurrencyCode string      `json:"ConversionCurrencyCode,omitempty"`
	HashedEmailAddress     string      `json:"HashedEmailAddress,omitempty"`
	HashedPhoneNumber      string      `json:"HashedPhoneNumber,omitempty"`
}

type microsoftOfflineAdjustment struct {
	MicrosoftClickID       string       `json:"MicrosoftClickId,omitempty"`
	ConversionName         string       `json:"ConversionName"`
	ConversionTime         string       `json:"ConversionTime"`
	AdjustmentType         string       `json:"AdjustmentType"`
	AdjustmentTime         string       `json:"AdjustmentTime"`
	AdjustmentValue        *json.Number `json:"AdjustmentValue,omitempty"`
	AdjustmentCurrencyCode string       `json:"AdjustmentCurrencyCode,omitempty"`
	HashedEmailAddress     string       `json:"HashedEmailAddress,omitempty"`
	HashedPhoneNumber      string       `json:"HashedPhoneNumber,omitempty"`
}

// microsoftTime is a dateTime in UTC, as ConversionTime wants it.
func microsoftTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// conversion builds one OfflineConversion.
func (a microsoftOfflineAccount) conversion(c mapping.Conversion) (microsoftOfflineConversion, mapping.Match, error) {
	oc := microsoftOfflineConversion{
		MicrosoftClickID:   strings.TrimSpace(c.ClickIDs.MSCLKID),
		ConversionName:     a.goal,
		ConversionTime:     microsoftTime(c.EventTime),
		ConversionValue:    json.Number(c.Value.String()),
		HashedEmailAddress: microsoftEmailHash(c.User.Email),
		HashedPhoneNumber:  microsoftPhoneHash(c.User),
	}
	m := mapping.Match{ClickID: oc.MicrosoftClickID != "", Email: oc.HashedEmailAddress != "", Phone: oc.HashedPhoneNumber != ""}.Score()
	if strings.TrimSpace(c.Currency) != "" {
		cur, err := mapping.NormalizeCurrency(c.Currency)
		if err != nil {
			return oc, m, Invalid(0, "invalid_currency", "currency is not an ISO 4217 code; not sent")
		}
		oc.ConversionCurrencyCode = cur
	}
	switch {
	case !m.ClickID && !m.Email && !m.Phone:
		return oc, m, Invalid(0, "no_identifier", "no msclkid, email or phone to match the conversion on; not sent")
	case c.EventTime.IsZero():
		return oc, m, Invalid(0, "no_event_time", "conversion has no time; not sent")
	}
	return oc, m, nil
}

// adjustment builds one OfflineConversionAdjustment: Restate to the value
// left, or Retract when nothing is left.
func (a microsoftOfflineAccount) adjustment(adj Adjustment, now time.Time) (microsoftOfflineAdjustment, mapping.Match, error) {
	oc, m, err := a.conversion(adj.Original)
	at := adj.Refund.Time
	if at.IsZero() {
		at = now
	}
	if !at.After(adj.Original.EventTime) {
		at = adj.Original.EventTime.Add(time.Second)
	}
	out := microsoftOfflineAdjustment{
		MicrosoftClickID: oc.MicrosoftClickID, ConversionName: oc.ConversionName, ConversionTime: oc.ConversionTime,
		AdjustmentType: "Retract", AdjustmentTime: microsoftTime(at),
		HashedEmailAddress: oc.HashedEmailAddress, HashedPhoneNumber: oc.HashedPhoneNumber,
	}
	if err != nil {
		return out, m, err
	}
	if adj.Remaining.IsPositive() {
		v := json.Number(adj.Remaining.String())
		out.AdjustmentType, out.AdjustmentValue = "Restate", &v
		out.AdjustmentCurrencyCode = oc.ConversionCurrencyCode
		if out.AdjustmentCurrencyCode == "" && adj.Refund.Currency != "" {
			cur, err := mapping.NormalizeCurrency(adj.Refund.Currency)
			if err != nil {
				return out, m, Invalid(0, "invalid_currency", "currency is not an ISO 4217 code; not sent")
			}
			out.AdjustmentCurrencyCode = cur
		}
	}
	return out, m, nil
}

func (m *MicrosoftOffline) applyURL() string {
	return m.cfg.BaseURL + "/CampaignManagement/v13/OfflineConversions/Apply"
}

func (m *MicrosoftOffline) adjustURL() string {
	return m.cfg.BaseURL + "/CampaignManagement/v13/OfflineConversionAdjustments/Apply"
}

func microsoftOfflineBody(key string) func([]json.RawMessage) ([]byte, error) {
	return func(rows []json.RawMessage) ([]byte, error) {
		return json.Marshal(map[string][]json.RawMessage{key: rows})
	}
}

func (m *MicrosoftOffline) build(a microsoftOfflineAccount, convs []mapping.Conversion) ([]Result, []int, []json.RawMessage) {
	return prepare(convs, m.cfg.now(), microsoftOfflineMaxAge, "Microsoft Advertising", a.conversion)
}

// Render builds the ApplyOfflineConversions request without sending it;
// secrets are redacted.
func (m *MicrosoftOffline) Render(d Destination, convs []mapping.Conversion) (Request, error) {
	a, err := microsoftOfflineAccountOf(d)
	if err != nil {
		return Request{}, err
	}
	results, _, rows := m.build(a, convs)
	h := a.headers(googleRedacted)
	h["DeveloperToken"] = googleRedacted
	return renderPrepared("microsoft", m.applyURL(), h, results, rows, microsoftOfflineBody("OfflineConversions"))
}

// Send uploads a batch and returns one Result per conversion.
func (m *MicrosoftOffline) Send(ctx context.Context, d Destination, convs []mapping.Conversion) []Result {
	a, err := microsoftOfflineAccountOf(d)
	if err != nil {
		return failAll(len(convs), err)
	}
	results, ready, rows := m.build(a, convs)
	m.deliver(ctx, d, a, m.applyURL(), "OfflineConversions", results, ready, rows)
	return results
}

// Adjust restates or retracts conversions delivered before.
func (m *MicrosoftOffline) Adjust(ctx context.Context, d Destination, adjs []Adjustment) []Result {
	a, err := microsoftOfflineAccountOf(d)
	if err != nil {
		return failAll(len(adjs), err)
	}
	now := m.cfg.now()
	results := make([]Result, len(adjs))
	var ready []int
	var rows []json.RawMessage
	for i, adj := range adjs {
		row, match, err := a.adjustment(adj, now)
		results[i].Match = match
		if err == nil {
			var b []byte
			if b, err = json.Marshal(row); err == nil {
				results[i].Payload = b
				ready, rows = append(ready, i), append(rows, b)
				continue
			}
			err = Invalid(0, "", fmt.Sprintf("cannot encode adjustment: %v", err))
		}
		results[i].Err = err
	}
	m.deliver(ctx, d, a, m.adjustURL(), "OfflineConversionAdjustments", results, ready, rows)
	return results
}

// deliver posts rows in chunks and fills their results from Microsoft's
// PartialErrors.
func (m *MicrosoftOffline) deliver(ctx context.Context, d Destination, a microsoftOfflineAccount, u, key string,
	results []Result, ready []int, rows []json.RawMessage) {
	for start := 0; start < len(ready); start += microsoftOfflineBatchSize {
		end := min(start+microsoftOfflineBatchSize, len(ready))
		idx := ready[start:end]
		body, err := microsoftOfflineBody(key)(rows[start:end])
		if err != nil {
			spread(results, idx, 0, "", Invalid(0, "", fmt.Sprintf("cannot encode request: %v", err)))
			continue
		}
		ans, err := m.call(ctx, d, a, u, body)
		if err != nil {
			e := classified(err, "microsoft")
			spread(results, ready[start:], ans.Status, googleBody(ans), e)
			return
		}
		if stop := microsoftOfflineOutcome(ans, results, idx, m.cfg.now()); stop != nil {
			spread(results, ready[end:], stop.StatusCode, "", stop)
			return
		}
		// A fault that refused some rows applied none: send the others
		// again without them (each round drops at least one row).
		var again []int
		var againRows []json.RawMessage
		for j, i := range idx {
			if errCodeOf(results[i].Err) == microsoftNotApplied {
				again, againRows = append(again, i), append(againRows, rows[start+j])
			}
		}
		if len(again) > 0 && len(again) < len(idx) {
			m.deliver(ctx, d, a, u, key, results, again, againRows)
		}
	}
}

// microsoftNotApplied marks a row a fault left unapplied because of
// another row.
const microsoftNotApplied = "not_applied"

// errCodeOf is a classified failure's code, "" for anything else.
func errCodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// call posts with the destination's access token; on a 401 it drops the
// token and retries once with a fresh one.
func (m *MicrosoftOffline) call(ctx context.Context, d Destination, a microsoftOfflineAccount, u string, body []byte) (answer, error) {
	stale := ""
	for try := 0; ; try++ {
		token, err := m.tokens.token(ctx, d.ID, a.oauth.grant(m.tokenURL), m.tokenClient, m.cfg.now(), microsoftTokenMargin, stale,
			func(re *oauth2.RetrieveError) error { return oauthError(re, "Microsoft", m.cfg.now()) })
		if err != nil {
			return answer{}, err
		}
		ans, err := post(ctx, m.cfg.Client, u, a.headers(token), body)
		if err != nil || ans.Status != http.StatusUnauthorized || try > 0 {
			return ans, err
		}
		stale = token
	}
}

// microsoftOfflineError is one of Microsoft's error objects (BatchError,
// OperationError, AdApiError).
type microsoftOfflineError struct {
	Index     *int   `json:"Index"`
	Code      int    `json:"Code"`
	ErrorCode string `json:"ErrorCode"`
	Message   string `json:"Message"`
}

// microsoftOfflineAnswer is an Apply answer or fault.
type microsoftOfflineAnswer struct {
	PartialErrors   []microsoftOfflineError `json:"PartialErrors"`
	BatchErrors     []microsoftOfflineError `json:"BatchErrors"`
	OperationErrors []microsoftOfflineError `json:"OperationErrors"`
	Errors          []microsoftOfflineError `json:"Errors"`
	Message         string                  `json:"Message"`
}

// microsoftOfflineOutcome fills the results at idx from one answer and
// returns a failure the whole destination shares (throttling, credentials),
// or nil.
func microsoftOfflineOutcome(ans answer, results []Result, idx []int, now time.Time) *Error {
	var body microsoftOfflineAnswer
	jerr := json.Unmarshal(ans.Body, &body)
	resp := googleBody(ans)
	if ans.Status == http.StatusOK && jerr == nil {
		byRow := map[int]microsoftOfflineError{}
		for _, e := range append(body.PartialErrors, body.BatchErrors...) {
			if e.Index != nil && *e.Index >= 0 && *e.Index < len(idx) {
				byRow[*e.Index] = e
			}
		}
		var stop *Error
		for j, i := range idx {
			results[i].StatusCode, results[i].Response, results[i].Err = ans.Status, resp, nil
			if e, ok := byRow[j]; ok {
				ce := microsoftOfflineClass(ans.Status, e, ans, now)
				results[i].Err = ce
				results[i].Match.Reported = e.ErrorCode
				if ce.Class == ErrAuth || ce.Class == ErrThrottled {
					stop = ce
				}
			}
		}
		return stop
	}
	// A fault: the whole request failed.
	errs := append(append(body.OperationErrors, body.Errors...), body.BatchErrors...)
	var e *Error
	if len(errs) > 0 {
		e = microsoftOfflineClass(ans.Status, errs[0], ans, now)
		// A fault naming single rows (BatchErrors) with a valid index is
		// about those rows only when every error has one.
		if len(body.OperationErrors) == 0 && len(body.Errors) == 0 && e.Class == ErrInvalid {
			rowsOnly := map[int]microsoftOfflineError{}
			for _, be := range body.BatchErrors {
				if be.Index != nil && *be.Index >= 0 && *be.Index < len(idx) {
					rowsOnly[*be.Index] = be
				}
			}
			if len(rowsOnly) == len(body.BatchErrors) {
				for j, i := range idx {
					results[i].StatusCode, results[i].Response = ans.Status, resp
					if be, ok := rowsOnly[j]; ok {
						results[i].Err = microsoftOfflineClass(ans.Status, be, ans, now)
					} else {
						// Not applied: the fault stopped the call; retry.
						results[i].Err = Transient(ans.Status, microsoftNotApplied, "not applied because another conversion of the request was refused")
					}
				}
				return nil
			}
		}
	} else {
		e = ClassifyStatus(ans.Status, ans.Header, "Microsoft Advertising refused the request", now)
		if e == nil {
			e = Transient(ans.Status, "", "unreadable answer from Microsoft Advertising")
		}
	}
	spread(results, idx, ans.Status, resp, e)
	if e.Class == ErrAuth || e.Class == ErrThrottled {
		return e
	}
	return nil
}

// microsoftOfflineAuthCodes are Microsoft's error codes that only new
// credentials or settings fix.
var microsoftOfflineAuthCodes = map[string]bool{
	"AuthenticationTokenExpired": true, "InvalidCredentials": true, "UserIsNotAuthorized": true,
	"InvalidCustomerId": true, "InvalidAccountId": true, "CustomerIdHasToBeSpecified": true,
	"AccountIdHasToBeSpecified": true, "InvalidDeveloperToken": true, "DeveloperTokenNotAuthorized": true,
	"UserDoesNotHaveAccessToAccount": true, "CustomerNotAuthorized": true,
}

// microsoftOfflineClass classes one error object.
func microsoftOfflineClass(status int, e microsoftOfflineError, ans answer, now time.Time) *Error {
	code := e.ErrorCode
	if code == "" && e.Code != 0 {
		code = fmt.Sprint(e.Code)
	}
	msg := truncate(strings.TrimSpace(e.Message), 300)
	if msg == "" {
		msg = "Microsoft Advertising refused the conversion"
	}
	lc := strings.ToLower(code)
	switch {
	case status == http.StatusTooManyRequests || code == "CallRateExceeded" || e.Code == 117:
		return Throttled(status, code, msg, RetryAfter(ans.Header, now))
	case status >= 500 || status == http.StatusRequestTimeout || code == "InternalError":
		return Transient(status, code, msg)
	case microsoftOfflineAuthCodes[code] || status == http.StatusUnauthorized || status == http.StatusForbidden:
		return Auth(status, code, msg)
	case strings.Contains(lc, "conversionname") || strings.Contains(lc, "conversiongoal"):
		// The goal named by settings.conversion_name does not exist (yet):
		// every conversion would fail the same way.
		return Auth(status, code, "conversion_name does not name an offline conversion goal Microsoft accepts: "+msg)
	}
	return Invalid(status, code, msg)
}
