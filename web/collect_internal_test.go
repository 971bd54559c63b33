package web

import (
	"strings"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// FuzzParseBeacon: no body makes the parser panic, and whatever it accepts
// names a valid order and carries only well-formed Meta cookies.
func FuzzParseBeacon(f *testing.F) {
	for _, s := range []string{
		`{"order_ref":"b7c2e91f0d4a4c6e8f3a2d1c9b8e7f60","fbc":"fb.1.1715696012345.IwZX","click_ids":{"fbclid":{"value":"x","seen_at":1764000000}}}`,
		`{"order_ref":"wc_order_Lm4Nb7Vc2Xz9Q","utm":{"utm_source":"google"},"consent":{"ad_user_data":false}}`,
		`{"order_ref":"cs_test_abc","click_ids":{"ScCid":{"value":"a b"}}}`,
		`[[[[[[]]]]]]`, `"\\"`, `{}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		b, msg := parseBeacon(body, now)
		if msg != "" {
			return
		}
		if !mapping.ValidOrderRef(b.OrderRef) {
			t.Fatalf("accepted order_ref %q", b.OrderRef)
		}
		if b.FBC != "" && !mapping.ValidFBC(b.FBC) || b.FBP != "" && !mapping.ValidFBP(b.FBP) {
			t.Fatalf("accepted fbc %q fbp %q", b.FBC, b.FBP)
		}
		for k, c := range b.ClickIDs {
			if mapping.CanonicalClickKey(k) != k || strings.ContainsAny(c.Value, " \n") {
				t.Fatalf("accepted click id %q = %q", k, c.Value)
			}
		}
	})
}

func TestJSONDepth(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`{}`, 1}, {`{"a":{"b":[1]}}`, 3}, {`{"a":"{{{[[["}`, 1}, {`{"a":"\"{"}`, 1}, {`1`, 0},
	} {
		if got := jsonDepth([]byte(tc.in)); got != tc.want {
			t.Errorf("jsonDepth(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
