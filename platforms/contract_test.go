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
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// The contract every sender keeps, checked once for all ten (the eight
// platforms, and Google's and Microsoft's second APIs) against a
// fake that speaks each platform's dialect: throttling stops the whole
// destination with the platform's wait, refused credentials park it, an
// invalid event is isolated and the others delivered once, a hung server
// times out, a batch splits at the limit, and a dry run is the bytes sent.

// contractDialect is how one platform answers.
type contractDialect struct {
	// ok answers a request of n events, all accepted.
	ok func(n int) (int, string)
	// invalid answers a request whose events at bad are invalid. It also
	// says which events of the request the platform accepted anyway.
	invalid func(n int, bad []int) (status int, body string, accepted []int)
	// auth answers refused credentials; throttle answers a rate limit (the
	// fake adds Retry-After: 7).
	auth, throttle func() (int, string)
}

func wholeRejected(status int, body string) func(int, []int) (int, string, []int) {
	return func(int, []int) (int, string, []int) { return status, body, nil }
}

func fixed(status int, body string) func() (int, string) {
	return func() (int, string) { return status, body }
}

// others lists the indexes of 0..n-1 not in bad.
func others(n int, bad []int) []int {
	skip := map[int]bool{}
	for _, b := range bad {
		skip[b] = true
	}
	var out []int
	for k := range n {
		if !skip[k] {
			out = append(out, k)
		}
	}
	return out
}

func contractDialects() map[string]contractDialect {
	return map[string]contractDialect{
		"meta": {
			ok:       func(n int) (int, string) { return 200, fmt.Sprintf(`{"events_received":%d,"fbtrace_id":"t"}`, n) },
			invalid:  wholeRejected(400, `{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":2804003,"fbtrace_id":"t"}}`),
			auth:     fixed(400, `{"error":{"message":"Error validating access token","type":"OAuthException","code":190,"fbtrace_id":"t"}}`),
			throttle: fixed(429, `{"error":{"message":"Too many calls","type":"OAuthException","code":80004,"fbtrace_id":"t"}}`),
		},
		"tiktok": {
			ok:       fixed2(200, `{"code":0,"message":"OK"}`),
			invalid:  wholeRejected(200, `{"code":40002,"message":"Invalid value for event"}`),
			auth:     fixed(200, `{"code":40105,"message":"Access token is incorrect or has been revoked"}`),
			throttle: fixed(429, `{"code":40100,"message":"Too many requests"}`),
		},
		"reddit": {
			ok:       fixed2(200, `{}`),
			invalid:  wholeRejected(400, `{"error":{"code":400,"message":"None were processed"}}`),
			auth:     fixed(401, `{"error":{"reason":"UNAUTHORIZED","explanation":"bad token"}}`),
			throttle: fixed(429, `{"error":{"message":"rate limited"}}`),
		},
		"snapchat": {
			ok:       fixed2(200, `{"status":"VALID"}`),
			invalid:  wholeRejected(400, `{"status":"INVALID","reason":"event_name is invalid"}`),
			auth:     fixed(401, `{"status":"INVALID","reason":"Unauthorized"}`),
			throttle: fixed(429, `{"status":"INVALID","reason":"Too many requests"}`),
		},
		"pinterest": {
			ok: func(n int) (int, string) { return 200, pinterestContractEvents(n, nil) },
			invalid: func(n int, bad []int) (int, string, []int) {
				return 400, pinterestContractEvents(n, bad), others(n, bad)
			},
			auth:     fixed(401, `{"code":2,"message":"Authentication failed"}`),
			throttle: fixed(429, `{"code":8,"message":"Rate limit exceeded"}`),
		},
		"microsoft": {
			ok: func(n int) (int, string) { return 200, fmt.Sprintf(`{"eventsReceived":%d}`, n) },
			invalid: func(n int, bad []int) (int, string, []int) {
				var details []string
				for _, b := range bad {
					details = append(details, fmt.Sprintf(`{"index":%d,"propertyName":"eventName","errorMessage":"invalid","isWarning":false}`, b))
				}
				return 400, `{"eventsReceived":0,"error":{"code":"InvalidRequest","message":"Validation failed","details":[` + strings.Join(details, ",") + `]}}`, nil
			},
			auth:     fixed(401, `{"error":{"code":"Unauthorized","message":"bad token"}}`),
			throttle: fixed(429, `{"error":{"code":"TooManyRequests","message":"slow down"}}`),
		},
		"linkedin": {
			ok: func(n int) (int, string) {
				if n == 1 {
					return 201, ``
				}
				return 200, `{"elements":[` + strings.TrimSuffix(strings.Repeat(`{"status":201},`, n), ",") + `]}`
			},
			invalid: func(n int, bad []int) (int, string, []int) {
				if n == 1 {
					return 400, `{"status":400,"message":"/conversionHappenedAt :: invalid"}`, nil
				}
				var lines []string
				for _, b := range bad {
					lines = append(lines, fmt.Sprintf(`Index: %d, ERROR :: /conversionHappenedAt :: invalid`, b))
				}
				msg, _ := json.Marshal(strings.Join(lines, "\n"))
				return 400, `{"status":400,"message":` + string(msg) + `}`, nil
			},
			auth:     fixed(401, `{"status":401,"code":"REVOKED_ACCESS_TOKEN","message":"revoked"}`),
			throttle: fixed(429, `{"status":429,"message":"throttled"}`),
		},
		"google_data_manager": {
			ok: fixed2(200, `{"requestId":"dm-contract"}`),
			invalid: func(n int, bad []int) (int, string, []int) {
				var vs []string
				for _, b := range bad {
					vs = append(vs, fmt.Sprintf(`{"field":"events[%d].ad_identifiers.gclid","description":"The gclid could not be decoded."}`, b))
				}
				return 400, `{"error":{"code":400,"message":"There was a problem with the request.","status":"INVALID_ARGUMENT","details":[` +
					`{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[` + strings.Join(vs, ",") + `]}]}}`, nil
			},
			auth: fixed(403, `{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}`),
			throttle: fixed(429, `{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED",
				"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}`),
		},
		"microsoft_offline": {
			ok: fixed2(200, `{"PartialErrors":[]}`),
			invalid: func(n int, bad []int) (int, string, []int) {
				var errs []string
				for _, b := range bad {
					errs = append(errs, fmt.Sprintf(`{"Code":5306,"ErrorCode":"OfflineConversionMicrosoftClickIdInvalid","Index":%d,"Message":"The MicrosoftClickId is invalid.","Type":"BatchError"}`, b))
				}
				return 200, `{"PartialErrors":[` + strings.Join(errs, ",") + `]}`, others(n, bad)
			},
			auth:     fixed(400, `{"Type":"ApiFaultDetail","OperationErrors":[{"Code":106,"ErrorCode":"UserIsNotAuthorized","Message":"The user does not represent a authorized developer."}]}`),
			throttle: fixed(429, `{"Type":"ApiFaultDetail","OperationErrors":[{"Code":117,"ErrorCode":"CallRateExceeded","Message":"You have exceeded the number of calls."}]}`),
		},
		"google_ads": {
			ok: func(n int) (int, string) { return 200, googleResults(n, nil) },
			invalid: func(n int, bad []int) (int, string, []int) {
				var errs []googleRowErr
				for _, b := range bad {
					errs = append(errs, googleRowErr{b, "conversionUploadError", "UNPARSEABLE_GCLID"})
				}
				return 200, googleResults(n, errs), others(n, bad)
			},
			auth: fixed(403, `{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}`),
			throttle: fixed(429, `{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED",
				"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}`),
		},
	}
}

