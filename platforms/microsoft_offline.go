package platforms

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

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
)

// Compile-time checks.
var (
	_ Sender   = (*MicrosoftOffline)(nil)
	_ Adjuster = (*MicrosoftOffline)(nil)
)

// MicrosoftOffline uploads conversions to a Microsoft Advertising offline
// conversion goal. It is safe for concurrent use.
type MicrosoftOffline struct {
	cfg   Config
	oauth *oauthSources
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
	return &MicrosoftOffline{cfg: cfg, oauth: newOAuthSources("Microsoft", tokenURL, cfg.Client,
		url.Values{"scope": {microsoftAdsScope + " offline_access"}})}
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

// spec describes an Apply call (u, rows under key) to the shared send
// path. Microsoft answers per row (PartialErrors: the other rows were
// applied); a fault naming rows (BatchErrors) applied none, so the rows it
// did not name go again without the named ones.
func (m *MicrosoftOffline) spec(d Destination) spec {
	return m.specFor(d, m.applyURL(), "OfflineConversions")
}

func (m *MicrosoftOffline) specFor(d Destination, u, key string) spec {
	a, aErr := microsoftOfflineAccountOf(d)
	return spec{
		name: "microsoft", title: "Microsoft Advertising", batchSize: microsoftOfflineBatchSize, maxAge: microsoftOfflineMaxAge,
		check: func(Destination) error { return aErr },
		build: func(c mapping.Conversion, _ time.Time) (json.RawMessage, mapping.Match, error) {
			return encoded(a.conversion(c))
		},
		request: func(ctx context.Context, d Destination, rows []json.RawMessage) (outgoing, error) {
			token, err := m.token(ctx, d, a, "")
			if err != nil {
				return outgoing{}, err
			}
			body, err := json.Marshal(map[string][]json.RawMessage{key: rows})
			if err != nil {
				return outgoing{}, Invalid(0, "", fmt.Sprintf("cannot encode request: %v", err))
			}
			return outgoing{url: u, header: a.headers(token), body: body, token: token}, nil
		},
		renew: func(ctx context.Context, d Destination, stale string) (bool, error) {
			_, err := m.token(ctx, d, a, stale)
			return err == nil, err
		},
		read: func(ans answer, rows []json.RawMessage, now time.Time) verdict {
			return microsoftOfflineVerdict(ans, len(rows), now)
		},
	}
}

// token is the destination's access token (a placeholder in a dry run).
func (m *MicrosoftOffline) token(ctx context.Context, d Destination, a microsoftOfflineAccount, stale string) (string, error) {
	if dryRun(ctx) {
		return googleRedacted, nil
	}
	return m.oauth.token(ctx, d.ID, a.oauth, stale)
}

// Render is the ApplyOfflineConversions request Send would post (a dry run
// through the send path), with secrets redacted.
func (m *MicrosoftOffline) Render(d Destination, convs []mapping.Conversion) (Request, error) {
	return render(m.cfg, m.spec(d), d, convs, m.Fields())
}

// Send uploads a batch and returns one Result per conversion.
func (m *MicrosoftOffline) Send(ctx context.Context, d Destination, convs []mapping.Conversion) []Result {
	return deliver(ctx, m.cfg, m.spec(d), d, convs, m.Fields())
}

// Adjust restates or retracts conversions delivered before.
func (m *MicrosoftOffline) Adjust(ctx context.Context, d Destination, adjs []Adjustment) []Result {
	a, err := microsoftOfflineAccountOf(d)
	if err != nil {
		return failAll(len(adjs), err)
	}
	now := m.cfg.now()
	sp := m.specFor(d, m.adjustURL(), "OfflineConversionAdjustments")
	return adjust(ctx, m.cfg, sp, d, m.Fields(), adjs, func(adj Adjustment) (microsoftOfflineAdjustment, mapping.Match, error) {
		return a.adjustment(adj, now)
	})
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

// microsoftOfflineVerdict reads Microsoft's answer to a request of n rows.
func microsoftOfflineVerdict(ans answer, n int, now time.Time) verdict {
	var body microsoftOfflineAnswer
	jerr := json.Unmarshal(ans.Body, &body)
	byRow := func(errs []microsoftOfflineError) map[int]microsoftOfflineError {
		out := map[int]microsoftOfflineError{}
		for _, e := range errs {
			if e.Index != nil && *e.Index >= 0 && *e.Index < n {
				out[*e.Index] = e
			}
		}
		return out
	}
	if ans.Status == http.StatusOK && jerr == nil {
		// Applied, but for the rows named.
		v := verdict{events: make([]*Error, n), notes: make([]string, n)}
		for k, e := range byRow(append(body.PartialErrors, body.BatchErrors...)) {
			v.events[k] = microsoftOfflineClass(ans.Status, e, ans, now)
			v.notes[k] = e.ErrorCode
		}
		return v
	}
	// A fault: nothing was applied.
	errs := append(append(body.OperationErrors, body.Errors...), body.BatchErrors...)
	if len(errs) == 0 {
		e := ClassifyStatus(ans.Status, ans.Header, "Microsoft Advertising refused the request", now)
		if e == nil {
			e = Transient(ans.Status, "", "unreadable answer from Microsoft Advertising")
		}
		return verdict{whole: e}
	}
	e := microsoftOfflineClass(ans.Status, errs[0], ans, now)
	rows := byRow(body.BatchErrors)
	// A fault naming single rows (BatchErrors, each with its index) is
	// about those rows only.
	if e.Class != ErrInvalid || len(body.OperationErrors) > 0 || len(body.Errors) > 0 || len(rows) != len(body.BatchErrors) {
		return verdict{whole: e}
	}
	v := verdict{events: make([]*Error, n), resend: make([]bool, n)}
	for k := range n {
		if be, ok := rows[k]; ok {
			v.events[k] = microsoftOfflineClass(ans.Status, be, ans, now)
		} else {
			v.resend[k] = true
			v.events[k] = unprocessed(ans.Status, "not applied because another conversion of the request was refused")
		}
	}
	return v
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
