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
	snapchatTestPixel = "1ec32188-754e-4be2-8e55-c949a984a39f"
	snapchatTestToken = "snap-secret-token-e1d2c3"
)

func snapchatTestDest(settings map[string]string) Destination {
	return Destination{
		ID: 11, ShopID: 1, Platform: "snapchat",
		Credentials: map[string]string{"pixel_id": snapchatTestPixel, "access_token": snapchatTestToken},
		Settings:    settings,
	}
}

// Strict mirror of Snap's v3 request schema.
type snapchatFakeUser struct {
	Em              []string `json:"em"`
	Ph              []string `json:"ph"`
	Fn              []string `json:"fn"`
	Ln              []string `json:"ln"`
	Ge              []string `json:"ge"`
	Db              []string `json:"db"`
	Ct              []string `json:"ct"`
	St              []string `json:"st"`
	Zp              []string `json:"zp"`
	Country         []string `json:"country"`
	ExternalID      []string `json:"external_id"`
	ClientIPAddress string   `json:"client_ip_address"`
	ClientUserAgent string   `json:"client_user_agent"`
	ScClickID       string   `json:"sc_click_id"`
	ScCookie1       string   `json:"sc_cookie1"`
}

type snapchatFakeRequest struct {
	TestEventCode string `json:"test_event_code"`
	Data          []struct {
		EventName      string           `json:"event_name"`
		EventTime      int64            `json:"event_time"`
		EventID        string           `json:"event_id"`
		ActionSource   string           `json:"action_source"`
		EventSourceURL string           `json:"event_source_url"`
		UserData       snapchatFakeUser `json:"user_data"`
		CustomData     struct {
			Currency   string      `json:"currency"`
			Value      json.Number `json:"value"`
			OrderID    string      `json:"order_id"`
			NumItems   int         `json:"num_items"`
			ContentIDs []string    `json:"content_ids"`
			Contents   []struct {
				ID        string `json:"id"`
				Quantity  string `json:"quantity"`
				ItemPrice string `json:"item_price"`
				Brand     string `json:"brand"`
			} `json:"contents"`
		} `json:"custom_data"`
	} `json:"data"`
}

type snapchatFakeSeen struct {
	validate bool
	req      snapchatFakeRequest
	raw      []byte
}

// snapchatFake is an httptest Conversions API v3 with the /events and
// /events/validate paths. It checks the token in the query, the body schema,
// required fields, hashes and seconds timestamps, as Snap's validator does.
type snapchatFake struct {
	t       *testing.T
	srv     *httptest.Server
	respond func(w http.ResponseWriter, seen snapchatFakeSeen)

	recorder[snapchatFakeSeen]
}

func newSnapchatFake(t *testing.T, respond func(w http.ResponseWriter, seen snapchatFakeSeen)) *snapchatFake {
	t.Helper()
	f := &snapchatFake{t: t, respond: respond}
	f.srv = startFake(t, http.HandlerFunc(f.serve))
	return f
}

func (f *snapchatFake) serve(w http.ResponseWriter, r *http.Request) {
	events := "/v3/" + snapchatTestPixel + "/events"
	if r.Method != http.MethodPost || (r.URL.Path != events && r.URL.Path != events+"/validate") {
		f.t.Errorf("snapchat fake: got %s %s", r.Method, r.URL.Path)
		writeJSON(w, 404, `{"status":"INVALID","reason":"Not found"}`)
		return
	}
	if r.Header.Get("Authorization") != "" {
		f.t.Errorf("snapchat fake: token sent in a header; Snap takes it in the query")
	}
	if r.URL.Query().Get("access_token") != snapchatTestToken {
		writeJSON(w, 401, `{"status":"INVALID","reason":"Unauthorized: invalid access token"}`)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("snapchat fake: read: %v", err)
		return
	}
	seen := snapchatFakeSeen{validate: strings.HasSuffix(r.URL.Path, "/validate"), raw: body}
	if err := decodeStrict(body, &seen.req); err != nil {
		f.t.Errorf("snapchat fake: body does not decode strictly: %v\n%s", err, body)
		writeJSON(w, 400, `{"status":"INVALID","reason":"Malformed JSON"}`)
		return
	}
	if problems := snapchatFakeCheck(seen.req); len(problems) > 0 {
		f.t.Errorf("snapchat fake: invalid request: %s\n%s", strings.Join(problems, "; "), body)
		writeJSON(w, 400, fmt.Sprintf(`{"status":"INVALID","reason":%q}`, strings.Join(problems, "; ")))
		return
	}
	f.record(seen)
	f.respond(w, seen)
}

