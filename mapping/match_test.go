package mapping

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestMatchScore(t *testing.T) {
	// Advice is matched by its opening words, most valuable first.
	const (
		noClick = "no click id"
		noEmail = "no email"
		noPhone = "no phone"
		noIPUA  = "no browser IP and user agent"
	)
	tests := []struct {
		name       string
		m          Match
		wantQ      int
		wantAdvice []string
	}{
		{"nothing", Match{}, 0, []string{noClick, noEmail, noPhone, noIPUA}},
		{"email only", Match{Email: true}, 3, []string{noClick, noPhone, noIPUA}},
		{"click id only", Match{ClickID: true}, 4, []string{noEmail, noPhone, noIPUA}},
		{"fbc counts as the click id", Match{FBC: true}, 4, []string{noEmail, noPhone, noIPUA}},
		{"click id and fbc count once", Match{ClickID: true, FBC: true}, 4, []string{noEmail, noPhone, noIPUA}},
		{"phone only", Match{Phone: true}, 2, []string{noClick, noEmail, noIPUA}},
		{"ip without user agent earns nothing", Match{IP: true}, 0, []string{noClick, noEmail, noPhone, noIPUA}},
		{"ip and user agent", Match{IP: true, UserAgent: true}, 1, []string{noClick, noEmail, noPhone}},
		{"name without address earns nothing", Match{Email: true, Name: true}, 3, []string{noClick, noPhone, noIPUA}},
		{"name and address", Match{Email: true, Name: true, Address: true}, 4, []string{noClick, noPhone, noIPUA}},
		{"external id and fbp", Match{ExternalID: true, FBP: true}, 2, []string{noClick, noEmail, noPhone, noIPUA}},
		{"click, email, phone, ip+ua", Match{ClickID: true, Email: true, Phone: true, IP: true, UserAgent: true}, 10, nil},
		{"everything is capped at 10", Match{ClickID: true, Email: true, Phone: true, Name: true, Address: true,
			ExternalID: true, IP: true, UserAgent: true, FBP: true, FBC: true}, 10, nil},
		{"stale quality and advice replaced", Match{Email: true, Quality: 9, Advice: []string{"old"}}, 3, []string{noClick, noPhone, noIPUA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.m.Score()
			if got.Quality != tt.wantQ {
				t.Errorf("%+v.Score().Quality = %d, want %d", tt.m, got.Quality, tt.wantQ)
			}
			var prefixes []string
			for i, a := range got.Advice {
				p := a
				if i < len(tt.wantAdvice) && strings.HasPrefix(a, tt.wantAdvice[i]) {
					p = tt.wantAdvice[i]
				}
				prefixes = append(prefixes, p)
			}
			if diff := cmp.Diff(tt.wantAdvice, prefixes, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%+v.Score().Advice mismatch (-want +got):\n%s", tt.m, diff)
			}
			if again := got.Score(); !cmp.Equal(got, again) {
				t.Errorf("Score is not idempotent: %+v then %+v", got, again)
			}
			if got.Quality < 0 || got.Quality > 10 {
				t.Errorf("Quality %d outside 0–10", got.Quality)
			}
		})
	}
}

func TestMatchOf(t *testing.T) {
	tests := []struct {
		name string
		c    Conversion
		want Match
	}{
		{"empty conversion", Conversion{}, Match{}},
		{"fbclid alone is a click id and an fbc", Conversion{ClickIDs: ClickIDs{FBCLID: "f"}},
			Match{ClickID: true, FBC: true}},
		{"fbp alone is not a click id", Conversion{ClickIDs: ClickIDs{FBP: "fb.1.1.1"}}, Match{FBP: true}},
		{"gclid is a click id, not an fbc", Conversion{ClickIDs: ClickIDs{GCLID: "g"}}, Match{ClickID: true}},
		{"street alone is an address", Conversion{User: User{Street: "1 Main St"}}, Match{Address: true}},
		{"last name alone is a name", Conversion{User: User{LastName: "Doe"}}, Match{Name: true}},
		{"everything", Conversion{
			ClickIDs: ClickIDs{FBC: "fb.1.1.x", FBP: "fb.1.1.1"}, ClientIP: "203.0.113.1", UserAgent: "UA",
			User: User{Email: "a@b.co", Phone: "+12175550143", FirstName: "J", City: "X", ExternalID: "1"},
		}, Match{ClickID: true, Email: true, Phone: true, Name: true, Address: true, ExternalID: true,
			IP: true, UserAgent: true, FBP: true, FBC: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MatchOf(tt.c)
			want := tt.want.Score()
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("MatchOf(%+v) mismatch (-want +got):\n%s", tt.c, diff)
			}
		})
	}
}
