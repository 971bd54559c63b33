package platforms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/postbackhq/postback/mapping"
)

func linkedinTestDestination() Destination {
	return Destination{ID: 7, ShopID: 1, Platform: "linkedin", Credentials: map[string]string{
		"conversion_rule_id": "104729",
		"access_token":       "li-token-abc",
	}}
}

var (
	linkedinVersionRE = regexp.MustCompile(`^20[0-9]{2}(0[1-9]|1[0-2])$`)
	linkedinRuleRE    = regexp.MustCompile(`^urn:lla:llaPartnerConversion:[0-9]+$`)
	linkedinCurRE     = regexp.MustCompile(`^[A-Z]{3}$`)
	linkedinAmountRE  = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
)

// linkedinFake is a LinkedIn Conversions API that checks each request as
// LinkedIn does (path, headers, Rest.li method, body shape, units, hashes)
// and answers as the test asks. Requests it finds malformed fail the test
// and are answered 422.
type linkedinFake struct {
	t       *testing.T
	version string
	// tokens are the bearer tokens LinkedIn accepts.
	tokens map[string]bool
	// answer, when set, answers a well-formed request.
	answer func(w http.ResponseWriter, events []linkedinTestEvent, batch bool)

	recorder[linkedinRequest]
}

type linkedinRequest struct {
	token  string
	batch  bool
	events []linkedinTestEvent
}

// linkedinTestEvent is decoded with its own types so the test does not
// trust the sender's.
type linkedinTestEvent struct {
	Conversion           string `json:"conversion"`
	ConversionHappenedAt int64  `json:"conversionHappenedAt"`
	ConversionValue      *struct {
		CurrencyCode string `json:"currencyCode"`
		Amount       string `json:"amount"`
	} `json:"conversionValue"`
	EventID string `json:"eventId"`
	User    struct {
		UserIDs []struct {
			IDType  string `json:"idType"`
			IDValue string `json:"idValue"`
		} `json:"userIds"`
		UserInfo *struct {
			FirstName   string `json:"firstName"`
			LastName    string `json:"lastName"`
			CountryCode string `json:"countryCode"`
		} `json:"userInfo"`
	} `json:"user"`
}

// newLinkedinFake starts a fake configured by setup before it serves, so
// the handler only ever reads its settings.
func newLinkedinFake(t *testing.T, setup ...func(*linkedinFake)) (*linkedinFake, *httptest.Server) {
	t.Helper()
	f := &linkedinFake{t: t, version: linkedinDefaultVersion, tokens: map[string]bool{"li-token-abc": true}}
	for _, fn := range setup {
		fn(f)
	}
	return f, startFake(t, f)
}

func (f *linkedinFake) reject(w http.ResponseWriter, format string, args ...any) {
	f.t.Helper()
	msg := fmt.Sprintf(format, args...)
	f.t.Errorf("fake LinkedIn rejected the request: %s", msg)
	writeJSON(w, http.StatusUnprocessableEntity, fmt.Sprintf(`{"status":422,"message":%q}`, msg))
}

