package platforms

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
)

const (
	msTestClientID     = "0f1e2d3c-app-id"
	msTestClientSecret = "ms-client-secret-xyz"
	msTestRefresh      = "M.C123-refresh-token-secret"
	msTestDevToken     = "ms-dev-token-ABC"
	msTestCustomerID   = "251234567"
	msTestAccountID    = "149876543"
	msTestGoal         = "Offline purchase"
	msBadClick         = "bad-msclkid"
)

func msDestination() Destination {
	return Destination{
		ID: 77, Platform: "microsoft",
		Credentials: map[string]string{
			"client_id": msTestClientID, "client_secret": msTestClientSecret, "refresh_token": msTestRefresh,
			"developer_token": msTestDevToken, "customer_id": msTestCustomerID, "account_id": msTestAccountID,
		},
		Settings: map[string]string{"api": "offline_conversions", "conversion_name": msTestGoal},
	}
}

// msFake is the Microsoft identity platform's token endpoint and the
// Campaign Management REST API. The token endpoint checks the
// refresh-token grant with its scopes and rotates refresh tokens as
// Microsoft does; the API checks the headers, the goal name, UTC times and
// hashed identifiers, and answers PartialErrors for click ids it refuses.
type msFake struct {
	t   *testing.T
	url string

	mu      sync.Mutex
	refresh map[string]bool // refresh tokens it accepts
	issued  map[string]bool
	calls   int
	bodies  map[string][][]byte // path → bodies
	respond func(w http.ResponseWriter)
}

func newMSFake(t *testing.T) *msFake {
	t.Helper()
	f := &msFake{t: t, refresh: map[string]bool{msTestRefresh: true}, issued: map[string]bool{}, bodies: map[string][][]byte{}}
	f.url = startFake(t, http.HandlerFunc(f.serve)).URL
	return f
}

func (f *msFake) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/common/oauth2/v2.0/token" {
		f.token(w, r)
		return
	}
	f.api(w, r)
}

func (f *msFake) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("token: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	form := r.PostForm
	if form.Get("grant_type") != "refresh_token" || form.Get("client_id") != msTestClientID || form.Get("client_secret") != msTestClientSecret {
		f.t.Errorf("token: form %v", form)
	}
	if sc := form.Get("scope"); !strings.Contains(sc, "https://ads.microsoft.com/msads.manage") || !strings.Contains(sc, "offline_access") {
		f.t.Errorf("token: scope %q", sc)
	}
	if !f.refresh[form.Get("refresh_token")] {
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"AADSTS70000: The provided grant has expired."}`)
		return
	}
	tok := fmt.Sprintf("ms-access-%d", f.calls)
	next := fmt.Sprintf("ms-refresh-%d", f.calls)
	f.issued[tok], f.refresh[next] = true, true
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"token_type":"Bearer","scope":"https://ads.microsoft.com/msads.manage","expires_in":3600,"access_token":%q,"refresh_token":%q}`, tok, next))
}

type msFakeConversion struct {
	MicrosoftClickID       string       `json:"MicrosoftClickId"`
	ConversionName         string       `json:"ConversionName"`
	ConversionTime         string       `json:"ConversionTime"`
	ConversionValue        *json.Number `json:"ConversionValue"`
	ConversionCurrencyCode string       `json:"ConversionCurrencyCode"`
	HashedEmailAddress     string       `json:"HashedEmailAddress"`
	HashedPhoneNumber      string       `json:"HashedPhoneNumber"`
	AdjustmentType         string       `json:"AdjustmentType"`
	AdjustmentTime         string       `json:"AdjustmentTime"`
	AdjustmentValue        *json.Number `json:"AdjustmentValue"`
	AdjustmentCurrencyCode string       `json:"AdjustmentCurrencyCode"`
}

