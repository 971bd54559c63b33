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
	"net/netip"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/internal/testutil"
	"github.com/postbackhq/postback/mapping"
)

const (
	metaTestPixel = "1234567890123456"
	metaTestToken = "EAAtestTOKEN0123456789"
)

// metaReply is what the fake answers to a request that passed validation.
type metaReply struct {
	status int
	header http.Header
	body   string
}

// metaCall is one request the fake received.
type metaCall struct {
	raw      []byte
	body     map[string]any
	events   []map[string]any
	problems []string // what Meta's validation would refuse
	status   int      // the status the fake answered
}

// eventIDs lists the call's event ids in order.
func (c metaCall) eventIDs() []string {
	var ids []string
	for _, ev := range c.events {
		id, _ := ev["event_id"].(string)
		ids = append(ids, id)
	}
	return ids
}

// metaFake is a Conversions API endpoint that checks requests as Meta does
// and answers what the test asks for.
type metaFake struct {
	t       *testing.T
	version string
	// answer replies to the n-th (from 1) valid request; nil accepts.
	answer func(n int, c metaCall) metaReply
	// hang makes the fake never answer.
	hang bool

	mu    sync.Mutex
	calls []metaCall
}

func newMetaFake(t *testing.T, answer func(n int, c metaCall) metaReply) (*metaFake, *httptest.Server) {
	t.Helper()
	f := &metaFake{t: t, version: metaVersion, answer: answer}
	srv := startFake(t, f)
	return f, srv
}

func (f *metaFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		metaWrite(w, metaReply{status: 400, body: metaErrorJSON(100, 0, "cannot read body", false)})
		return
	}
	c := metaCall{raw: raw}
	c.problems = f.validate(r, raw, &c)

	f.mu.Lock()
	n := 0 // this request's number among the valid ones
	for _, prev := range append(f.calls, c) {
		if len(prev.problems) == 0 {
			n++
		}
	}
	f.mu.Unlock()

	var reply metaReply
	tok, _ := c.body["access_token"].(string)
	switch {
	case f.hang:
	case tok != metaTestToken:
		reply = metaReply{status: 400, body: metaErrorJSON(190, 0, "Invalid OAuth access token - Cannot parse access token", false)}
	case len(c.problems) > 0:
		reply = metaReply{status: 400, body: metaErrorJSON(100, 2804003, "Invalid parameter: "+strings.Join(c.problems, "; "), false)}
	case f.answer != nil:
		reply = f.answer(n, c)
	default:
		reply = metaAccept(c)
	}
	c.status = reply.status
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	if f.hang {
		<-r.Context().Done()
		return
	}
	metaWrite(w, reply)
}

// validate checks a request the way Meta's API does and returns what is
// wrong with it.
func (f *metaFake) validate(r *http.Request, raw []byte, c *metaCall) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if r.Method != http.MethodPost {
		bad("method %s", r.Method)
	}
	if want := "/" + f.version + "/" + metaTestPixel + "/events"; r.URL.Path != want {
		bad("path %q, want %q", r.URL.Path, want)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		bad("content type %q", ct)
	}
	if strings.Contains(r.URL.RawQuery, metaTestToken) {
		bad("token in the URL")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&c.body); err != nil {
		bad("body is not JSON: %v", err)
		return problems
	}
	data, ok := c.body["data"].([]any)
	if !ok || len(data) == 0 {
		bad("data must be a non-empty array")
		return problems
	}
	if len(data) > metaBatchSize {
		bad("data holds %d events, more than %d", len(data), metaBatchSize)
	}
	for i, d := range data {
		ev, ok := d.(map[string]any)
		if !ok {
			bad("data[%d] is not an object", i)
			continue
		}
		c.events = append(c.events, ev)
		for _, p := range metaValidateEvent(ev, testNow) {
			bad("data[%d]: %s", i, p)
		}
	}
	return problems
}

var (
	metaFBCShape  = regexp.MustCompile(`^fb\.[0-9]\.[0-9]{13}\.[^.\s]+(\.[A-Za-z0-9]+)?$`)
	metaHashedKey = []string{"em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id"}
)

// metaValidateEvent applies Meta's per-event rules.
func metaValidateEvent(ev map[string]any, now time.Time) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	name, _ := ev["event_name"].(string)
	if name == "" {
		bad("event_name missing")
	}
	switch ts, ok := ev["event_time"].(json.Number); {
	case !ok:
		bad("event_time missing or not a number")
	default:
		secs, err := ts.Int64()
		if err != nil {
			bad("event_time %s is not integer seconds", ts)
		}
		at := time.Unix(secs, 0)
		if now.Sub(at) > metaMaxAge {
			bad("event_time %s is more than 7 days ago", ts)
		}
		if at.After(now) {
			bad("event_time %s is in the future", ts)
		}
	}
	source, _ := ev["action_source"].(string)
	switch source {
	case "website", "app", "email", "phone_call", "chat", "physical_store", "system_generated", "business_messaging", "other":
	default:
		bad("action_source %q", source)
	}
	ud, ok := ev["user_data"].(map[string]any)
	if !ok {
		bad("user_data missing")
		return problems
	}
	for _, k := range metaHashedKey {
		v, present := ud[k]
		if !present {
			continue
		}
		arr, ok := v.([]any)
		if !ok || len(arr) == 0 {
			bad("user_data.%s must be a non-empty array", k)
			continue
		}
		for _, h := range arr {
			if s, _ := h.(string); !testHexRE.MatchString(s) {
				bad("user_data.%s value %v is not lowercase SHA-256 hex", k, h)
			}
		}
	}
	ua, _ := ud["client_user_agent"].(string)
	ip, _ := ud["client_ip_address"].(string)
	if ip != "" {
		if _, err := netip.ParseAddr(ip); err != nil {
			bad("client_ip_address %q is not an IP address", ip)
		}
	}
	if fbc, _ := ud["fbc"].(string); fbc != "" && !metaFBCShape.MatchString(fbc) {
		bad("fbc %q is not fb.<subdomain>.<ms>.<fbclid>", fbc)
	}
	strong := ud["em"] != nil || ud["ph"] != nil || ud["external_id"] != nil || ud["fbp"] != nil || ud["fbc"] != nil || (ip != "" && ua != "")
	if !strong {
		bad("user_data has no strong identifier")
	}
	if source == "website" {
		if ua == "" {
			bad("client_user_agent is required for website events")
		}
		if u, _ := ev["event_source_url"].(string); !strings.HasPrefix(u, "http") {
			bad("event_source_url is required for website events")
		}
	}
	if name == "Purchase" {
		cd, _ := ev["custom_data"].(map[string]any)
		if _, ok := cd["value"].(json.Number); !ok {
			bad("custom_data.value must be a number for Purchase")
		}
		if cur, _ := cd["currency"].(string); len(cur) != 3 {
			bad("custom_data.currency must be an ISO 4217 code for Purchase")
		}
	}
	return problems
}