func snapchatFakeCheck(req snapchatFakeRequest) []string {
	var p []string
	if len(req.Data) == 0 || len(req.Data) > snapchatBatchSize {
		p = append(p, fmt.Sprintf("%d events", len(req.Data)))
	}
	names := map[string]bool{"PURCHASE": true, "SUBSCRIBE": true, "SIGN_UP": true, "ADD_CART": true, "PAGE_VIEW": true, "START_CHECKOUT": true}
	for i, e := range req.Data {
		if !names[e.EventName] {
			p = append(p, fmt.Sprintf("data[%d].event_name %q", i, e.EventName))
		}
		if e.EventTime < testNow.Add(-snapchatMaxAge).Unix() || e.EventTime > testNow.Unix() {
			p = append(p, fmt.Sprintf("data[%d] Timestamp invalid or out of range: %d", i, e.EventTime))
		}
		switch e.ActionSource {
		case "WEB":
			if e.EventSourceURL == "" {
				p = append(p, fmt.Sprintf("data[%d].event_source_url required for WEB", i))
			}
		case "OFFLINE", "MOBILE_APP":
		default:
			p = append(p, fmt.Sprintf("data[%d].action_source %q", i, e.ActionSource))
		}
		u := e.UserData
		for _, list := range [][]string{u.Em, u.Ph, u.Fn, u.Ln, u.Ge, u.Db, u.Ct, u.St, u.Zp, u.Country, u.ExternalID} {
			for _, h := range list {
				if !testHexRE.MatchString(h) {
					p = append(p, fmt.Sprintf("data[%d] Unhashed PII: %q", i, h))
				}
			}
		}
		if len(u.Em) == 0 && len(u.Ph) == 0 && (u.ClientIPAddress == "" || u.ClientUserAgent == "") {
			p = append(p, fmt.Sprintf("data[%d] Insufficient PII", i))
		}
		if e.EventName == "PURCHASE" {
			if _, err := e.CustomData.Value.Float64(); err != nil || len(e.CustomData.Currency) != 3 {
				p = append(p, fmt.Sprintf("data[%d] Missing price and/or currency in Purchase events", i))
			}
		}
	}
	return p
}

func (f *snapchatFake) sender(timeout time.Duration) *Snapchat {
	return NewSnapchat(testConfig(f.srv.URL, timeout))
}

// snapchatOK answers like Snap: a plain VALID from /events, per-event logs
// from /events/validate.
func snapchatOK(w http.ResponseWriter, seen snapchatFakeSeen) {
	if !seen.validate {
		writeJSON(w, 200, `{"status":"VALID","reason":"All events processed"}`)
		return
	}
	var logs []string
	for i := range seen.req.Data {
		logs = append(logs, fmt.Sprintf(`{"event":%d,"status":"VALID","warnings":[]}`, i))
	}
	writeJSON(w, 200, `{"status":"VALID","test_event":true,"reason":"validated","event_logs":[`+strings.Join(logs, ",")+`]}`)
}

func TestSnapchatGolden(t *testing.T) {
	sc := NewSnapchat(Config{Now: func() time.Time { return testNow }})
	for name, c := range testConversions() {
		t.Run(name, func(t *testing.T) {
			req, err := sc.Render(snapchatTestDest(nil), []mapping.Conversion{c})
			if err != nil {
				t.Fatalf("Render(%s): %v", name, err)
			}
			checkGolden(t, filepath.Join("testdata", "snapchat", name+".golden.json"), req, snapchatTestToken)
		})
	}
}

