package platforms

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
)

// dmBadGclid is a click id the fake Data Manager refuses, as Google refuses
// a gclid it cannot decode.
const dmBadGclid = "not-a-real-gclid"

// dmFake is Google's Data Manager API: it checks each request as Google
// documents it (path, bearer token, one destination with the account and
// conversion action, HEX encoding, SHA-256 hex identifiers, consent enum
// values, at most 2000 events), fails the whole request when any event is
// invalid (fast fail), and answers requestStatus.
type dmFake struct {
	t     *testing.T
	oauth *googleFakeOAuth
	url   string

	mu       sync.Mutex
	ingests  [][]byte
	statuses map[string]int // request id → events, for requestStatus
	polls    map[string]int
	// noIndex makes refusals name no event, as when Google's BadRequest
	// names no field.
	noIndex bool
	// respond, when set, answers every ingest instead.
	respond func(w http.ResponseWriter)
}

func newDMFake(t *testing.T, oauth *googleFakeOAuth) *dmFake {
	t.Helper()
	f := &dmFake{t: t, oauth: oauth, statuses: map[string]int{}, polls: map[string]int{}}
	f.url = startFake(t, http.HandlerFunc(f.serve)).URL
	return f
}

var dmHex = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (f *dmFake) serve(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !f.oauth.Valid(tok) {
		googleWriteJSON(w, http.StatusUnauthorized, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`)
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/events:ingest":
		f.ingest(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/requestStatus:retrieve":
		f.status(w, r)
	default:
		f.t.Errorf("data manager: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	}
}

type dmFakeRequest struct {
	Destinations []struct {
		OperatingAccount     googleDMProductAccount  `json:"operatingAccount"`
		LoginAccount         *googleDMProductAccount `json:"loginAccount"`
		ProductDestinationID string                  `json:"productDestinationId"`
	} `json:"destinations"`
	Events       []googleDMEvent `json:"events"`
	ValidateOnly bool            `json:"validateOnly"`
	Encoding     string          `json:"encoding"`
}

func (f *dmFake) ingest(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var req dmFakeRequest
	if err := decodeStrict(raw, &req); err != nil {
		f.t.Errorf("data manager: body does not decode strictly: %v\n%s", err, raw)
		googleWriteJSON(w, http.StatusBadRequest, `{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}`)
		return
	}
	f.mu.Lock()
	f.ingests = append(f.ingests, raw)
	respond, noIndex := f.respond, f.noIndex
	f.mu.Unlock()
	if respond != nil {
		respond(w)
		return
	}
	if len(req.Destinations) != 1 {
		f.t.Fatalf("data manager: %d destinations, want 1", len(req.Destinations))
	}
	d := req.Destinations[0]
	if d.OperatingAccount != (googleDMProductAccount{AccountType: "GOOGLE_ADS", AccountID: googleTestCID}) ||
		d.ProductDestinationID != googleTestActionID ||
		d.LoginAccount == nil || *d.LoginAccount != (googleDMProductAccount{AccountType: "GOOGLE_ADS", AccountID: googleTestLoginCID}) {
		f.t.Errorf("data manager: destination %+v", d)
	}
	if req.Encoding != "HEX" {
		f.t.Errorf("data manager: encoding %q, want HEX", req.Encoding)
	}
	if len(req.Events) == 0 || len(req.Events) > 2000 {
		f.t.Errorf("data manager: %d events", len(req.Events))
	}
	var violations []string
	for i, ev := range req.Events {
		f.checkEvent(i, ev)
		if ev.AdIdentifiers != nil && ev.AdIdentifiers.Gclid == dmBadGclid {
			field := fmt.Sprintf("events[%d].ad_identifiers.gclid", i)
			if noIndex {
				field = "events"
			}
			violations = append(violations, fmt.Sprintf(`{"field":%q,"description":"The gclid could not be decoded."}`, field))
		}
	}
	if len(violations) > 0 {
		googleWriteJSON(w, http.StatusBadRequest, fmt.Sprintf(`{"error":{"code":400,"message":"There was a problem with the request.","status":"INVALID_ARGUMENT","details":[
			{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"INVALID_FORMAT","domain":"datamanager.googleapis.com"},
			{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[%s]}]}}`, strings.Join(violations, ",")))
		return
	}
	if req.ValidateOnly {
		googleWriteJSON(w, http.StatusOK, `{}`)
		return
	}
	f.mu.Lock()
	id := fmt.Sprintf("dm-req-%d", len(f.statuses)+1)
	f.statuses[id] = len(req.Events)
	f.mu.Unlock()
	googleWriteJSON(w, http.StatusOK, fmt.Sprintf(`{"requestId":%q}`, id))
}

func (f *dmFake) checkEvent(i int, ev googleDMEvent) {
	if ev.TransactionID == "" || ev.EventSource != "WEB" {
		f.t.Errorf("event %d: transactionId %q eventSource %q", i, ev.TransactionID, ev.EventSource)
	}
	if _, err := time.Parse(time.RFC3339, ev.EventTimestamp); err != nil {
		f.t.Errorf("event %d: eventTimestamp %q: %v", i, ev.EventTimestamp, err)
	}
	hasID := ev.AdIdentifiers != nil && (ev.AdIdentifiers.Gclid != "" || ev.AdIdentifiers.Gbraid != "" || ev.AdIdentifiers.Wbraid != "")
	if ev.UserData != nil {
		if n := len(ev.UserData.UserIdentifiers); n == 0 || n > 10 {
			f.t.Errorf("event %d: %d user identifiers", i, n)
		}
		for _, u := range ev.UserData.UserIdentifiers {
			hasID = true
			set := 0
			for _, h := range []string{u.EmailAddress, u.PhoneNumber} {
				if h != "" {
					set++
					if !dmHex.MatchString(h) {
						f.t.Errorf("event %d: identifier %q is not lowercase SHA-256 hex", i, h)
					}
				}
			}
			if a := u.Address; a != nil {
				set++
				if !dmHex.MatchString(a.GivenName) || !dmHex.MatchString(a.FamilyName) ||
					!regexp.MustCompile(`^[A-Z]{2}$`).MatchString(a.RegionCode) || a.PostalCode == "" {
					f.t.Errorf("event %d: address %+v", i, a)
				}
			}
			if set != 1 {
				f.t.Errorf("event %d: a user identifier sets %d of its oneof", i, set)
			}
		}
	}
	if !hasID {
		f.t.Errorf("event %d: no identifiers (NO_IDENTIFIERS_PROVIDED)", i)
	}
	if c := ev.Consent; c != nil {
		for _, v := range []string{c.AdUserData, c.AdPersonalization} {
			if v != "" && v != "CONSENT_GRANTED" && v != "CONSENT_DENIED" {
				f.t.Errorf("event %d: consent %q", i, v)
			}
		}
	}
}

func (f *dmFake) status(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("requestId")
	f.mu.Lock()
	n, ok := f.statuses[id]
	f.polls[id]++
	polls := f.polls[id]
	f.mu.Unlock()
	if !ok {
		googleWriteJSON(w, http.StatusBadRequest, `{"error":{"code":400,"message":"invalid request id","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"INVALID_REQUEST_ID"}]}}`)
		return
	}
	if polls == 1 {
		googleWriteJSON(w, http.StatusOK, `{"requestStatusPerDestination":[{"requestStatus":"PROCESSING"}]}`)
		return
	}
	googleWriteJSON(w, http.StatusOK, fmt.Sprintf(`{"requestStatusPerDestination":[{"requestStatus":"PARTIAL_SUCCESS",
		"errorInfo":{"errorCounts":[{"recordCount":"1","reason":"PROCESSING_ERROR_REASON_INVALID_GCLID"}]},
		"eventsIngestionStatus":{"recordCount":"%d"}}]}`, n))
}

func (f *dmFake) Ingests() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.ingests...)
}

type dmHarness struct {
	oauth *googleFakeOAuth
	api   *dmFake
	g     *GoogleDataManager
}

func newDMHarness(t *testing.T) *dmHarness {
	t.Helper()
	h := &dmHarness{oauth: newGoogleFakeOAuth(t)}
	h.api = newDMFake(t, h.oauth)
	h.g = NewGoogleDataManager(testConfig(h.api.url, 5*time.Second), h.oauth.srv.URL)
	return h
}

func dmDestination() Destination {
	d := googleTestDestination()
	delete(d.Credentials, "developer_token")
	d.Settings = map[string]string{"ad_user_data_consent": "granted", "ad_personalization_consent": "DENIED"}
	return d
}

func TestGoogleDataManagerGolden(t *testing.T) {
	names, convs := sortedConversions()
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			// Rendered against Google's own host, so the golden holds the
			// real URL.
			public := NewGoogleDataManager(testConfig("", time.Second), "")
			req, err := public.Render(dmDestination(), convs[i:i+1])
			if err != nil {
				checkGolden(t, filepath.Join("testdata", "google_data_manager", name+".golden.json"), map[string]string{"error": err.Error()}, googleTestClientSecret)
				return
			}
			checkGolden(t, filepath.Join("testdata", "google_data_manager", name+".golden.json"), req, googleTestClientSecret)
		})
	}
}

