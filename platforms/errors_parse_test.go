package platforms

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseErrorReadsBackError(t *testing.T) {
	for _, e := range []*Error{
		Auth(200, "40105", "tiktok: Access token is invalid"),
		Invalid(400, "100/2804003", "Invalid email hash: the hash (code) is not SHA-256"),
		Transient(0, "", "no answer"),
		Throttled(429, "RESOURCE_EXHAUSTED", "quota: 10 per second", 0),
		Invalid(0, "no_identifier", "nothing to match on; not sent"),
	} {
		got, ok := ParseError(e.Error())
		if !ok {
			t.Errorf("ParseError(%q) failed", e.Error())
			continue
		}
		if got.Class != e.Class {
			t.Errorf("ParseError(%q).Class = %v, want %v", e.Error(), got.Class, e.Class)
		}
		type fields struct {
			Status        int
			Code, Message string
		}
		if diff := cmp.Diff(fields{e.StatusCode, e.Code, e.Message}, fields{got.StatusCode, got.Code, got.Message}); diff != "" {
			t.Errorf("ParseError(%q) (-want +got):\n%s", e.Error(), diff)
		}
	}
	for _, s := range []string{"", "gave up", "stored conversion cannot be read"} {
		if _, ok := ParseError(s); ok {
			t.Errorf("ParseError(%q) = ok, want not a platform error", s)
		}
	}
}

func TestTitled(t *testing.T) {
	tests := []struct{ in, want string }{
		{"refund linked to event 3; adjustment queued for google_ads, meta", "refund linked to event 3; adjustment queued for Google Ads, Meta"},
		{"not supported by platform: microsoft", "not supported by platform: Microsoft Ads"},
		{"Meta answered; metadata and x_meta stay", "Meta answered; metadata and x_meta stay"},
	}
	for _, tt := range tests {
		if got := Titled(tt.in); got != tt.want {
			t.Errorf("Titled(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