func fixed2(status int, body string) func(int) (int, string) {
	return func(int) (int, string) { return status, body }
}

func pinterestContractEvents(n int, bad []int) string {
	failed := map[int]bool{}
	for _, b := range bad {
		failed[b] = true
	}
	var evs []string
	for k := range n {
		if failed[k] {
			evs = append(evs, `{"status":"failed","error_message":"event_name is invalid","warning_message":null}`)
		} else {
			evs = append(evs, `{"status":"processed","error_message":null,"warning_message":null}`)
		}
	}
	return fmt.Sprintf(`{"num_events_received":%d,"num_events_processed":%d,"events":[%s]}`, n, n-len(bad), strings.Join(evs, ","))
}

// contractIDRE finds the contract conversions' event ids in a request body.
var contractIDRE = regexp.MustCompile(`ct-(?:bad|ok)-[0-9]+`)

// contractFake is one platform's fake API, with a token endpoint for the
// OAuth senders.
type contractFake struct {
	dialect contractDialect
	// mode is "ok", "auth", "throttle", "hang"; for the OAuth senders also
	// "expired" (the first access token is refused, then "ok"), "revoked"
	// (the token endpoint refuses the refresh token) and "expired-revoked"
	// (the first access token is refused and so is the refresh after it).
	mode string

	mu       sync.Mutex
	requests []contractRequest
	accepted map[string]int
	minted   int // tokens the token endpoint issued
	refused  int // requests answered 401 in mode "expired"
}

type contractRequest struct {
	url    string
	header http.Header
	body   []byte
	ids    []string
}