func TestGoogleDataManagerHashing(t *testing.T) {
	a, err := googleDMAccountOf(dmDestination())
	if err != nil {
		t.Fatal(err)
	}
	c := testConversions()["full"]
	ev, m, err := a.event(c)
	if err != nil {
		t.Fatal(err)
	}
	ids := ev.UserData.UserIdentifiers
	want := []googleDMUserIdentifier{
		// Non-Gmail addresses keep dots and +tags (Data Manager "Format user data").
		{EmailAddress: testSHA256("jane.doe+shop@example.com")},
		{PhoneNumber: testSHA256("+12175550143")},
		{Address: &googleDMAddress{GivenName: testSHA256("jane"), FamilyName: testSHA256("odoe"), RegionCode: "US", PostalCode: "62701-1234"}},
	}
	if got, _ := json.Marshal(ids); !jsonEqual(t, got, mustJSON(t, want)) {
		t.Errorf("identifiers\n got %s\nwant %s", got, mustJSON(t, want))
	}
	if ev.Consent == nil || ev.Consent.AdUserData != "CONSENT_GRANTED" || ev.Consent.AdPersonalization != "CONSENT_DENIED" {
		t.Errorf("consent %+v", ev.Consent)
	}
	if ev.AdIdentifiers.LandingPageDeviceInfo == nil || ev.AdIdentifiers.LandingPageDeviceInfo.IPAddress != "203.0.113.42" {
		t.Errorf("device info %+v", ev.AdIdentifiers.LandingPageDeviceInfo)
	}
	if !m.ClickID || !m.Email || !m.Phone || !m.Address {
		t.Errorf("match %+v", m)
	}
	// The browser's consent wins over the destination's default.
	no, yes := false, true
	c.Consent = &mapping.Consent{AdUserData: &no, AdPersonalization: &yes}
	if ev, _, _ := a.event(c); ev.Consent == nil || ev.Consent.AdUserData != "CONSENT_DENIED" || ev.Consent.AdPersonalization != "CONSENT_GRANTED" {
		t.Errorf("browser consent: %+v", ev.Consent)
	}
	c.Consent = nil
	// No IP for a buyer in the EEA, the UK or Switzerland.
	c.User.Country = "DE"
	ev, _, _ = a.event(c)
	if ev.AdIdentifiers.LandingPageDeviceInfo.IPAddress != "" {
		t.Errorf("IP sent for a German buyer")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dmConv(id, gclid string) mapping.Conversion {
	c := googleConv(id)
	c.ClickIDs.GCLID = gclid
	return c
}

func TestGoogleDataManagerSendAndStatus(t *testing.T) {
	h := newDMHarness(t)
	d := dmDestination()
	res := h.g.Send(context.Background(), d, []mapping.Conversion{dmConv("a", "g-a"), dmConv("b", "g-b")})
	for i, r := range res {
		if r.Err != nil || r.StatusCode != 200 {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	id := h.g.RequestID(res[0].Response)
	if id != "dm-req-1" {
		t.Fatalf("request id %q from %q", id, res[0].Response)
	}
	st, err := h.g.RequestStatus(context.Background(), d, id)
	if err != nil || st.Done || st.State != StatusProcessing {
		t.Fatalf("first status %+v, %v; want processing", st, err)
	}
	st, err = h.g.RequestStatus(context.Background(), d, id)
	if err != nil || !st.Done || st.State != StatusPartial || st.Detail != "2 events; errors: INVALID_GCLID ×1" {
		t.Fatalf("second status %+v, %v", st, err)
	}
	if h.oauth.Calls() != 1 {
		t.Errorf("%d token refreshes, want 1 shared by every call", h.oauth.Calls())
	}
	if _, err := h.g.RequestStatus(context.Background(), d, "unknown"); !errorsIsInvalid(err) {
		t.Errorf("unknown request id: %v, want invalid", err)
	}
}

func errorsIsInvalid(err error) bool { return googleClassOf(err) == "invalid" }

// TestGoogleDataManagerSplit: a refusal that names no event (isolation by
// the violations' indexes is part of TestSenderContract) is split until
// each bad event is alone, and only those fail, with Google's reason.
func TestGoogleDataManagerSplit(t *testing.T) {
	h := newDMHarness(t)
	h.api.noIndex = true
	convs := []mapping.Conversion{
		dmConv("0", "g-0"), dmConv("1", dmBadGclid), dmConv("2", "g-2"), dmConv("3", dmBadGclid), dmConv("4", "g-4"),
	}
	res := h.g.Send(context.Background(), dmDestination(), convs)
	for i, r := range res {
		bad := convs[i].ClickIDs.GCLID == dmBadGclid
		switch {
		case bad && googleClassOf(r.Err) != "invalid":
			t.Errorf("event %d: %v, want invalid", i, r.Err)
		case bad && !strings.Contains(r.Err.Error(), "gclid could not be decoded"):
			t.Errorf("event %d: %v, want Google's reason", i, r.Err)
		case !bad && r.Err != nil:
			t.Errorf("event %d: %v, want delivered", i, r.Err)
		}
	}
}

func TestGoogleDataManagerErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		class      string
		code       string
		retryAfter time.Duration
	}{
		{"permission denied", 403, `{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}`, "auth", "PERMISSION_DENIED", 0},
		{"unknown conversion action", 400, `{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"INVALID_CONVERSION_ACTION_ID"}]}}`, "auth", "INVALID_CONVERSION_ACTION_ID", 0},
		{"bad destination field", 400, `{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"destinations[0].product_destination_id","description":"Conversion action not found."}]}]}}`, "auth", "INVALID_ARGUMENT", 0},
		{"resource exhausted", 429, `{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"42s"}]}}`, "throttled", "RESOURCE_EXHAUSTED", 42 * time.Second},
		{"unavailable", 503, `{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}`, "transient", "UNAVAILABLE", 0},
		{"unreadable 400", 400, `<html>`, "invalid", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newDMHarness(t)
			h.api.respond = func(w http.ResponseWriter) { googleWriteJSON(w, tt.status, tt.body) }
			res := h.g.Send(context.Background(), dmDestination(), []mapping.Conversion{dmConv("a", "g-a"), dmConv("b", "g-b")})
			for i, r := range res {
				if googleClassOf(r.Err) != tt.class || errCode(r.Err) != tt.code {
					t.Errorf("result %d: %v (code %q), want %s %s", i, r.Err, errCode(r.Err), tt.class, tt.code)
				}
			}
			if e := testError(t, res[0].Err); e.RetryAfter != tt.retryAfter {
				t.Errorf("retry after %v, want %v", e.RetryAfter, tt.retryAfter)
			}
		})
	}
}

func TestGoogleDataManagerValidateOnly(t *testing.T) {
	h := newDMHarness(t)
	d := dmDestination()
	d.Settings["validate_only"] = "true"
	if !h.g.TestMode(d) {
		t.Error("validate_only destination is not in test mode")
	}
	res := h.g.Send(context.Background(), d, []mapping.Conversion{dmConv("a", "g-a")})
	if res[0].Err != nil || h.g.RequestID(res[0].Response) != "" {
		t.Fatalf("validate-only send: %+v", res[0])
	}
	var body dmFakeRequest
	if err := json.Unmarshal(h.api.Ingests()[0], &body); err != nil || !body.ValidateOnly {
		t.Errorf("validateOnly not sent: %s", h.api.Ingests()[0])
	}
}

func TestGoogleDataManagerAdjust(t *testing.T) {
	h := newDMHarness(t)
	orig := testConversions()["full"]
	refund := mapping.Refund{RefundID: "r1", OrderID: orig.OrderID, Currency: "USD", Time: testNow.Add(-time.Hour)}
	adjs := []Adjustment{
		{Original: orig, Refund: withAmount(refund, "20.94", false), Remaining: decimal.RequireFromString("100")},
		{Original: orig, Refund: withAmount(refund, "120.94", true), Remaining: decimal.Zero},
	}
	res := h.g.Adjust(context.Background(), dmDestination(), adjs)
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("adjustment %d: %v", i, r.Err)
		}
	}
	sent := h.api.Ingests()
	if len(sent) != 1 {
		t.Fatalf("%d requests, want 1", len(sent))
	}
	checkGolden(t, filepath.Join("testdata", "google_data_manager", "adjustments.golden.json"), json.RawMessage(sent[0]), googleTestClientSecret)
	var body dmFakeRequest
	if err := json.Unmarshal(sent[0], &body); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"100", "0"} {
		ev := body.Events[i]
		if ev.TransactionID != orig.EventID || ev.ConversionValue.String() != want || ev.LastUpdatedTimestamp == "" {
			t.Errorf("adjustment %d: transactionId %q value %s lastUpdated %q", i, ev.TransactionID, ev.ConversionValue, ev.LastUpdatedTimestamp)
		}
	}
}

