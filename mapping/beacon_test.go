package mapping

import (
	"strings"
	"testing"
	"time"
)

func TestBeaconClean(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		in      Beacon
		ok      bool
		dropped string // prefix of the one drop reason wanted, "" for none
		check   func(Beacon) bool
	}{
		{"valid fbc kept", Beacon{OrderRef: "checkout-token-1", FBC: "fb.1.1715696012345.IwAR_x-1"}, true, "", func(b Beacon) bool { return b.FBC != "" }},
		{"fbc with seconds, not ms", Beacon{OrderRef: "checkout-token-1", FBC: "fb.1.1715696012.IwAR"}, true, "fbc:", func(b Beacon) bool { return b.FBC == "" }},
		{"fbc without fbclid", Beacon{OrderRef: "checkout-token-1", FBC: "fb.1.1715696012345."}, true, "fbc:", nil},
		{"fbc subdomain index 7", Beacon{OrderRef: "checkout-token-1", FBC: "fb.7.1715696012345.x"}, true, "fbc:", nil},
		{"fbp not numeric", Beacon{OrderRef: "checkout-token-1", FBP: "fb.1.1715695200123.abc"}, true, "fbp:", nil},
		{"unknown click id", Beacon{OrderRef: "checkout-token-1", ClickIDs: map[string]BeaconClick{"foo": {Value: "x"}}}, true, "click_ids.foo:", nil},
		{"ScCid spelled as the URL has it", Beacon{OrderRef: "checkout-token-1", ClickIDs: map[string]BeaconClick{"ScCid": {Value: "abc"}}}, true, "", func(b Beacon) bool { return b.ClickIDs["sccid"].Value == "abc" }},
		{"click id with a space", Beacon{OrderRef: "checkout-token-1", ClickIDs: map[string]BeaconClick{"gclid": {Value: "a b"}}}, true, "click_ids.gclid:", nil},
		{"click time in the future", Beacon{OrderRef: "checkout-token-1", ClickIDs: map[string]BeaconClick{"fbclid": {Value: "x", SeenAt: now.Add(48 * time.Hour).Unix()}}}, true, "click_ids.fbclid.seen_at", func(b Beacon) bool { return b.ClickIDs["fbclid"].SeenAt == 0 }},
		{"page url not http", Beacon{OrderRef: "checkout-token-1", PageURL: "javascript:alert(1)"}, true, "page_url", nil},
		{"utm not utm", Beacon{OrderRef: "checkout-token-1", UTM: map[string]string{"password": "x"}}, true, "utm.password", nil},
		{"short ref", Beacon{OrderRef: "1042"}, false, "", nil},
		{"ref with spaces", Beacon{OrderRef: "a ref with spaces"}, false, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.in
			ok := b.Clean(now)
			if ok != tc.ok {
				t.Fatalf("Clean(%+v) = %v, want %v", tc.in, ok, tc.ok)
			}
			if !ok {
				return
			}
			switch {
			case tc.dropped == "" && len(b.Dropped) != 0:
				t.Errorf("dropped %q, want nothing", b.Dropped)
			case tc.dropped != "" && (len(b.Dropped) != 1 || !strings.HasPrefix(b.Dropped[0], tc.dropped)):
				t.Errorf("dropped %q, want one reason starting %q", b.Dropped, tc.dropped)
			}
			if tc.check != nil && !tc.check(b) {
				t.Errorf("cleaned beacon = %+v", b)
			}
		})
	}
}

func TestAddBeaconOnlyAdds(t *testing.T) {
	click := time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC)
	order := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	b := Beacon{
		OrderRef: "checkout-token-1", UserAgent: "UA-browser", ClientIP: "203.0.113.7", PageURL: "https://shop.example/thanks",
		FBP: "fb.1.1715695200123.42", TTP: "ttp-1",
		ClickIDs: map[string]BeaconClick{"fbclid": {Value: "IwAR1", SeenAt: click.Unix()}, "ttclid": {Value: "E.C.P.x"}, "gclid": {Value: "browser-gclid"}},
		Consent:  &Consent{AdUserData: ptr(true)},
	}
	c := Conversion{EventTime: order, UserAgent: "UA-store", ClickIDs: ClickIDs{GCLID: "store-gclid"}}
	added := c.AddBeacon(b)
	if c.UserAgent != "UA-store" || c.ClickIDs.GCLID != "store-gclid" {
		t.Errorf("store data overwritten: ua %q gclid %q", c.UserAgent, c.ClickIDs.GCLID)
	}
	wantFBC := "fb.1.1796030100000.IwAR1" // 2026-11-30T09:15:00Z in ms
	if c.ClickIDs.FBC != wantFBC {
		t.Errorf("fbc = %q, want %q (the click time, not the order time)", c.ClickIDs.FBC, wantFBC)
	}
	if c.ClientIP != "203.0.113.7" || c.ClickIDs.FBP == "" || c.ClickIDs.TTCLID != "E.C.P.x" || c.ClickIDs.TTP != "ttp-1" ||
		c.SourceURL != "https://shop.example/thanks" || !c.BeaconJoined || c.Consent == nil || !c.ClickTime.Equal(click) {
		t.Errorf("conversion after beacon = %+v", c)
	}
	if strings.Contains(strings.Join(added, ","), "gclid") || strings.Contains(strings.Join(added, ","), "user_agent") {
		t.Errorf("added = %v, claims what it did not add", added)
	}

	denied := b
	denied.Consent = &Consent{AdUserData: ptr(false)}
	var d Conversion
	d.AddBeacon(denied)
	if d.UserAgent != "" || d.ClientIP != "" || d.ClickIDs.Any() || d.ClickIDs.FBP != "" || d.Consent == nil || !d.Consent.Denied() {
		t.Errorf("with ad_user_data refused the beacon added %+v; want only the consent state", d)
	}
}

func ptr[T any](v T) *T { return &v }

func TestDropMalformedBrowserIDs(t *testing.T) {
	for _, tc := range []struct {
		fbc, want string
		notes     int
	}{
		{"fb.1.1715696012345.IwAR1", "fb.1.1715696012345.IwAR1", 0},
		{"fb.1.1715696012.IwAR1", "", 1}, // seconds, not ms
		{"IwAR1", "", 1},                 // a bare fbclid in the fbc attribute
		{"", "", 0},
	} {
		c := ClickIDs{FBC: tc.fbc, FBP: "fb.1.1.2"}
		notes := c.DropMalformedBrowserIDs()
		if c.FBC != tc.want || len(notes) != tc.notes || c.FBP != "fb.1.1.2" {
			t.Errorf("fbc %q: kept %q with notes %q (fbp %q); want %q and %d note(s), fbp untouched", tc.fbc, c.FBC, notes, c.FBP, tc.want, tc.notes)
		}
		for _, n := range notes {
			if strings.Contains(n, "IwAR1") {
				t.Errorf("note %q carries the value", n)
			}
		}
	}
}
