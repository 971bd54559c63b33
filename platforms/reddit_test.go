package platforms

import (
	"bytes"
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
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/postbackhq/postback/mapping"
)

const (
	redditTestPixel   = "a2_testpixel42"
	redditTestAccount = "t2_testaccount7"
	redditTestToken   = "rdt-secret-token-5c4b3a"
)

// redditTestDest returns a v3 (pixel) or v2.0 (ad account) destination.
func redditTestDest(v3 bool, settings map[string]string) Destination {
	cred := map[string]string{"access_token": redditTestToken}
	if v3 {
		cred["pixel_id"] = redditTestPixel
	} else {
		cred["ad_account_id"] = redditTestAccount
	}
	return Destination{ID: 9, ShopID: 1, Platform: "reddit", Credentials: cred, Settings: settings}
}

// Strict mirrors of Reddit's request schemas: unknown fields fail the test.
type redditFakeUser struct {
	Email       string `json:"email"`
	PhoneNumber string `json:"phone_number"`
	ExternalID  string `json:"external_id"`
	IPAddress   string `json:"ip_address"`
	UserAgent   string `json:"user_agent"`
	UUID        string `json:"uuid"`
}

type redditFakeType struct {
	TrackingType    string `json:"tracking_type"`
	CustomEventName string `json:"custom_event_name"`
}

type redditFakeV3 struct {
	Data struct {
		TestID string `json:"test_id"`
		Events []struct {
			EventAt        int64          `json:"event_at"`
			ActionSource   string         `json:"action_source"`
			EventSourceURL string         `json:"event_source_url"`
			ClickID        string         `json:"click_id"`
			Type           redditFakeType `json:"type"`
			Metadata       struct {
				ConversionID string      `json:"conversion_id"`
				Currency     string      `json:"currency"`
				Value        json.Number `json:"value"`
				ItemCount    int         `json:"item_count"`
				Products     []struct {
					ID        string      `json:"id"`
					Name      string      `json:"name"`
					Quantity  int         `json:"quantity"`
					ItemPrice json.Number `json:"item_price"`
				} `json:"products"`
			} `json:"metadata"`
			User redditFakeUser `json:"user"`
		} `json:"events"`
	} `json:"data"`
}