func (f *linkedinFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/rest/conversionEvents" {
		f.reject(w, "unexpected %s %s", r.Method, r.URL.Path)
		return
	}
	if v := r.Header.Get("LinkedIn-Version"); !linkedinVersionRE.MatchString(v) || v != f.version {
		f.reject(w, "LinkedIn-Version %q, want %q", v, f.version)
		return
	}
	if v := r.Header.Get("X-Restli-Protocol-Version"); v != "2.0.0" {
		f.reject(w, "X-Restli-Protocol-Version %q", v)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.reject(w, "Content-Type %q", ct)
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !f.tokens[token] {
		writeJSON(w, http.StatusUnauthorized, `{"status":401,"serviceErrorCode":65601,"code":"EXPIRED_ACCESS_TOKEN","message":"The token used in the request has expired"}`)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.reject(w, "read body: %v", err)
		return
	}
	batch := r.Header.Get("X-RestLi-Method") == "BATCH_CREATE"
	var events []linkedinTestEvent
	if batch {
		var b struct {
			Elements []linkedinTestEvent `json:"elements"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			f.reject(w, "batch body: %v", err)
			return
		}
		if len(b.Elements) < 2 || len(b.Elements) > linkedinBatchSize {
			f.reject(w, "batch of %d elements (LinkedIn takes 1 to %d; one event goes without BATCH_CREATE)", len(b.Elements), linkedinBatchSize)
			return
		}
		events = b.Elements
	} else {
		var ev linkedinTestEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			f.reject(w, "event body: %v", err)
			return
		}
		events = []linkedinTestEvent{ev}
	}
	for k, ev := range events {
		if msg := linkedinCheckEvent(ev); msg != "" {
			f.reject(w, "Index: %d, ERROR :: %s", k, msg)
			return
		}
	}
	f.record(linkedinRequest{token: token, batch: batch, events: events})
	if f.answer != nil {
		f.answer(w, events, batch)
		return
	}
	linkedinAccept(w, events, batch)
}

// linkedinAccept answers as LinkedIn does to an accepted request.
func linkedinAccept(w http.ResponseWriter, events []linkedinTestEvent, batch bool) {
	if !batch {
		w.WriteHeader(http.StatusCreated)
		return
	}
	statuses := make([]string, len(events))
	for i := range statuses {
		statuses[i] = `{"status":201}`
	}
	writeJSON(w, http.StatusOK, `{"elements":[`+strings.Join(statuses, ",")+`]}`)
}

// linkedinCheckEvent validates one event as LinkedIn's schema does.
func linkedinCheckEvent(ev linkedinTestEvent) string {
	if !linkedinRuleRE.MatchString(ev.Conversion) {
		return fmt.Sprintf("/conversion %q is not a conversion rule URN", ev.Conversion)
	}
	// Milliseconds, within the last 90 days: a seconds value lands in 1970.
	earliest := testNow.Add(-linkedinMaxAge - 24*time.Hour).UnixMilli()
	if ev.ConversionHappenedAt < earliest || ev.ConversionHappenedAt > testNow.Add(time.Hour).UnixMilli() {
		return fmt.Sprintf("/conversionHappenedAt %d is not epoch milliseconds in the window", ev.ConversionHappenedAt)
	}
	if v := ev.ConversionValue; v != nil {
		if !linkedinCurRE.MatchString(v.CurrencyCode) {
			return fmt.Sprintf("/conversionValue/currencyCode %q", v.CurrencyCode)
		}
		if !linkedinAmountRE.MatchString(v.Amount) {
			return fmt.Sprintf("/conversionValue/amount %q", v.Amount)
		}
	}
	if len(ev.User.UserIDs) == 0 {
		return "/user/userIds must not be empty"
	}
	for _, id := range ev.User.UserIDs {
		switch id.IDType {
		case "SHA256_EMAIL":
			if !testHexRE.MatchString(id.IDValue) {
				return fmt.Sprintf("SHA256_EMAIL %q is not lowercase SHA-256 hex", id.IDValue)
			}
		case "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "ACXIOM_ID", "ORACLE_MOAT_ID":
			if id.IDValue == "" {
				return id.IDType + " is empty"
			}
		default:
			return fmt.Sprintf("unknown idType %q", id.IDType)
		}
	}
	if ui := ev.User.UserInfo; ui != nil && (ui.FirstName == "" || ui.LastName == "") {
		return "/user/userInfo needs firstName and lastName"
	}
	return ""
}

func TestLinkedInGolden(t *testing.T) {
	l := NewLinkedIn(Config{Now: func() time.Time { return testNow }}, "")
	for name, c := range testConversions() {
		t.Run(name, func(t *testing.T) {
			req, err := l.Render(linkedinTestDestination(), []mapping.Conversion{c})
			var got any = req
			if err != nil {
				got = map[string]string{"error": err.Error()}
			}
			checkGolden(t, filepath.Join("testdata", "linkedin", name+".golden.json"), got, "li-token-abc")
		})
	}
}

func TestLinkedInRender(t *testing.T) {
	l := NewLinkedIn(Config{Now: func() time.Time { return testNow }}, "")
	convs := testConversions()
	tests := []struct {
		name    string
		convs   []mapping.Conversion
		dest    func(d *Destination)
		wantErr error
		batch   bool
	}{
		{name: "one event is sent bare", convs: []mapping.Conversion{convs["full"]}},
		{name: "two events go as BATCH_CREATE", convs: []mapping.Conversion{convs["full"], convs["prehashed_jpy"]}, batch: true},
		{name: "phone only cannot match", convs: []mapping.Conversion{convs["phone_only"]}, wantErr: ErrInvalid},
		{name: "missing rule", convs: []mapping.Conversion{convs["full"]}, dest: func(d *Destination) { delete(d.Credentials, "conversion_rule_id") }, wantErr: ErrAuth},
		{name: "api version setting", convs: []mapping.Conversion{convs["full"]}, dest: func(d *Destination) { d.Settings = map[string]string{"api_version": "202609"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := linkedinTestDestination()
			if tt.dest != nil {
				tt.dest(&d)
			}
			req, err := l.Render(d, tt.convs)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Render(%s) error = %v, want %v", tt.name, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := req.Header[http.CanonicalHeaderKey("X-RestLi-Method")] == "BATCH_CREATE"; got != tt.batch {
				t.Errorf("BATCH_CREATE header = %v, want %v (headers %v)", got, tt.batch, req.Header)
			}
			if req.Header["Authorization"] != "Bearer REDACTED" {
				t.Errorf("Authorization = %q, want the token redacted", req.Header["Authorization"])
			}
			wantVersion := linkedinDefaultVersion
			if v := d.Settings["api_version"]; v != "" {
				wantVersion = v
			}
			if req.Header[http.CanonicalHeaderKey("LinkedIn-Version")] != wantVersion {
				t.Errorf("LinkedIn-Version = %q, want %q", req.Header[http.CanonicalHeaderKey("LinkedIn-Version")], wantVersion)
			}
		})
	}

	t.Run("over the batch limit", func(t *testing.T) {
		many := make([]mapping.Conversion, linkedinBatchSize+1)
		for i := range many {
			many[i] = convs["full"]
		}
		if _, err := l.Render(linkedinTestDestination(), many); err == nil {
			t.Errorf("Render(%d conversions) = nil error, want the batch limit refused", len(many))
		}
	})
}

func TestLinkedInSendPayload(t *testing.T) {
	f, srv := newLinkedinFake(t)
	l := NewLinkedIn(testConfig(srv.URL, 5*time.Second), "")
	convs := testConversions()
	full, pre := convs["full"], convs["prehashed_jpy"]
	pre.ClickIDs.LiFatID = "li-fat-jp"

	results := l.Send(context.Background(), linkedinTestDestination(), []mapping.Conversion{full, pre})

	if len(results) != 2 {
		t.Fatalf("Send returned %d results, want 2", len(results))
	}
	for i, r := range results {
		if r.Err != nil {
			t.Errorf("result %d: error %v, want accepted", i, r.Err)
		}
		if r.StatusCode != http.StatusOK {
			t.Errorf("result %d: status %d, want 200", i, r.StatusCode)
		}
	}
	reqs := f.calls()
	if len(reqs) != 1 || !reqs[0].batch || len(reqs[0].events) != 2 {
		t.Fatalf("LinkedIn got %d requests (%+v), want one BATCH_CREATE of 2", len(reqs), reqs)
	}
	got := reqs[0].events[0]
	if want := testSHA256("jane.doe+shop@example.com"); got.User.UserIDs[0].IDType != "SHA256_EMAIL" || got.User.UserIDs[0].IDValue != want {
		t.Errorf("full: first user id = %+v, want SHA256_EMAIL %s", got.User.UserIDs[0], want)
	}
	if got.User.UserIDs[1].IDType != "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID" || got.User.UserIDs[1].IDValue != "li-fat-abc" {
		t.Errorf("full: second user id = %+v, want the li_fat_id as is", got.User.UserIDs[1])
	}
	if want := testNow.Add(-2 * time.Hour).UnixMilli(); got.ConversionHappenedAt != want {
		t.Errorf("full: conversionHappenedAt = %d, want %d (ms)", got.ConversionHappenedAt, want)
	}
	if got.Conversion != "urn:lla:llaPartnerConversion:104729" || got.EventID != "5820393472058" {
		t.Errorf("full: conversion %q eventId %q", got.Conversion, got.EventID)
	}
	if got.ConversionValue == nil || got.ConversionValue.Amount != "120.94" || got.ConversionValue.CurrencyCode != "USD" {
		t.Errorf("full: conversionValue = %+v, want USD \"120.94\"", got.ConversionValue)
	}
	if ui := got.User.UserInfo; ui == nil || ui.FirstName != "Jane" || ui.LastName != "O'Doe" || ui.CountryCode != "US" {
		t.Errorf("full: userInfo = %+v, want plain Jane O'Doe US", ui)
	}
	pg := reqs[0].events[1]
	if pg.User.UserIDs[0].IDValue != pre.User.Email {
		t.Errorf("prehashed: SHA256_EMAIL = %q, want the given hash %q passed through", pg.User.UserIDs[0].IDValue, pre.User.Email)
	}
	if pg.User.UserInfo != nil {
		t.Errorf("prehashed: userInfo = %+v, want none without both names", pg.User.UserInfo)
	}
	if pg.ConversionValue.Amount != "12800" || pg.ConversionValue.CurrencyCode != "JPY" {
		t.Errorf("prehashed: conversionValue = %+v, want JPY \"12800\"", pg.ConversionValue)
	}

	// Each result's payload is its own element as sent.
	var sent linkedinTestEvent
	if err := json.Unmarshal(results[1].Payload, &sent); err != nil {
		t.Fatalf("payload of result 1: %v", err)
	}
	if diff := cmp.Diff(pg, sent); diff != "" {
		t.Errorf("payload of result 1 differs from what LinkedIn got (-sent +payload):\n%s", diff)
	}
	wantMatch := advise("linkedin", "LinkedIn", mapping.Match{Email: true, ClickID: true, Name: true}.Score(), convs["full"])
	if diff := cmp.Diff(wantMatch, results[0].Match); diff != "" {
		t.Errorf("full: match (-want +got):\n%s", diff)
	}
}

func TestLinkedInSendErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		want       error
		retryAfter time.Duration
		code       string
	}{
		{name: "created", status: http.StatusCreated},
		{name: "expired token", status: http.StatusUnauthorized, want: ErrAuth, code: "EXPIRED_ACCESS_TOKEN",
			body: `{"status":401,"serviceErrorCode":65601,"code":"EXPIRED_ACCESS_TOKEN","message":"The token used in the request has expired"}`},
		{name: "no permission", status: http.StatusForbidden, want: ErrAuth, code: "ACCESS_DENIED",
			body: `{"status":403,"serviceErrorCode":100,"code":"ACCESS_DENIED","message":"Not enough permissions to access: partnerApiConversionEvents.CREATE"}`},
		{name: "version sunset", status: http.StatusUpgradeRequired, want: ErrAuth, code: CodeVersionSunset,
			body: `{"status":426,"code":"VERSION_MISSING","message":"Requested version 202401 is not active"}`},
		{name: "throttled", status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "30"}, want: ErrThrottled, retryAfter: 30 * time.Second, code: "TOO_MANY_REQUESTS",
			body: `{"status":429,"serviceErrorCode":101,"code":"TOO_MANY_REQUESTS","message":"Resource level throttle limit"}`},
		{name: "server error", status: http.StatusInternalServerError, want: ErrTransient, body: `{"status":500,"message":"Internal Server Error"}`},
		{name: "gateway", status: http.StatusBadGateway, want: ErrTransient, body: `<html>bad gateway</html>`},
		{name: "bad request", status: http.StatusBadRequest, want: ErrInvalid, code: "INVALID_ARGUMENT",
			body: `{"status":400,"code":"INVALID_ARGUMENT","message":"/conversionHappenedAt :: value is older than 90 days"}`},
		{name: "unprocessable", status: http.StatusUnprocessableEntity, want: ErrInvalid,
			body: `{"status":422,"message":"Index: 0, ERROR :: /user :: field userIds is required\n"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newLinkedinFake(t, func(f *linkedinFake) {
				if tt.status == http.StatusUnauthorized {
					f.tokens = map[string]bool{} // the fake itself refuses the token
					return
				}
				f.answer = func(w http.ResponseWriter, _ []linkedinTestEvent, _ bool) {
					for k, v := range tt.header {
						w.Header().Set(k, v)
					}
					writeJSON(w, tt.status, tt.body)
				}
			})
			l := NewLinkedIn(testConfig(srv.URL, 5*time.Second), "")
			res := l.Send(context.Background(), linkedinTestDestination(), []mapping.Conversion{testConversions()["full"]})
			if len(res) != 1 {
				t.Fatalf("got %d results, want 1", len(res))
			}
			r := res[0]
			if tt.want == nil {
				if r.Err != nil {
					t.Fatalf("answer %d %s: error %v, want accepted", tt.status, tt.body, r.Err)
				}
				return
			}
			if !errors.Is(r.Err, tt.want) {
				t.Fatalf("answer %d %s: error %v, want %v", tt.status, tt.body, r.Err, tt.want)
			}
			e := testError(t, r.Err)
			if e.RetryAfter != tt.retryAfter || e.Code != tt.code || e.StatusCode != tt.status {
				t.Errorf("answer %d: got retry %v code %q status %d, want %v %q %d", tt.status, e.RetryAfter, e.Code, e.StatusCode, tt.retryAfter, tt.code, tt.status)
			}
			if r.StatusCode != tt.status || len(r.Payload) == 0 {
				t.Errorf("result status %d payload %d bytes, want %d and the payload kept", r.StatusCode, len(r.Payload), tt.status)
			}
			if strings.Contains(r.Err.Error(), "li-token-abc") {
				t.Errorf("error %q shows the token", r.Err)
			}
		})
	}
}

