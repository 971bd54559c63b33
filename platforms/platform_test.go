package platforms

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/internal/testutil"

	"github.com/postbackhq/postback/mapping"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testNow is the fixed clock every platform test runs on.
var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// testConversions is the shared set of canonical conversions every platform
// renders into its golden payloads. Keys name the golden files.
func testConversions() map[string]mapping.Conversion {
	paidAt := testNow.Add(-2 * time.Hour)
	return map[string]mapping.Conversion{
		// Everything a storefront with the click-id snippet gives us.
		"full": {
			EventID:   "5820393472058",
			EventName: mapping.EventPurchase,
			EventTime: paidAt,
			OrderID:   "5820393472058",
			OrderName: "#1042",
			Value:     decimal.RequireFromString("120.94"),
			Currency:  "USD",
			Items: []mapping.Item{
				{ID: "8012345678901", VariantID: "44012345678901", SKU: "TEE-BLK-M", Title: "Organic Tee", Brand: "Acme", Quantity: 2, Price: decimal.RequireFromString("35.00")},
				{ID: "8012345678902", VariantID: "44012345678902", SKU: "MUG-01", Title: "Mug", Quantity: 1, Price: decimal.RequireFromString("42.00")},
			},
			ClickIDs: mapping.ClickIDs{
				FBCLID: "IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgs",
				GCLID:  "Cj0KCQiA5NSdBhDfARIsALzs2EBx2c-test-gclid",
				TTCLID: "E.C.P.v3q1test", RDTCID: "rdt-click-123", MSCLKID: "d52a7a1a0b7c1f2d3e4f5a6b7c8d9e0f",
				LiFatID: "li-fat-abc", EPIK: "dj0yJnU9epik", ScCID: "sc-click-xyz",
				FBP: "fb.1.1763600000000.1234567890", TTP: "ttp-cookie-1", SCID: "scid-cookie-1",
				RDTUUID: "1764000000000.0dcd6c3a-655b-483e-88d3-03c57640a6e0",
			},
			ClickTime: paidAt.Add(-30 * time.Minute),
			ClientIP:  "203.0.113.42",
			UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/452.0.0.38.109]",
			SourceURL: "https://shop.example.com/products/organic-tee?fbclid=IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgs",
			User: mapping.User{
				Email: "  Jane.Doe+shop@Example.com ", Phone: "(217) 555-0143",
				FirstName: "Jane", LastName: "O'Doe", Street: "123 Main St", City: "Springfield",
				State: "IL", Zip: "62701-1234", Country: "US", ExternalID: "7390123456789",
			},
		},
		// A phone-only checkout abroad, no click id, no browser context.
		"phone_only": {
			EventID:   "purchase-5121",
			EventName: mapping.EventPurchase,
			EventTime: paidAt,
			OrderID:   "5121",
			Value:     decimal.RequireFromString("84.87"),
			Currency:  "EUR",
			Items:     []mapping.Item{{ID: "311", Title: "Kaffeebohnen", Quantity: 3, Price: decimal.RequireFromString("28.29")}},
			User:      mapping.User{Phone: "030 12345678", FirstName: "Jürgen", LastName: "Müller", City: "Berlin", Zip: "10115", Country: "DE"},
		},
		// A zero-decimal currency and an already-hashed email.
		"prehashed_jpy": {
			EventID:   "cs_live_a1b2c3",
			EventName: mapping.EventPurchase,
			EventTime: paidAt,
			OrderID:   "cs_live_a1b2c3",
			Value:     decimal.RequireFromString("12800"),
			Currency:  "JPY",
			ClientIP:  "2001:db8::1",
			UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
			User:      mapping.User{Email: "a3f1d4c2b6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829", Country: "JP"},
		},
	}
}

// sortedConversions returns testConversions in name order.
func sortedConversions() ([]string, []mapping.Conversion) {
	all := testConversions()
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	convs := make([]mapping.Conversion, len(names))
	for i, n := range names {
		convs[i] = all[n]
	}
	return names, convs
}

// batchOf is n copies of base with the event ids order-0, order-1, ….
func batchOf(base mapping.Conversion, n int) []mapping.Conversion {
	convs := make([]mapping.Conversion, n)
	for i := range convs {
		convs[i] = base
		convs[i].EventID = fmt.Sprintf("order-%d", i)
	}
	return convs
}

// describeFields is each field as "credential|setting:name:req=…:secret=…".
func describeFields(fields []Field) []string {
	var out []string
	for _, f := range fields {
		kind := "credential"
		if f.Setting {
			kind = "setting"
		}
		out = append(out, fmt.Sprintf("%s:%s:req=%v:secret=%v", kind, f.Name, f.Required, f.Secret))
	}
	return out
}

// testConfig is a sender's configuration against a fake platform at
// baseURL, on the test clock.
func testConfig(baseURL string, timeout time.Duration) Config {
	return Config{BaseURL: baseURL, Client: &http.Client{Timeout: timeout}, Now: func() time.Time { return testNow }}
}

// testHexRE matches what every platform takes as a hashed identifier:
// lowercase SHA-256 hex.
var testHexRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// testSHA256 hashes a hand-normalized value, independently of mapping.Hash.
func testSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// startFake serves a fake platform until the test ends.
func startFake(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// hungServer is a platform that reads the request and never answers; the
// client's timeout must end the send.
func hungServer(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := startFake(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release) }) // runs first: frees the handler so Close returns
	return srv
}

// recorder keeps what a fake platform received, safe for concurrent
// requests.
type recorder[T any] struct {
	mu  sync.Mutex
	got []T
}

func (r *recorder[T]) record(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, v)
}

// calls is a copy of everything recorded, in order.
func (r *recorder[T]) calls() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.got...)
}

// writeJSON answers with a JSON body.
func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body) // a failed write shows up as the client's error
}

// decodeStrict decodes a request body as the platform's schema does: a field
// it does not define is an error, as a typo would silently drop data there.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// jsonEqual reports whether a and b hold the same JSON, whatever the key
// order and spacing.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return cmp.Equal(x, y)
}

// testError is err as the *Error every failure must be.
func testError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *platforms.Error", err)
	}
	return e
}

// errCode is the platform's code of a classified failure, "" for any
// other error.
func errCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// checkGolden compares v, a rendered request (or its error), as JSON with
// the golden file at path, and checks that secret does not show in it.
func checkGolden(t *testing.T, path string, v any, secret string) {
	t.Helper()
	got, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" && bytes.Contains(got, []byte(secret)) {
		t.Errorf("rendered request shows the secret:\n%s", got)
	}
	testutil.GoldenJSON(t, path, got, *update)
}

func TestDefaultClientFollowsNoRedirects(t *testing.T) {
	var hits int
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	t.Cleanup(elsewhere.Close)
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirecting.Close)
	m := NewMeta(Config{BaseURL: redirecting.URL, Now: func() time.Time { return testNow }})
	res := m.Send(context.Background(), metaDestination(nil), []mapping.Conversion{metaConv("r1")})
	if hits != 0 {
		t.Errorf("the redirect was followed %d times", hits)
	}
	if res[0].Err == nil || res[0].StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("Send through a redirect = status %d, %v; want the 307 as a failure", res[0].StatusCode, res[0].Err)
	}
}
