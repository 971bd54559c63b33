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
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/postbackhq/postback/mapping"
)

const (
	tiktokTestPixel = "CTESTPIXEL00000000001"
	tiktokTestToken = "tt-secret-token-9f8e7d"
)

func tiktokTestDest(settings map[string]string) Destination {
	return Destination{
		ID: 7, ShopID: 1, Platform: "tiktok",
		Credentials: map[string]string{"pixel_code": tiktokTestPixel, "access_token": tiktokTestToken},
		Settings:    settings,
	}
}

// The fake Events API decodes strictly: a field name TikTok does not define
// is a test failure, as a typo would silently drop data at TikTok.
type tiktokFakeRequest struct {
	EventSource   string            `json:"event_source"`
	EventSourceID string            `json:"event_source_id"`
	TestEventCode string            `json:"test_event_code"`
	Data          []tiktokFakeEvent `json:"data"`
}

type tiktokFakeEvent struct {
	Event     string `json:"event"`
	EventTime int64  `json:"event_time"`
	EventID   string `json:"event_id"`
	User      struct {
		Email      []string `json:"email"`
		Phone      []string `json:"phone"`
		ExternalID []string `json:"external_id"`
		FirstName  string   `json:"first_name"`
		LastName   string   `json:"last_name"`
		City       string   `json:"city"`
		State      string   `json:"state"`
		Country    string   `json:"country"`
		ZipCode    string   `json:"zip_code"`
		TTCLID     string   `json:"ttclid"`
		TTP        string   `json:"ttp"`
		IP         string   `json:"ip"`
		UserAgent  string   `json:"user_agent"`
	} `json:"user"`
	Properties struct {
		Value       json.Number `json:"value"`
		Currency    string      `json:"currency"`
		OrderID     string      `json:"order_id"`
		ContentType string      `json:"content_type"`
		Contents    []struct {
			ContentID   string      `json:"content_id"`
			ContentName string      `json:"content_name"`
			Price       json.Number `json:"price"`
			Quantity    int         `json:"quantity"`
			Brand       string      `json:"brand"`
		} `json:"contents"`
	} `json:"properties"`
	Page *struct {
		URL string `json:"url"`
	} `json:"page"`
}

// tiktokFake is an httptest Events API. It checks each request as TikTok
// does (path, Access-Token, body shape, hashes, seconds timestamps, batch
// size) and answers through respond, or with TikTok's own error when the
// request is wrong.
type tiktokFake struct {
	t       *testing.T
	srv     *httptest.Server
	respond func(w http.ResponseWriter, req tiktokFakeRequest)

	recorder[tiktokFakeSeen]
}

// tiktokFakeSeen is one request the fake accepted, decoded and as sent.
type tiktokFakeSeen struct {
	req tiktokFakeRequest
	raw []byte
}

func newTikTokFake(t *testing.T, respond func(w http.ResponseWriter, req tiktokFakeRequest)) *tiktokFake {
	t.Helper()
	f := &tiktokFake{t: t, respond: respond}
	f.srv = startFake(t, http.HandlerFunc(f.serve))
	return f
}