func TestLinkedInBatchElementStatus(t *testing.T) {
	_, srv := newLinkedinFake(t, func(f *linkedinFake) {
		f.answer = func(w http.ResponseWriter, _ []linkedinTestEvent, _ bool) {
			writeJSON(w, http.StatusOK, `{"elements":[{"status":201},{"status":400,"error":{"message":"Duplicate eventId","code":"DUPLICATE"}}]}`)
		}
	})
	l := NewLinkedIn(testConfig(srv.URL, 5*time.Second), "")
	convs := testConversions()
	res := l.Send(context.Background(), linkedinTestDestination(), []mapping.Conversion{convs["full"], convs["prehashed_jpy"]})
	if res[0].Err != nil {
		t.Errorf("element 0 (status 201): error %v, want accepted", res[0].Err)
	}
	if !errors.Is(res[1].Err, ErrInvalid) || !strings.Contains(res[1].Err.Error(), "Duplicate eventId") {
		t.Errorf("element 1 (status 400): error %v, want ErrInvalid with LinkedIn's message", res[1].Err)
	}
}

// linkedinOAuthFake is LinkedIn's token endpoint: it checks the refresh
// grant and mints numbered tokens.
type linkedinOAuthFake struct {
	t         *testing.T
	fail      bool
	expiresIn int // 0: LinkedIn's 60 days
	mu        sync.Mutex
	minted    int
}