func (f *msFake) api(w http.ResponseWriter, r *http.Request) {
	key := map[string]string{
		"/CampaignManagement/v13/OfflineConversions/Apply":           "OfflineConversions",
		"/CampaignManagement/v13/OfflineConversionAdjustments/Apply": "OfflineConversionAdjustments",
	}[r.URL.Path]
	if r.Method != http.MethodPost || key == "" {
		f.t.Errorf("api: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	valid := f.issued[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	f.mu.Unlock()
	if !valid {
		writeJSON(w, http.StatusUnauthorized, `{"TrackingId":"t1","Type":"AdApiFaultDetail","Errors":[{"Code":109,"ErrorCode":"AuthenticationTokenExpired","Message":"The OAuth access token has expired."}]}`)
		return
	}
	for h, want := range map[string]string{"DeveloperToken": msTestDevToken, "CustomerId": msTestCustomerID, "CustomerAccountId": msTestAccountID} {
		if got := r.Header.Get(h); got != want {
			f.t.Errorf("api: header %s = %q, want %q", h, got, want)
		}
	}
	raw, _ := io.ReadAll(r.Body)
	var body map[string][]msFakeConversion
	if err := decodeStrict(raw, &body); err != nil || len(body[key]) == 0 || len(body[key]) > 1000 {
		f.t.Errorf("api: body %s: %v", raw, err)
	}
	f.mu.Lock()
	f.bodies[key] = append(f.bodies[key], raw)
	respond := f.respond
	f.mu.Unlock()
	if respond != nil {
		respond(w)
		return
	}
	var partial []string
	for i, c := range body[key] {
		if c.ConversionName != msTestGoal {
			f.t.Errorf("row %d: ConversionName %q", i, c.ConversionName)
		}
		if _, err := time.Parse("2006-01-02T15:04:05Z", c.ConversionTime); err != nil {
			f.t.Errorf("row %d: ConversionTime %q is not UTC", i, c.ConversionTime)
		}
		for _, h := range []string{c.HashedEmailAddress, c.HashedPhoneNumber} {
			if h != "" && !testHexRE.MatchString(h) {
				f.t.Errorf("row %d: %q is not SHA-256 hex", i, h)
			}
		}
		if c.MicrosoftClickID == msBadClick {
			partial = append(partial, fmt.Sprintf(`{"Code":5306,"ErrorCode":"OfflineConversionMicrosoftClickIdInvalid","Index":%d,"Message":"The MicrosoftClickId is invalid.","Type":"BatchError"}`, i))
		}
	}
	writeJSON(w, http.StatusOK, `{"PartialErrors":[`+strings.Join(partial, ",")+`]}`)
}

func (f *msFake) Bodies(key string) [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[key]
}

func newMSOffline(f *msFake) *MicrosoftOffline {
	return NewMicrosoftOffline(testConfig(f.url, 5*time.Second), f.url)
}

func msConv(id, click string) mapping.Conversion {
	return mapping.Conversion{
		EventID: id, EventName: mapping.EventPurchase, EventTime: testNow.Add(-2 * time.Hour), OrderID: id,
		Value: decimal.RequireFromString("19.99"), Currency: "EUR", ClickIDs: mapping.ClickIDs{MSCLKID: click},
	}
}

func TestMicrosoftOfflineGolden(t *testing.T) {
	names, convs := sortedConversions()
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			public := NewMicrosoftOffline(testConfig("", time.Second), "")
			req, err := public.Render(msDestination(), convs[i:i+1])
			path := filepath.Join("testdata", "microsoft_offline", name+".golden.json")
			if err != nil {
				checkGolden(t, path, map[string]string{"error": err.Error()}, msTestClientSecret)
				return
			}
			checkGolden(t, path, req, msTestDevToken)
		})
	}
}