func TestSnapchatSendSuccess(t *testing.T) {
	f := newSnapchatFake(t, snapchatOK)
	sc := f.sender(5 * time.Second)
	names, convs := sortedConversions()

	results := sc.Send(context.Background(), snapchatTestDest(nil), convs)

	seen := f.calls()
	if len(seen) != 1 || seen[0].validate {
		t.Fatalf("requests = %d, want one to /events", len(seen))
	}
	rendered, err := sc.Render(snapchatTestDest(nil), convs)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, seen[0].raw, rendered.Body) {
		t.Errorf("sent body differs from Render body\nsent:   %s\nrender: %s", seen[0].raw, rendered.Body)
	}
	var sent struct{ Data []json.RawMessage }
	if err := json.Unmarshal(seen[0].raw, &sent); err != nil {
		t.Fatal(err)
	}
	wantMatch := map[string]mapping.Match{
		"full":          {ClickID: true, Email: true, Phone: true, Name: true, Address: true, ExternalID: true, IP: true, UserAgent: true},
		"phone_only":    {Phone: true, Name: true, Address: true},
		"prehashed_jpy": {Email: true, IP: true, UserAgent: true},
	}
	wantSource := map[string]string{"full": "WEB", "phone_only": "OFFLINE", "prehashed_jpy": "OFFLINE"}
	for i, r := range results {
		if r.Err != nil || r.StatusCode != 200 {
			t.Errorf("%s: (%d, %v), want (200, nil)", names[i], r.StatusCode, r.Err)
		}
		if !jsonEqual(t, r.Payload, sent.Data[i]) {
			t.Errorf("%s: Payload = %s, want the sent event %s", names[i], r.Payload, sent.Data[i])
		}
		if diff := cmp.Diff(advise("snapchat", "Snapchat", wantMatch[names[i]].Score(), convs[i]), r.Match); diff != "" {
			t.Errorf("%s: Match (-want +got):\n%s", names[i], diff)
		}
		if got := seen[0].req.Data[i].ActionSource; got != wantSource[names[i]] {
			t.Errorf("%s: action_source = %q, want %q", names[i], got, wantSource[names[i]])
		}
	}
}