func metaWrite(w http.ResponseWriter, r metaReply) {
	for k, vs := range r.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(r.status)
	if _, err := io.WriteString(w, r.body); err != nil {
		return // the client went away; nothing to tell it
	}
}

func metaAccept(c metaCall) metaReply {
	return metaReply{status: 200, body: fmt.Sprintf(`{"events_received":%d,"messages":[],"fbtrace_id":"AbCdEf123"}`, len(c.events))}
}

func metaErrorJSON(code, subcode int, msg string, transient bool) string {
	e := map[string]any{"message": msg, "type": "OAuthException", "code": code, "is_transient": transient, "fbtrace_id": "AxYz987"}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	b, err := json.Marshal(map[string]any{"error": e})
	if err != nil {
		return `{"error":{"message":"unencodable test error"}}` // plain values always encode
	}
	return string(b)
}

func (f *metaFake) callList() []metaCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]metaCall(nil), f.calls...)
}

// problems returns every validation failure the fake saw.
func (f *metaFake) problems() []string {
	var all []string
	for _, c := range f.callList() {
		all = append(all, c.problems...)
	}
	return all
}

func metaSender(baseURL string, timeout time.Duration) *Meta {
	return NewMeta(testConfig(baseURL, timeout))
}

func metaDestination(settings map[string]string) Destination {
	return Destination{ID: 7, ShopID: 3, Platform: "meta",
		Credentials: map[string]string{"pixel_id": metaTestPixel, "access_token": metaTestToken},
		Settings:    settings}
}

// metaConv is a minimal valid conversion with the given event id.
func metaConv(id string) mapping.Conversion {
	return mapping.Conversion{
		EventID: id, EventName: mapping.EventPurchase, EventTime: testNow.Add(-time.Hour), OrderID: id,
		Value: decimal.RequireFromString("10.50"), Currency: "USD",
		User: mapping.User{Email: id + "@example.com"},
	}
}

// metaDecode decodes with numbers kept as written.
func metaDecode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return v
}

func TestMetaDescribe(t *testing.T) {
	m := NewMeta(Config{})
	if got := m.Name(); got != "meta" {
		t.Errorf("Name() = %q, want meta", got)
	}
	if got := m.BatchSize(); got != 1000 {
		t.Errorf("BatchSize() = %d, want 1000", got)
	}
	if got := m.MaxAge(); got != 7*24*time.Hour {
		t.Errorf("MaxAge() = %v, want 168h", got)
	}
	want := map[string]Field{
		"pixel_id":        {Required: true},
		"access_token":    {Required: true, Secret: true},
		"test_event_code": {Setting: true},
		"api_version":     {Setting: true},
	}
	fields := m.Fields()
	if len(fields) != len(want) {
		t.Errorf("Fields() has %d fields, want %d", len(fields), len(want))
	}
	for _, f := range fields {
		w, ok := want[f.Name]
		if !ok {
			t.Errorf("unexpected field %q", f.Name)
			continue
		}
		if f.Required != w.Required || f.Secret != w.Secret || f.Setting != w.Setting || f.Label == "" {
			t.Errorf("field %q = %+v, want required=%v secret=%v setting=%v and a label", f.Name, f, w.Required, w.Secret, w.Setting)
		}
	}
	for _, tt := range []struct {
		settings map[string]string
		want     bool
	}{{nil, false}, {map[string]string{"test_event_code": "  "}, false}, {map[string]string{"test_event_code": "TEST123"}, true}} {
		if got := m.TestMode(metaDestination(tt.settings)); got != tt.want {
			t.Errorf("TestMode(%v) = %v, want %v", tt.settings, got, tt.want)
		}
	}
}

// TestMetaGolden renders every shared test conversion, compares the request
// body with its golden file, and checks that Send puts exactly that body
// (with the real token) on the wire and that the fake accepts it.
func TestMetaGolden(t *testing.T) {
	for name, c := range testConversions() {
		t.Run(name, func(t *testing.T) {
			f, srv := newMetaFake(t, nil)
			m := metaSender(srv.URL, 5*time.Second)
			d := metaDestination(nil)

			req, err := m.Render(d, []mapping.Conversion{c})
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if req.Method != http.MethodPost || req.URL != srv.URL+"/v27.0/"+metaTestPixel+"/events" {
				t.Errorf("Render = %s %s, want POST %s/v27.0/%s/events", req.Method, req.URL, srv.URL, metaTestPixel)
			}
			if bytes.Contains(req.Body, []byte(metaTestToken)) || strings.Contains(req.URL, metaTestToken) {
				t.Errorf("rendered request leaks the access token:\n%s", req.Body)
			}
			testutil.GoldenJSON(t, filepath.Join("testdata", "meta", name+".golden.json"), req.Body, *update)

			res := m.Send(context.Background(), d, []mapping.Conversion{c})
			if len(res) != 1 || res[0].Err != nil {
				t.Fatalf("Send = %+v, want one success", res)
			}
			if p := f.problems(); len(p) > 0 {
				t.Fatalf("fake Meta refused the request: %v", p)
			}
			calls := f.callList()
			if len(calls) != 1 {
				t.Fatalf("fake got %d requests, want 1", len(calls))
			}
			sent := calls[0].body
			if sent["access_token"] != metaTestToken {
				t.Errorf("sent access_token = %v, want the destination's token", sent["access_token"])
			}
			sent["access_token"] = metaRedacted
			if diff := cmp.Diff(metaDecode(t, req.Body), sent); diff != "" {
				t.Errorf("sent body differs from the rendered one (-rendered +sent):\n%s", diff)
			}
			if diff := cmp.Diff(calls[0].events[0], metaDecode(t, res[0].Payload)); diff != "" {
				t.Errorf("Result.Payload differs from the event sent (-sent +payload):\n%s", diff)
			}
			if res[0].StatusCode != 200 || !strings.Contains(res[0].Response, `"events_received":1`) {
				t.Errorf("Result = status %d, response %q; want 200 and Meta's body", res[0].StatusCode, res[0].Response)
			}
		})
	}
}

