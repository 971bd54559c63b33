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
	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
)

func microsoftTestDestination() Destination {
	return Destination{ID: 8, ShopID: 1, Platform: "microsoft", Credentials: map[string]string{
		"uet_tag_id":   "187012345",
		"access_token": "ms-capi-token",
	}}
}

var (
	microsoftGUIDRE = regexp.MustCompile(`^[0-9a-fA-F]{32}$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	microsoftCurRE  = regexp.MustCompile(`^[A-Z]{3}$`)
)

// microsoftTestEvent is decoded with the test's own types.
type microsoftTestEvent struct {
	EventType      string `json:"eventType"`
	EventID        string `json:"eventId"`
	EventName      string `json:"eventName"`
	EventTime      int64  `json:"eventTime"`
	EventSourceURL string `json:"eventSourceUrl"`
	UserData       struct {
		Em              string `json:"em"`
		Ph              string `json:"ph"`
		Msclkid         string `json:"msclkid"`
		ClientIPAddress string `json:"clientIpAddress"`
		ClientUserAgent string `json:"clientUserAgent"`
	} `json:"userData"`
	CustomData struct {
		Value         *float64 `json:"value"`
		Currency      string   `json:"currency"`
		TransactionID string   `json:"transactionId"`
		PageType      string   `json:"pageType"`
		ItemIDs       []string `json:"itemIds"`
		Items         []struct {
			ID       string  `json:"id"`
			Name     string  `json:"name"`
			Price    float64 `json:"price"`
			Quantity int     `json:"quantity"`
		} `json:"items"`
	} `json:"customData"`
}

type microsoftTestBody struct {
	Data                      []json.RawMessage `json:"data"`
	ContinueOnValidationError bool              `json:"continueOnValidationError"`
	DataProvider              string            `json:"dataProvider"`
}

// microsoftFake is a UET Conversions API that checks each request as
// Microsoft does and answers as the test asks; malformed requests fail the
// test and get Microsoft's 400 with error.details.
type microsoftFake struct {
	t      *testing.T
	answer func(w http.ResponseWriter, events []microsoftTestEvent)

	recorder[microsoftTestRequest]
}

type microsoftTestRequest struct {
	body   microsoftTestBody
	events []microsoftTestEvent
}

func newMicrosoftFake(t *testing.T, setup ...func(*microsoftFake)) (*microsoftFake, *httptest.Server) {
	t.Helper()
	f := &microsoftFake{t: t}
	for _, fn := range setup {
		fn(f)
	}
	return f, startFake(t, f)
}

func (f *microsoftFake) reject(w http.ResponseWriter, index int, prop, format string, args ...any) {
	f.t.Helper()
	msg := fmt.Sprintf(format, args...)
	f.t.Errorf("fake Microsoft rejected the request: event %d %s: %s", index, prop, msg)
	writeJSON(w, http.StatusBadRequest, fmt.Sprintf(
		`{"eventsReceived":0,"error":{"code":"InvalidRequest","message":"validation failed","details":[{"index":%d,"propertyName":%q,"errorMessage":%q,"isWarning":false}]},"traceId":"t-1"}`,
		index, prop, msg))
}

func (f *microsoftFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/187012345/events" {
		f.reject(w, -1, "request", "unexpected %s %s", r.Method, r.URL.Path)
		return
	}
	if r.Header.Get("Authorization") != "Bearer ms-capi-token" {
		writeJSON(w, http.StatusUnauthorized, `{"error":{"code":"Unauthorized","message":"Invalid token for the tag"},"traceId":"t-2"}`)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.reject(w, -1, "request", "Content-Type %q", ct)
		return
	}
	var body microsoftTestBody
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.reject(w, -1, "request", "body: %v", err)
		return
	}
	if len(body.Data) == 0 || len(body.Data) > microsoftBatchSize {
		f.reject(w, -1, "data", "%d events (1 to %d allowed)", len(body.Data), microsoftBatchSize)
		return
	}
	events := make([]microsoftTestEvent, len(body.Data))
	for k, raw := range body.Data {
		if err := json.Unmarshal(raw, &events[k]); err != nil {
			f.reject(w, k, "data", "%v", err)
			return
		}
		if prop, msg := microsoftCheckEvent(events[k]); msg != "" {
			f.reject(w, k, prop, "%s", msg)
			return
		}
	}
	f.record(microsoftTestRequest{body: body, events: events})
	if f.answer != nil {
		f.answer(w, events)
		return
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"eventsReceived":%d,"traceId":"t-3"}`, len(events)))
}

