package platforms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

func pinterestTestDestination() Destination {
	return Destination{ID: 9, ShopID: 1, Platform: "pinterest", Credentials: map[string]string{
		"ad_account_id": "549755885175",
		"access_token":  "pina-token",
	}}
}

var (
	pinterestAmountRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	pinterestCurRE    = regexp.MustCompile(`^[A-Z]{3}$`)
)

// pinterestTestEvent is decoded with the test's own types.
type pinterestTestEvent struct {
	EventName      string                     `json:"event_name"`
	ActionSource   string                     `json:"action_source"`
	EventTime      int64                      `json:"event_time"`
	EventID        string                     `json:"event_id"`
	EventSourceURL string                     `json:"event_source_url"`
	UserData       map[string]json.RawMessage `json:"user_data"`
	CustomData     pinterestTestCustomData    `json:"custom_data"`

	// Filled by the fake from UserData.
	hashed map[string][]string
	plain  map[string]string
}

type pinterestTestCustomData struct {
	Currency   string   `json:"currency"`
	Value      string   `json:"value"`
	ContentIDs []string `json:"content_ids"`
	Contents   []struct {
		ID        string `json:"id"`
		ItemPrice string `json:"item_price"`
		Quantity  int    `json:"quantity"`
		ItemName  string `json:"item_name"`
	} `json:"contents"`
	NumItems int    `json:"num_items"`
	OrderID  string `json:"order_id"`
}

// pinterestHashedKeys are the user_data fields Pinterest takes as arrays of
// SHA-256 hex; pinterestPlainKeys the ones it takes as plain strings.
var (
	pinterestHashedKeys = []string{"em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id", "hashed_maids"}
	pinterestPlainKeys  = []string{"client_ip_address", "client_user_agent", "click_id", "partner_id"}
	pinterestEventSet   = map[string]bool{"add_payment_info": true, "add_to_cart": true, "add_to_wishlist": true, "app_install": true,
		"checkout": true, "custom": true, "initiate_checkout": true, "lead": true, "page_visit": true, "search": true,
		"signup": true, "subscribe": true, "view_category": true, "view_content": true, "watch_video": true}
)

// pinterestFake is a Pinterest Conversions API that checks each request as
// the v5 spec describes and answers as the test asks; malformed requests
// fail the test and get Pinterest's 400.
type pinterestFake struct {
	t      *testing.T
	answer func(w http.ResponseWriter, events []pinterestTestEvent)

	recorder[pinterestTestRequest]
}

type pinterestTestRequest struct {
	test   bool
	events []pinterestTestEvent
}

func newPinterestFake(t *testing.T, setup ...func(*pinterestFake)) (*pinterestFake, *httptest.Server) {
	t.Helper()
	f := &pinterestFake{t: t}
	for _, fn := range setup {
		fn(f)
	}
	return f, startFake(t, f)
}

func (f *pinterestFake) reject(w http.ResponseWriter, format string, args ...any) {
	f.t.Helper()
	msg := fmt.Sprintf(format, args...)
	f.t.Errorf("fake Pinterest rejected the request: %s", msg)
	writeJSON(w, http.StatusBadRequest, fmt.Sprintf(`{"code":1,"message":%q}`, msg))
}

func (f *pinterestFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v5/ad_accounts/549755885175/events" {
		f.reject(w, "unexpected %s %s", r.Method, r.URL.Path)
		return
	}
	q := r.URL.Query()
	test := q.Get("test") == "true"
	q.Del("test")
	if len(q) != 0 {
		f.reject(w, "unexpected query %q", r.URL.RawQuery)
		return
	}
	if r.Header.Get("Authorization") != "Bearer pina-token" {
		writeJSON(w, http.StatusUnauthorized, `{"code":2,"message":"Authentication failed."}`)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.reject(w, "Content-Type %q", ct)
		return
	}
	var body struct {
		Data []pinterestTestEvent `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.reject(w, "body: %v", err)
		return
	}
	if len(body.Data) == 0 || len(body.Data) > pinterestBatchSize {
		f.reject(w, "%d events (1 to %d allowed)", len(body.Data), pinterestBatchSize)
		return
	}
	for k := range body.Data {
		if msg := pinterestCheckEvent(&body.Data[k]); msg != "" {
			f.reject(w, "data[%d]: %s", k, msg)
			return
		}
	}
	f.record(pinterestTestRequest{test: test, events: body.Data})
	if f.answer != nil {
		f.answer(w, body.Data)
		return
	}
	pinterestAcceptAll(w, len(body.Data))
}

func pinterestAcceptAll(w http.ResponseWriter, n int) {
	events := make([]string, n)
	for i := range events {
		events[i] = `{"status":"processed","error_message":null,"warning_message":null}`
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"num_events_received":%d,"num_events_processed":%d,"events":[%s]}`, n, n, strings.Join(events, ",")))
}