type redditFakeV2 struct {
	TestMode bool `json:"test_mode"`
	Events   []struct {
		EventAt       string         `json:"event_at"`
		ClickID       string         `json:"click_id"`
		EventType     redditFakeType `json:"event_type"`
		EventMetadata struct {
			ConversionID string      `json:"conversion_id"`
			Currency     string      `json:"currency"`
			ValueDecimal json.Number `json:"value_decimal"`
			ItemCount    int         `json:"item_count"`
			Products     []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"products"`
		} `json:"event_metadata"`
		User redditFakeUser `json:"user"`
	} `json:"events"`
}

// redditFakeSeen is one accepted request, in version-neutral form.
type redditFakeSeen struct {
	v3       bool
	testID   string
	testMode bool
	ids      []string // conversion ids in order
	raw      []byte
}

// redditFake is an httptest Conversions API serving both versions. It
// checks auth, path, the body schema, hashes and timestamp units, and
// answers Reddit's own errors for bad requests; respond answers good ones.
type redditFake struct {
	t       *testing.T
	srv     *httptest.Server
	respond func(w http.ResponseWriter, seen redditFakeSeen)

	recorder[redditFakeSeen]
}

func newRedditFake(t *testing.T, respond func(w http.ResponseWriter, seen redditFakeSeen)) *redditFake {
	t.Helper()
	f := &redditFake{t: t, respond: respond}
	f.srv = startFake(t, http.HandlerFunc(f.serve))
	return f
}

func (f *redditFake) serve(w http.ResponseWriter, r *http.Request) {
	v3Path := "/api/v3/pixels/" + redditTestPixel + "/conversion_events"
	v2Path := "/api/v2.0/conversions/events/" + redditTestAccount
	if r.Method != http.MethodPost || (r.URL.Path != v3Path && r.URL.Path != v2Path) {
		f.t.Errorf("reddit fake: got %s %s", r.Method, r.URL.Path)
		writeJSON(w, 404, `{"error":{"message":"Not Found"}}`)
		return
	}
	switch auth := r.Header.Get("Authorization"); {
	case auth == "":
		writeJSON(w, 401, `{"error":{"message":"No bearer token provided"}}`)
		return
	case auth != "Bearer "+redditTestToken:
		writeJSON(w, 401, `{"error":{"reason":"UNAUTHORIZED","explanation":"Invalid token"}}`)
		return
	}
	if ua := r.Header.Get("User-Agent"); ua == "" || strings.HasPrefix(ua, "Go-http-client") {
		writeJSON(w, 429, `{"error":{"message":"Your user agent was automatically ratelimited."}}`)
		f.t.Errorf("reddit fake: default user agent %q", ua)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("reddit fake: read: %v", err)
		return
	}
	seen := redditFakeSeen{v3: r.URL.Path == v3Path, raw: body}
	var problems []string
	if seen.v3 {
		problems = f.checkV3(body, &seen)
	} else {
		problems = f.checkV2(body, &seen)
	}
	if len(problems) > 0 {
		f.t.Errorf("reddit fake: invalid request: %s\n%s", strings.Join(problems, "; "), body)
		writeJSON(w, 400, fmt.Sprintf(`{"message":"There were %d invalid conversion events. None were processed.","invalid_events":[{"error_message":%q}]}`, len(problems), problems[0]))
		return
	}
	f.record(seen)
	f.respond(w, seen)
}

func redditCheckUser(i int, u redditFakeUser) []string {
	var p []string
	for name, h := range map[string]string{"email": u.Email, "phone_number": u.PhoneNumber, "external_id": u.ExternalID, "ip_address": u.IPAddress} {
		if h != "" && !testHexRE.MatchString(h) {
			p = append(p, fmt.Sprintf("events[%d].user.%s %q is not SHA-256 hex", i, name, h))
		}
	}
	if testHexRE.MatchString(u.UserAgent) {
		p = append(p, fmt.Sprintf("events[%d].user.user_agent is hashed", i))
	}
	return p
}

func (f *redditFake) checkV3(body []byte, seen *redditFakeSeen) []string {
	var req redditFakeV3
	if err := decodeStrict(body, &req); err != nil {
		return []string{"v3 body: " + err.Error()}
	}
	var p []string
	ev := req.Data.Events
	if len(ev) == 0 || len(ev) > redditBatchSize {
		p = append(p, fmt.Sprintf("%d events", len(ev)))
	}
	types := map[string]bool{"PURCHASE": true, "LEAD": true, "SIGN_UP": true, "ADD_TO_CART": true, "ADD_TO_WISHLIST": true, "VIEW_CONTENT": true, "SEARCH": true, "PAGE_VISIT": true, "CUSTOM": true}
	for i, e := range ev {
		if e.EventAt < testNow.Add(-redditMaxAge).UnixMilli() || e.EventAt > testNow.UnixMilli() {
			p = append(p, fmt.Sprintf("events[%d].event_at %d is not Unix ms within 7 days", i, e.EventAt))
		}
		if e.ActionSource != "WEBSITE" && e.ActionSource != "APP" && e.ActionSource != "PHYSICAL_STORE" && e.ActionSource != "OTHER" {
			p = append(p, fmt.Sprintf("events[%d].action_source %q", i, e.ActionSource))
		}
		if !types[e.Type.TrackingType] || (e.Type.TrackingType == "CUSTOM") != (e.Type.CustomEventName != "") {
			p = append(p, fmt.Sprintf("events[%d].type %+v", i, e.Type))
		}
		if _, err := e.Metadata.Value.Float64(); err != nil {
			p = append(p, fmt.Sprintf("events[%d].metadata.value %q", i, e.Metadata.Value))
		}
		p = append(p, redditCheckUser(i, e.User)...)
		seen.ids = append(seen.ids, e.Metadata.ConversionID)
	}
	seen.testID = req.Data.TestID
	return p
}

func (f *redditFake) checkV2(body []byte, seen *redditFakeSeen) []string {
	var req redditFakeV2
	if err := decodeStrict(body, &req); err != nil {
		return []string{"v2 body: " + err.Error()}
	}
	var p []string
	if len(req.Events) == 0 || len(req.Events) > redditBatchSize {
		p = append(p, fmt.Sprintf("%d events", len(req.Events)))
	}
	types := map[string]bool{"Purchase": true, "Lead": true, "SignUp": true, "AddToCart": true, "AddToWishlist": true, "ViewContent": true, "Search": true, "PageVisit": true, "Custom": true}
	for i, e := range req.Events {
		at, err := time.Parse(time.RFC3339, e.EventAt)
		if err != nil || at.Before(testNow.Add(-redditMaxAge)) || at.After(testNow) {
			p = append(p, fmt.Sprintf("events[%d].event_at %q is not ISO-8601 within 7 days", i, e.EventAt))
		}
		if !types[e.EventType.TrackingType] {
			p = append(p, fmt.Sprintf("events[%d].event_type %+v", i, e.EventType))
		}
		if _, err := e.EventMetadata.ValueDecimal.Float64(); err != nil {
			p = append(p, fmt.Sprintf("events[%d].event_metadata.value_decimal %q", i, e.EventMetadata.ValueDecimal))
		}
		p = append(p, redditCheckUser(i, e.User)...)
		seen.ids = append(seen.ids, e.EventMetadata.ConversionID)
	}
	seen.testMode = req.TestMode
	return p
}

func (f *redditFake) sender(timeout time.Duration) *Reddit {
	return NewReddit(testConfig(f.srv.URL, timeout))
}

func redditOK(w http.ResponseWriter, seen redditFakeSeen) {
	writeJSON(w, 200, fmt.Sprintf(`{"data":{"message":"Successfully processed %d conversion events."}}`, len(seen.ids)))
}

func TestRedditGolden(t *testing.T) {
	rd := NewReddit(Config{Now: func() time.Time { return testNow }})
	for name, c := range testConversions() {
		for _, v3 := range []bool{true, false} {
			file := name + ".golden.json"
			if !v3 {
				file = name + "_v2.golden.json"
			}
			t.Run(file, func(t *testing.T) {
				req, err := rd.Render(redditTestDest(v3, nil), []mapping.Conversion{c})
				if err != nil {
					t.Fatalf("Render(%s): %v", name, err)
				}
				checkGolden(t, filepath.Join("testdata", "reddit", file), req, redditTestToken)
			})
		}
	}
}

func TestRedditSendSuccess(t *testing.T) {
	for _, v3 := range []bool{true, false} {
		t.Run(fmt.Sprintf("v3=%v", v3), func(t *testing.T) {
			f := newRedditFake(t, redditOK)
			rd := f.sender(5 * time.Second)
			names, convs := sortedConversions()
			d := redditTestDest(v3, nil)

			results := rd.Send(context.Background(), d, convs)

			seen := f.calls()
			if len(seen) != 1 || seen[0].v3 != v3 {
				t.Fatalf("requests = %+v, want one %v request", seen, v3)
			}
			rendered, err := rd.Render(d, convs)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, seen[0].raw, rendered.Body) {
				t.Errorf("sent body differs from Render body\nsent:   %s\nrender: %s", seen[0].raw, rendered.Body)
			}
			events := redditSentEvents(t, seen[0].raw, v3)
			wantMatch := map[string]mapping.Match{
				"full":          {ClickID: true, Email: true, Phone: true, ExternalID: true, IP: true, UserAgent: true},
				"phone_only":    {Phone: true},
				"prehashed_jpy": {Email: true, IP: true, UserAgent: true},
			}
			for i, r := range results {
				if r.Err != nil || r.StatusCode != 200 {
					t.Errorf("%s: (%d, %v), want (200, nil)", names[i], r.StatusCode, r.Err)
				}
				if !jsonEqual(t, r.Payload, events[i]) {
					t.Errorf("%s: Payload = %s, want the sent event %s", names[i], r.Payload, events[i])
				}
				if diff := cmp.Diff(advise("reddit", "Reddit", wantMatch[names[i]].Score(), convs[i]), r.Match); diff != "" {
					t.Errorf("%s: Match (-want +got):\n%s", names[i], diff)
				}
				if seen[0].ids[i] != convs[i].EventID {
					t.Errorf("%s: conversion_id = %q, want the raw event id %q", names[i], seen[0].ids[i], convs[i].EventID)
				}
			}
		})
	}
}

func redditSentEvents(t *testing.T, raw []byte, v3 bool) []json.RawMessage {
	t.Helper()
	if v3 {
		var b struct {
			Data struct{ Events []json.RawMessage }
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatal(err)
		}
		return b.Data.Events
	}
	var b struct{ Events []json.RawMessage }
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	return b.Events
}

func TestRedditNormalizeEmail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Al.ice$+Apple@Example.Com", "alice@example.com"}, // Reddit's own example
		{"alice@example.com", "alice@example.com"},
		{"  Jane.Doe+shop@Example.com ", "janedoe@example.com"},
		{"first_last-1@mail.co.uk", "firstlast1@mail.co.uk"},
		{"+tag@example.com", ""},
		{"not an email", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := redditNormalizeEmail(tc.in); got != tc.want {
			t.Errorf("redditNormalizeEmail(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedditHashVectors(t *testing.T) {
	// Reddit's published vectors: both spellings of Alice hash alike, and
	// "+15554441234" is hashed with its "+".
	const aliceHash = "ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976"
	if got := redditHashEmail("Al.ice$+Apple@Example.Com"); got != aliceHash || testSHA256("alice@example.com") != aliceHash {
		t.Errorf("email vector: got %s, want %s", got, aliceHash)
	}
	const phoneHash = "e5b124c58580eb16bd959b8d0cac12b12c952e2ceae0203d416cff94f10b994a"
	if got := redditHashPhone("+15554441234", "US"); got != phoneHash || testSHA256("+15554441234") != phoneHash {
		t.Errorf("phone vector: got %s, want %s", got, phoneHash)
	}

	rd := NewReddit(Config{Now: func() time.Time { return testNow }})
	all := testConversions()
	tests := []struct {
		name string
		want redditFakeUser
	}{
		{"full", redditFakeUser{
			Email:       testSHA256("janedoe@example.com"),
			PhoneNumber: testSHA256("+12175550143"),
			ExternalID:  testSHA256("7390123456789"),
			IPAddress:   testSHA256("203.0.113.42"),
			UserAgent:   all["full"].UserAgent,
			// The _rdt_uuid cookie goes as the browser kept it, unhashed.
			UUID: all["full"].ClickIDs.RDTUUID,
		}},
		{"phone_only", redditFakeUser{PhoneNumber: testSHA256("+493012345678")}},
		{"prehashed_jpy", redditFakeUser{
			Email:     "a3f1d4c2b6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829",
			IPAddress: testSHA256("2001:db8::1"),
			UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := rd.Render(redditTestDest(true, nil), []mapping.Conversion{all[tc.name]})
			if err != nil {
				t.Fatal(err)
			}
			var body redditFakeV3
			if err := json.Unmarshal(req.Body, &body); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, body.Data.Events[0].User); diff != "" {
				t.Errorf("user of %s (-want +got):\n%s", tc.name, diff)
			}
		})
	}
	if got, want := redditHashIP(" 2001:DB8:0::1 "), testSHA256("2001:db8::1"); got != want {
		t.Errorf("IPv6 is hashed in canonical form: got %s, want %s", got, want)
	}
}

func TestRedditErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		header    map[string]string
		body      string
		wantClass error
		wantRetry time.Duration
		wantMsg   string
	}{
		{name: "invalid events", status: 400, body: `{"message":"There were 1 invalid conversion events. None were processed.","invalid_events":[{"error_message":"event_at is too old"}]}`, wantClass: ErrInvalid, wantMsg: "event_at is too old"},
		{name: "v3 field error", status: 400, body: `{"error":{"code":"INVALID","message":"Invalid request","fields":[{"field":"type.tracking_type","message":"required"}]}}`, wantClass: ErrInvalid, wantMsg: "type.tracking_type: required"},
		{name: "unauthorized", status: 401, body: `{"error":{"reason":"UNAUTHORIZED","explanation":"Invalid token"}}`, wantClass: ErrAuth, wantMsg: "Invalid token"},
		{name: "forbidden pixel", status: 403, body: `{"error":{"message":"You're not authorized to post conversions to Pixel ID a2_x."}}`, wantClass: ErrAuth},
		{name: "unknown pixel", status: 404, body: `{"error":{"message":"Not Found"}}`, wantClass: ErrAuth},
		{name: "rate limited with Retry-After", status: 429, header: map[string]string{"Retry-After": "20"}, body: `{"error":{"message":"Too many requests/events within timeframe."}}`, wantClass: ErrThrottled, wantRetry: 20 * time.Second},
		{name: "rate limited with X-Ratelimit-Reset", status: 429, header: map[string]string{"X-Ratelimit-Reset": "12.3"}, body: `{}`, wantClass: ErrThrottled, wantRetry: 13 * time.Second},
		{name: "service unavailable", status: 500, body: `{"message":"The service is currently unavailable. No conversion events were processed."}`, wantClass: ErrTransient},
		{name: "bad gateway html", status: 502, body: `<html>502</html>`, wantClass: ErrTransient},
	}
	c := testConversions()["full"]
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newRedditFake(t, func(w http.ResponseWriter, _ redditFakeSeen) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				writeJSON(w, tc.status, tc.body)
			})
			res := f.sender(5*time.Second).Send(context.Background(), redditTestDest(true, nil), []mapping.Conversion{c})
			r := res[0]
			if !errors.Is(r.Err, tc.wantClass) {
				t.Fatalf("answer %d %s: Err = %v, want %v", tc.status, tc.body, r.Err, tc.wantClass)
			}
			var e *Error
			if !errors.As(r.Err, &e) || e.RetryAfter != tc.wantRetry || e.StatusCode != tc.status {
				t.Errorf("Err = %#v, want status %d RetryAfter %v", r.Err, tc.status, tc.wantRetry)
			}
			if !strings.Contains(r.Err.Error(), tc.wantMsg) {
				t.Errorf("Err = %q, want it to mention %q", r.Err, tc.wantMsg)
			}
			if r.StatusCode != tc.status || r.Response != tc.body {
				t.Errorf("StatusCode, Response = %d, %q", r.StatusCode, r.Response)
			}
			if strings.Contains(r.Err.Error(), redditTestToken) {
				t.Errorf("error leaks the token: %v", r.Err)
			}
		})
	}
}

func TestRedditWrongTokenIsAuth(t *testing.T) {
	f := newRedditFake(t, redditOK)
	d := redditTestDest(true, nil)
	d.Credentials["access_token"] = "stale"
	res := f.sender(5*time.Second).Send(context.Background(), d, []mapping.Conversion{testConversions()["full"]})
	if !errors.Is(res[0].Err, ErrAuth) || res[0].StatusCode != 401 {
		t.Fatalf("(%d, %v), want 401 ErrAuth", res[0].StatusCode, res[0].Err)
	}
}

func TestRedditTooOld(t *testing.T) {
	f := newRedditFake(t, redditOK)
	fresh := testConversions()["full"]
	old := fresh
	old.EventID = "old-1"
	old.EventTime = testNow.Add(-redditMaxAge - time.Minute)

	res := f.sender(5*time.Second).Send(context.Background(), redditTestDest(true, nil), []mapping.Conversion{old, fresh})

	var e *Error
	if !errors.As(res[0].Err, &e) || e.Class != ErrInvalid || e.Code != "event_too_old" || res[0].Payload != nil {
		t.Errorf("old: %v (payload %s), want ErrInvalid event_too_old, nothing sent", res[0].Err, res[0].Payload)
	}
	if res[1].Err != nil {
		t.Errorf("fresh: %v", res[1].Err)
	}
	seen := f.calls()
	if len(seen) != 1 || !cmp.Equal(seen[0].ids, []string{fresh.EventID}) {
		t.Fatalf("sent %v, want only %q", seen, fresh.EventID)
	}
}

func TestRedditTestMode(t *testing.T) {
	tests := []struct {
		name         string
		v3           bool
		setting      string
		wantTestMode bool
		wantTestID   string
		wantV2Flag   bool
		wantConfig   bool // the setting is a configuration error
	}{
		{name: "v3 production", v3: true},
		{name: "v3 test id", v3: true, setting: " t2_abc123 ", wantTestMode: true, wantTestID: "t2_abc123"},
		{name: "v3 boolean is not a test id", v3: true, setting: "true", wantTestMode: true, wantConfig: true},
		{name: "v3 false", v3: true, setting: "false"},
		{name: "v2 production", v3: false},
		{name: "v2 test mode", v3: false, setting: "true", wantTestMode: true, wantV2Flag: true},
		{name: "v2 false", v3: false, setting: "false"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newRedditFake(t, redditOK)
			rd := f.sender(5 * time.Second)
			d := redditTestDest(tc.v3, map[string]string{"test_mode": tc.setting})
			if got := rd.TestMode(d); got != tc.wantTestMode {
				t.Errorf("TestMode = %v, want %v", got, tc.wantTestMode)
			}
			res := rd.Send(context.Background(), d, []mapping.Conversion{testConversions()["full"]})
			if tc.wantConfig {
				if !errors.Is(res[0].Err, ErrAuth) || len(f.calls()) != 0 {
					t.Fatalf("Err = %v (sent %d), want a configuration error and nothing sent", res[0].Err, len(f.calls()))
				}
				return
			}
			if res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
			seen := f.calls()[0]
			if seen.testID != tc.wantTestID || seen.testMode != tc.wantV2Flag {
				t.Errorf("test_id, test_mode = %q, %v; want %q, %v", seen.testID, seen.testMode, tc.wantTestID, tc.wantV2Flag)
			}
		})
	}
}

func TestRedditConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cred map[string]string
	}{
		{name: "both ids", cred: map[string]string{"pixel_id": redditTestPixel, "ad_account_id": redditTestAccount, "access_token": redditTestToken}},
		{name: "no id", cred: map[string]string{"access_token": redditTestToken}},
		{name: "no token", cred: map[string]string{"pixel_id": redditTestPixel}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newRedditFake(t, redditOK)
			rd := f.sender(5 * time.Second)
			d := Destination{Platform: "reddit", Credentials: tc.cred}
			for i, r := range rd.Send(context.Background(), d, []mapping.Conversion{testConversions()["full"]}) {
				if !errors.Is(r.Err, ErrAuth) {
					t.Errorf("result %d: %v, want ErrAuth", i, r.Err)
				}
			}
			if _, err := rd.Render(d, []mapping.Conversion{testConversions()["full"]}); !errors.Is(err, ErrAuth) {
				t.Errorf("Render: %v, want ErrAuth", err)
			}
			if n := len(f.calls()); n != 0 {
				t.Errorf("%d requests sent with a broken destination", n)
			}
		})
	}
}

func TestRedditSubscribeIsCustom(t *testing.T) {
	c := testConversions()["full"]
	c.EventName = mapping.EventSubscribe
	rd := NewReddit(Config{Now: func() time.Time { return testNow }})
	for _, tc := range []struct {
		v3   bool
		want string
	}{{true, `{"tracking_type":"CUSTOM","custom_event_name":"Subscribe"}`}, {false, `{"tracking_type":"Custom","custom_event_name":"Subscribe"}`}} {
		req, err := rd.Render(redditTestDest(tc.v3, nil), []mapping.Conversion{c})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(req.Body, []byte(tc.want)) {
			t.Errorf("v3=%v: body %s lacks %s", tc.v3, req.Body, tc.want)
		}
	}
}

func TestRedditFields(t *testing.T) {
	rd := NewReddit(Config{})
	got := describeFields(rd.Fields())
	want := []string{
		"credential:pixel_id:req=false:secret=false",
		"credential:ad_account_id:req=false:secret=false",
		"credential:access_token:req=true:secret=true",
		"setting:test_mode:req=false:secret=false",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Fields (-want +got):\n%s", diff)
	}
	if rd.Name() != "reddit" || rd.MaxAge() != 7*24*time.Hour {
		t.Errorf("Name, MaxAge = %q, %v", rd.Name(), rd.MaxAge())
	}
}

func FuzzRedditClassify(f *testing.F) {
	f.Add(400, []byte(`{"message":"x","invalid_events":[{"error_message":"y"}]}`), "")
	f.Add(401, []byte(`{"error":{"reason":"UNAUTHORIZED"}}`), "")
	f.Add(429, []byte(`{}`), "NaN")
	f.Add(429, []byte(`{}`), "1e400")
	f.Add(200, []byte(`{"data":{}}`), "")
	f.Fuzz(func(t *testing.T, status int, body []byte, reset string) {
		if status < 100 || status > 599 {
			return
		}
		h := http.Header{}
		h.Set("X-Ratelimit-Reset", reset)
		e := redditClassify(answer{Status: status, Header: h, Body: body}, testNow)
		if (e == nil) != (status >= 200 && status < 300) {
			t.Fatalf("status %d: %v", status, e)
		}
		if e != nil && (e.RetryAfter < 0 || e.RetryAfter > 24*time.Hour) {
			t.Fatalf("RetryAfter %v from %q", e.RetryAfter, reset)
		}
	})
}

func FuzzRedditNormalizeEmail(f *testing.F) {
	for _, s := range []string{"Al.ice$+Apple@Example.Com", "a@b.c", "@", "+@x.y", "ä.ö@ü.de"} {
		f.Add(s)
	}
	shape := regexp.MustCompile(`^[a-z0-9]+@[^@\s]+$`)
	f.Fuzz(func(t *testing.T, in string) {
		got := redditNormalizeEmail(in)
		if got == "" {
			return
		}
		if !shape.MatchString(got) {
			t.Fatalf("redditNormalizeEmail(%q) = %q, not user@domain with an alphanumeric user", in, got)
		}
		if again := redditNormalizeEmail(got); again != got {
			t.Fatalf("not idempotent: %q → %q → %q", in, got, again)
		}
	})
}