// microsoftCheckEvent validates one event as the UET Conversions API does.
func microsoftCheckEvent(ev microsoftTestEvent) (prop, msg string) {
	if ev.EventType != "custom" && ev.EventType != "pageLoad" {
		return "eventType", fmt.Sprintf("%q is not pageLoad or custom", ev.EventType)
	}
	if ev.EventType == "custom" && ev.EventName == "" {
		return "eventName", "required for custom events"
	}
	// Unix seconds within the window: milliseconds land far in the future.
	if ev.EventTime < testNow.Add(-microsoftMaxAge-24*time.Hour).Unix() || ev.EventTime > testNow.Add(time.Hour).Unix() {
		return "eventTime", fmt.Sprintf("%d is not Unix seconds in the window", ev.EventTime)
	}
	u := ev.UserData
	if u.Em == "" && u.Ph == "" && u.Msclkid == "" && u.ClientIPAddress == "" && u.ClientUserAgent == "" {
		return "userData", "needs at least one identifier"
	}
	for prop, v := range map[string]string{"userData.em": u.Em, "userData.ph": u.Ph} {
		if v != "" && !testHexRE.MatchString(v) {
			return prop, fmt.Sprintf("%q is not lowercase SHA-256 hex", v)
		}
	}
	if u.Msclkid != "" && !microsoftGUIDRE.MatchString(u.Msclkid) {
		return "userData.msclkid", fmt.Sprintf("%q is not a GUID", u.Msclkid)
	}
	if ev.CustomData.Value == nil || !microsoftCurRE.MatchString(ev.CustomData.Currency) {
		return "customData", "value (a number) and an ISO 4217 currency are required"
	}
	return "", ""
}

func TestMicrosoftGolden(t *testing.T) {
	m := NewMicrosoft(Config{Now: func() time.Time { return testNow }})
	for name, c := range testConversions() {
		t.Run(name, func(t *testing.T) {
			req, err := m.Render(microsoftTestDestination(), []mapping.Conversion{c})
			if err != nil {
				t.Fatalf("Render(%s): %v", name, err)
			}
			checkGolden(t, filepath.Join("testdata", "microsoft", name+".golden.json"), req, "ms-capi-token")
		})
	}
}

func TestMicrosoftEmailHash(t *testing.T) {
	tests := []struct {
		in   string
		want string // the normalized address, hashed by the test; "" for none
	}{
		{in: "  Jane.Doe+shop@Example.com ", want: "janedoe@example.com"},
		{in: "a.b.c@gmail.com", want: "abc@gmail.com"},
		{in: "plain@shop.de", want: "plain@shop.de"},
		{in: "+only-tag@example.com", want: ""},
		{in: "not an email", want: ""},
		{in: "", want: ""},
	}
	for _, tt := range tests {
		want := ""
		if tt.want != "" {
			want = testSHA256(tt.want)
		}
		if got := microsoftEmailHash(tt.in); got != want {
			t.Errorf("microsoftEmailHash(%q) = %q, want sha256(%q) = %q", tt.in, got, tt.want, want)
		}
	}
	pre := "A3F1D4C2B6E8F0A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F6071829"
	if got := microsoftEmailHash(pre); got != strings.ToLower(pre) {
		t.Errorf("microsoftEmailHash(pre-hashed) = %q, want it passed through in lower case", got)
	}
}