func TestGoogleDataManagerConfiguration(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(d *Destination)
		field string
	}{
		{"customer id too short", func(d *Destination) { d.Credentials["customer_id"] = "123-456" }, "customer_id"},
		{"customer id letters", func(d *Destination) { d.Credentials["customer_id"] = "abc-def-ghij" }, "customer_id"},
		{"conversion action not numeric", func(d *Destination) { d.Credentials["conversion_action_id"] = "purchase" }, "conversion_action_id"},
		{"login id", func(d *Destination) { d.Credentials["login_customer_id"] = "1" }, "login_customer_id"},
		{"no refresh token", func(d *Destination) { delete(d.Credentials, "refresh_token") }, "refresh_token"},
		{"consent", func(d *Destination) { d.Settings["ad_user_data_consent"] = "maybe" }, "ad_user_data_consent"},
	}
	g := NewGoogleDataManager(testConfig("http://127.0.0.1:1", time.Second), "http://127.0.0.1:1")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dmDestination()
			tt.edit(&d)
			_, err := g.Render(d, []mapping.Conversion{dmConv("a", "g-a")})
			if googleClassOf(err) != "auth" || !strings.HasPrefix(testError(t, err).Message, tt.field+" ") {
				t.Errorf("%v, want a configuration error naming %s", err, tt.field)
			}
		})
	}
}

