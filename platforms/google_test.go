package platforms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/internal/testutil"
	"github.com/postbackhq/postback/mapping"
)

// The credentials every Google test destination carries, as a merchant types
// them (customer ids with dashes).
const (
	googleTestCustomerID   = "123-456-7890"
	googleTestCID          = "1234567890"
	googleTestLoginID      = "111-222-3333"
	googleTestLoginCID     = "1112223333"
	googleTestActionID     = "987654321"
	googleTestDevToken     = "dev-token-AbC123xyz"
	googleTestClientID     = "4711-abc.apps.googleusercontent.com"
	googleTestClientSecret = "GOCSPX-client-secret-xyz"
	googleTestRefreshToken = "1//0g-refresh-token-secret"
)

var (
	googleDateTimeRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$`)
	googlePathRe     = regexp.MustCompile(`^/(v\d+)/customers/(\d{10}):(uploadClickConversions|uploadConversionAdjustments)$`)
)

func googleTestDestination() Destination {
	return Destination{
		ID: 42, ShopID: 7, Platform: "google_ads",
		Credentials: map[string]string{
			"customer_id":          googleTestCustomerID,
			"conversion_action_id": googleTestActionID,
			"developer_token":      googleTestDevToken,
			"client_id":            googleTestClientID,
			"client_secret":        googleTestClientSecret,
			"refresh_token":        googleTestRefreshToken,
			"login_customer_id":    googleTestLoginID,
		},
		Settings: map[string]string{},
	}
}

// googleFakeOAuth is Google's token endpoint: it checks the refresh-token
// grant like Google does and issues numbered access tokens.
type googleFakeOAuth struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	calls     int
	expiresIn int
	secret    string // the client secret it accepts
	issued    map[string]bool
}

func newGoogleFakeOAuth(t *testing.T) *googleFakeOAuth {
	t.Helper()
	o := &googleFakeOAuth{t: t, expiresIn: 3599, secret: googleTestClientSecret, issued: map[string]bool{}}
	o.srv = startFake(t, http.HandlerFunc(o.serve))
	return o
}

func (o *googleFakeOAuth) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/token" {
		o.t.Errorf("oauth: got %s %s, want POST /token", r.Method, r.URL.Path)
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		o.t.Errorf("oauth: Content-Type %q, want a form", ct)
	}
	if err := r.ParseForm(); err != nil {
		o.t.Errorf("oauth: bad form: %v", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls++
	want := map[string]string{
		"grant_type": "refresh_token", "client_id": googleTestClientID,
		"client_secret": o.secret, "refresh_token": googleTestRefreshToken,
	}
	for k, v := range want {
		if got := r.PostForm.Get(k); got != v {
			o.t.Errorf("oauth: form %s = %q, want %q", k, got, v)
			googleWriteJSON(w, http.StatusUnauthorized, `{"error":"invalid_client","error_description":"Unauthorized"}`)
			return
		}
	}
	tok := fmt.Sprintf("ya29.fake-access-%d", o.calls)
	o.issued[tok] = true
	googleWriteJSON(w, http.StatusOK, fmt.Sprintf(
		`{"access_token":%q,"expires_in":%d,"scope":"https://www.googleapis.com/auth/adwords","token_type":"Bearer"}`, tok, o.expiresIn))
}

func (o *googleFakeOAuth) Calls() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls
}

// Valid reports whether tok was issued and not since expired.
func (o *googleFakeOAuth) Valid(tok string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.issued[tok]
}

// googleFakeRequest is one request the fake Ads API accepted.
type googleFakeRequest struct {
	Version string
	Method  string
	Token   string
	Body    map[string]any
	Raw     []byte
}

// googleFakeAds is the Google Ads REST API: it checks every request the way
// Google would (path, headers, bearer token, partialFailure, hashed fields,
// date-time format, one click id per conversion) and answers with a result
// per row unless a test installs its own answer.
type googleFakeAds struct {
	t     *testing.T
	srv   *httptest.Server
	oauth *googleFakeOAuth

	mu       sync.Mutex
	requests []googleFakeRequest
	// respond, when set, answers requests that passed the checks.
	respond func(w http.ResponseWriter, req googleFakeRequest, rows int)
}

func newGoogleFakeAds(t *testing.T, oauth *googleFakeOAuth) *googleFakeAds {
	t.Helper()
	a := &googleFakeAds{t: t, oauth: oauth}
	a.srv = startFake(t, http.HandlerFunc(a.serve))
	return a
}

func (a *googleFakeAds) serve(w http.ResponseWriter, r *http.Request) {
	m := googlePathRe.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodPost || m == nil || m[2] != googleTestCID {
		a.t.Errorf("ads: got %s %s, want POST /vNN/customers/%s:upload…", r.Method, r.URL.Path, googleTestCID)
		googleWriteJSON(w, http.StatusNotFound, `{"error":{"code":404,"status":"NOT_FOUND","message":"not found"}}`)
		return
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !a.oauth.Valid(tok) {
		googleWriteJSON(w, http.StatusUnauthorized, googleErrorBody(401, "UNAUTHENTICATED", "authenticationError", "OAUTH_TOKEN_INVALID", ""))
		return
	}
	a.checkHeaders(r)
	var body map[string]any
	raw, err := readAllString(r)
	if err != nil || json.Unmarshal([]byte(raw), &body) != nil {
		a.t.Errorf("ads: body is not JSON: %v %q", err, raw)
		googleWriteJSON(w, http.StatusBadRequest, googleErrorBody(400, "INVALID_ARGUMENT", "requestError", "INVALID_INPUT", ""))
		return
	}
	if body["partialFailure"] != true {
		a.t.Errorf("ads: partialFailure = %v, want true", body["partialFailure"])
	}
	if _, ok := body["validateOnly"].(bool); !ok {
		a.t.Errorf("ads: validateOnly missing or not a bool: %v", body["validateOnly"])
	}
	rows := a.checkRows(m[3], body)
	req := googleFakeRequest{Version: m[1], Method: m[3], Token: tok, Body: body, Raw: []byte(raw)}
	a.mu.Lock()
	a.requests = append(a.requests, req)
	respond := a.respond
	a.mu.Unlock()
	if respond != nil {
		respond(w, req, rows)
		return
	}
	googleWriteJSON(w, http.StatusOK, googleResults(rows, nil))
}

func (a *googleFakeAds) checkHeaders(r *http.Request) {
	for h, want := range map[string]string{
		"developer-token":   googleTestDevToken,
		"login-customer-id": googleTestLoginCID,
		"Content-Type":      "application/json",
	} {
		if got := r.Header.Get(h); got != want {
			a.t.Errorf("ads: header %s = %q, want %q", h, got, want)
		}
	}
}

// checkRows checks each conversion or adjustment and returns their count.
func (a *googleFakeAds) checkRows(method string, body map[string]any) int {
	key := "conversions"
	if method == "uploadConversionAdjustments" {
		key = "conversionAdjustments"
	}
	rows, _ := body[key].([]any)
	if len(rows) == 0 || len(rows) > 2000 {
		a.t.Errorf("ads: %d %s, want 1..2000", len(rows), key)
	}
	for i, row := range rows {
		obj, _ := row.(map[string]any)
		if obj["conversionAction"] != "customers/"+googleTestCID+"/conversionActions/"+googleTestActionID {
			a.t.Errorf("ads: %s[%d].conversionAction = %v", key, i, obj["conversionAction"])
		}
		if key == "conversions" {
			a.checkConversion(i, obj)
		} else {
			a.checkAdjustment(i, obj)
		}
	}
	return len(rows)
}

func (a *googleFakeAds) checkConversion(i int, c map[string]any) {
	if s, _ := c["conversionDateTime"].(string); !googleDateTimeRe.MatchString(s) {
		a.t.Errorf("ads: conversions[%d].conversionDateTime = %q, want yyyy-mm-dd hh:mm:ss+hh:mm", i, s)
	}
	clicks := 0
	for _, k := range []string{"gclid", "gbraid", "wbraid"} {
		if v, ok := c[k]; ok {
			clicks++
			if s, _ := v.(string); s == "" {
				a.t.Errorf("ads: conversions[%d].%s is empty", i, k)
			}
		}
	}
	if clicks > 1 {
		a.t.Errorf("ads: conversions[%d] has %d click ids, want at most one", i, clicks)
	}
	ids, _ := c["userIdentifiers"].([]any)
	if clicks == 0 && len(ids) == 0 {
		a.t.Errorf("ads: conversions[%d] has neither click id nor user identifier", i)
	}
	if len(ids) > 5 {
		a.t.Errorf("ads: conversions[%d] has %d user identifiers, max 5", i, len(ids))
	}
	for j, id := range ids {
		u, _ := id.(map[string]any)
		set := 0
		for k, v := range u {
			switch k {
			case "hashedEmail", "hashedPhoneNumber":
				set++
				if s, _ := v.(string); !testHexRE.MatchString(s) {
					a.t.Errorf("ads: conversions[%d].userIdentifiers[%d].%s = %q, want 64 lowercase hex", i, j, k, s)
				}
			case "userIdentifierSource":
			default:
				// Click conversions accept only hashed email and phone.
				a.t.Errorf("ads: conversions[%d].userIdentifiers[%d] has unsupported %s", i, j, k)
			}
		}
		if set != 1 {
			a.t.Errorf("ads: conversions[%d].userIdentifiers[%d] sets %d identifiers, want exactly one", i, j, set)
		}
	}
	if cur, ok := c["currencyCode"].(string); ok && len(cur) != 3 {
		a.t.Errorf("ads: conversions[%d].currencyCode = %q", i, cur)
	}
}

func (a *googleFakeAds) checkAdjustment(i int, c map[string]any) {
	if s, _ := c["adjustmentDateTime"].(string); !googleDateTimeRe.MatchString(s) {
		a.t.Errorf("ads: conversionAdjustments[%d].adjustmentDateTime = %q", i, s)
	}
	_, hasOrder := c["orderId"]
	_, hasPair := c["gclidDateTimePair"]
	if hasOrder == hasPair {
		a.t.Errorf("ads: conversionAdjustments[%d] must name the conversion by orderId or gclidDateTimePair, not %v/%v", i, hasOrder, hasPair)
	}
	_, hasValue := c["restatementValue"]
	switch c["adjustmentType"] {
	case "RETRACTION":
		if hasValue {
			a.t.Errorf("ads: conversionAdjustments[%d] is a retraction with a restatementValue", i)
		}
	case "RESTATEMENT":
		if !hasValue {
			a.t.Errorf("ads: conversionAdjustments[%d] is a restatement without restatementValue", i)
		}
	default:
		a.t.Errorf("ads: conversionAdjustments[%d].adjustmentType = %v", i, c["adjustmentType"])
	}
}

func (a *googleFakeAds) Requests() []googleFakeRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]googleFakeRequest(nil), a.requests...)
}

func (a *googleFakeAds) SetRespond(f func(w http.ResponseWriter, req googleFakeRequest, rows int)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.respond = f
}

func readAllString(r *http.Request) (string, error) {
	b, err := io.ReadAll(r.Body)
	return string(b), err
}

func googleWriteJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body)) // a failed write to the test client shows up as the client's error
}

// googleErrorBody is a request-level error as the REST API renders it.
func googleErrorBody(code int, status, kind, enum, extraDetail string) string {
	details := fmt.Sprintf(`{"@type":"type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
		"errors":[{"errorCode":{%q:%q},"message":"request failed: %s"}],"requestId":"req-1"}`, kind, enum, enum)
	if extraDetail != "" {
		details += "," + extraDetail
	}
	return fmt.Sprintf(`{"error":{"code":%d,"message":"Request contains an invalid argument.","status":%q,"details":[%s]}}`, code, status, details)
}

// googleRowErr is one row's error in a partial failure answer.
type googleRowErr struct {
	row  int
	kind string
	enum string
}

// googleResults is a 200 answer: a result per row, empty for failed rows,
// and a partialFailureError naming them.
func googleResults(rows int, errs []googleRowErr) string {
	failed := map[int]bool{}
	var items []string
	for _, e := range errs {
		failed[e.row] = true
		items = append(items, fmt.Sprintf(`{"errorCode":{%q:%q},"message":"The row failed: %s.",
			"location":{"fieldPathElements":[{"fieldName":"conversions","index":%d}]}}`, e.kind, e.enum, e.enum, e.row))
	}
	results := make([]string, rows)
	for i := range results {
		results[i] = fmt.Sprintf(`{"gclid":"g-%d","conversionAction":"customers/%s/conversionActions/%s","conversionDateTime":"2026-11-20 10:00:00+00:00"}`,
			i, googleTestCID, googleTestActionID)
		if failed[i] {
			results[i] = "{}"
		}
	}
	pf := ""
	if len(errs) > 0 {
		pf = fmt.Sprintf(`"partialFailureError":{"code":3,"message":"partial failure","details":[{"@type":"type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure","errors":[%s],"requestId":"req-2"}]},`,
			strings.Join(items, ","))
	}
	return fmt.Sprintf(`{%s"results":[%s],"jobId":"7421"}`, pf, strings.Join(results, ","))
}

// googleHarness wires a sender to the two fakes.
type googleHarness struct {
	oauth *googleFakeOAuth
	ads   *googleFakeAds
	g     *GoogleAds
}

func newGoogleHarness(t *testing.T) *googleHarness {
	t.Helper()
	h := &googleHarness{}
	h.oauth = newGoogleFakeOAuth(t)
	h.ads = newGoogleFakeAds(t, h.oauth)
	h.g = NewGoogleAds(Config{
		BaseURL: h.ads.srv.URL,
		Client:  &http.Client{Timeout: 5 * time.Second},
		Now:     func() time.Time { return testNow },
	}, h.oauth.srv.URL)
	return h
}

// googleConv is a minimal valid conversion with a gclid.
func googleConv(id string) mapping.Conversion {
	return mapping.Conversion{
		EventID: id, EventName: mapping.EventPurchase, EventTime: testNow.Add(-2 * time.Hour),
		OrderID: id, Value: decimal.RequireFromString("10.50"), Currency: "USD",
		ClickIDs: mapping.ClickIDs{GCLID: "Cj0KCQ-gclid-" + id},
	}
}

// googleClassOf names the class sentinel an error matches.
func googleClassOf(err error) string {
	for _, c := range []struct {
		name string
		err  error
	}{{"transient", ErrTransient}, {"throttled", ErrThrottled}, {"auth", ErrAuth}, {"invalid", ErrInvalid}} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	if err == nil {
		return "ok"
	}
	return "unclassified: " + err.Error()
}

// --- tests ---------------------------------------------------------------------

func TestGoogleAdsGolden(t *testing.T) {
	want := map[string]mapping.Match{
		"full":          {ClickID: true, Email: true, Phone: true},
		"phone_only":    {Phone: true},
		"prehashed_jpy": {Email: true},
	}
	for name, conv := range testConversions() {
		t.Run(name, func(t *testing.T) {
			h := newGoogleHarness(t)
			d := googleTestDestination()

			// Rendered against Google's real host, so the golden shows the real URL.
			render := NewGoogleAds(Config{Now: func() time.Time { return testNow }}, "")
			req, err := render.Render(d, []mapping.Conversion{conv})
			if err != nil {
				t.Fatalf("Render(%s) error: %v", name, err)
			}
			rendered, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{googleTestDevToken, googleTestClientSecret, googleTestRefreshToken} {
				if strings.Contains(string(rendered), secret) {
					t.Errorf("Render(%s) leaks a secret: %s", name, rendered)
				}
			}
			testutil.GoldenJSON(t, filepath.Join("testdata", "google_ads", name+".golden.json"), rendered, *update)

			res := h.g.Send(context.Background(), d, []mapping.Conversion{conv})
			if len(res) != 1 || res[0].Err != nil {
				t.Fatalf("Send(%s) = %+v, want one delivered result", name, res)
			}
			reqs := h.ads.Requests()
			if len(reqs) != 1 {
				t.Fatalf("Send(%s) made %d requests, want 1", name, len(reqs))
			}
			var sent, shown any
			if err := json.Unmarshal(reqs[0].Raw, &sent); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(req.Body, &shown); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(shown, sent); diff != "" {
				t.Errorf("Send(%s) body differs from Render (-render +sent):\n%s", name, diff)
			}
			var payload map[string]any
			if err := json.Unmarshal(res[0].Payload, &payload); err != nil || payload["orderId"] != conv.EventID {
				t.Errorf("Send(%s) payload = %s (err %v), want the conversion with orderId %q", name, res[0].Payload, err, conv.EventID)
			}
			m := res[0].Match
			got := mapping.Match{ClickID: m.ClickID, Email: m.Email, Phone: m.Phone, Name: m.Name, Address: m.Address}
			if !cmp.Equal(got, want[name]) {
				t.Errorf("Send(%s) match flags = %+v, want %+v", name, got, want[name])
			}
			if m.Quality != want[name].Score().Quality || m.Reported != "" {
				t.Errorf("Send(%s) match quality/reported = %d/%q, want %d/\"\"", name, m.Quality, m.Reported, want[name].Score().Quality)
			}
		})
	}
}

func TestGoogleNormalizeEmail(t *testing.T) {
	hashed := strings.Repeat("ab", 32)
	tests := []struct {
		name, in, want string
	}{
		{"gmail dots and plus suffix", "Jane.Doe+ads@gmail.com", "janedoe@gmail.com"},
		{"googlemail, trimmed", "  J.O.H.N@GoogleMail.com ", "john@googlemail.com"},
		{"Google's example", "cloudy.sanfrancisco+shopping@gmail.com", "cloudysanfrancisco@gmail.com"},
		{"other domains keep dots and plus", "User.Name+NYC@Example.com", "user.name+nyc@example.com"},
		{"inner whitespace removed", "jane doe@gmail.com", "janedoe@gmail.com"},
		{"gmail subdomain is not gmail", "a.b@mail.gmail.com", "a.b@mail.gmail.com"},
		{"nothing left of the local part", "+ads@gmail.com", ""},
		{"not an address", "jane.doe", ""},
		{"pre-hashed passes through", strings.ToUpper(hashed), hashed},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := googleNormalizeEmail(tt.in); got != tt.want {
				t.Errorf("googleNormalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestGoogleAdsHashVectors checks the hashes that leave the process against
// SHA-256 computed here, independently of the code under test.
func TestGoogleAdsHashVectors(t *testing.T) {
	conv := googleConv("hash-1")
	conv.User = mapping.User{Email: " Jane.Doe+ads@GMAIL.com", Phone: "+1 (217) 555-0143", Country: "US"}
	g := NewGoogleAds(Config{Now: func() time.Time { return testNow }}, "")
	req, err := g.Render(googleTestDestination(), []mapping.Conversion{conv})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	var body struct {
		Conversions []googleClickConversion `json:"conversions"`
	}
	if err := json.Unmarshal(req.Body, &body); err != nil || len(body.Conversions) != 1 {
		t.Fatalf("Render body %s: %v", req.Body, err)
	}
	got := body.Conversions[0].UserIdentifiers
	want := []googleUserIdentifier{
		{UserIdentifierSource: "FIRST_PARTY", HashedEmail: testSHA256("janedoe@gmail.com")},
		{UserIdentifierSource: "FIRST_PARTY", HashedPhoneNumber: testSHA256("+12175550143")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("user identifiers for %+v (-want +got):\n%s", conv.User, diff)
	}
}

func TestGoogleAdsClickIDChoice(t *testing.T) {
	tests := []struct {
		name string
		ids  mapping.ClickIDs
		want map[string]string
	}{
		{"gclid wins over braids", mapping.ClickIDs{GCLID: "G1", GBRAID: "GB1", WBRAID: "WB1"}, map[string]string{"gclid": "G1"}},
		{"gbraid over wbraid", mapping.ClickIDs{GBRAID: "GB1", WBRAID: "WB1"}, map[string]string{"gbraid": "GB1"}},
		{"wbraid alone", mapping.ClickIDs{WBRAID: "WB1"}, map[string]string{"wbraid": "WB1"}},
		{"other platforms' ids ignored", mapping.ClickIDs{FBCLID: "F", MSCLKID: "M", GCLID: " G2 "}, map[string]string{"gclid": "G2"}},
	}
	g := NewGoogleAds(Config{Now: func() time.Time { return testNow }}, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conv := googleConv("c")
			conv.ClickIDs = tt.ids
			req, err := g.Render(googleTestDestination(), []mapping.Conversion{conv})
			if err != nil {
				t.Fatalf("Render(%+v): %v", tt.ids, err)
			}
			var body struct {
				Conversions []map[string]any `json:"conversions"`
			}
			if err := json.Unmarshal(req.Body, &body); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, k := range []string{"gclid", "gbraid", "wbraid"} {
				if v, ok := body.Conversions[0][k].(string); ok {
					got[k] = v
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("click ids for %+v (-want +got):\n%s", tt.ids, diff)
			}
		})
	}
}

func TestGoogleAdsUnauthorizedRefreshes(t *testing.T) {
	t.Run("still 401 after refresh", func(t *testing.T) {
		h := newGoogleHarness(t)
		var hits int
		var mu sync.Mutex
		h.ads.SetRespond(func(w http.ResponseWriter, _ googleFakeRequest, _ int) {
			mu.Lock()
			hits++
			mu.Unlock()
			googleWriteJSON(w, http.StatusUnauthorized, googleErrorBody(401, "UNAUTHENTICATED", "authenticationError", "NOT_ADS_USER", ""))
		})
		res := h.g.Send(context.Background(), googleTestDestination(), []mapping.Conversion{googleConv("a"), googleConv("b")})
		for i, r := range res {
			if !errors.Is(r.Err, ErrAuth) || errCode(r.Err) != "NOT_ADS_USER" || r.StatusCode != 401 {
				t.Errorf("row %d: err %v (status %d), want ErrAuth NOT_ADS_USER 401", i, r.Err, r.StatusCode)
			}
		}
		if hits != 2 || h.oauth.Calls() != 2 {
			t.Errorf("Ads calls %d, token calls %d; want exactly one retry (2 and 2)", hits, h.oauth.Calls())
		}
	})
}

func TestGoogleAdsPartialFailure(t *testing.T) {
	tests := []struct {
		name       string
		kind, enum string
		class      string
		retryAfter time.Duration
	}{
		{"click not found", "conversionUploadError", "CLICK_NOT_FOUND", "invalid", 0},
		{"unparseable gclid", "conversionUploadError", "UNPARSEABLE_GCLID", "invalid", 0},
		{"expired click", "conversionUploadError", "EXPIRED_EVENT", "invalid", 0},
		{"action not found", "conversionUploadError", "NO_CONVERSION_ACTION_FOUND", "invalid", 0},
		{"already uploaded counts as delivered", "conversionUploadError", "ORDER_ID_ALREADY_IN_USE", "ok", 0},
		{"too recent retries after 6 h", "conversionUploadError", "TOO_RECENT_EVENT", "transient", 6 * time.Hour},
		{"row quota", "quotaError", "RESOURCE_TEMPORARILY_EXHAUSTED", "throttled", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newGoogleHarness(t)
			h.ads.SetRespond(func(w http.ResponseWriter, _ googleFakeRequest, rows int) {
				googleWriteJSON(w, http.StatusOK, googleResults(rows, []googleRowErr{{1, tt.kind, tt.enum}}))
			})
			convs := []mapping.Conversion{googleConv("r0"), googleConv("r1"), googleConv("r2")}
			res := h.g.Send(context.Background(), googleTestDestination(), convs)
			for _, i := range []int{0, 2} {
				if res[i].Err != nil || res[i].Match.Reported != "" || res[i].StatusCode != 200 {
					t.Errorf("row %d = err %v, reported %q, status %d; want delivered", i, res[i].Err, res[i].Match.Reported, res[i].StatusCode)
				}
			}
			r := res[1]
			if got := googleClassOf(r.Err); got != tt.class {
				t.Errorf("row 1 with %s: class %s (%v), want %s", tt.enum, got, r.Err, tt.class)
			}
			if r.Err != nil && errCode(r.Err) != tt.enum {
				t.Errorf("row 1 code = %q, want %q", errCode(r.Err), tt.enum)
			}
			var e *Error
			if errors.As(r.Err, &e) && e.RetryAfter != tt.retryAfter {
				t.Errorf("row 1 RetryAfter = %v, want %v", e.RetryAfter, tt.retryAfter)
			}
			if r.Match.Reported != tt.enum || !strings.Contains(r.Response, tt.enum) {
				t.Errorf("row 1 reported %q, response %q; want %s in both", r.Match.Reported, r.Response, tt.enum)
			}
		})
	}
}

func TestGoogleAdsPartialFailureWithoutLocation(t *testing.T) {
	h := newGoogleHarness(t)
	h.ads.SetRespond(func(w http.ResponseWriter, _ googleFakeRequest, _ int) {
		googleWriteJSON(w, http.StatusOK, `{"partialFailureError":{"code":3,"message":"one failed",
			"details":[{"@type":"type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
			"errors":[{"errorCode":{"conversionUploadError":"INVALID_USER_IDENTIFIER"},"message":"bad hash"}]}]},
			"results":[{"gclid":"x"},{}]}`)
	})
	res := h.g.Send(context.Background(), googleTestDestination(), []mapping.Conversion{googleConv("a"), googleConv("b")})
	if res[0].Err != nil {
		t.Errorf("row 0 with a result: %v, want delivered", res[0].Err)
	}
	if !errors.Is(res[1].Err, ErrInvalid) || res[1].Match.Reported != "INVALID_USER_IDENTIFIER" {
		t.Errorf("row 1 with an empty result: %v reported %q, want ErrInvalid INVALID_USER_IDENTIFIER", res[1].Err, res[1].Match.Reported)
	}
}

// TestGoogleAdsIndexMapping checks that Google's row indexes, which count only
// the conversions sent, land on the right conversion of the batch.
func TestGoogleAdsIndexMapping(t *testing.T) {
	h := newGoogleHarness(t)
	h.ads.SetRespond(func(w http.ResponseWriter, _ googleFakeRequest, rows int) {
		if rows != 3 {
			t.Errorf("sent %d rows, want 3 (the too-old one stays home)", rows)
		}
		googleWriteJSON(w, http.StatusOK, googleResults(rows, []googleRowErr{{1, "conversionUploadError", "CLICK_NOT_FOUND"}}))
	})
	old := googleConv("old")
	old.EventTime = testNow.Add(-91 * 24 * time.Hour)
	convs := []mapping.Conversion{googleConv("a"), old, googleConv("b"), googleConv("c")}
	res := h.g.Send(context.Background(), googleTestDestination(), convs)
	want := []string{"ok", "invalid", "invalid", "ok"}
	codes := []string{"", "event_too_old", "CLICK_NOT_FOUND", ""}
	for i := range convs {
		if got := googleClassOf(res[i].Err); got != want[i] || errCode(res[i].Err) != codes[i] {
			t.Errorf("row %d (%s): %s %q, want %s %q", i, convs[i].EventID, got, errCode(res[i].Err), want[i], codes[i])
		}
	}
	if res[1].StatusCode != 0 || len(res[1].Payload) != 0 {
		t.Errorf("too-old row: status %d payload %q; want 0 and no payload (never sent)", res[1].StatusCode, res[1].Payload)
	}
}

func TestGoogleAdsRequestErrors(t *testing.T) {
	retryInfo := `{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}`
	tests := []struct {
		name       string
		status     int
		body       string
		header     map[string]string
		class      string
		code       string
		retryAfter time.Duration
	}{
		{"429 with RetryInfo", 429, googleErrorBody(429, "RESOURCE_EXHAUSTED", "quotaError", "RESOURCE_EXHAUSTED", retryInfo), nil, "throttled", "RESOURCE_EXHAUSTED", 30 * time.Second},
		{"429 with quota details", 429, `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"quota","details":[{"@type":"type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure","errors":[{"errorCode":{"quotaError":"RESOURCE_TEMPORARILY_EXHAUSTED"},"message":"Too many requests","details":{"quotaErrorDetails":{"rateScope":"ACCOUNT","rateName":"Requests per account","retryDelay":"45s"}}}]}]}}`, nil, "throttled", "RESOURCE_TEMPORARILY_EXHAUSTED", 45 * time.Second},
		{"429 with Retry-After only", 429, `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"slow down"}}`, map[string]string{"Retry-After": "12"}, "throttled", "RESOURCE_EXHAUSTED", 12 * time.Second},
		{"503 unavailable", 503, `{"error":{"code":503,"status":"UNAVAILABLE","message":"The service is currently unavailable."}}`, nil, "transient", "UNAVAILABLE", 0},
		{"500 internal", 500, googleErrorBody(500, "INTERNAL", "internalError", "INTERNAL_ERROR", ""), nil, "transient", "INTERNAL_ERROR", 0},
		{"502 html from a proxy", 502, `<html>Bad Gateway</html>`, nil, "transient", "", 0},
		{"403 permission denied", 403, googleErrorBody(403, "PERMISSION_DENIED", "authorizationError", "USER_PERMISSION_DENIED", ""), nil, "auth", "USER_PERMISSION_DENIED", 0},
		{"403 developer token", 403, googleErrorBody(403, "PERMISSION_DENIED", "authorizationError", "DEVELOPER_TOKEN_NOT_APPROVED", ""), nil, "auth", "DEVELOPER_TOKEN_NOT_APPROVED", 0},
		{"not allowlisted for offline imports", 403, googleErrorBody(403, "PERMISSION_DENIED", "notAllowlistedError", "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE", ""), nil, "auth", "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE", 0},
		{"400 bad login customer", 400, googleErrorBody(400, "INVALID_ARGUMENT", "headerError", "INVALID_LOGIN_CUSTOMER_ID", ""), nil, "auth", "INVALID_LOGIN_CUSTOMER_ID", 0},
		{"400 invalid argument", 400, googleErrorBody(400, "INVALID_ARGUMENT", "fieldError", "REQUIRED", ""), nil, "invalid", "REQUIRED", 0},
		{"404 unknown version", 404, `{"error":{"code":404,"status":"NOT_FOUND","message":"not found"}}`, nil, "auth", "NOT_FOUND", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newGoogleHarness(t)
			h.ads.SetRespond(func(w http.ResponseWriter, _ googleFakeRequest, _ int) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				googleWriteJSON(w, tt.status, tt.body)
			})
			res := h.g.Send(context.Background(), googleTestDestination(), []mapping.Conversion{googleConv("a"), googleConv("b")})
			for i, r := range res {
				if got := googleClassOf(r.Err); got != tt.class {
					t.Errorf("row %d: %d %s → class %s (%v), want %s", i, tt.status, tt.body, got, r.Err, tt.class)
				}
				var e *Error
				if !errors.As(r.Err, &e) {
					continue
				}
				if e.Code != tt.code || e.RetryAfter != tt.retryAfter || r.StatusCode != tt.status {
					t.Errorf("row %d: code %q retry %v status %d, want %q %v %d", i, e.Code, e.RetryAfter, r.StatusCode, tt.code, tt.retryAfter, tt.status)
				}
				if r.Match.Reported != "" {
					t.Errorf("row %d: reported %q for a whole-request error, want empty", i, r.Match.Reported)
				}
			}
		})
	}
}

func TestGoogleAdsLocalFailures(t *testing.T) {
	noIDs := googleConv("none")
	noIDs.ClickIDs = mapping.ClickIDs{FBCLID: "only-meta"}
	badPhone := googleConv("badphone")
	badPhone.ClickIDs = mapping.ClickIDs{}
	badPhone.User = mapping.User{Phone: "12", Country: "US"}
	old := googleConv("old")
	old.EventTime = testNow.Add(-90*24*time.Hour - time.Minute)
	badCurrency := googleConv("cur")
	badCurrency.Currency = "XYZ"
	tests := []struct {
		name string
		conv mapping.Conversion
		code string
	}{
		{"no click id nor user identifier", noIDs, "no_identifier"},
		{"unparseable phone is no identifier", badPhone, "no_identifier"},
		{"older than 90 days", old, "event_too_old"},
		{"unknown currency", badCurrency, "invalid_currency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newGoogleHarness(t)
			res := h.g.Send(context.Background(), googleTestDestination(), []mapping.Conversion{tt.conv})
			if !errors.Is(res[0].Err, ErrInvalid) || errCode(res[0].Err) != tt.code {
				t.Errorf("Send(%s): %v, want ErrInvalid %s", tt.conv.EventID, res[0].Err, tt.code)
			}
			if n, calls := len(h.ads.Requests()), h.oauth.Calls(); n != 0 || calls != 0 {
				t.Errorf("Send(%s) made %d Ads and %d token calls, want none", tt.conv.EventID, n, calls)
			}
			if _, err := h.g.Render(googleTestDestination(), []mapping.Conversion{tt.conv}); errCode(err) != tt.code {
				t.Errorf("Render(%s) error %v, want %s", tt.conv.EventID, err, tt.code)
			}
		})
	}
	t.Run("just inside 90 days is sent", func(t *testing.T) {
		h := newGoogleHarness(t)
		c := googleConv("edge")
		c.EventTime = testNow.Add(-90*24*time.Hour + time.Minute)
		if res := h.g.Send(context.Background(), googleTestDestination(), []mapping.Conversion{c}); res[0].Err != nil {
			t.Errorf("Send 89.99 days old: %v, want delivered", res[0].Err)
		}
	})
}

func TestGoogleAdsConfiguration(t *testing.T) {
	tests := []struct {
		name   string
		change func(d *Destination)
	}{
		{"short customer id", func(d *Destination) { d.Credentials["customer_id"] = "12345" }},
		{"bad login customer id", func(d *Destination) { d.Credentials["login_customer_id"] = "abc" }},
		{"missing refresh token", func(d *Destination) { delete(d.Credentials, "refresh_token") }},
		{"missing conversion action", func(d *Destination) { d.Credentials["conversion_action_id"] = "" }},
		{"bad api version", func(d *Destination) { d.Settings["api_version"] = "latest" }},
		{"bad consent", func(d *Destination) { d.Settings["ad_user_data_consent"] = "maybe" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newGoogleHarness(t)
			d := googleTestDestination()
			tt.change(&d)
			res := h.g.Send(context.Background(), d, []mapping.Conversion{googleConv("a")})
			if !errors.Is(res[0].Err, ErrAuth) || errCode(res[0].Err) != "invalid_configuration" {
				t.Errorf("Send: %v, want ErrAuth invalid_configuration", res[0].Err)
			}
			if _, err := h.g.Render(d, []mapping.Conversion{googleConv("a")}); !errors.Is(err, ErrAuth) {
				t.Errorf("Render: %v, want ErrAuth", err)
			}
			if n := len(h.ads.Requests()) + h.oauth.Calls(); n != 0 {
				t.Errorf("made %d calls with a broken configuration, want 0", n)
			}
		})
	}
	t.Run("settings reach the request", func(t *testing.T) {
		h := newGoogleHarness(t)
		d := googleTestDestination()
		d.Credentials["conversion_action_id"] = "customers/1234567890/conversionActions/" + googleTestActionID
		d.Settings = map[string]string{"api_version": "v25", "validate_only": "true", "ad_user_data_consent": "granted"}
		if !h.g.TestMode(d) {
			t.Error("TestMode = false with validate_only=true")
		}
		// validateOnly answers carry no results.
		h.ads.SetRespond(func(w http.ResponseWriter, _ googleFakeRequest, _ int) { googleWriteJSON(w, 200, `{}`) })
		res := h.g.Send(context.Background(), d, []mapping.Conversion{googleConv("a")})
		if res[0].Err != nil {
			t.Fatalf("Send: %v", res[0].Err)
		}
		req := h.ads.Requests()[0]
		conv := req.Body["conversions"].([]any)[0].(map[string]any)
		if req.Version != "v25" || req.Body["validateOnly"] != true || fmt.Sprint(conv["consent"]) != "map[adUserData:GRANTED]" {
			t.Errorf("version %s, validateOnly %v, consent %v; want v25, true, GRANTED", req.Version, req.Body["validateOnly"], conv["consent"])
		}
	})
	t.Run("developer token is optional", func(t *testing.T) {
		d := googleTestDestination()
		delete(d.Credentials, "developer_token")
		req, err := NewGoogleAds(Config{Now: func() time.Time { return testNow }}, "").Render(d, []mapping.Conversion{googleConv("a")})
		if err != nil {
			t.Fatalf("Render without developer token: %v", err)
		}
		if _, ok := req.Header["developer-token"]; ok {
			t.Errorf("headers %v carry a developer-token that was never set", req.Header)
		}
	})
}

func TestGoogleAdsFields(t *testing.T) {
	g := NewGoogleAds(Config{}, "")
	if g.Name() != "google_ads" || g.MaxAge() != 90*24*time.Hour {
		t.Errorf("Name/MaxAge = %q/%v", g.Name(), g.MaxAge())
	}
	secret := map[string]bool{}
	for _, f := range g.Fields() {
		secret[f.Name] = f.Secret
	}
	for _, name := range []string{"customer_id", "conversion_action_id", "client_id", "login_customer_id", "validate_only", "api_version"} {
		if v, ok := secret[name]; !ok || v {
			t.Errorf("field %s: present %v, secret %v; want present and not secret", name, ok, v)
		}
	}
	for _, name := range []string{"developer_token", "client_secret", "refresh_token"} {
		if !secret[name] {
			t.Errorf("field %s must be secret", name)
		}
	}
}

func TestGoogleAdsAdjustGolden(t *testing.T) {
	full := testConversions()["full"]
	full.EventTime = testNow.Add(-72 * time.Hour)
	refund := mapping.Refund{RefundID: "r-1", OrderID: full.OrderID, Currency: "USD", Time: testNow.Add(-time.Hour)}
	tests := []struct {
		name string
		adj  Adjustment
	}{
		{"adjust_retraction", Adjustment{Original: full, Refund: withAmount(refund, "120.94", true), Remaining: decimal.Zero}},
		{"adjust_restatement", Adjustment{Original: full, Refund: withAmount(refund, "50.00", false), Remaining: decimal.RequireFromString("70.94")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newGoogleHarness(t)
			res := h.g.Adjust(context.Background(), googleTestDestination(), []Adjustment{tt.adj})
			if len(res) != 1 || res[0].Err != nil {
				t.Fatalf("Adjust(%s) = %+v, want delivered", tt.name, res)
			}
			reqs := h.ads.Requests()
			if len(reqs) != 1 || reqs[0].Method != "uploadConversionAdjustments" {
				t.Fatalf("Adjust made %+v, want one uploadConversionAdjustments", reqs)
			}
			testutil.GoldenJSON(t, filepath.Join("testdata", "google_ads", tt.name+".golden.json"), reqs[0].Raw, *update)
		})
	}
}

func withAmount(r mapping.Refund, amount string, full bool) mapping.Refund {
	r.Amount = decimal.RequireFromString(amount)
	r.Full = full
	return r
}

func TestGoogleAdsAdjust(t *testing.T) {
	base := googleConv("ord-9")
	base.EventTime = testNow.Add(-72 * time.Hour)
	noOrder := base
	noOrder.EventID, noOrder.OrderID = "", ""
	recent := base
	recent.EventTime = testNow.Add(-2 * time.Hour)
	expired := base
	expired.EventTime = testNow.Add(-55 * 24 * time.Hour)
	early := mapping.Refund{Time: base.EventTime.Add(-time.Minute)}

	tests := []struct {
		name       string
		adj        Adjustment
		rowErr     string // Google's answer for the row, if any
		class      string
		code       string
		retryAfter time.Duration
		sent       bool
		check      func(t *testing.T, row map[string]any)
	}{
		{name: "no order id uses the gclid pair", adj: Adjustment{Original: noOrder}, class: "ok", sent: true,
			check: func(t *testing.T, row map[string]any) {
				pair, _ := row["gclidDateTimePair"].(map[string]any)
				if pair["gclid"] != noOrder.ClickIDs.GCLID || pair["conversionDateTime"] != googleDateTimeOf(noOrder.EventTime) {
					t.Errorf("gclidDateTimePair = %v", pair)
				}
			}},
		{name: "refund stamped before payment moves after it", adj: Adjustment{Original: base, Refund: early}, class: "ok", sent: true,
			check: func(t *testing.T, row map[string]any) {
				if want := googleDateTimeOf(base.EventTime.Add(time.Second)); row["adjustmentDateTime"] != want {
					t.Errorf("adjustmentDateTime = %v, want %s", row["adjustmentDateTime"], want)
				}
			}},
		{name: "already retracted is done", adj: Adjustment{Original: base}, rowErr: "CONVERSION_ALREADY_RETRACTED", class: "ok", sent: true},
		{name: "restating a retracted conversion fails", adj: Adjustment{Original: base, Remaining: decimal.NewFromInt(5)}, rowErr: "CONVERSION_ALREADY_RETRACTED", class: "invalid", code: "CONVERSION_ALREADY_RETRACTED", sent: true},
		{name: "conversion not found", adj: Adjustment{Original: base}, rowErr: "CONVERSION_NOT_FOUND", class: "invalid", code: "CONVERSION_NOT_FOUND", sent: true},
		{name: "younger than 24 h waits", adj: Adjustment{Original: recent}, class: "transient", code: "TOO_RECENT_CONVERSION", retryAfter: 22 * time.Hour},
		{name: "older than 54 days", adj: Adjustment{Original: expired}, class: "invalid", code: "CONVERSION_EXPIRED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newGoogleHarness(t)
			if tt.rowErr != "" {
				h.ads.SetRespond(func(w http.ResponseWriter, _ googleFakeRequest, rows int) {
					googleWriteJSON(w, 200, strings.ReplaceAll(
						googleResults(rows, []googleRowErr{{0, "conversionAdjustmentUploadError", tt.rowErr}}),
						`"fieldName":"conversions"`, `"fieldName":"conversion_adjustments"`))
				})
			}
			res := h.g.Adjust(context.Background(), googleTestDestination(), []Adjustment{tt.adj})
			r := res[0]
			if got := googleClassOf(r.Err); got != tt.class || errCode(r.Err) != tt.code {
				t.Errorf("Adjust: %s %q (%v), want %s %q", got, errCode(r.Err), r.Err, tt.class, tt.code)
			}
			var e *Error
			if errors.As(r.Err, &e) && e.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tt.retryAfter)
			}
			reqs := h.ads.Requests()
			if (len(reqs) == 1) != tt.sent {
				t.Fatalf("Adjust made %d requests, want sent=%v", len(reqs), tt.sent)
			}
			if tt.check != nil {
				tt.check(t, reqs[0].Body["conversionAdjustments"].([]any)[0].(map[string]any))
			}
		})
	}
}

func FuzzGoogleAdsAnswer(f *testing.F) {
	f.Add(200, []byte(googleResults(3, []googleRowErr{{1, "conversionUploadError", "CLICK_NOT_FOUND"}})))
	f.Add(200, []byte(`{"partialFailureError":{"code":3,"details":[{"errors":[{"location":{"fieldPathElements":[{"index":-4}]}}]}]},"results":[{},{}]}`))
	f.Add(429, []byte(googleErrorBody(429, "RESOURCE_EXHAUSTED", "quotaError", "RESOURCE_EXHAUSTED", `{"retryDelay":"-5s"}`)))
	f.Add(400, []byte(`{"error":{"details":[{"errors":[{"errorCode":{"x":7}}]}]}}`))
	f.Add(200, []byte(`null`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			return
		}
		ans := answer{Status: status, Header: http.Header{}, Body: body}
		if status == http.StatusOK {
			out := googleRows(ans, 3, false, googleConversionRowError)
			if len(out) != 3 {
				t.Fatalf("googleRows(%q) gave %d outcomes, want 3", body, len(out))
			}
			for i, o := range out {
				if o.err != nil && googleClassOf(o.err) == "unclassified: "+o.err.Error() {
					t.Errorf("row %d: unclassified error %v", i, o.err)
				}
			}
			return
		}
		e := googleRequestError(ans, testNow)
		if e == nil || e.RetryAfter < 0 || googleClassOf(e) == "ok" {
			t.Fatalf("googleRequestError(%d, %q) = %v", status, body, e)
		}
	})
}

func FuzzGoogleNormalizeEmail(f *testing.F) {
	for _, s := range []string{"Jane.Doe+ads@gmail.com", "a@b.c", " x y @googlemail.com", "@gmail.com", "+@gmail.com", strings.Repeat("F", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := googleNormalizeEmail(s)
		if got == "" {
			return
		}
		if again := googleNormalizeEmail(got); again != got {
			t.Errorf("not idempotent: %q → %q → %q", s, got, again)
		}
		if strings.ContainsAny(got, " \t\r\n") {
			t.Errorf("%q → %q keeps whitespace", s, got)
		}
		if at := strings.LastIndexByte(got, '@'); at >= 0 {
			if d := got[at+1:]; (d == "gmail.com" || d == "googlemail.com") && strings.ContainsAny(got[:at], ".+") {
				t.Errorf("%q → %q keeps a dot or plus in a Gmail local part", s, got)
			}
		}
	})
}