func tiktokWriteCode(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"code":%d,"message":%q,"request_id":"202611201200000001","data":{}}`, code, msg)
}

func (f *tiktokFake) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != tiktokPath {
		f.t.Errorf("tiktok fake: got %s %s, want POST %s", r.Method, r.URL.Path, tiktokPath)
		http.NotFound(w, r)
		return
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		f.t.Errorf("tiktok fake: Content-Type %q, want application/json", got)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("tiktok fake: read body: %v", err)
		return
	}
	switch tok := r.Header.Get("Access-Token"); {
	case tok == "":
		tiktokWriteCode(w, 40104, "Access token is null")
		return
	case tok != tiktokTestToken:
		tiktokWriteCode(w, 40105, "Access token is incorrect or has been revoked.")
		return
	}
	var req tiktokFakeRequest
	if err := decodeStrict(body, &req); err != nil {
		f.t.Errorf("tiktok fake: body does not decode strictly: %v\n%s", err, body)
		tiktokWriteCode(w, 40002, "Invalid JSON")
		return
	}
	if problems := tiktokFakeCheck(req); len(problems) > 0 {
		f.t.Errorf("tiktok fake: invalid request: %s\n%s", strings.Join(problems, "; "), body)
		tiktokWriteCode(w, 40002, strings.Join(problems, "; "))
		return
	}
	f.record(tiktokFakeSeen{req: req, raw: body})
	f.respond(w, req)
}

func tiktokFakeCheck(req tiktokFakeRequest) []string {
	var p []string
	if req.EventSource != "web" {
		p = append(p, fmt.Sprintf("event_source %q", req.EventSource))
	}
	if req.EventSourceID != tiktokTestPixel {
		p = append(p, fmt.Sprintf("event_source_id %q", req.EventSourceID))
	}
	if len(req.Data) == 0 || len(req.Data) > tiktokBatchSize {
		p = append(p, fmt.Sprintf("data has %d events", len(req.Data)))
	}
	earliest := testNow.Add(-tiktokMaxAge).Unix()
	for i, ev := range req.Data {
		if ev.Event == "" {
			p = append(p, fmt.Sprintf("data[%d].event missing", i))
		}
		if ev.EventTime < earliest || ev.EventTime > testNow.Unix() {
			p = append(p, fmt.Sprintf("data[%d].event_time %d not Unix seconds within the window", i, ev.EventTime))
		}
		hashed := append(append(append([]string{}, ev.User.Email...), ev.User.Phone...), ev.User.ExternalID...)
		for _, h := range []string{ev.User.FirstName, ev.User.LastName, ev.User.ZipCode} {
			if h != "" {
				hashed = append(hashed, h)
			}
		}
		for _, h := range hashed {
			if !testHexRE.MatchString(h) {
				p = append(p, fmt.Sprintf("data[%d] identifier %q is not lowercase SHA-256 hex", i, h))
			}
		}
		if ev.User.IP != "" && testHexRE.MatchString(ev.User.IP) {
			p = append(p, fmt.Sprintf("data[%d].user.ip is hashed", i))
		}
		if len(ev.Properties.Currency) != 3 {
			p = append(p, fmt.Sprintf("data[%d].properties.currency %q", i, ev.Properties.Currency))
		}
		if _, err := ev.Properties.Value.Float64(); err != nil {
			p = append(p, fmt.Sprintf("data[%d].properties.value %q is not a number", i, ev.Properties.Value))
		}
	}
	return p
}

// got is what the fake accepted: the decoded requests and the raw bodies.
func (f *tiktokFake) got() (reqs []tiktokFakeRequest, raw [][]byte) {
	for _, c := range f.calls() {
		reqs = append(reqs, c.req)
		raw = append(raw, c.raw)
	}
	return reqs, raw
}

func (f *tiktokFake) sender(timeout time.Duration) *TikTok {
	return NewTikTok(testConfig(f.srv.URL, timeout))
}

func tiktokOK(w http.ResponseWriter, _ tiktokFakeRequest) { tiktokWriteCode(w, 0, "OK") }

func TestTikTokGolden(t *testing.T) {
	tt := NewTikTok(Config{Now: func() time.Time { return testNow }})
	for name, c := range testConversions() {
		t.Run(name, func(t *testing.T) {
			req, err := tt.Render(tiktokTestDest(nil), []mapping.Conversion{c})
			if err != nil {
				t.Fatalf("Render(%s): %v", name, err)
			}
			checkGolden(t, filepath.Join("testdata", "tiktok", name+".golden.json"), req, tiktokTestToken)
		})
	}
}

func TestTikTokSendSuccess(t *testing.T) {
	f := newTikTokFake(t, tiktokOK)
	tt := f.sender(5 * time.Second)
	names, convs := sortedConversions()

	results := tt.Send(context.Background(), tiktokTestDest(nil), convs)

	reqs, raw := f.got()
	if len(reqs) != 1 {
		t.Fatalf("requests = %d, want 1 batch", len(reqs))
	}
	if len(results) != len(convs) {
		t.Fatalf("results = %d, want %d", len(results), len(convs))
	}
	rendered, err := tt.Render(tiktokTestDest(nil), convs)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, raw[0], rendered.Body) {
		t.Errorf("sent body differs from Render body\nsent:   %s\nrender: %s", raw[0], rendered.Body)
	}
	var sent struct{ Data []json.RawMessage }
	if err := json.Unmarshal(raw[0], &sent); err != nil {
		t.Fatal(err)
	}
	wantMatch := map[string]mapping.Match{
		"full":          {ClickID: true, Email: true, Phone: true, Name: true, Address: true, ExternalID: true, IP: true, UserAgent: true},
		"phone_only":    {Phone: true, Name: true, Address: true},
		"prehashed_jpy": {Email: true, IP: true, UserAgent: true},
	}
	for i, r := range results {
		if r.Err != nil || r.StatusCode != http.StatusOK {
			t.Errorf("%s: result = (%d, %v), want (200, nil)", names[i], r.StatusCode, r.Err)
		}
		if !jsonEqual(t, r.Payload, sent.Data[i]) {
			t.Errorf("%s: Payload = %s, want the sent event %s", names[i], r.Payload, sent.Data[i])
		}
		want := advise("tiktok", "TikTok", wantMatch[names[i]].Score(), convs[i])
		got := r.Match
		got.Reported = ""
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: Match (-want +got):\n%s", names[i], diff)
		}
		if !strings.Contains(r.Response, `"code":0`) {
			t.Errorf("%s: Response = %q, want TikTok's answer", names[i], r.Response)
		}
	}
	if reqs[0].Data[0].Event != "Purchase" {
		t.Errorf("event = %q, want Purchase", reqs[0].Data[0].Event)
	}
}

func TestTikTokHashVectors(t *testing.T) {
	tt := NewTikTok(Config{Now: func() time.Time { return testNow }})
	all := testConversions()
	tests := []struct {
		name       string
		email      []string
		phone      []string
		externalID []string
		first      string
		last       string
		zip        string
		city       string
		state      string
		country    string
	}{
		{
			name:       "full",
			email:      []string{testSHA256("jane.doe+shop@example.com")},
			phone:      []string{testSHA256("+12175550143")}, // TikTok hashes E.164 with the "+"
			externalID: []string{testSHA256("7390123456789")},
			first:      testSHA256("jane"), last: testSHA256("odoe"), zip: testSHA256("62701"),
			city: "springfield", state: "il", country: "us",
		},
		{
			name:  "phone_only",
			phone: []string{testSHA256("+493012345678")},
			first: testSHA256("jürgen"), last: testSHA256("müller"), zip: testSHA256("10115"),
			city: "berlin", country: "de",
		},
		{
			name:    "prehashed_jpy",
			email:   []string{"a3f1d4c2b6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829"},
			country: "jp",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := tt.Render(tiktokTestDest(nil), []mapping.Conversion{all[tc.name]})
			if err != nil {
				t.Fatal(err)
			}
			var body tiktokFakeRequest
			if err := json.Unmarshal(req.Body, &body); err != nil {
				t.Fatal(err)
			}
			u := body.Data[0].User
			checks := []struct {
				field     string
				got, want any
			}{
				{"email", u.Email, tc.email}, {"phone", u.Phone, tc.phone}, {"external_id", u.ExternalID, tc.externalID},
				{"first_name", u.FirstName, tc.first}, {"last_name", u.LastName, tc.last}, {"zip_code", u.ZipCode, tc.zip},
				{"city", u.City, tc.city}, {"state", u.State, tc.state}, {"country", u.Country, tc.country},
			}
			for _, c := range checks {
				if diff := cmp.Diff(c.want, c.got); diff != "" {
					t.Errorf("user.%s for %s (-want +got):\n%s", c.field, tc.name, diff)
				}
			}
		})
	}
}

func TestTikTokErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		wantClass  error // nil: accepted
		wantCode   string
		wantRetry  time.Duration
		wantReport string
	}{
		{name: "token revoked", status: 200, body: `{"code":40105,"message":"Access token is incorrect or has been revoked."}`, wantClass: ErrAuth, wantCode: "40105"},
		{name: "token expired", status: 200, body: `{"code":40102,"message":"Access token has expired."}`, wantClass: ErrAuth, wantCode: "40102"},
		{name: "no permission for pixel", status: 200, body: `{"code":40001,"message":"No permission to operate pixel"}`, wantClass: ErrAuth, wantCode: "40001"},
		{name: "invalid parameters", status: 200, body: `{"code":40002,"message":"data.0.event_time: invalid"}`, wantClass: ErrInvalid, wantCode: "40002"},
		{name: "qps limit in body", status: 200, header: map[string]string{"Retry-After": "7"}, body: `{"code":40100,"message":"Too many requests"}`, wantClass: ErrThrottled, wantCode: "40100", wantRetry: 7 * time.Second},
		{name: "http 429", status: 429, header: map[string]string{"Retry-After": "30"}, body: `rate limited`, wantClass: ErrThrottled, wantRetry: 30 * time.Second},
		{name: "internal timeout code", status: 200, body: `{"code":40700,"message":"Internal timeout"}`, wantClass: ErrTransient, wantCode: "40700"},
		{name: "system error code", status: 200, body: `{"code":50002,"message":"Service busy"}`, wantClass: ErrTransient, wantCode: "50002"},
		{name: "http 500", status: 500, body: `<html>oops</html>`, wantClass: ErrTransient},
		{name: "http 401 without code", status: 401, body: `unauthorized`, wantClass: ErrAuth},
		{name: "partial success", status: 200, body: `{"code":20001,"message":"Partial success: ttclid dropped"}`, wantReport: "Partial success: ttclid dropped"},
	}
	c := testConversions()["full"]
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTikTokFake(t, func(w http.ResponseWriter, _ tiktokFakeRequest) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			res := f.sender(5*time.Second).Send(context.Background(), tiktokTestDest(nil), []mapping.Conversion{c})
			if len(res) != 1 {
				t.Fatalf("results = %d, want 1", len(res))
			}
			r := res[0]
			if r.StatusCode != tc.status {
				t.Errorf("StatusCode = %d, want %d", r.StatusCode, tc.status)
			}
			if tc.wantClass == nil {
				if r.Err != nil {
					t.Fatalf("answer %d %s: Err = %v, want nil", tc.status, tc.body, r.Err)
				}
				if r.Match.Reported != tc.wantReport {
					t.Errorf("Reported = %q, want %q", r.Match.Reported, tc.wantReport)
				}
				return
			}
			if !errors.Is(r.Err, tc.wantClass) {
				t.Fatalf("answer %d %s: Err = %v, want %v", tc.status, tc.body, r.Err, tc.wantClass)
			}
			var e *Error
			if !errors.As(r.Err, &e) {
				t.Fatalf("Err %T is not *Error", r.Err)
			}
			if e.Code != tc.wantCode || e.RetryAfter != tc.wantRetry {
				t.Errorf("Code, RetryAfter = %q, %v; want %q, %v", e.Code, e.RetryAfter, tc.wantCode, tc.wantRetry)
			}
			if strings.Contains(r.Err.Error(), tiktokTestToken) {
				t.Errorf("error leaks the token: %v", r.Err)
			}
		})
	}
}

func TestTikTokWrongTokenIsAuth(t *testing.T) {
	f := newTikTokFake(t, tiktokOK)
	d := tiktokTestDest(nil)
	d.Credentials["access_token"] = "not-the-token"
	res := f.sender(5*time.Second).Send(context.Background(), d, []mapping.Conversion{testConversions()["full"]})
	if !errors.Is(res[0].Err, ErrAuth) || !errors.Is(res[0].Err, ErrPermanent) {
		t.Fatalf("Err = %v, want ErrAuth (permanent)", res[0].Err)
	}
}

func TestTikTokTooOld(t *testing.T) {
	f := newTikTokFake(t, tiktokOK)
	fresh := testConversions()["full"]
	old := fresh
	old.EventID = "old-1"
	old.EventTime = testNow.Add(-tiktokMaxAge - time.Hour)

	res := f.sender(5*time.Second).Send(context.Background(), tiktokTestDest(nil), []mapping.Conversion{old, fresh})

	var e *Error
	if !errors.As(res[0].Err, &e) || e.Class != ErrInvalid || e.Code != "event_too_old" {
		t.Errorf("old: Err = %v, want ErrInvalid event_too_old", res[0].Err)
	}
	if res[0].Payload != nil || res[0].StatusCode != 0 {
		t.Errorf("old: Payload %s, StatusCode %d; want nothing sent", res[0].Payload, res[0].StatusCode)
	}
	if res[1].Err != nil {
		t.Errorf("fresh: Err = %v, want nil", res[1].Err)
	}
	reqs, _ := f.got()
	if len(reqs) != 1 || len(reqs[0].Data) != 1 || reqs[0].Data[0].EventID != fresh.EventID {
		t.Fatalf("sent %+v, want one request with only %q", reqs, fresh.EventID)
	}
}

func TestTikTokTestMode(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		wantCode string
	}{
		{name: "production", settings: nil, wantCode: ""},
		{name: "test event code", settings: map[string]string{"test_event_code": " TEST12345 "}, wantCode: "TEST12345"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTikTokFake(t, tiktokOK)
			tt := f.sender(5 * time.Second)
			d := tiktokTestDest(tc.settings)
			if got := tt.TestMode(d); got != (tc.wantCode != "") {
				t.Errorf("TestMode = %v, want %v", got, tc.wantCode != "")
			}
			res := tt.Send(context.Background(), d, []mapping.Conversion{testConversions()["full"]})
			if res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
			reqs, _ := f.got()
			if reqs[0].TestEventCode != tc.wantCode {
				t.Errorf("test_event_code = %q, want %q", reqs[0].TestEventCode, tc.wantCode)
			}
		})
	}
}

func TestTikTokConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cred map[string]string
	}{
		{name: "no pixel", cred: map[string]string{"access_token": tiktokTestToken}},
		{name: "no token", cred: map[string]string{"pixel_code": tiktokTestPixel}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTikTokFake(t, tiktokOK)
			tt := f.sender(5 * time.Second)
			d := Destination{Platform: "tiktok", Credentials: tc.cred}
			convs := []mapping.Conversion{testConversions()["full"], testConversions()["phone_only"]}
			for i, r := range tt.Send(context.Background(), d, convs) {
				if !errors.Is(r.Err, ErrAuth) {
					t.Errorf("result %d: %v, want ErrAuth", i, r.Err)
				}
			}
			if _, err := tt.Render(d, convs); !errors.Is(err, ErrAuth) {
				t.Errorf("Render: %v, want ErrAuth", err)
			}
			if reqs, _ := f.got(); len(reqs) != 0 {
				t.Errorf("%d requests sent with a broken destination", len(reqs))
			}
		})
	}
}

func TestTikTokInvalidCurrency(t *testing.T) {
	f := newTikTokFake(t, tiktokOK)
	bad := testConversions()["full"]
	bad.Currency = "XXQ"
	res := f.sender(5*time.Second).Send(context.Background(), tiktokTestDest(nil), []mapping.Conversion{bad, testConversions()["phone_only"]})
	if !errors.Is(res[0].Err, ErrInvalid) {
		t.Errorf("bad currency: %v, want ErrInvalid", res[0].Err)
	}
	if res[1].Err != nil {
		t.Errorf("good conversion: %v", res[1].Err)
	}
}

func TestTikTokFields(t *testing.T) {
	tt := NewTikTok(Config{})
	got := describeFields(tt.Fields())
	want := []string{
		"credential:pixel_code:req=true:secret=false",
		"credential:access_token:req=true:secret=true",
		"setting:test_event_code:req=false:secret=false",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Fields (-want +got):\n%s", diff)
	}
	if tt.Name() != "tiktok" || tt.MaxAge() != 7*24*time.Hour {
		t.Errorf("Name, MaxAge = %q, %v", tt.Name(), tt.MaxAge())
	}
}

func FuzzTikTokClassify(f *testing.F) {
	f.Add(200, []byte(`{"code":0,"message":"OK"}`))
	f.Add(200, []byte(`{"code":40100,"message":"Too many requests"}`))
	f.Add(200, []byte(`{"code":20001,"message":"partial"}`))
	f.Add(500, []byte(`{"code":50000}`))
	f.Add(429, []byte(`nope`))
	f.Add(200, []byte(`{"code":"40002"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			return
		}
		_, e := tiktokClassify(answer{Status: status, Header: http.Header{}, Body: body}, testNow)
		if e == nil {
			if status >= 400 {
				t.Fatalf("status %d body %q accepted", status, body)
			}
			return
		}
		switch e.Class {
		case ErrTransient, ErrThrottled, ErrAuth, ErrInvalid:
		default:
			t.Fatalf("status %d body %q: class %v", status, body, e.Class)
		}
	})
}