func (o *linkedinOAuthFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); r.Method != http.MethodPost || ct != "application/x-www-form-urlencoded" {
		o.t.Errorf("token endpoint got %s with Content-Type %q", r.Method, ct)
	}
	if err := r.ParseForm(); err != nil {
		o.t.Errorf("token endpoint form: %v", err)
	}
	want := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"li-refresh"}, "client_id": {"app-id"}, "client_secret": {"app-secret"}}
	if diff := cmp.Diff(want, r.PostForm); diff != "" {
		o.t.Errorf("token endpoint form (-want +got):\n%s", diff)
	}
	if o.fail {
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"The provided authorization grant or refresh token is invalid, expired or revoked"}`)
		return
	}
	o.mu.Lock()
	o.minted++
	n := o.minted
	o.mu.Unlock()
	ttl := o.expiresIn
	if ttl == 0 {
		ttl = 5184000
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"access_token":"fresh-%d","expires_in":%d,"refresh_token":"li-refresh","refresh_token_expires_in":31536000}`, n, ttl))
}

func (o *linkedinOAuthFake) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.minted
}

func TestLinkedInTokenRefresh(t *testing.T) {
	f, srv := newLinkedinFake(t, func(f *linkedinFake) {
		f.tokens = map[string]bool{"fresh-1": true, "fresh-2": true}
	})
	oauth := &linkedinOAuthFake{t: t}
	osrv := startFake(t, oauth)

	now := testNow
	cfg := testConfig(srv.URL, 5*time.Second)
	cfg.Now = func() time.Time { return now }
	l := NewLinkedIn(cfg, osrv.URL)
	d := linkedinTestDestination()
	d.Credentials["access_token"] = "li-stale"
	d.Credentials["refresh_token"] = "li-refresh"
	d.Credentials["client_id"] = "app-id"
	d.Credentials["client_secret"] = "app-secret"
	// The conversion stays put while the sender's clock moves on 60 days,
	// still inside LinkedIn's 90-day window.
	c := testConversions()["full"]

	steps := []struct {
		name       string
		advance    time.Duration
		wantTokens []string // bearer tokens LinkedIn saw in this step
		wantMinted int      // tokens minted so far
	}{
		{name: "stored token refused, refreshed once", wantTokens: []string{"fresh-1"}, wantMinted: 1},
		{name: "cached token reused", wantTokens: []string{"fresh-1"}, wantMinted: 1},
	}
	seen := 0
	for _, st := range steps {
		now = now.Add(st.advance)
		res := l.Send(context.Background(), d, []mapping.Conversion{c})
		if res[0].Err != nil {
			t.Fatalf("%s: error %v, want accepted", st.name, res[0].Err)
		}
		var tokens []string
		for _, r := range f.calls()[seen:] {
			tokens = append(tokens, r.token)
		}
		seen = len(f.calls())
		if diff := cmp.Diff(st.wantTokens, tokens); diff != "" {
			t.Errorf("%s: accepted requests' tokens (-want +got):\n%s", st.name, diff)
		}
		if got := oauth.count(); got != st.wantMinted {
			t.Errorf("%s: %d tokens minted, want %d", st.name, got, st.wantMinted)
		}
	}

	t.Run("refreshed before expiry", func(t *testing.T) {
		// A token inside the 5-minute margin is replaced before use.
		oauth := &linkedinOAuthFake{t: t, expiresIn: 240}
		l := NewLinkedIn(testConfig(srv.URL, 5*time.Second), startFake(t, oauth).URL)
		d := d
		d.Credentials = map[string]string{"conversion_rule_id": "104729", "refresh_token": "li-refresh", "client_id": "app-id", "client_secret": "app-secret"}
		for range 2 {
			if res := l.Send(context.Background(), d, []mapping.Conversion{c}); res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
		}
		if got := f.calls()[len(f.calls())-1].token; oauth.count() != 2 || got != "fresh-2" {
			t.Errorf("%d tokens minted, last request with %q; want 2 and fresh-2", oauth.count(), got)
		}
	})

	t.Run("refresh refused", func(t *testing.T) {
		oauth := &linkedinOAuthFake{t: t, fail: true}
		osrv := startFake(t, oauth)
		l := NewLinkedIn(testConfig(srv.URL, 5*time.Second), osrv.URL)
		res := l.Send(context.Background(), d, []mapping.Conversion{testConversions()["full"]})
		if !errors.Is(res[0].Err, ErrAuth) {
			t.Fatalf("error %v, want ErrAuth when the refresh token is refused", res[0].Err)
		}
		for _, secret := range []string{"li-refresh", "app-secret", "li-stale"} {
			if strings.Contains(res[0].Err.Error(), secret) {
				t.Errorf("error %q shows a secret", res[0].Err)
			}
		}
	})

	t.Run("no stored token mints one first", func(t *testing.T) {
		oauth := &linkedinOAuthFake{t: t}
		osrv := startFake(t, oauth)
		l := NewLinkedIn(testConfig(srv.URL, 5*time.Second), osrv.URL)
		d := d
		d.Credentials = map[string]string{"conversion_rule_id": "104729", "refresh_token": "li-refresh", "client_id": "app-id", "client_secret": "app-secret"}
		before := len(f.calls())
		res := l.Send(context.Background(), d, []mapping.Conversion{testConversions()["full"]})
		if res[0].Err != nil || oauth.count() != 1 || len(f.calls()) != before+1 {
			t.Errorf("error %v, minted %d, requests %d; want accepted with one token minted and one request", res[0].Err, oauth.count(), len(f.calls())-before)
		}
	})
}