// pinterestCheckEvent validates one event against the v5 spec, filling the
// decoded identifier maps.
func pinterestCheckEvent(ev *pinterestTestEvent) string {
	if !pinterestEventSet[ev.EventName] {
		return fmt.Sprintf("event_name %q", ev.EventName)
	}
	switch ev.ActionSource {
	case "web", "app_android", "app_ios", "offline":
	default:
		return fmt.Sprintf("action_source %q", ev.ActionSource)
	}
	if ev.EventTime < testNow.Add(-pinterestMaxAge-24*time.Hour).Unix() || ev.EventTime > testNow.Add(time.Hour).Unix() {
		return fmt.Sprintf("event_time %d is not Unix seconds in the window", ev.EventTime)
	}
	if ev.EventID == "" {
		return "event_id is required"
	}
	ev.hashed, ev.plain = map[string][]string{}, map[string]string{}
	for _, k := range pinterestHashedKeys {
		raw, ok := ev.UserData[k]
		if !ok {
			continue
		}
		var vs []string
		if err := json.Unmarshal(raw, &vs); err != nil || len(vs) == 0 {
			return fmt.Sprintf("user_data.%s must be a non-empty array of strings", k)
		}
		for _, v := range vs {
			if !testHexRE.MatchString(v) {
				return fmt.Sprintf("user_data.%s %q is not lowercase SHA-256 hex", k, v)
			}
		}
		ev.hashed[k] = vs
	}
	for _, k := range pinterestPlainKeys {
		raw, ok := ev.UserData[k]
		if !ok {
			continue
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Sprintf("user_data.%s must be a string", k)
		}
		ev.plain[k] = v
	}
	if len(ev.hashed)+len(ev.plain) != len(ev.UserData) {
		return fmt.Sprintf("user_data has unknown fields: %v", ev.UserData)
	}
	if ev.hashed["em"] == nil && ev.hashed["hashed_maids"] == nil && (ev.plain["client_ip_address"] == "" || ev.plain["client_user_agent"] == "") {
		return "user_data needs em, hashed_maids, or client_ip_address with client_user_agent"
	}
	cd := ev.CustomData
	if !pinterestAmountRE.MatchString(cd.Value) || !pinterestCurRE.MatchString(cd.Currency) {
		return fmt.Sprintf("custom_data value %q currency %q", cd.Value, cd.Currency)
	}
	for _, c := range cd.Contents {
		if !pinterestAmountRE.MatchString(c.ItemPrice) {
			return fmt.Sprintf("contents item_price %q must be a decimal string", c.ItemPrice)
		}
	}
	return ""
}

func TestPinterestGolden(t *testing.T) {
	p := NewPinterest(Config{Now: func() time.Time { return testNow }})
	for name, c := range testConversions() {
		t.Run(name, func(t *testing.T) {
			req, err := p.Render(pinterestTestDestination(), []mapping.Conversion{c})
			var got any = req
			if err != nil {
				got = map[string]string{"error": err.Error()}
			}
			checkGolden(t, filepath.Join("testdata", "pinterest", name+".golden.json"), got, "pina-token")
		})
	}
}

