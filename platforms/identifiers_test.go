package platforms

import (
	"strings"
	"testing"

	"github.com/postbackhq/postback/mapping"
)

func TestAdviseIsTrueForThePlatform(t *testing.T) {
	fromMeta := mapping.Conversion{ClickIDs: mapping.ClickIDs{FBCLID: "IwAR1"}, ClientIP: "203.0.113.9", UserAgent: "Mozilla/5.0",
		User: mapping.User{Email: "a@example.com", FirstName: "Ava", City: "Springfield"}}
	bare := mapping.Conversion{User: mapping.User{Email: "a@example.com"}}
	tests := []struct {
		name, platform, title string
		sent                  mapping.Match
		conv                  mapping.Conversion
		want, not             []string
	}{
		{"Facebook-ad order on Google", "google_ads", "Google Ads", mapping.Match{Email: true, Name: true, Address: true}, fromMeta,
			[]string{"no Google Ads click id: the order came from another platform's ad (fbclid)", "no phone"},
			[]string{"storefront", "IP", "snippet", "script"}},
		{"Facebook-ad order on TikTok", "tiktok", "TikTok", mapping.Match{Email: true, Name: true, Address: true, IP: true, UserAgent: true}, fromMeta,
			[]string{"no TikTok click id: the order came from another platform's ad (fbclid)"},
			[]string{"snippet", "browser IP"}},
		{"no click at all on Meta", "meta", "Meta", mapping.Match{Email: true}, bare,
			[]string{"no fbclid: add Postback's script", "no browser IP and user agent", "no _fbp"}, nil},
		{"LinkedIn takes no phone", "linkedin", "LinkedIn", mapping.Match{Email: true}, bare,
			[]string{"no li_fat_id"}, []string{"phone", "IP"}},
		{"everything sent", "microsoft", "Microsoft", mapping.Match{ClickID: true, Email: true, Phone: true, IP: true, UserAgent: true}, fromMeta,
			nil, []string{"no "}},
	}
	for _, tt := range tests {
		got := strings.Join(advise(tt.platform, tt.title, tt.sent.Score(), tt.conv).Advice, "\n")
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: advice %q lacks %q", tt.name, got, w)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(got, n) {
				t.Errorf("%s: advice %q says %q, which is not true for %s", tt.name, got, n, tt.title)
			}
		}
	}
	for name := range takes {
		if clickNames[name] == "" {
			t.Errorf("platform %s has no click id name", name)
		}
	}
}