func TestSnapchatHashVectors(t *testing.T) {
	// Snap's documented examples.
	if got, want := snapchatHashEmail("Person@Example.com"), "542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345"; got != want || testSHA256("person@example.com") != want {
		t.Errorf("email example: got %s, want %s", got, want)
	}
	if got, want := snapchatHashPhone("+44 844 412 4653", "GB"), "dc008fda46e2e64002cf2f82a4906236282d431c4f75e5b60bfe79fc48546383"; got != want || testSHA256("448444124653") != want {
		t.Errorf("phone example: got %s, want %s", got, want)
	}

	sc := NewSnapchat(Config{Now: func() time.Time { return testNow }})
	all := testConversions()
	h := func(s string) []string { return []string{testSHA256(s)} }
	tests := []struct {
		name string
		want snapchatFakeUser
	}{
		{"full", snapchatFakeUser{
			Em: h("jane.doe+shop@example.com"), Ph: h("12175550143"),
			Fn: h("jane"), Ln: h("odoe"), Ct: h("springfield"), St: h("il"), Zp: h("62701"), Country: h("us"),
			ExternalID: h("7390123456789"), ClientIPAddress: "203.0.113.42", ClientUserAgent: all["full"].UserAgent,
			ScClickID: "sc-click-xyz", ScCookie1: "scid-cookie-1",
		}},
		{"phone_only", snapchatFakeUser{
			Ph: h("493012345678"), Fn: h("jürgen"), Ln: h("müller"), Ct: h("berlin"), Zp: h("10115"), Country: h("de"),
		}},
		{"prehashed_jpy", snapchatFakeUser{
			Em:      []string{"a3f1d4c2b6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829"},
			Country: h("jp"), ClientIPAddress: "2001:db8::1", ClientUserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := sc.Render(snapchatTestDest(nil), []mapping.Conversion{all[tc.name]})
			if err != nil {
				t.Fatal(err)
			}
			var body snapchatFakeRequest
			if err := json.Unmarshal(req.Body, &body); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, body.Data[0].UserData); diff != "" {
				t.Errorf("user_data of %s (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}

func TestSnapchatErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		header    map[string]string
		body      string
		wantClass error
		wantRetry time.Duration
		wantCode  string
		wantMsg   string
	}{
		{name: "invalid 400", status: 400, body: `{"status":"INVALID","reason":"Insufficient PII","errors":{"codes":["E101"],"error_msgs":["at least one of em, ph required"]}}`, wantClass: ErrInvalid, wantCode: "E101", wantMsg: "at least one of em, ph required"},
		{name: "invalid in a 200", status: 200, body: `{"status":"INVALID","reason":"Unhashed PII"}`, wantClass: ErrInvalid, wantMsg: "Unhashed PII"},
		{name: "unauthorized", status: 401, body: `{"status":"INVALID","reason":"Unauthorized"}`, wantClass: ErrAuth},
		{name: "forbidden", status: 403, body: `{"status":"INVALID","reason":"Pixel not owned by token organization"}`, wantClass: ErrAuth},
		{name: "rate limited", status: 429, header: map[string]string{"Retry-After": "15"}, body: `{"status":"INVALID","reason":"Too many requests"}`, wantClass: ErrThrottled, wantRetry: 15 * time.Second},
		{name: "server error", status: 500, body: `{"status":"INVALID","reason":"internal"}`, wantClass: ErrTransient},
		{name: "unavailable html", status: 503, body: `<html>down</html>`, wantClass: ErrTransient},
	}
	c := testConversions()["full"]
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newSnapchatFake(t, func(w http.ResponseWriter, _ snapchatFakeSeen) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				writeJSON(w, tc.status, tc.body)
			})
			r := f.sender(5*time.Second).Send(context.Background(), snapchatTestDest(nil), []mapping.Conversion{c})[0]
			if !errors.Is(r.Err, tc.wantClass) {
				t.Fatalf("answer %d %s: Err = %v, want %v", tc.status, tc.body, r.Err, tc.wantClass)
			}
			var e *Error
			if !errors.As(r.Err, &e) || e.RetryAfter != tc.wantRetry || e.StatusCode != tc.status {
				t.Errorf("Err = %#v, want status %d RetryAfter %v", r.Err, tc.status, tc.wantRetry)
			}
			if e.Code != tc.wantCode || !strings.Contains(e.Error(), tc.wantMsg) {
				t.Errorf("Err = %q (code %q), want code %q mentioning %q", e, e.Code, tc.wantCode, tc.wantMsg)
			}
			if strings.Contains(r.Err.Error(), snapchatTestToken) {
				t.Errorf("error leaks the token: %v", r.Err)
			}
		})
	}
}

func TestSnapchatWrongTokenIsAuth(t *testing.T) {
	f := newSnapchatFake(t, snapchatOK)
	d := snapchatTestDest(nil)
	d.Credentials["access_token"] = "revoked"
	r := f.sender(5*time.Second).Send(context.Background(), d, []mapping.Conversion{testConversions()["full"]})[0]
	if !errors.Is(r.Err, ErrAuth) || r.StatusCode != 401 {
		t.Fatalf("(%d, %v), want 401 ErrAuth", r.StatusCode, r.Err)
	}
}

func TestSnapchatTokenNeverLeaks(t *testing.T) {
	// A refused connection: Go's own error text would contain the URL, and
	// with it the token in the query.
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	sc := NewSnapchat(testConfig(base, time.Second))
	r := sc.Send(context.Background(), snapchatTestDest(nil), []mapping.Conversion{testConversions()["full"]})[0]
	if !errors.Is(r.Err, ErrTransient) {
		t.Fatalf("Err = %v, want ErrTransient", r.Err)
	}
	if strings.Contains(r.Err.Error(), snapchatTestToken) || strings.Contains(r.Response, snapchatTestToken) {
		t.Errorf("result leaks the token: %v / %q", r.Err, r.Response)
	}
	req, err := sc.Render(snapchatTestDest(map[string]string{"validate_only": "true"}), []mapping.Conversion{testConversions()["full"]})
	if err != nil {
		t.Fatal(err)
	}
	if want := base + "/v3/" + snapchatTestPixel + "/events/validate?access_token=REDACTED"; req.URL != want {
		t.Errorf("Render URL = %q, want %q", req.URL, want)
	}
}