func TestPinterestSendPayload(t *testing.T) {
	f, srv := newPinterestFake(t)
	p := NewPinterest(testConfig(srv.URL, 5*time.Second))
	convs := testConversions()
	// Pinterest cannot take a phone-only event; with the browser's IP and
	// user agent it can, which exercises the German phone and names.
	abroad := convs["phone_only"]
	abroad.ClientIP, abroad.UserAgent = "198.51.100.7", "Mozilla/5.0 (X11; Linux x86_64)"
	res := p.Send(context.Background(), pinterestTestDestination(), []mapping.Conversion{convs["full"], abroad, convs["prehashed_jpy"]})
	for i, r := range res {
		if r.Err != nil || r.StatusCode != http.StatusOK {
			t.Errorf("result %d: error %v status %d, want accepted with 200", i, r.Err, r.StatusCode)
		}
	}
	reqs := f.calls()
	if len(reqs) != 1 || len(reqs[0].events) != 3 || reqs[0].test {
		t.Fatalf("Pinterest got %d requests, want one live request with 3 events", len(reqs))
	}
	full, de, pre := reqs[0].events[0], reqs[0].events[1], reqs[0].events[2]
	h := testSHA256
	wantFull := map[string][]string{
		"em": {h("jane.doe+shop@example.com")}, "ph": {h("12175550143")}, "fn": {h("jane")}, "ln": {h("odoe")},
		"ct": {h("springfield")}, "st": {h("il")}, "zp": {h("62701")}, "country": {h("us")}, "external_id": {h("7390123456789")},
	}
	if diff := cmp.Diff(wantFull, full.hashed); diff != "" {
		t.Errorf("full: hashed user_data (-want +got):\n%s", diff)
	}
	wantPlain := map[string]string{"client_ip_address": "203.0.113.42", "click_id": "dj0yJnU9epik",
		"client_user_agent": testConversions()["full"].UserAgent}
	if diff := cmp.Diff(wantPlain, full.plain); diff != "" {
		t.Errorf("full: plain user_data (-want +got):\n%s", diff)
	}
	wantDE := map[string][]string{"ph": {h("493012345678")}, "fn": {h("jürgen")}, "ln": {h("müller")},
		"ct": {h("berlin")}, "zp": {h("10115")}, "country": {h("de")}}
	if diff := cmp.Diff(wantDE, de.hashed); diff != "" {
		t.Errorf("phone abroad: hashed user_data (-want +got):\n%s", diff)
	}
	if got := pre.hashed["em"]; len(got) != 1 || got[0] != convs["prehashed_jpy"].User.Email {
		t.Errorf("prehashed: em = %v, want the given hash passed through", got)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"event_name", full.EventName, "checkout"},
		{"action_source", full.ActionSource, "web"},
		{"event_time in seconds", full.EventTime, testNow.Add(-2 * time.Hour).Unix()},
		{"event_id", full.EventID, "5820393472058"},
		{"value as a string", full.CustomData.Value, "120.94"},
		{"currency", full.CustomData.Currency, "USD"},
		{"content_ids", full.CustomData.ContentIDs, []string{"8012345678901", "8012345678902"}},
		{"first item price", full.CustomData.Contents[0].ItemPrice, "35"},
		{"num_items", full.CustomData.NumItems, 3},
		{"order_id", full.CustomData.OrderID, "5820393472058"},
		{"JPY value", pre.CustomData.Value, "12800"},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("full: %s (-want +got):\n%s", c.name, diff)
		}
	}
	wantMatch := mapping.Match{ClickID: true, Email: true, Phone: true, Name: true, Address: true, ExternalID: true, IP: true, UserAgent: true}.Score()
	if diff := cmp.Diff(wantMatch, res[0].Match); diff != "" {
		t.Errorf("full match (-want +got):\n%s", diff)
	}
	var sent pinterestTestEvent
	if err := json.Unmarshal(res[2].Payload, &sent); err != nil {
		t.Fatalf("payload of result 2: %v", err)
	}
	if diff := cmp.Diff(pre.UserData, sent.UserData); diff != "" {
		t.Errorf("payload of result 2 differs from what Pinterest got (-sent +payload):\n%s", diff)
	}
}

func TestPinterestSendErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		want       error
		retryAfter time.Duration
		code       string
	}{
		{name: "authentication failed", status: http.StatusUnauthorized, want: ErrAuth, code: "2", body: `{"code":2,"message":"Authentication failed."}`},
		{name: "no access to ad account", status: http.StatusForbidden, want: ErrAuth, code: "29", body: `{"code":29,"message":"You are not permitted to access that resource."}`},
		{name: "rate limited", status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "60"}, want: ErrThrottled, retryAfter: time.Minute,
			code: "8", body: `{"code":8,"message":"You have exceeded your rate limit. Try again later."}`},
		{name: "ramped down", status: http.StatusServiceUnavailable, want: ErrTransient, code: "4197", body: `{"code":4197,"message":"The endpoint has been ramped down"}`},
		{name: "server error", status: http.StatusInternalServerError, want: ErrTransient, body: `internal error`},
		{name: "invalid parameters", status: http.StatusBadRequest, want: ErrInvalid, code: "4196", body: `{"code":4196,"message":"Invalid conversion event parameters"}`},
		{name: "not all processed", status: http.StatusUnprocessableEntity, want: ErrInvalid, code: "4180",
			body: `{"code":4180,"message":"Not all events were processed","details":{"events":[]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newPinterestFake(t, func(f *pinterestFake) {
				f.answer = func(w http.ResponseWriter, _ []pinterestTestEvent) {
					for k, v := range tt.header {
						w.Header().Set(k, v)
					}
					writeJSON(w, tt.status, tt.body)
				}
			})
			p := NewPinterest(testConfig(srv.URL, 5*time.Second))
			res := p.Send(context.Background(), pinterestTestDestination(), []mapping.Conversion{testConversions()["full"]})
			r := res[0]
			if !errors.Is(r.Err, tt.want) {
				t.Fatalf("answer %d %s: error %v, want %v", tt.status, tt.body, r.Err, tt.want)
			}
			e := testError(t, r.Err)
			if e.RetryAfter != tt.retryAfter || e.Code != tt.code || e.StatusCode != tt.status {
				t.Errorf("answer %d: got retry %v code %q status %d, want %v %q %d", tt.status, e.RetryAfter, e.Code, e.StatusCode, tt.retryAfter, tt.code, tt.status)
			}
			if r.StatusCode != tt.status || r.Response != tt.body || len(r.Payload) == 0 {
				t.Errorf("result status %d response %q payload %d bytes, want %d, the body, and the payload kept", r.StatusCode, r.Response, len(r.Payload), tt.status)
			}
		})
	}

	t.Run("token the fake refuses", func(t *testing.T) {
		_, srv := newPinterestFake(t)
		p := NewPinterest(testConfig(srv.URL, 5*time.Second))
		d := pinterestTestDestination()
		d.Credentials["access_token"] = "expired"
		res := p.Send(context.Background(), d, []mapping.Conversion{testConversions()["full"]})
		if !errors.Is(res[0].Err, ErrAuth) || strings.Contains(res[0].Err.Error(), "expired") {
			t.Errorf("error %v, want ErrAuth without the token", res[0].Err)
		}
	})
}

func TestPinterestPerEventStatus(t *testing.T) {
	convs := testConversions()
	bad := convs["full"]
	bad.EventID = "bad-1"
	_, srv := newPinterestFake(t, func(f *pinterestFake) {
		f.answer = func(w http.ResponseWriter, events []pinterestTestEvent) {
			parts := make([]string, len(events))
			processed := 0
			for i, ev := range events {
				switch {
				case ev.EventID == "bad-1":
					parts[i] = `{"status":"failed","error_message":"Event timestamp is in the future.","warning_message":null}`
				case i == 0:
					parts[i] = `{"status":"processed","error_message":null,"warning_message":"Unknown field: custom_data.np"}`
					processed++
				default:
					parts[i] = `{"status":"processed","error_message":null,"warning_message":null}`
					processed++
				}
			}
			writeJSON(w, http.StatusOK, fmt.Sprintf(`{"num_events_received":%d,"num_events_processed":%d,"events":[%s]}`, len(events), processed, strings.Join(parts, ",")))
		}
	})
	p := NewPinterest(testConfig(srv.URL, 5*time.Second))
	res := p.Send(context.Background(), pinterestTestDestination(), []mapping.Conversion{convs["full"], bad, convs["prehashed_jpy"]})
	if res[0].Err != nil || res[0].Match.Reported != "Unknown field: custom_data.np" {
		t.Errorf("event 0: error %v reported %q, want accepted with Pinterest's warning", res[0].Err, res[0].Match.Reported)
	}
	if !errors.Is(res[1].Err, ErrInvalid) || !strings.Contains(res[1].Err.Error(), "Event timestamp is in the future.") {
		t.Errorf("event 1: error %v, want ErrInvalid with Pinterest's error_message", res[1].Err)
	}
	if !strings.Contains(res[1].Response, `"failed"`) || strings.Contains(res[1].Response, "num_events") {
		t.Errorf("event 1: response %q, want its own entry of events[]", res[1].Response)
	}
	if res[2].Err != nil {
		t.Errorf("event 2: error %v, want accepted", res[2].Err)
	}
}

func TestPinterestTestFlag(t *testing.T) {
	tests := []struct {
		name     string
		setting  string
		wantTest bool
	}{
		{name: "on", setting: "true", wantTest: true},
		{name: "off", setting: "false"},
		{name: "unset"},
		{name: "unreadable", setting: "maybe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newPinterestFake(t)
			p := NewPinterest(testConfig(srv.URL, 5*time.Second))
			d := pinterestTestDestination()
			if tt.setting != "" {
				d.Settings = map[string]string{"test": tt.setting}
			}
			if got := p.TestMode(d); got != tt.wantTest {
				t.Errorf("TestMode(test=%q) = %v, want %v", tt.setting, got, tt.wantTest)
			}
			req, err := p.Render(d, []mapping.Conversion{testConversions()["full"]})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.HasSuffix(req.URL, "?test=true"); got != tt.wantTest {
				t.Errorf("Render URL %q, want ?test=true: %v", req.URL, tt.wantTest)
			}
			res := p.Send(context.Background(), d, []mapping.Conversion{testConversions()["full"]})
			if res[0].Err != nil {
				t.Fatalf("error %v, want accepted", res[0].Err)
			}
			if reqs := f.calls(); len(reqs) != 1 || reqs[0].test != tt.wantTest {
				t.Errorf("Pinterest saw test=%v, want %v", reqs[0].test, tt.wantTest)
			}
		})
	}
}

func TestPinterestNotSent(t *testing.T) {
	convs := testConversions()
	old := convs["full"]
	old.EventTime = testNow.Add(-8 * 24 * time.Hour)
	tests := []struct {
		name     string
		conv     mapping.Conversion
		dest     func(*Destination)
		want     error
		wantCode string
	}{
		{name: "past 7 days", conv: old, want: ErrInvalid, wantCode: "event_too_old"},
		{name: "phone only", conv: convs["phone_only"], want: ErrInvalid, wantCode: "no_identifier"},
		{name: "no ad account", conv: convs["full"], dest: func(d *Destination) { delete(d.Credentials, "ad_account_id") }, want: ErrAuth, wantCode: "missing_credential"},
		{name: "no token", conv: convs["full"], dest: func(d *Destination) { delete(d.Credentials, "access_token") }, want: ErrAuth, wantCode: "missing_credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newPinterestFake(t)
			p := NewPinterest(testConfig(srv.URL, 5*time.Second))
			d := pinterestTestDestination()
			if tt.dest != nil {
				tt.dest(&d)
			}
			ok := convs["prehashed_jpy"]
			res := p.Send(context.Background(), d, []mapping.Conversion{tt.conv, ok})
			if !errors.Is(res[0].Err, tt.want) || testError(t, res[0].Err).Code != tt.wantCode {
				t.Errorf("error %v, want %v with code %q", res[0].Err, tt.want, tt.wantCode)
			}
			if tt.want == ErrAuth {
				if len(f.calls()) != 0 {
					t.Errorf("Pinterest got %d requests, want none without credentials", len(f.calls()))
				}
				return
			}
			if res[0].Payload != nil || res[1].Err != nil {
				t.Errorf("unsent payload %q, other error %v; want no payload and the other accepted", res[0].Payload, res[1].Err)
			}
			if reqs := f.calls(); len(reqs) != 1 || len(reqs[0].events) != 1 || reqs[0].events[0].EventID != ok.EventID {
				t.Errorf("Pinterest got %d requests, want one with only %s", len(reqs), ok.EventID)
			}
		})
	}
}

func TestPinterestDescription(t *testing.T) {
	p := NewPinterest(Config{})
	var names []string
	for _, f := range p.Fields() {
		names = append(names, f.Name)
		if f.Name == "test" && (!f.Setting || !f.Bool) {
			t.Errorf("field test: Setting %v Bool %v, want a yes/no setting", f.Setting, f.Bool)
		}
	}
	if diff := cmp.Diff([]string{"ad_account_id", "access_token", "tag_id", "test"}, names); diff != "" {
		t.Errorf("Fields (-want +got):\n%s", diff)
	}
	if p.Name() != "pinterest" || p.BatchSize() != 1000 || p.MaxAge() != 7*24*time.Hour {
		t.Errorf("Name %q BatchSize %d MaxAge %v, want pinterest 1000 168h", p.Name(), p.BatchSize(), p.MaxAge())
	}
}

func FuzzPinterestOutcomes(f *testing.F) {
	f.Add(200, []byte(`{"num_events_received":2,"num_events_processed":1,"events":[{"status":"processed"},{"status":"failed","error_message":"x"}]}`), 2)
	f.Add(200, []byte(`{"events":[1,"a",null]}`), 3)
	f.Add(422, []byte(`{"code":4180,"message":"m","details":{}}`), 1)
	f.Add(200, []byte(`{"num_events_processed":4}`), 4)
	f.Fuzz(func(t *testing.T, status int, body []byte, n int) {
		if n < 1 || n > pinterestBatchSize || status < 100 || status > 599 {
			return
		}
		out := pinterestOutcomes(answer{Status: status, Header: http.Header{}, Body: body}, n, testNow)
		if len(out) != n {
			t.Fatalf("%d outcomes for %d events", len(out), n)
		}
		for k, o := range out {
			if o.err == nil {
				if status >= 300 && status != http.StatusBadRequest && status != http.StatusUnprocessableEntity {
					t.Errorf("event %d: accepted on status %d (body %q)", k, status, body)
				}
				continue
			}
			if !errors.Is(o.err, ErrRetryable) && !errors.Is(o.err, ErrPermanent) {
				t.Errorf("event %d: error %v has no class", k, o.err)
			}
		}
	})
}