func TestMicrosoftOfflineSend(t *testing.T) {
	f := newMSFake(t)
	m := newMSOffline(f)
	convs := []mapping.Conversion{msConv("a", "click-a"), msConv("b", msBadClick), msConv("c", "click-c")}
	res := m.Send(context.Background(), msDestination(), convs)
	for i, want := range []string{"ok", "invalid", "ok"} {
		if got := googleClassOf(res[i].Err); got != want {
			t.Errorf("row %d: %s (%v), want %s", i, got, res[i].Err, want)
		}
	}
	if errCode(res[1].Err) != "OfflineConversionMicrosoftClickIdInvalid" || res[1].Match.Reported != "OfflineConversionMicrosoftClickIdInvalid" {
		t.Errorf("row 1: %v, reported %q", res[1].Err, res[1].Match.Reported)
	}
	// A second send reuses the access token.
	m.Send(context.Background(), msDestination(), convs[:1])
	if f.calls != 1 {
		t.Errorf("%d token requests, want 1", f.calls)
	}
}

func TestMicrosoftOfflineErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		class  string
		code   string
	}{
		{"invalid credentials", 401, `{"Type":"AdApiFaultDetail","Errors":[{"Code":105,"ErrorCode":"InvalidCredentials","Message":"Authentication failed."}]}`, "auth", "InvalidCredentials"},
		{"not authorized", 400, `{"Type":"ApiFaultDetail","OperationErrors":[{"Code":106,"ErrorCode":"UserIsNotAuthorized","Message":"The user does not represent a authorized developer."}],"BatchErrors":[]}`, "auth", "UserIsNotAuthorized"},
		{"call rate", 400, `{"Type":"ApiFaultDetail","OperationErrors":[{"Code":117,"ErrorCode":"CallRateExceeded","Message":"You have exceeded the number of calls."}]}`, "throttled", "CallRateExceeded"},
		{"unknown goal", 200, `{"PartialErrors":[{"Code":5302,"ErrorCode":"OfflineConversionNameInvalid","Index":0,"Message":"The conversion name is not valid."}]}`, "auth", "OfflineConversionNameInvalid"},
		{"outage", 503, `upstream down`, "transient", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newMSFake(t)
			f.respond = func(w http.ResponseWriter) { writeJSON(w, tt.status, tt.body) }
			res := newMSOffline(f).Send(context.Background(), msDestination(), []mapping.Conversion{msConv("a", "click-a")})
			if googleClassOf(res[0].Err) != tt.class || errCode(res[0].Err) != tt.code {
				t.Errorf("%v (code %q), want %s %s", res[0].Err, errCode(res[0].Err), tt.class, tt.code)
			}
		})
	}
}

func TestMicrosoftOfflineAdjust(t *testing.T) {
	f := newMSFake(t)
	orig := testConversions()["full"]
	refund := mapping.Refund{RefundID: "r1", OrderID: orig.OrderID, Currency: "USD", Time: testNow.Add(-time.Hour)}
	res := newMSOffline(f).Adjust(context.Background(), msDestination(), []Adjustment{
		{Original: orig, Refund: withAmount(refund, "20.94", false), Remaining: decimal.RequireFromString("100")},
		{Original: orig, Refund: withAmount(refund, "120.94", true), Remaining: decimal.Zero},
	})
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("adjustment %d: %v", i, r.Err)
		}
	}
	sent := f.Bodies("OfflineConversionAdjustments")
	if len(sent) != 1 {
		t.Fatalf("%d adjustment requests", len(sent))
	}
	checkGolden(t, filepath.Join("testdata", "microsoft_offline", "adjustments.golden.json"), json.RawMessage(sent[0]), "")
	var body map[string][]msFakeConversion
	if err := json.Unmarshal(sent[0], &body); err != nil {
		t.Fatal(err)
	}
	rows := body["OfflineConversionAdjustments"]
	if rows[0].AdjustmentType != "Restate" || rows[0].AdjustmentValue.String() != "100" || rows[1].AdjustmentType != "Retract" || rows[1].AdjustmentValue != nil {
		t.Errorf("adjustments %+v", rows)
	}
}