func TestSnapchatTooOld(t *testing.T) {
	f := newSnapchatFake(t, snapchatOK)
	fresh := testConversions()["full"]
	old := fresh
	old.EventID = "old-1"
	old.EventTime = testNow.Add(-snapchatMaxAge - time.Hour)
	withinWindow := fresh
	withinWindow.EventID = "thirty-days"
	withinWindow.EventTime = testNow.Add(-30 * 24 * time.Hour)

	res := f.sender(5*time.Second).Send(context.Background(), snapchatTestDest(nil), []mapping.Conversion{old, fresh, withinWindow})

	var e *Error
	if !errors.As(res[0].Err, &e) || e.Class != ErrInvalid || e.Code != "event_too_old" || res[0].Payload != nil {
		t.Errorf("old: %v, want ErrInvalid event_too_old and nothing sent", res[0].Err)
	}
	if res[1].Err != nil || res[2].Err != nil {
		t.Errorf("in-window events: %v, %v", res[1].Err, res[2].Err)
	}
	seen := f.calls()
	if len(seen) != 1 || len(seen[0].req.Data) != 2 {
		t.Fatalf("want one request with the 2 in-window events, got %d requests", len(seen))
	}
}

func TestSnapchatTestMode(t *testing.T) {
	tests := []struct {
		name         string
		settings     map[string]string
		wantTestMode bool
		wantValidate bool
		wantCode     string
	}{
		{name: "production", settings: nil},
		{name: "validate only", settings: map[string]string{"validate_only": "true"}, wantTestMode: true, wantValidate: true},
		{name: "validate false", settings: map[string]string{"validate_only": "false"}},
		{name: "test event code", settings: map[string]string{"test_event_code": "SNAPTEST1"}, wantTestMode: true, wantCode: "SNAPTEST1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newSnapchatFake(t, snapchatOK)
			sc := f.sender(5 * time.Second)
			d := snapchatTestDest(tc.settings)
			if got := sc.TestMode(d); got != tc.wantTestMode {
				t.Errorf("TestMode = %v, want %v", got, tc.wantTestMode)
			}
			r := sc.Send(context.Background(), d, []mapping.Conversion{testConversions()["full"]})[0]
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			seen := f.calls()[0]
			if seen.validate != tc.wantValidate || seen.req.TestEventCode != tc.wantCode {
				t.Errorf("validate, test_event_code = %v, %q; want %v, %q", seen.validate, seen.req.TestEventCode, tc.wantValidate, tc.wantCode)
			}
		})
	}
}

func TestSnapchatValidatePerEvent(t *testing.T) {
	f := newSnapchatFake(t, func(w http.ResponseWriter, seen snapchatFakeSeen) {
		writeJSON(w, 200, `{"status":"INVALID","test_event":true,"reason":"1 event invalid","event_logs":[`+
			`{"event":0,"status":"VALID","warnings":["sc_cookie1 not recognised"]},`+
			`{"event":1,"status":"INVALID","errors":{"codes":["TS01"],"error_msgs":["Timestamp invalid or out of range"]},"warnings":[]}]}`)
	})
	convs := []mapping.Conversion{testConversions()["full"], testConversions()["phone_only"]}
	res := f.sender(5*time.Second).Send(context.Background(), snapchatTestDest(map[string]string{"validate_only": "true"}), convs)
	if res[0].Err != nil || res[0].Match.Reported != "sc_cookie1 not recognised" {
		t.Errorf("event 0: (%v, %q), want accepted with the warning reported", res[0].Err, res[0].Match.Reported)
	}
	var e *Error
	if !errors.As(res[1].Err, &e) || e.Class != ErrInvalid || e.Code != "TS01" {
		t.Errorf("event 1: %v, want ErrInvalid TS01", res[1].Err)
	}
	if n := len(f.calls()); n != 1 {
		t.Errorf("requests = %d, want 1 (per-event logs need no resend)", n)
	}
}