func TestGoogleAdsNotAllowlisted(t *testing.T) {
	body := googleErrorBody(403, "PERMISSION_DENIED", "notAllowlistedError", "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE", "")
	for _, tt := range []struct {
		name    string
		respond func(w http.ResponseWriter, req googleFakeRequest, rows int)
	}{
		{"request", func(w http.ResponseWriter, _ googleFakeRequest, _ int) { googleWriteJSON(w, 403, body) }},
		{"row", func(w http.ResponseWriter, _ googleFakeRequest, rows int) {
			googleWriteJSON(w, 200, googleResults(rows, []googleRowErr{{0, "notAllowlistedError", "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE"}}))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newGoogleHarness(t)
			h.ads.SetRespond(tt.respond)
			res := h.g.Send(context.Background(), googleTestDestination(), []mapping.Conversion{googleConv("a")})
			if googleClassOf(res[0].Err) != "auth" || errCode(res[0].Err) != "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE" ||
				!strings.Contains(res[0].Err.Error(), "set the destination's api to data_manager") {
				t.Errorf("%v, want a configuration error telling to switch to data_manager", res[0].Err)
			}
		})
	}
}

func TestAPIChoice(t *testing.T) {
	h := newDMHarness(t)
	legacy := NewGoogleAds(testConfig("http://127.0.0.1:1", time.Second), h.oauth.srv.URL)
	c := NewAPIChoice("google_ads", API{Name: "data_manager", Label: "DM", Sender: h.g}, API{Name: "google_ads_api", Label: "Ads", Sender: legacy})
	d := dmDestination()
	if a, err := c.Pick(d); err != nil || a.Name != "data_manager" {
		t.Errorf("default pick %q, %v", a.Name, err)
	}
	d.Settings["api"] = "google_ads_api"
	if a, err := c.Pick(d); err != nil || a.Name != "google_ads_api" {
		t.Errorf("pick %q, %v", a.Name, err)
	}
	req, err := c.Render(d, []mapping.Conversion{dmConv("a", "g-a")})
	if err != nil || !strings.Contains(req.URL, ":uploadClickConversions") {
		t.Errorf("google_ads_api renders %s, %v", req.URL, err)
	}
	d.Settings["api"] = "soap"
	if _, err := c.Render(d, nil); googleClassOf(err) != "auth" || !strings.HasPrefix(testError(t, err).Message, "api ") {
		t.Errorf("unknown api: %v", err)
	}
	if c.BatchSize() != 2000 || c.MaxAge() != 90*24*time.Hour {
		t.Errorf("batch %d max age %v", c.BatchSize(), c.MaxAge())
	}
	got := map[string]bool{}
	fields := c.Fields()
	if fields[0].Name != "api" || !fields[0].Setting {
		t.Errorf("first field %+v, want the api setting", fields[0])
	}
	for _, f := range fields {
		got[f.Name] = f.Required
	}
	if !got["customer_id"] || got["developer_token"] {
		t.Errorf("required flags %v: customer_id is required by both apis, developer_token by neither", got)
	}
	for _, f := range fields {
		if f.Name == "ad_personalization_consent" && !strings.HasPrefix(f.Help, "Only for api data_manager") {
			t.Errorf("ad_personalization_consent help %q", f.Help)
		}
	}
}