func TestLinkedInNotSent(t *testing.T) {
	convs := testConversions()
	old := convs["full"]
	old.EventTime = testNow.Add(-91 * 24 * time.Hour)
	tests := []struct {
		name     string
		conv     mapping.Conversion
		dest     func(*Destination)
		want     error
		wantCode string
	}{
		{name: "past 90 days", conv: old, want: ErrInvalid, wantCode: "event_too_old"},
		{name: "no email or li_fat_id", conv: convs["phone_only"], want: ErrInvalid, wantCode: "no_identifier"},
		{name: "no conversion rule", conv: convs["full"], dest: func(d *Destination) { d.Credentials["conversion_rule_id"] = " " }, want: ErrAuth, wantCode: "missing_credential"},
		{name: "no access token", conv: convs["full"], dest: func(d *Destination) { delete(d.Credentials, "access_token") }, want: ErrAuth, wantCode: "missing_credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newLinkedinFake(t)
			l := NewLinkedIn(testConfig(srv.URL, 5*time.Second), "")
			d := linkedinTestDestination()
			if tt.dest != nil {
				tt.dest(&d)
			}
			// A sendable conversion rides along to prove the rest still goes.
			ok := convs["prehashed_jpy"]
			res := l.Send(context.Background(), d, []mapping.Conversion{tt.conv, ok})
			if !errors.Is(res[0].Err, tt.want) || testError(t, res[0].Err).Code != tt.wantCode {
				t.Errorf("error %v, want %v with code %q", res[0].Err, tt.want, tt.wantCode)
			}
			if tt.want == ErrAuth {
				if len(f.calls()) != 0 {
					t.Errorf("LinkedIn got %d requests, want none without credentials", len(f.calls()))
				}
				return
			}
			if res[0].Payload != nil {
				t.Errorf("unsent conversion has a payload: %s", res[0].Payload)
			}
			if res[1].Err != nil {
				t.Errorf("other conversion: error %v, want it sent and accepted", res[1].Err)
			}
			reqs := f.calls()
			if len(reqs) != 1 || reqs[0].batch || reqs[0].events[0].EventID != ok.EventID {
				t.Errorf("LinkedIn got %+v, want one single event %s", reqs, ok.EventID)
			}
		})
	}
}