func TestMicrosoftOfflineConfiguration(t *testing.T) {
	m := NewMicrosoftOffline(testConfig("http://127.0.0.1:1", time.Second), "http://127.0.0.1:1")
	for _, tt := range []struct {
		name  string
		edit  func(d *Destination)
		field string
	}{
		{"no goal", func(d *Destination) { delete(d.Settings, "conversion_name") }, "conversion_name"},
		{"account id", func(d *Destination) { d.Credentials["account_id"] = "A12" }, "account_id"},
		{"customer id", func(d *Destination) { delete(d.Credentials, "customer_id") }, "customer_id"},
		{"developer token", func(d *Destination) { delete(d.Credentials, "developer_token") }, "developer_token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := msDestination()
			tt.edit(&d)
			_, err := m.Render(d, []mapping.Conversion{msConv("a", "click-a")})
			if googleClassOf(err) != "auth" || !strings.HasPrefix(testError(t, err).Message, tt.field+" ") {
				t.Errorf("%v, want a configuration error naming %s", err, tt.field)
			}
		})
	}
	if _, err := m.Render(msDestination(), []mapping.Conversion{{EventID: "x", EventTime: testNow, Value: decimal.NewFromInt(1)}}); googleClassOf(err) != "invalid" {
		t.Errorf("no identifier: %v, want invalid", err)
	}
}

// TestMicrosoftOfflineFaultIsolation: a request-level fault naming single
// rows applied nothing; the other rows go again without them.
func TestMicrosoftOfflineFaultIsolation(t *testing.T) {
	f := newMSFake(t)
	calls := 0
	f.respond = func(w http.ResponseWriter) {
		calls++
		if calls == 1 {
			writeJSON(w, http.StatusBadRequest, `{"Type":"ApiFaultDetail","OperationErrors":[],"BatchErrors":[{"Code":5306,"ErrorCode":"OfflineConversionMicrosoftClickIdInvalid","Index":1,"Message":"bad click"}]}`)
			return
		}
		writeJSON(w, http.StatusOK, `{"PartialErrors":[]}`)
	}
	res := newMSOffline(f).Send(context.Background(), msDestination(), []mapping.Conversion{msConv("a", "click-a"), msConv("b", "x"), msConv("c", "click-c")})
	for i, want := range []string{"ok", "invalid", "ok"} {
		if got := googleClassOf(res[i].Err); got != want {
			t.Errorf("row %d: %s (%v), want %s", i, got, res[i].Err, want)
		}
	}
	sent := f.Bodies("OfflineConversions")
	if len(sent) != 2 || strings.Contains(string(sent[1]), `"MicrosoftClickId":"x"`) {
		t.Errorf("requests %s; want the second without the refused row", sent)
	}
}

// FuzzMicrosoftOfflineAnswer: any answer fills every result of the request
// and never panics.
func FuzzMicrosoftOfflineAnswer(f *testing.F) {
	f.Add(200, []byte(`{"PartialErrors":[{"Index":0,"ErrorCode":"X","Code":1}]}`))
	f.Add(400, []byte(`{"BatchErrors":[{"Index":5,"ErrorCode":"X"}],"OperationErrors":null}`))
	f.Add(401, []byte(`{"Errors":[{"Code":105,"ErrorCode":"InvalidCredentials"}]}`))
	f.Add(200, []byte(`{"PartialErrors":[{"Index":-1}]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		v := microsoftOfflineVerdict(answer{Status: status, Header: http.Header{}, Body: body}, 3, testNow)
		if v.whole == nil && len(v.events) != 3 {
			t.Fatalf("verdict %+v speaks for %d of 3 rows", v, len(v.events))
		}
		for k := range v.events {
			if status != http.StatusOK && v.whole == nil && v.events[k] == nil {
				t.Fatalf("row %d has no error after a %d answer", k, status)
			}
		}
	})
}