// FuzzGoogleDataManagerAnswer feeds arbitrary error answers to the
// classifier and isolation reader: they must never panic, and every event
// error they name must be within the request.
func FuzzGoogleDataManagerAnswer(f *testing.F) {
	f.Add(400, []byte(`{"error":{"code":400,"status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"events[1].ad_identifiers.gclid","description":"bad"}]}]}}`), 3)
	f.Add(429, []byte(`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}`), 1)
	f.Add(400, []byte(`{"error":{"details":[{"fieldViolations":[{"field":"events[99999999999999999999]"}]}]}}`), 2)
	f.Add(200, []byte(`{"requestStatusPerDestination":[{"requestStatus":"FAILED","errorInfo":{"errorCounts":[{"recordCount":"2","reason":"X"}]}}]}`), 1)
	f.Fuzz(func(t *testing.T, status int, body []byte, n int) {
		if n < 1 || n > 50 {
			return
		}
		ans := answer{Status: status, Header: http.Header{}, Body: body}
		st := googleDMStatusOf(ans)
		if e := st.classify(ans, testNow); e == nil {
			t.Fatal("nil classification")
		}
		if got := len(st.eventErrors(n)); got != n {
			t.Fatalf("%d event errors for %d events", got, n)
		}
		_, _ = googleDMParseStatus(body)
	})
}