func TestSnapchatRefusesBeforeSending(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*mapping.Conversion)
	}{
		{name: "no standard event", mutate: func(c *mapping.Conversion) { c.EventName = "Lead" }},
		{name: "unknown currency", mutate: func(c *mapping.Conversion) { c.Currency = "ZZZ" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newSnapchatFake(t, snapchatOK)
			bad := testConversions()["full"]
			tc.mutate(&bad)
			res := f.sender(5*time.Second).Send(context.Background(), snapchatTestDest(nil), []mapping.Conversion{bad, testConversions()["phone_only"]})
			if !errors.Is(res[0].Err, ErrInvalid) || res[0].Payload != nil {
				t.Errorf("bad: %v, want ErrInvalid and nothing sent", res[0].Err)
			}
			if res[1].Err != nil {
				t.Errorf("good: %v", res[1].Err)
			}
			if seen := f.calls(); len(seen) != 1 || len(seen[0].req.Data) != 1 {
				t.Errorf("want one request with the good event only")
			}
		})
	}
}

func TestSnapchatConfigErrors(t *testing.T) {
	for _, cred := range []map[string]string{
		{"access_token": snapchatTestToken},
		{"pixel_id": snapchatTestPixel},
	} {
		f := newSnapchatFake(t, snapchatOK)
		sc := f.sender(5 * time.Second)
		d := Destination{Platform: "snapchat", Credentials: cred}
		if r := sc.Send(context.Background(), d, []mapping.Conversion{testConversions()["full"]})[0]; !errors.Is(r.Err, ErrAuth) {
			t.Errorf("credentials %v: %v, want ErrAuth", cred, r.Err)
		}
		if _, err := sc.Render(d, []mapping.Conversion{testConversions()["full"]}); !errors.Is(err, ErrAuth) {
			t.Errorf("Render with %v: %v, want ErrAuth", cred, err)
		}
		if n := len(f.calls()); n != 0 {
			t.Errorf("%d requests sent with a broken destination", n)
		}
	}
}

func TestSnapchatFields(t *testing.T) {
	sc := NewSnapchat(Config{})
	var got []string
	for _, f := range sc.Fields() {
		kind := "credential"
		if f.Setting {
			kind = "setting"
		}
		got = append(got, fmt.Sprintf("%s:%s:req=%v:secret=%v:bool=%v", kind, f.Name, f.Required, f.Secret, f.Bool))
	}
	want := []string{
		"credential:pixel_id:req=true:secret=false:bool=false",
		"credential:access_token:req=true:secret=true:bool=false",
		"setting:validate_only:req=false:secret=false:bool=true",
		"setting:test_event_code:req=false:secret=false:bool=false",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Fields (-want +got):\n%s", diff)
	}
	if sc.Name() != "snapchat" || sc.MaxAge() != 37*24*time.Hour {
		t.Errorf("Name, MaxAge = %q, %v", sc.Name(), sc.MaxAge())
	}
}

func FuzzSnapchatClassify(f *testing.F) {
	f.Add(200, []byte(`{"status":"VALID"}`), 2)
	f.Add(400, []byte(`{"status":"INVALID","errors":{"codes":["x"]}}`), 1)
	f.Add(200, []byte(`{"status":"VALID","event_logs":[{"event":5,"status":"INVALID"},{"event":-1}]}`), 3)
	f.Add(200, []byte(`{"status":"INVALID","event_logs":[{"event":0,"status":"VALID"}]}`), 2)
	f.Add(503, []byte(`x`), 1)
	f.Fuzz(func(t *testing.T, status int, body []byte, n int) {
		if status < 100 || status > 599 || n < 1 || n > 50 {
			return
		}
		v := snapchatClassify(answer{Status: status, Header: http.Header{}, Body: body}, n, testNow)
		if v.perEvent != nil && (len(v.perEvent) != n || len(v.warnings) != n) {
			t.Fatalf("per-event verdict has %d entries for %d events", len(v.perEvent), n)
		}
		if status >= 400 && v.batch == nil && v.perEvent == nil {
			t.Fatalf("status %d body %q accepted", status, body)
		}
		if status >= 400 && v.perEvent != nil {
			failed := 0
			for _, e := range v.perEvent {
				if e != nil {
					failed++
				}
			}
			if failed == 0 {
				t.Fatalf("status %d body %q: every event accepted", status, body)
			}
		}
	})
}