func newContractFake(t *testing.T, dialect contractDialect, mode string) (*contractFake, *httptest.Server) {
	t.Helper()
	f := &contractFake{dialect: dialect, mode: mode, accepted: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *contractFake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if strings.HasSuffix(r.URL.Path, "/token") {
		f.mu.Lock()
		f.minted++
		n := f.minted
		f.mu.Unlock()
		if f.mode == "revoked" || (f.mode == "expired-revoked" && n > 1) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`)
			return
		}
		tok := "contract-access-token"
		if n > 1 {
			tok = fmt.Sprintf("contract-access-token-%d", n)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"`+tok+`","expires_in":3600,"token_type":"Bearer"}`)
		return
	}
	if strings.HasPrefix(f.mode, "expired") && strings.Contains(r.Header.Get("Authorization"), "Bearer contract-access-token") &&
		!strings.Contains(r.Header.Get("Authorization"), "contract-access-token-") {
		f.mu.Lock()
		f.refused++
		f.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{}`)
		return
	}
	ids := contractIDRE.FindAllString(string(body), -1)
	f.mu.Lock()
	f.requests = append(f.requests, contractRequest{url: r.URL.String(), header: r.Header.Clone(), body: body, ids: ids})
	f.mu.Unlock()
	var status int
	var answer string
	switch f.mode {
	case "hang":
		<-r.Context().Done()
		return
	case "auth":
		status, answer = f.dialect.auth()
	case "throttle":
		w.Header().Set("Retry-After", "7")
		status, answer = f.dialect.throttle()
	default:
		var bad []int
		for k, id := range ids {
			if strings.HasPrefix(id, "ct-bad") {
				bad = append(bad, k)
			}
		}
		accepted := others(len(ids), nil)
		if len(bad) > 0 {
			status, answer, accepted = f.dialect.invalid(len(ids), bad)
		} else {
			status, answer = f.dialect.ok(len(ids))
		}
		f.mu.Lock()
		for _, k := range accepted {
			f.accepted[ids[k]]++
		}
		f.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}

func (f *contractFake) calls() []contractRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]contractRequest(nil), f.requests...)
}

// contractSender is a sender the send path drives, so the contract can
// shrink its batch size.
type contractSender interface {
	Sender
	spec(d Destination) spec
}

// contractEntry is one sender under contract, with a destination the fake
// accepts and what its conversions need beyond contractConvs' (prep).
type contractEntry struct {
	s    contractSender
	d    Destination
	prep func(c *mapping.Conversion)
}

// convs are contractConvs as this sender takes them.
func (e contractEntry) convs(n int, bad ...int) []mapping.Conversion {
	out := contractConvs(n, bad...)
	for i := range out {
		if e.prep != nil {
			e.prep(&out[i])
		}
	}
	return out
}

// contractSenders builds the senders against srv, keyed by the contract's
// names, with a destination each that the fake accepts.
func contractSenders(srv string, timeout time.Duration) map[string]contractEntry {
	cfg := testConfig(srv, timeout)
	out := map[string]contractEntry{}
	add := func(key string, s contractSender, creds, settings map[string]string) {
		out[key] = contractEntry{s: s, d: Destination{ID: 9, ShopID: 1, Platform: s.Name(), Credentials: creds, Settings: settings}}
	}
	add("meta", NewMeta(cfg), map[string]string{"pixel_id": "1234567890123456", "access_token": "EAAB-contract-secret"}, map[string]string{})
	add("tiktok", NewTikTok(cfg), map[string]string{"pixel_code": "CCONTRACT0000000001", "access_token": "tt-contract-secret"}, map[string]string{})
	add("reddit", NewReddit(cfg), map[string]string{"pixel_id": "a2_contract", "access_token": "rd-contract-secret"}, map[string]string{})
	add("snapchat", NewSnapchat(cfg), map[string]string{"pixel_id": "snap-pixel-1", "access_token": "sc-contract-secret"}, map[string]string{})
	add("pinterest", NewPinterest(cfg), map[string]string{"ad_account_id": "549755885175", "access_token": "pina-contract-secret"}, map[string]string{})
	add("microsoft", NewMicrosoft(cfg), map[string]string{"uet_tag_id": "343079999", "access_token": "ms-contract-secret"}, map[string]string{})
	add("linkedin", NewLinkedIn(cfg, srv+"/oauth/token"), map[string]string{"conversion_rule_id": "104004", "access_token": "li-contract-secret"}, map[string]string{})
	gd := googleTestDestination()
	add("google_ads", NewGoogleAds(cfg, srv), gd.Credentials, map[string]string{})
	dm := dmDestination()
	add("google_data_manager", NewGoogleDataManager(cfg, srv), dm.Credentials, dm.Settings)
	md := msDestination()
	add("microsoft_offline", NewMicrosoftOffline(cfg, srv), md.Credentials, md.Settings)
	// Offline conversions carry no event id: the click id stands for it.
	e := out["microsoft_offline"]
	e.prep = func(c *mapping.Conversion) { c.ClickIDs.MSCLKID = c.EventID }
	out["microsoft_offline"] = e
	return out
}

// contractConvs are n conversions every platform takes; those named in bad
// carry an id the fake refuses.
func contractConvs(n int, bad ...int) []mapping.Conversion {
	isBad := map[int]bool{}
	for _, b := range bad {
		isBad[b] = true
	}
	base := testConversions()["full"]
	out := make([]mapping.Conversion, n)
	for i := range out {
		c := base
		c.EventID = fmt.Sprintf("ct-ok-%d", i)
		if isBad[i] {
			c.EventID = fmt.Sprintf("ct-bad-%d", i)
		}
		c.OrderID = fmt.Sprintf("ord%d", i)
		out[i] = c
	}
	return out
}

// contractSend sends convs through the sender's own spec with its batch
// size cut to batch (0 keeps the platform's).
func contractSend(t *testing.T, cs contractSender, d Destination, cfg Config, batch int, convs []mapping.Conversion) []Result {
	t.Helper()
	sp := cs.spec(d)
	if sp.batchSize != cs.BatchSize() || sp.maxAge != cs.MaxAge() {
		t.Fatalf("spec batch %d window %v, sender says %d %v", sp.batchSize, sp.maxAge, cs.BatchSize(), cs.MaxAge())
	}
	if batch > 0 {
		sp.batchSize = batch
	}
	return deliver(context.Background(), cfg, sp, d, convs, cs.Fields())
}

func TestSenderContract(t *testing.T) {
	dialects := contractDialects()
	for _, platform := range []string{"meta", "google_ads", "google_data_manager", "tiktok", "reddit", "linkedin",
		"microsoft", "microsoft_offline", "pinterest", "snapchat"} {
		dialect, ok := dialects[platform]
		if !ok {
			t.Fatalf("no dialect for %s", platform)
		}
		t.Run(platform, func(t *testing.T) {
			t.Parallel()
			var contractConvs func(n int, bad ...int) []mapping.Conversion
			setup := func(t *testing.T, mode string, timeout time.Duration) (*contractFake, contractSender, Destination, Config) {
				f, srv := newContractFake(t, dialect, mode)
				x := contractSenders(srv.URL, timeout)[platform]
				contractConvs = x.convs
				return f, x.s, x.d, testConfig(srv.URL, timeout)
			}

			t.Run("throttle stops the destination", func(t *testing.T) {
				f, s, d, cfg := setup(t, "throttle", 5*time.Second)
				res := contractSend(t, s, d, cfg, 1, contractConvs(3))
				if n := len(f.calls()); n != 1 {
					t.Errorf("%d requests after a throttle, want 1", n)
				}
				for i, r := range res {
					var e *Error
					if !errors.As(r.Err, &e) || e.Class != ErrThrottled || e.RetryAfter < 7*time.Second {
						t.Errorf("result %d: %v, want throttled with the platform's 7s wait", i, r.Err)
					}
				}
			})

			t.Run("refused credentials park the destination", func(t *testing.T) {
				f, s, d, cfg := setup(t, "auth", 5*time.Second)
				res := contractSend(t, s, d, cfg, 1, contractConvs(3))
				if n := len(f.calls()); n != 1 {
					t.Errorf("%d requests after refused credentials, want 1", n)
				}
				for i, r := range res {
					if !errors.Is(r.Err, ErrAuth) {
						t.Errorf("result %d: %v, want ErrAuth", i, r.Err)
					}
				}
			})

			t.Run("an invalid event is isolated", func(t *testing.T) {
				f, s, d, cfg := setup(t, "ok", 5*time.Second)
				convs := contractConvs(5, 2)
				res := contractSend(t, s, d, cfg, 0, convs)
				for i, r := range res {
					switch {
					case i == 2 && !errors.Is(r.Err, ErrInvalid):
						t.Errorf("bad event: %v, want ErrInvalid", r.Err)
					case i != 2 && r.Err != nil:
						t.Errorf("good event %d: %v, want delivered", i, r.Err)
					}
				}
				for i, c := range convs {
					if i != 2 && f.accepted[c.EventID] != 1 {
						t.Errorf("%s accepted %d times, want once", c.EventID, f.accepted[c.EventID])
					}
				}
			})

			t.Run("a refused access token is refreshed once", func(t *testing.T) {
				if !map[string]bool{"google_ads": true, "google_data_manager": true, "microsoft_offline": true}[platform] {
					t.Skip("no OAuth refresh")
				}
				f, s, d, cfg := setup(t, "expired", 5*time.Second)
				for i, r := range contractSend(t, s, d, cfg, 0, contractConvs(2)) {
					if r.Err != nil {
						t.Errorf("result %d: %v, want delivered after one refresh", i, r.Err)
					}
				}
				if f.refused != 1 || f.minted != 2 || len(f.calls()) != 1 {
					t.Errorf("%d refused, %d tokens minted, %d accepted requests; want 1, 2, 1", f.refused, f.minted, len(f.calls()))
				}
			})

			for _, mode := range []string{"revoked", "expired-revoked"} {
				t.Run("a revoked refresh token parks the destination/"+mode, func(t *testing.T) {
					if !map[string]bool{"google_ads": true, "google_data_manager": true, "microsoft_offline": true}[platform] {
						t.Skip("no OAuth refresh")
					}
					f, s, d, cfg := setup(t, mode, 5*time.Second)
					for i, r := range contractSend(t, s, d, cfg, 1, contractConvs(3)) {
						if !errors.Is(r.Err, ErrAuth) || errCode(r.Err) != "invalid_grant" {
							t.Errorf("result %d: %v, want ErrAuth invalid_grant", i, r.Err)
						}
					}
					if want := map[string]int{"revoked": 0, "expired-revoked": 1}[mode]; f.refused != want || len(f.calls()) != 0 {
						t.Errorf("%d refused and %d accepted requests; want %d and 0", f.refused, len(f.calls()), want)
					}
				})
			}

			t.Run("a hung server times out", func(t *testing.T) {
				f, s, d, cfg := setup(t, "hang", 150*time.Millisecond)
				start := time.Now()
				res := contractSend(t, s, d, cfg, 1, contractConvs(3))
				if el := time.Since(start); el > 3*time.Second {
					t.Errorf("send took %v", el)
				}
				if n := len(f.calls()); n != 1 {
					t.Errorf("%d requests to a hung server, want 1 (the rest wait)", n)
				}
				for i, r := range res {
					if !errors.Is(r.Err, ErrTransient) || !errors.Is(r.Err, ErrRetryable) {
						t.Errorf("result %d: %v, want transient", i, r.Err)
					}
				}
			})

			t.Run("a full batch splits at the limit", func(t *testing.T) {
				f, s, d, cfg := setup(t, "ok", 5*time.Second)
				res := contractSend(t, s, d, cfg, 2, contractConvs(5))
				var sizes []int
				for _, c := range f.calls() {
					sizes = append(sizes, len(c.ids))
				}
				if fmt.Sprint(sizes) != "[2 2 1]" {
					t.Errorf("request sizes %v, want [2 2 1]", sizes)
				}
				for i, r := range res {
					if r.Err != nil {
						t.Errorf("result %d: %v", i, r.Err)
					}
				}
			})

			t.Run("dry run equals the bytes sent", func(t *testing.T) {
				f, s, d, _ := setup(t, "ok", 5*time.Second)
				convs := contractConvs(2)
				req, err := s.Render(d, convs)
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				for _, r := range s.Send(context.Background(), d, convs) {
					if r.Err != nil {
						t.Fatalf("Send: %v", r.Err)
					}
				}
				calls := f.calls()
				if len(calls) != 1 {
					t.Fatalf("%d requests, want 1", len(calls))
				}
				sent := calls[0]
				secrets := secretValues(d, s.Fields())
				redactAll := func(v string) string {
					for _, sec := range secrets {
						v = redact(v, sec)
					}
					return redact(v, "contract-access-token")
				}
				var got, want bytes.Buffer
				if err := json.Compact(&got, req.Body); err != nil {
					t.Fatal(err)
				}
				if err := json.Compact(&want, []byte(redactAll(string(sent.body)))); err != nil {
					t.Fatal(err)
				}
				if got.String() != want.String() {
					t.Errorf("dry run body\n%s\nsent\n%s", got.String(), want.String())
				}
				if !strings.HasSuffix(req.URL, redactAll(sent.url)) {
					t.Errorf("dry run URL %s, sent %s", req.URL, redactAll(sent.url))
				}
				for k, v := range req.Header {
					if sentV := redactAll(sent.header.Get(k)); sentV != v {
						t.Errorf("header %s: dry run %q, sent %q", k, v, sentV)
					}
				}
			})
		})
	}
}