// metaRenderEvent renders one conversion and returns its event.
func metaRenderEvent(t *testing.T, c mapping.Conversion) map[string]any {
	t.Helper()
	req, err := metaSender("http://meta.invalid", time.Second).Render(metaDestination(nil), []mapping.Conversion{c})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	body := metaDecode(t, req.Body)
	data, _ := body["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("rendered %d events, want 1", len(data))
	}
	ev, _ := data[0].(map[string]any)
	if p := metaValidateEvent(ev, testNow); len(p) > 0 {
		t.Errorf("Meta would refuse the event: %v", p)
	}
	return ev
}

// TestMetaHashVectors checks every hashed field against an independent
// SHA-256 of the literal string Meta's rules normalize it to, and that
// browser fields go unhashed.
func TestMetaHashVectors(t *testing.T) {
	convs := testConversions()
	full := convs["full"]
	tests := []struct {
		conv, field, want string
	}{
		{"full", "em", testSHA256("jane.doe+shop@example.com")},
		{"full", "ph", testSHA256("12175550143")},
		{"full", "fn", testSHA256("jane")},
		{"full", "ln", testSHA256("odoe")},
		{"full", "ct", testSHA256("springfield")},
		{"full", "st", testSHA256("il")},
		{"full", "zp", testSHA256("62701")},
		{"full", "country", testSHA256("us")},
		{"full", "external_id", testSHA256("7390123456789")},
		{"phone_only", "ph", testSHA256("493012345678")},
		{"phone_only", "fn", testSHA256("jürgen")},
		{"phone_only", "ln", testSHA256("müller")},
		{"phone_only", "ct", testSHA256("berlin")},
		{"phone_only", "zp", testSHA256("10115")},
		{"phone_only", "country", testSHA256("de")},
		// Already hashed by the store: passed through, never hashed twice.
		{"prehashed_jpy", "em", "a3f1d4c2b6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829"},
		{"prehashed_jpy", "country", testSHA256("jp")},
	}
	events := map[string]map[string]any{}
	for name, c := range convs {
		events[name] = metaRenderEvent(t, c)
	}
	for _, tt := range tests {
		t.Run(tt.conv+"/"+tt.field, func(t *testing.T) {
			ud, _ := events[tt.conv]["user_data"].(map[string]any)
			arr, _ := ud[tt.field].([]any)
			if len(arr) != 1 || arr[0] != tt.want {
				t.Errorf("user_data.%s = %v, want [%s]", tt.field, ud[tt.field], tt.want)
			}
		})
	}
	plain := []struct{ conv, field, want string }{
		{"full", "client_ip_address", full.ClientIP},
		{"full", "client_user_agent", full.UserAgent},
		{"full", "fbp", full.ClickIDs.FBP},
		{"full", "fbc", fmt.Sprintf("fb.1.%d.%s", full.ClickTime.UnixMilli(), full.ClickIDs.FBCLID)},
		{"prehashed_jpy", "client_ip_address", "2001:db8::1"},
	}
	for _, tt := range plain {
		ud, _ := events[tt.conv]["user_data"].(map[string]any)
		if got := ud[tt.field]; got != tt.want {
			t.Errorf("%s: user_data.%s = %v, want %q unhashed", tt.conv, tt.field, got, tt.want)
		}
	}
	if ud, _ := events["phone_only"]["user_data"].(map[string]any); ud["em"] != nil || ud["fbc"] != nil || ud["client_user_agent"] != nil {
		t.Errorf("phone_only sent identifiers it does not have: %v", ud)
	}
}