func TestMicrosoftSendPayload(t *testing.T) {
	f, srv := newMicrosoftFake(t)
	m := NewMicrosoft(testConfig(srv.URL, 5*time.Second))
	convs := testConversions()
	res := m.Send(context.Background(), microsoftTestDestination(), []mapping.Conversion{convs["full"], convs["phone_only"], convs["prehashed_jpy"]})
	for i, r := range res {
		if r.Err != nil || r.StatusCode != http.StatusOK {
			t.Errorf("result %d: error %v status %d, want accepted with 200", i, r.Err, r.StatusCode)
		}
	}
	reqs := f.calls()
	if len(reqs) != 1 || len(reqs[0].events) != 3 {
		t.Fatalf("Microsoft got %d requests, want one with 3 events", len(reqs))
	}
	if !reqs[0].body.ContinueOnValidationError || reqs[0].body.DataProvider == "" {
		t.Errorf("continueOnValidationError %v dataProvider %q, want true and a provider", reqs[0].body.ContinueOnValidationError, reqs[0].body.DataProvider)
	}
	full, phone, pre := reqs[0].events[0], reqs[0].events[1], reqs[0].events[2]
	checks := []struct {
		name      string
		got, want any
	}{
		{"full em: local part without dots and +tag", full.UserData.Em, testSHA256("janedoe@example.com")},
		{"full ph: E.164 with +", full.UserData.Ph, testSHA256("+12175550143")},
		{"full msclkid as is", full.UserData.Msclkid, "d52a7a1a0b7c1f2d3e4f5a6b7c8d9e0f"},
		{"full ip", full.UserData.ClientIPAddress, "203.0.113.42"},
		{"full eventType", full.EventType, "custom"},
		{"full eventName", full.EventName, "purchase"},
		{"full eventId", full.EventID, "5820393472058"},
		{"full eventTime in seconds", full.EventTime, testNow.Add(-2 * time.Hour).Unix()},
		{"full value", *full.CustomData.Value, 120.94},
		{"full currency", full.CustomData.Currency, "USD"},
		{"full transactionId", full.CustomData.TransactionID, "5820393472058"},
		{"full itemIds", full.CustomData.ItemIDs, []string{"8012345678901", "8012345678902"}},
		{"full pageType", full.CustomData.PageType, "purchase"},
		{"phone_only ph: national number read in DE", phone.UserData.Ph, testSHA256("+493012345678")},
		{"phone_only em", phone.UserData.Em, ""},
		{"prehashed em passed through", pre.UserData.Em, testConversions()["prehashed_jpy"].User.Email},
		{"prehashed value", *pre.CustomData.Value, 12800.0},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	var sent microsoftTestEvent
	if err := json.Unmarshal(res[1].Payload, &sent); err != nil {
		t.Fatalf("payload of result 1: %v", err)
	}
	if diff := cmp.Diff(phone, sent); diff != "" {
		t.Errorf("payload of result 1 differs from what Microsoft got (-sent +payload):\n%s", diff)
	}
	wantMatch := advise("microsoft", "Microsoft", mapping.Match{ClickID: true, Email: true, Phone: true, IP: true, UserAgent: true}.Score(), convs["full"])
	if diff := cmp.Diff(wantMatch, res[0].Match); diff != "" {
		t.Errorf("full match (-want +got):\n%s", diff)
	}
}

func TestMicrosoftSendErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		want       error
		retryAfter time.Duration
		code       string
	}{
		{name: "accepted", status: http.StatusOK, body: `{"eventsReceived":1}`},
		{name: "bad token", status: http.StatusUnauthorized, want: ErrAuth, code: "Unauthorized",
			body: `{"error":{"code":"Unauthorized","message":"Invalid token"},"traceId":"x"}`},
		{name: "forbidden", status: http.StatusForbidden, want: ErrAuth, code: "Forbidden",
			body: `{"error":{"code":"Forbidden","message":"Tag not enabled for Conversions API"}}`},
		{name: "throttled", status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "120"}, want: ErrThrottled, retryAfter: 2 * time.Minute,
			code: "TooManyRequests", body: `{"error":{"code":"TooManyRequests","message":"Rate limit exceeded"}}`},
		{name: "server error", status: http.StatusInternalServerError, want: ErrTransient, body: `{"error":{"code":"InternalError","message":"oops"}}`, code: "InternalError"},
		{name: "unavailable", status: http.StatusServiceUnavailable, want: ErrTransient, body: `upstream unavailable`},
		{name: "bad request without details", status: http.StatusBadRequest, want: ErrInvalid, code: "InvalidRequest",
			body: `{"eventsReceived":0,"error":{"code":"InvalidRequest","message":"Malformed request"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newMicrosoftFake(t, func(f *microsoftFake) {
				f.answer = func(w http.ResponseWriter, _ []microsoftTestEvent) {
					for k, v := range tt.header {
						w.Header().Set(k, v)
					}
					writeJSON(w, tt.status, tt.body)
				}
			})
			m := NewMicrosoft(testConfig(srv.URL, 5*time.Second))
			res := m.Send(context.Background(), microsoftTestDestination(), []mapping.Conversion{testConversions()["full"]})
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
			if strings.Contains(r.Err.Error(), "ms-capi-token") {
				t.Errorf("error %q shows the token", r.Err)
			}
		})
	}

	t.Run("token the fake refuses", func(t *testing.T) {
		_, srv := newMicrosoftFake(t)
		m := NewMicrosoft(testConfig(srv.URL, 5*time.Second))
		d := microsoftTestDestination()
		d.Credentials["access_token"] = "wrong"
		res := m.Send(context.Background(), d, []mapping.Conversion{testConversions()["full"]})
		if !errors.Is(res[0].Err, ErrAuth) {
			t.Errorf("error %v, want ErrAuth", res[0].Err)
		}
	})
}

func TestMicrosoftPerEventDetails(t *testing.T) {
	convs := testConversions()
	batch := []mapping.Conversion{convs["full"], convs["phone_only"], convs["prehashed_jpy"]}
	tests := []struct {
		name     string
		status   int
		body     string
		want     []error
		reported []string
	}{
		{
			name:   "accepted with one event invalid and a warning",
			status: http.StatusOK,
			body: `{"eventsReceived":3,"error":{"code":"PartialSuccess","message":"Some events failed validation","details":[
				{"index":0,"propertyName":"userData.clientUserAgent","attemptedValue":"x","errorMessage":"User agent looks truncated","isWarning":true},
				{"index":1,"propertyName":"customData.currency","errorMessage":"Currency does not match the goal","errorCode":"InvalidCurrency","isWarning":false}]}}`,
			want:     []error{nil, ErrInvalid, nil},
			reported: []string{"userData.clientUserAgent: User agent looks truncated", "", ""},
		},
		{
			name:   "refused because of one event",
			status: http.StatusBadRequest,
			body: `{"eventsReceived":0,"error":{"code":"InvalidRequest","message":"Validation failed","details":[
				{"index":2,"propertyName":"eventTime","errorMessage":"Event is too old","isWarning":false}]}}`,
			// The two good events were not ingested; the send path sends
			// them again at once without the bad one, and they are accepted.
			want:     []error{nil, nil, ErrInvalid},
			reported: []string{"", "", ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newMicrosoftFake(t, func(f *microsoftFake) {
				f.answer = func(w http.ResponseWriter, evs []microsoftTestEvent) {
					if len(evs) < len(batch) {
						writeJSON(w, http.StatusOK, fmt.Sprintf(`{"eventsReceived":%d}`, len(evs)))
						return
					}
					writeJSON(w, tt.status, tt.body)
				}
			})
			m := NewMicrosoft(testConfig(srv.URL, 5*time.Second))
			res := m.Send(context.Background(), microsoftTestDestination(), batch)
			for i, r := range res {
				if (tt.want[i] == nil) != (r.Err == nil) || (tt.want[i] != nil && !errors.Is(r.Err, tt.want[i])) {
					t.Errorf("event %d: error %v, want %v", i, r.Err, tt.want[i])
				}
				if r.Match.Reported != tt.reported[i] {
					t.Errorf("event %d: reported %q, want %q", i, r.Match.Reported, tt.reported[i])
				}
			}
			if tt.want[1] == ErrInvalid && !strings.Contains(res[1].Err.Error(), "Currency does not match the goal") {
				t.Errorf("event 1: error %q, want Microsoft's message", res[1].Err)
			}
		})
	}
}

func TestMicrosoftNotSent(t *testing.T) {
	convs := testConversions()
	old := convs["full"]
	old.EventTime = testNow.Add(-8 * 24 * time.Hour)
	bare := mapping.Conversion{EventID: "bare-1", EventName: mapping.EventPurchase, EventTime: testNow.Add(-time.Hour),
		OrderID: "1", Value: decimal.RequireFromString("10"), Currency: "USD"}
	tests := []struct {
		name     string
		conv     mapping.Conversion
		dest     func(*Destination)
		want     error
		wantCode string
	}{
		{name: "past 7 days", conv: old, want: ErrInvalid, wantCode: "event_too_old"},
		{name: "no identifier", conv: bare, want: ErrInvalid, wantCode: "no_identifier"},
		{name: "no tag", conv: convs["full"], dest: func(d *Destination) { delete(d.Credentials, "uet_tag_id") }, want: ErrAuth, wantCode: "missing_credential"},
		{name: "no token", conv: convs["full"], dest: func(d *Destination) { d.Credentials["access_token"] = "" }, want: ErrAuth, wantCode: "missing_credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newMicrosoftFake(t)
			m := NewMicrosoft(testConfig(srv.URL, 5*time.Second))
			d := microsoftTestDestination()
			if tt.dest != nil {
				tt.dest(&d)
			}
			ok := convs["prehashed_jpy"]
			res := m.Send(context.Background(), d, []mapping.Conversion{tt.conv, ok})
			if !errors.Is(res[0].Err, tt.want) || testError(t, res[0].Err).Code != tt.wantCode {
				t.Errorf("error %v, want %v with code %q", res[0].Err, tt.want, tt.wantCode)
			}
			if tt.want == ErrAuth {
				if len(f.calls()) != 0 {
					t.Errorf("Microsoft got %d requests, want none without credentials", len(f.calls()))
				}
				return
			}
			if res[0].Payload != nil || res[1].Err != nil {
				t.Errorf("unsent payload %q, other error %v; want no payload and the other accepted", res[0].Payload, res[1].Err)
			}
			reqs := f.calls()
			if len(reqs) != 1 || len(reqs[0].events) != 1 || reqs[0].events[0].EventID != ok.EventID {
				t.Errorf("Microsoft got %+v, want one request with only %s", reqs, ok.EventID)
			}
		})
	}
}

func TestMicrosoftMalformedMsclkid(t *testing.T) {
	f, srv := newMicrosoftFake(t)
	m := NewMicrosoft(testConfig(srv.URL, 5*time.Second))
	c := testConversions()["full"]
	c.ClickIDs.MSCLKID = "not-a-guid"
	res := m.Send(context.Background(), microsoftTestDestination(), []mapping.Conversion{c})
	if res[0].Err != nil || res[0].Match.ClickID {
		t.Errorf("error %v click id %v, want accepted without the malformed msclkid", res[0].Err, res[0].Match.ClickID)
	}
	if reqs := f.calls(); len(reqs) != 1 || reqs[0].events[0].UserData.Msclkid != "" {
		t.Errorf("Microsoft got msclkid %q, want none", reqs[0].events[0].UserData.Msclkid)
	}
}

func TestMicrosoftDescription(t *testing.T) {
	m := NewMicrosoft(Config{})
	var names []string
	for _, f := range m.Fields() {
		names = append(names, f.Name)
	}
	if diff := cmp.Diff([]string{"uet_tag_id", "access_token"}, names); diff != "" {
		t.Errorf("Fields (-want +got):\n%s", diff)
	}
	if m.Name() != "microsoft" || m.BatchSize() != 1000 || m.MaxAge() != 7*24*time.Hour {
		t.Errorf("Name %q BatchSize %d MaxAge %v, want microsoft 1000 168h", m.Name(), m.BatchSize(), m.MaxAge())
	}
	if m.TestMode(Destination{Settings: map[string]string{"test": "true"}}) {
		t.Error("TestMode = true, want false: the UET Conversions API has no test mode")
	}
}

func FuzzMicrosoftOutcomes(f *testing.F) {
	f.Add(200, []byte(`{"eventsReceived":2,"error":{"details":[{"index":1,"propertyName":"x","errorMessage":"y"}]}}`), 2)
	f.Add(400, []byte(`{"error":{"details":[{"index":-3},{"index":7,"isWarning":true}]}}`), 3)
	f.Add(429, []byte(`not json`), 1)
	f.Fuzz(func(t *testing.T, status int, body []byte, n int) {
		if n < 1 || n > microsoftBatchSize || status < 100 || status > 599 {
			return
		}
		out := microsoftOutcomes(answer{Status: status, Header: http.Header{}, Body: body}, n, testNow)
		if len(out) != n {
			t.Fatalf("%d outcomes for %d events", len(out), n)
		}
		for k, o := range out {
			if o.err == nil {
				if status >= 300 {
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