func TestLinkedInDescription(t *testing.T) {
	l := NewLinkedIn(Config{}, "")
	var names []string
	for _, f := range l.Fields() {
		names = append(names, f.Name)
	}
	want := []string{"conversion_rule_id", "access_token", "refresh_token", "client_id", "client_secret", "api_version"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("Fields (-want +got):\n%s", diff)
	}
	if l.Name() != "linkedin" || l.BatchSize() != 5000 || l.MaxAge() != 90*24*time.Hour {
		t.Errorf("Name %q BatchSize %d MaxAge %v, want linkedin 5000 2160h", l.Name(), l.BatchSize(), l.MaxAge())
	}
	if l.TestMode(Destination{Settings: map[string]string{"test": "true"}}) {
		t.Error("TestMode = true, want false: LinkedIn has no test mode")
	}
}

func FuzzLinkedInFailedIndexes(f *testing.F) {
	f.Add([]byte(`{"status":422,"message":"Index: 0, ERROR :: /user :: bad\nIndex: 2, ERROR :: /x\n"}`), 3)
	f.Add([]byte(`{"message":"Index: 99999999999999999999, ERROR :: x"}`), 5)
	f.Add([]byte(`not json`), 1)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > linkedinBatchSize {
			return
		}
		for k := range linkedinFailedIndexes(body, n) {
			if k < 0 || k >= n {
				t.Errorf("index %d outside a batch of %d (body %q)", k, n, body)
			}
		}
	})
}