// TestMetaCustomData checks amounts go out as exact JSON numbers and the
// order's contents.
func TestMetaCustomData(t *testing.T) {
	tests := []struct {
		name     string
		value    string
		currency string
		items    []mapping.Item
		want     string // custom_data as JSON
	}{
		{"float-unfriendly value", "0.30", "usd", nil,
			`{"value":0.3,"currency":"usd","order_id":"o1"}`},
		{"large value keeps every digit", "12345678901234.99", "EUR", nil,
			`{"value":12345678901234.99,"currency":"eur","order_id":"o1"}`},
		{"three decimals", "19.999", "KWD", nil,
			`{"value":19.999,"currency":"kwd","order_id":"o1"}`},
		{"zero value is still sent", "0", "USD", nil,
			`{"value":0,"currency":"usd","order_id":"o1"}`},
		{"contents, ids and counts", "112.00", "USD", []mapping.Item{
			{ID: "p1", Quantity: 2, Price: decimal.RequireFromString("35.00")},
			{ID: "p2", Quantity: 1, Price: decimal.RequireFromString("0.10")},
			{ID: "p1", Quantity: 1, Price: decimal.RequireFromString("41.90")},
			{ID: "", Quantity: 5, Price: decimal.RequireFromString("1")},
		}, `{"value":112,"currency":"usd","order_id":"o1","content_type":"product","num_items":4,
			"content_ids":["p1","p2"],
			"contents":[{"id":"p1","quantity":2,"item_price":35},{"id":"p2","quantity":1,"item_price":0.1},{"id":"p1","quantity":1,"item_price":41.9}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := metaConv("o1")
			c.Value, c.Currency, c.Items = decimal.RequireFromString(tt.value), tt.currency, tt.items
			got := metaRenderEvent(t, c)["custom_data"]
			want := metaDecode(t, []byte(tt.want))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("custom_data for value %s %s mismatch (-want +got):\n%s", tt.value, tt.currency, diff)
			}
		})
	}
}

// TestMetaEventRules covers how a conversion becomes an event.
func TestMetaEventRules(t *testing.T) {
	const ua = "Mozilla/5.0 (X11; Linux x86_64)"
	tests := []struct {
		name   string
		edit   func(c *mapping.Conversion)
		check  func(ev, ud map[string]any) string // "" when right
		noSend error                              // the class when the conversion must not be sent
	}{
		{"future time clamped to now", func(c *mapping.Conversion) { c.EventTime = testNow.Add(10 * time.Minute) },
			func(ev, _ map[string]any) string {
				return metaWant(ev["event_time"], json.Number(fmt.Sprint(testNow.Unix())))
			}, nil},
		{"time in unix seconds", func(c *mapping.Conversion) { c.EventTime = testNow.Add(-90 * time.Second) },
			func(ev, _ map[string]any) string {
				return metaWant(ev["event_time"], json.Number(fmt.Sprint(testNow.Add(-90*time.Second).Unix())))
			}, nil},
		{"event id and name", nil, func(ev, _ map[string]any) string {
			return metaWant(ev["event_id"], "o1") + metaWant(ev["event_name"], "Purchase")
		}, nil},
		{"browser context makes a website event", func(c *mapping.Conversion) {
			c.UserAgent, c.SourceURL = ua, "https://shop.example.com/thanks"
		}, func(ev, ud map[string]any) string {
			return metaWant(ev["action_source"], "website") + metaWant(ev["event_source_url"], "https://shop.example.com/thanks") +
				metaWant(ud["client_user_agent"], ua)
		}, nil},
		{"no user agent is not a website event", func(c *mapping.Conversion) { c.SourceURL = "https://shop.example.com/thanks" },
			func(ev, _ map[string]any) string {
				return metaWant(ev["action_source"], "other") + metaWant(ev["event_source_url"], "https://shop.example.com/thanks")
			}, nil},
		{"store says website, with a user agent: website", func(c *mapping.Conversion) {
			c.Channel, c.UserAgent, c.SourceURL = mapping.ChannelWebsite, ua, "https://shop.example.com/thanks"
		}, func(ev, ud map[string]any) string {
			return metaWant(ev["action_source"], "website") + metaWant(ev["event_source_url"], "https://shop.example.com/thanks")
		}, nil},
		{"store says website, no user agent: other, which Meta takes without one", func(c *mapping.Conversion) {
			c.Channel, c.SourceURL = mapping.ChannelWebsite, "https://shop.example.com/thanks"
		}, func(ev, ud map[string]any) string {
			return metaWant(ev["action_source"], "other") + metaWant(ev["event_source_url"], "https://shop.example.com/thanks")
		}, nil},
		{"renewal is system generated", func(c *mapping.Conversion) {
			c.Channel, c.UserAgent, c.SourceURL = mapping.ChannelRenewal, ua, "https://shop.example.com/thanks"
		}, func(ev, _ map[string]any) string { return metaWant(ev["action_source"], "system_generated") }, nil},
		{"relative landing URL is not an event_source_url", func(c *mapping.Conversion) { c.UserAgent, c.SourceURL = ua, "/products/x?fbclid=1" },
			func(ev, _ map[string]any) string {
				return metaWant(ev["action_source"], "other") + metaWant(ev["event_source_url"], nil)
			}, nil},
		{"fbc cookie wins over fbclid", func(c *mapping.Conversion) {
			c.ClickIDs = mapping.ClickIDs{FBC: "fb.1.1763600000000.cookie.AQ", FBCLID: "fromurl"}
		}, func(_, ud map[string]any) string { return metaWant(ud["fbc"], "fb.1.1763600000000.cookie.AQ") }, nil},
		{"fbclid without click time uses the event time", func(c *mapping.Conversion) { c.ClickIDs.FBCLID = "abc" },
			func(_, ud map[string]any) string {
				return metaWant(ud["fbc"], fmt.Sprintf("fb.1.%d.abc", testNow.Add(-time.Hour).UnixMilli()))
			}, nil},
		{"invalid IP left out", func(c *mapping.Conversion) { c.ClientIP, c.UserAgent = "not-an-ip", ua },
			func(_, ud map[string]any) string { return metaWant(ud["client_ip_address"], nil) }, nil},
		{"IP and user agent alone are enough", func(c *mapping.Conversion) {
			c.User, c.ClientIP, c.UserAgent = mapping.User{}, " 203.0.113.9 ", ua
		}, func(_, ud map[string]any) string { return metaWant(ud["client_ip_address"], "203.0.113.9") }, nil},
		{"fbp alone is enough", func(c *mapping.Conversion) { c.User, c.ClickIDs.FBP = mapping.User{}, "fb.1.1.2" },
			func(_, ud map[string]any) string { return metaWant(ud["fbp"], "fb.1.1.2") }, nil},
		{"E.164 phone", func(c *mapping.Conversion) { c.User.Phone = "+447911123456" },
			func(_, ud map[string]any) string { return metaWant(ud["ph"], []any{testSHA256("447911123456")}) }, nil},
		{"national phone without country left out", func(c *mapping.Conversion) { c.User.Phone = "030 12345678" },
			func(_, ud map[string]any) string { return metaWant(ud["ph"], nil) }, nil},
		{"unreadable US phone falls back to Meta's rule", func(c *mapping.Conversion) {
			c.User.Phone, c.User.PhoneUnparsed, c.User.Country = "", "01(650)123-4567", "US"
		}, func(_, ud map[string]any) string { return metaWant(ud["ph"], []any{testSHA256("16501234567")}) }, nil},
		{"unreadable GB phone falls back to Meta's rule", func(c *mapping.Conversion) {
			c.User.Phone, c.User.Country = "44-12390821300A", "GB"
		}, func(_, ud map[string]any) string { return metaWant(ud["ph"], []any{testSHA256("4412390821300")}) }, nil},
		{"pre-hashed phone passed through", func(c *mapping.Conversion) { c.User.Phone = strings.ToUpper(testSHA256("12175550143")) },
			func(_, ud map[string]any) string { return metaWant(ud["ph"], []any{testSHA256("12175550143")}) }, nil},
		{"gender and birth date", func(c *mapping.Conversion) { c.User.Gender, c.User.BirthDate = "Female", "2/16/1997" },
			func(_, ud map[string]any) string {
				return metaWant(ud["ge"], []any{testSHA256("f")}) + metaWant(ud["db"], []any{testSHA256("19970216")})
			}, nil},
		{"state name to code", func(c *mapping.Conversion) { c.User.State, c.User.Country = "California", "US" },
			func(_, ud map[string]any) string { return metaWant(ud["st"], []any{testSHA256("ca")}) }, nil},
		{"no currency on a non-purchase event", func(c *mapping.Conversion) { c.EventName, c.Currency = mapping.EventSubscribe, "" },
			func(ev, _ map[string]any) string {
				return metaWant(ev["custom_data"], map[string]any{"order_id": "o1"})
			}, nil},
		{"weak identifiers only", func(c *mapping.Conversion) {
			c.User = mapping.User{FirstName: "Jane", City: "Springfield", Country: "US"}
		}, nil, ErrInvalid},
		{"unparseable email only", func(c *mapping.Conversion) { c.User = mapping.User{Email: "jane at example"} }, nil, ErrInvalid},
		{"bad currency", func(c *mapping.Conversion) { c.Currency = "XXQ" }, nil, ErrInvalid},
		{"purchase without currency", func(c *mapping.Conversion) { c.Currency = "" }, nil, ErrInvalid},
		{"negative value", func(c *mapping.Conversion) { c.Value = decimal.RequireFromString("-1") }, nil, ErrInvalid},
		{"no event name", func(c *mapping.Conversion) { c.EventName = "" }, nil, ErrInvalid},
		{"no event time", func(c *mapping.Conversion) { c.EventTime = time.Time{} }, nil, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := metaConv("o1")
			if tt.edit != nil {
				tt.edit(&c)
			}
			if tt.noSend != nil {
				f, srv := newMetaFake(t, nil)
				res := metaSender(srv.URL, time.Second).Send(context.Background(), metaDestination(nil), []mapping.Conversion{c})
				if len(res) != 1 || !errors.Is(res[0].Err, tt.noSend) || !errors.Is(res[0].Err, ErrPermanent) {
					t.Fatalf("Send(%+v) = %+v, want %v", c, res, tt.noSend)
				}
				if res[0].Payload != nil {
					t.Errorf("Payload = %s for a conversion not sent", res[0].Payload)
				}
				if n := len(f.callList()); n != 0 {
					t.Errorf("fake got %d requests, want none", n)
				}
				return
			}
			ev := metaRenderEvent(t, c)
			ud, _ := ev["user_data"].(map[string]any)
			if msg := tt.check(ev, ud); msg != "" {
				t.Errorf("event %v:\n%s", ev, msg)
			}
		})
	}
}

// metaWant compares a decoded JSON value with what the test expects.
func metaWant(got, want any) string {
	if diff := cmp.Diff(want, got); diff != "" {
		return fmt.Sprintf("got %v, want %v\n", got, want)
	}
	return ""
}

func TestMetaMatch(t *testing.T) {
	convs := testConversions()
	tests := []struct {
		conv string
		want mapping.Match
	}{
		{"full", mapping.Match{ClickID: true, Email: true, Phone: true, Name: true, Address: true,
			ExternalID: true, IP: true, UserAgent: true, FBP: true, FBC: true}},
		{"phone_only", mapping.Match{Phone: true, Name: true, Address: true}},
		{"prehashed_jpy", mapping.Match{Email: true, IP: true, UserAgent: true}}, // a country alone is no address
	}
	for _, tt := range tests {
		t.Run(tt.conv, func(t *testing.T) {
			_, srv := newMetaFake(t, func(_ int, c metaCall) metaReply {
				return metaReply{status: 200, body: `{"events_received":1,"messages":["event_time is 2 hours ago"],"fbtrace_id":"A1"}`}
			})
			res := metaSender(srv.URL, time.Second).Send(context.Background(), metaDestination(nil), []mapping.Conversion{convs[tt.conv]})
			if res[0].Err != nil {
				t.Fatalf("Send: %v", res[0].Err)
			}
			want := advise("meta", "Meta", tt.want.Score(), convs[tt.conv])
			want.Reported = "event_time is 2 hours ago"
			if diff := cmp.Diff(want, res[0].Match); diff != "" {
				t.Errorf("Match mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMetaAnswers classifies Meta's answers.
func TestMetaAnswers(t *testing.T) {
	usage := func(mins int) http.Header {
		h := http.Header{}
		h.Set("X-Business-Use-Case-Usage", fmt.Sprintf(`{"%s":[{"type":"ads_management","call_count":100,"total_cputime":20,"total_time":30,"estimated_time_to_regain_access":%d}]}`, metaTestPixel, mins))
		return h
	}
	retryAfter := func(v string) http.Header { h := http.Header{}; h.Set("Retry-After", v); return h }
	tests := []struct {
		name       string
		reply      metaReply
		class      error // nil for success
		code       string
		retryAfter time.Duration
	}{
		{"accepted", metaReply{status: 200, body: `{"events_received":1,"messages":[],"fbtrace_id":"A"}`}, nil, "", 0},
		{"500 service error", metaReply{status: 500, body: metaErrorJSON(2, 0, "Service temporarily unavailable", true)}, ErrTransient, "2", 0},
		{"503 with Retry-After", metaReply{status: 503, header: retryAfter("30"), body: `<html>busy</html>`}, ErrTransient, "", 30 * time.Second},
		{"502 html", metaReply{status: 502, body: `<html>Bad Gateway</html>`}, ErrTransient, "", 0},
		{"deprecated version parks", metaReply{status: 400, body: metaErrorJSON(2635, 0, "(#2635) You are calling a deprecated version of the Ads API. Please update to the latest version: v27.0.", false)}, ErrAuth, CodeVersionSunset, 0},
		{"unknown error code 1", metaReply{status: 400, body: metaErrorJSON(1, 0, "An unknown error occurred", false)}, ErrTransient, "1", 0},
		{"temporarily blocked 368", metaReply{status: 400, body: metaErrorJSON(368, 0, "Temporarily blocked", false)}, ErrTransient, "368", 0},
		{"app limit 341", metaReply{status: 400, body: metaErrorJSON(341, 0, "Application limit reached", false)}, ErrTransient, "341", 0},
		{"is_transient beats code", metaReply{status: 400, body: metaErrorJSON(100, 0, "Please retry", true)}, ErrTransient, "100", 0},
		{"429 with Retry-After seconds", metaReply{status: 429, header: retryAfter("120"), body: metaErrorJSON(4, 0, "Too many calls", false)}, ErrThrottled, "4", 2 * time.Minute},
		{"429 with Retry-After date", metaReply{status: 429, header: retryAfter(testNow.Add(90 * time.Second).Format(http.TimeFormat)), body: `{}`}, ErrThrottled, "", 90 * time.Second},
		{"code 17 with usage header", metaReply{status: 400, header: usage(5), body: metaErrorJSON(17, 2446079, "User request limit reached", false)}, ErrThrottled, "17/2446079", 5 * time.Minute},
		{"code 17 without hints", metaReply{status: 400, body: metaErrorJSON(17, 0, "User request limit reached", false)}, ErrThrottled, "17", 0},
		{"code 4 with app usage", metaReply{status: 403, header: http.Header{"X-App-Usage": {`{"call_count":100,"total_time":10,"total_cputime":10,"estimated_time_to_regain_access":2}`}}, body: metaErrorJSON(4, 0, "Application request limit reached", false)}, ErrThrottled, "4", 2 * time.Minute},
		{"code 613", metaReply{status: 400, body: metaErrorJSON(613, 0, "Calls to this api have exceeded the rate limit", false)}, ErrThrottled, "613", 0},
		{"business use case 80004", metaReply{status: 400, header: usage(1), body: metaErrorJSON(80004, 0, "There have been too many calls", false)}, ErrThrottled, "80004", time.Minute},
		{"absurd regain time is capped", metaReply{status: 400, header: usage(1 << 40), body: metaErrorJSON(80004, 0, "There have been too many calls", false)}, ErrThrottled, "80004", 24 * time.Hour},
		{"longest hint wins", metaReply{status: 429, header: func() http.Header { h := usage(3); h.Set("Retry-After", "10"); return h }(), body: `{}`}, ErrThrottled, "", 3 * time.Minute},
		{"code 190 expired token", metaReply{status: 400, body: metaErrorJSON(190, 463, "Error validating access token: Session has expired", false)}, ErrAuth, "190/463", 0},
		{"code 10 permission", metaReply{status: 403, body: metaErrorJSON(10, 0, "Application does not have permission for this action", false)}, ErrAuth, "10", 0},
		{"code 200 permission", metaReply{status: 403, body: metaErrorJSON(200, 0, "Permissions error", false)}, ErrAuth, "200", 0},
		{"unknown pixel 100/33", metaReply{status: 400, body: metaErrorJSON(100, 33, "Unsupported post request. Object with ID '1' does not exist", false)}, ErrAuth, "100/33", 0},
		{"403 without body", metaReply{status: 403, body: ``}, ErrAuth, "", 0},
		{"code 100 invalid parameter", metaReply{status: 400, body: metaErrorJSON(100, 2804019, "Invalid parameter", false)}, ErrInvalid, "100/2804019", 0},
		{"code 3 method", metaReply{status: 400, body: metaErrorJSON(3, 0, "Capability or permissions issue", false)}, ErrInvalid, "3", 0},
		{"400 not JSON", metaReply{status: 400, body: `bad request`}, ErrInvalid, "", 0},
		{"200 without events_received", metaReply{status: 200, body: `{"fbtrace_id":"A"}`}, ErrTransient, "", 0},
		{"200 not JSON", metaReply{status: 200, body: `<html>ok</html>`}, ErrTransient, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newMetaFake(t, func(int, metaCall) metaReply { return tt.reply })
			res := metaSender(srv.URL, time.Second).Send(context.Background(), metaDestination(nil), []mapping.Conversion{metaConv("o1")})
			if p := f.problems(); len(p) > 0 {
				t.Fatalf("fake Meta refused the request: %v", p)
			}
			r := res[0]
			if r.StatusCode != tt.reply.status || r.Response != tt.reply.body {
				t.Errorf("Result status %d response %q, want %d %q", r.StatusCode, r.Response, tt.reply.status, tt.reply.body)
			}
			if r.Payload == nil {
				t.Errorf("Payload is empty for a conversion that was sent")
			}
			if tt.class == nil {
				if r.Err != nil {
					t.Fatalf("%d %s: Err = %v, want success", tt.reply.status, tt.reply.body, r.Err)
				}
				return
			}
			var e *Error
			if !errors.As(r.Err, &e) || !errors.Is(r.Err, tt.class) {
				t.Fatalf("%d %s: Err = %v, want class %v", tt.reply.status, tt.reply.body, r.Err, tt.class)
			}
			family := ErrPermanent
			if tt.class == ErrTransient || tt.class == ErrThrottled {
				family = ErrRetryable
			}
			if !errors.Is(r.Err, family) {
				t.Errorf("Err = %v, want family %v", r.Err, family)
			}
			if e.Code != tt.code || e.RetryAfter != tt.retryAfter || e.StatusCode != tt.reply.status {
				t.Errorf("Error = code %q retry %v status %d, want code %q retry %v status %d",
					e.Code, e.RetryAfter, e.StatusCode, tt.code, tt.retryAfter, tt.reply.status)
			}
		})
	}
}

func TestMetaRetryAfterServerError(t *testing.T) {
	f, srv := newMetaFake(t, func(n int, c metaCall) metaReply {
		if n == 1 {
			return metaReply{status: 500, body: metaErrorJSON(2, 0, "Service temporarily unavailable", true)}
		}
		return metaAccept(c)
	})
	m := metaSender(srv.URL, time.Second)
	convs := []mapping.Conversion{metaConv("o1"), metaConv("o2")}
	first := m.Send(context.Background(), metaDestination(nil), convs)
	for i, r := range first {
		if !errors.Is(r.Err, ErrTransient) || !errors.Is(r.Err, ErrRetryable) || r.StatusCode != 500 {
			t.Errorf("first attempt result %d = %v (status %d), want ErrTransient with 500", i, r.Err, r.StatusCode)
		}
	}
	second := m.Send(context.Background(), metaDestination(nil), convs)
	for i, r := range second {
		if r.Err != nil {
			t.Errorf("retry result %d = %v, want success", i, r.Err)
		}
	}
	calls := f.callList()
	if len(calls) != 2 || !cmp.Equal(calls[0].eventIDs(), calls[1].eventIDs()) {
		t.Errorf("calls = %d, want 2 identical requests (the retry resends the same events)", len(calls))
	}
}

func TestMetaCancelledContext(t *testing.T) {
	f, srv := newMetaFake(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := metaSender(srv.URL, time.Second).Send(ctx, metaDestination(nil), []mapping.Conversion{metaConv("o1")})
	if !errors.Is(res[0].Err, ErrTransient) {
		t.Errorf("Err = %v, want ErrTransient", res[0].Err)
	}
	if n := len(f.callList()); n != 0 {
		t.Errorf("fake got %d requests after cancel, want 0", n)
	}
}

func TestMetaTooOld(t *testing.T) {
	f, srv := newMetaFake(t, nil)
	old := metaConv("old")
	old.EventTime = testNow.Add(-8 * 24 * time.Hour)
	edge := metaConv("edge") // just inside the window
	edge.EventTime = testNow.Add(-7*24*time.Hour + time.Minute)
	res := metaSender(srv.URL, time.Second).Send(context.Background(), metaDestination(nil), []mapping.Conversion{old, metaConv("fresh"), edge})

	var e *Error
	if !errors.As(res[0].Err, &e) || !errors.Is(res[0].Err, ErrInvalid) || e.Code != "event_too_old" {
		t.Errorf("8-day-old result = %v, want ErrInvalid event_too_old", res[0].Err)
	}
	if res[0].Payload != nil || res[0].StatusCode != 0 {
		t.Errorf("8-day-old result has payload %s / status %d, want nothing sent", res[0].Payload, res[0].StatusCode)
	}
	if res[1].Err != nil || res[2].Err != nil {
		t.Errorf("fresh results = %v, %v; want delivered", res[1].Err, res[2].Err)
	}
	calls := f.callList()
	if len(calls) != 1 || !cmp.Equal(calls[0].eventIDs(), []string{"fresh", "edge"}) {
		t.Errorf("requests = %d, first with %v; want one request with [fresh edge]", len(calls), calls[0].eventIDs())
	}

	f2, srv2 := newMetaFake(t, nil)
	res = metaSender(srv2.URL, time.Second).Send(context.Background(), metaDestination(nil), []mapping.Conversion{old})
	if !errors.Is(res[0].Err, ErrInvalid) {
		t.Errorf("only-old batch result = %v, want ErrInvalid", res[0].Err)
	}
	if n := len(f2.callList()); n != 0 {
		t.Errorf("only-old batch made %d requests, want 0", n)
	}
}

func TestMetaTestEventCode(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		want     any
	}{
		{"passed through", map[string]string{"test_event_code": " TEST12345 "}, "TEST12345"},
		{"absent", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newMetaFake(t, nil)
			m := metaSender(srv.URL, time.Second)
			d := metaDestination(tt.settings)
			res := m.Send(context.Background(), d, []mapping.Conversion{metaConv("o1")})
			if res[0].Err != nil {
				t.Fatalf("Send: %v", res[0].Err)
			}
			if got := f.callList()[0].body["test_event_code"]; got != tt.want {
				t.Errorf("sent test_event_code = %v, want %v", got, tt.want)
			}
			req, err := m.Render(d, []mapping.Conversion{metaConv("o1")})
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got := metaDecode(t, req.Body)["test_event_code"]; got != tt.want {
				t.Errorf("rendered test_event_code = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMetaDestination(t *testing.T) {
	tests := []struct {
		name     string
		creds    map[string]string
		settings map[string]string
		wantPath string // "" when the destination is refused
		wantCode string
	}{
		{"default version", nil, nil, "/v27.0/" + metaTestPixel + "/events", ""},
		{"version override", nil, map[string]string{"api_version": "v24.0"}, "/v24.0/" + metaTestPixel + "/events", ""},
		{"missing pixel", map[string]string{"pixel_id": ""}, nil, "", "missing_pixel_id"},
		{"pixel with a path in it", map[string]string{"pixel_id": "123/../me"}, nil, "", "bad_pixel_id"},
		{"missing token", map[string]string{"access_token": " "}, nil, "", "missing_access_token"},
		{"bad version", nil, map[string]string{"api_version": "25"}, "", "bad_api_version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newMetaFake(t, nil)
			if v := tt.settings["api_version"]; v != "" {
				f.version = v
			}
			d := metaDestination(tt.settings)
			for k, v := range tt.creds {
				d.Credentials[k] = v
			}
			res := metaSender(srv.URL+"/", time.Second).Send(context.Background(), d, []mapping.Conversion{metaConv("o1")})
			calls := f.callList()
			if tt.wantPath != "" {
				if res[0].Err != nil || len(calls) != 1 || len(calls[0].problems) > 0 {
					t.Fatalf("Send = %v with %d requests, want one accepted request", res[0].Err, len(calls))
				}
				return
			}
			var e *Error
			if !errors.As(res[0].Err, &e) || !errors.Is(res[0].Err, ErrAuth) || e.Code != tt.wantCode {
				t.Errorf("Send = %v, want ErrAuth %s", res[0].Err, tt.wantCode)
			}
			if len(calls) != 0 {
				t.Errorf("fake got %d requests from a refused destination", len(calls))
			}
			if _, err := metaSender(srv.URL, time.Second).Render(d, []mapping.Conversion{metaConv("o1")}); !errors.Is(err, ErrAuth) {
				t.Errorf("Render = %v, want ErrAuth", err)
			}
		})
	}
}

// TestMetaNoSecrets checks the access token never reaches a result, even
// when Meta echoes it.
func TestMetaNoSecrets(t *testing.T) {
	_, srv := newMetaFake(t, func(int, metaCall) metaReply {
		return metaReply{status: 400, body: metaErrorJSON(190, 0, "Malformed access token "+metaTestToken, false)}
	})
	res := metaSender(srv.URL, time.Second).Send(context.Background(), metaDestination(nil), []mapping.Conversion{metaConv("o1")})
	if !errors.Is(res[0].Err, ErrAuth) {
		t.Fatalf("Err = %v, want ErrAuth", res[0].Err)
	}
	for what, s := range map[string]string{"error": res[0].Err.Error(), "response": res[0].Response, "payload": string(res[0].Payload)} {
		if strings.Contains(s, metaTestToken) {
			t.Errorf("%s leaks the access token: %s", what, s)
		}
	}
}

func TestMetaRenderErrors(t *testing.T) {
	m := metaSender("http://meta.invalid", time.Second)
	old := metaConv("old")
	old.EventTime = testNow.Add(-8 * 24 * time.Hour)
	if _, err := m.Render(metaDestination(nil), nil); err == nil {
		t.Errorf("Render(no conversions) = nil error")
	}
	if _, err := m.Render(metaDestination(nil), []mapping.Conversion{old}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Render(only too old) = %v, want ErrInvalid", err)
	}
	req, err := m.Render(metaDestination(nil), []mapping.Conversion{old, metaConv("o1")})
	if err != nil {
		t.Fatalf("Render(old, fresh): %v", err)
	}
	data, _ := metaDecode(t, req.Body)["data"].([]any)
	var ids []string
	for _, d := range data {
		ev, _ := d.(map[string]any)
		ids = append(ids, fmt.Sprint(ev["event_id"]))
	}
	sort.Strings(ids)
	if !cmp.Equal(ids, []string{"o1"}) {
		t.Errorf("rendered events %v, want only o1", ids)
	}
}

// FuzzMetaAnswer feeds arbitrary answers to the classifier: it must never
// panic, must fail every non-2xx answer with one of the four classes, and
// must not let the token through.
func FuzzMetaAnswer(f *testing.F) {
	f.Add(200, `{"events_received":1,"messages":["x"],"fbtrace_id":"A"}`, "")
	f.Add(400, metaErrorJSON(100, 2804019, "Invalid parameter "+metaTestToken, false), "")
	f.Add(400, metaErrorJSON(17, 0, "limit", false), `{"1":[{"estimated_time_to_regain_access":5}]}`)
	f.Add(429, `{}`, `{"estimated_time_to_regain_access":[1,{"estimated_time_to_regain_access":"x"}]}`)
	f.Add(500, `<html>`, `not json`)
	f.Add(400, metaErrorJSON(4, 0, "limit", false), `{"estimated_time_to_regain_access":1e300}`)
	f.Add(302, `{"error":{"code":"x"}}`, "")
	f.Add(200, `{"events_received":"1"}`, "")
	m := metaSender("http://meta.invalid", time.Second)
	f.Fuzz(func(t *testing.T, status int, body, usage string) {
		if status < 100 || status > 599 {
			return
		}
		h := http.Header{}
		h.Set("X-Business-Use-Case-Usage", usage)
		reported, err := m.classify(answer{Status: status, Header: h, Body: []byte(body)}, metaTestToken, metaVersion, 1)
		if strings.Contains(reported, metaTestToken) {
			t.Fatalf("reported %q leaks the token", reported)
		}
		if err == nil {
			if status < 200 || status > 299 {
				t.Fatalf("classify(%d, %q) = success", status, body)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("classify(%d, %q) = %v, not an *Error", status, body, err)
		}
		switch e.Class {
		case ErrTransient, ErrThrottled, ErrAuth, ErrInvalid:
		default:
			t.Fatalf("classify(%d, %q) class %v", status, body, e.Class)
		}
		if e.RetryAfter < 0 {
			t.Fatalf("classify(%d, %q) RetryAfter %v", status, body, e.RetryAfter)
		}
		if strings.Contains(err.Error(), metaTestToken) {
			t.Fatalf("error %q leaks the token", err)
		}
	})
}

func TestMetaPartnerAgent(t *testing.T) {
	for _, tt := range []struct{ version, want string }{{"", "postback"}, {"v1.4.0", "postback-v1.4.0"}} {
		m := NewMeta(Config{BaseURL: "https://graph.example", Now: func() time.Time { return testNow }, Version: tt.version})
		req, err := m.Render(metaDestination(nil), []mapping.Conversion{metaConv("o1")})
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		var body struct {
			PartnerAgent string `json:"partner_agent"`
		}
		if err := json.Unmarshal(req.Body, &body); err != nil || body.PartnerAgent != tt.want {
			t.Errorf("version %q: partner_agent = %q (%v), want %q", tt.version, body.PartnerAgent, err, tt.want)
		}
	}
}
