package mapping

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testFBCLID = "IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgs"

func TestParseLandingURL(t *testing.T) {
	tests := []struct {
		name    string
		landing string
		want    ClickIDs
	}{
		{"relative Shopify landing_site", "/products/x?fbclid=" + testFBCLID + "&utm_source=fb", ClickIDs{FBCLID: testFBCLID}},
		{"absolute", "https://shop.example.com/?gclid=Cj0KCQ&ttclid=E.C.P.v3", ClickIDs{GCLID: "Cj0KCQ", TTCLID: "E.C.P.v3"}},
		{"ScCid any case", "/?ScCid=sc-1", ClickIDs{ScCID: "sc-1"}},
		{"upper-case name", "/?FBCLID=abc", ClickIDs{FBCLID: "abc"}},
		{"fragment cut off", "/p?msclkid=m1#reviews?gclid=no", ClickIDs{MSCLKID: "m1"}},
		{"query inside a hash route", "https://spa.example.com/#/p?rdt_cid=r1", ClickIDs{RDTCID: "r1"}},
		{"cookie names accepted", "/?_fbp=fb.1.1.2&_fbc=fb.1.3.x&_epik=e", ClickIDs{FBP: "fb.1.1.2", FBC: "fb.1.3.x", EPIK: "e"}},
		{"every click id", "/?fbclid=f&gclid=g&gbraid=gb&wbraid=wb&ttclid=t&rdt_cid=r&msclkid=m&li_fat_id=l&epik=e&sccid=s",
			ClickIDs{FBCLID: "f", GCLID: "g", GBRAID: "gb", WBRAID: "wb", TTCLID: "t", RDTCID: "r", MSCLKID: "m", LiFatID: "l", EPIK: "e", ScCID: "s"}},
		{"escaped value unescaped once", "/?gclid=a%2Fb%3Dc", ClickIDs{GCLID: "a/b=c"}},
		{"repeated name: first wins", "/?fbclid=first&fbclid=second", ClickIDs{FBCLID: "first"}},
		{"two spellings: first wins", "/?FBCLID=first&fbclid=second", ClickIDs{FBCLID: "first"}},
		{"empty value skipped, later one used", "/?fbclid=&fbclid=real", ClickIDs{FBCLID: "real"}},
		{"blank value skipped", "/?fbclid=%20%20", ClickIDs{}},
		{"malformed pair skipped, rest kept", "/?fbclid=%zz&gclid=ok", ClickIDs{GCLID: "ok"}},
		{"malformed name skipped", "/?%zz=1&ttclid=t", ClickIDs{TTCLID: "t"}},
		{"name without value", "/?fbclid&gclid=g", ClickIDs{GCLID: "g"}},
		{"empty pairs", "/?&&gclid=g&&", ClickIDs{GCLID: "g"}},
		{"unknown parameters ignored", "/?utm_source=fb&utm_medium=paid", ClickIDs{}},
		{"no query", "https://shop.example.com/products/x", ClickIDs{}},
		{"empty", "", ClickIDs{}},
		{"blank", "   ", ClickIDs{}},
		{"query only", "?gclid=g", ClickIDs{GCLID: "g"}},
		{"not a URL at all", "::%%??fbclid=x", ClickIDs{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseLandingURL(tt.landing)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseLandingURL(%q) mismatch (-want +got):\n%s", tt.landing, diff)
			}
		})
	}
}

func TestAddLandingURL(t *testing.T) {
	tests := []struct {
		name    string
		start   ClickIDs
		landing string
		names   map[string]string
		want    ClickIDs
	}{
		{"keeps a value already present", ClickIDs{FBCLID: "from-cookie"}, "/?fbclid=from-url&gclid=g", nil,
			ClickIDs{FBCLID: "from-cookie", GCLID: "g"}},
		{"shop-configured name", ClickIDs{}, "/?fb_click=f1", map[string]string{"fb_click": "fbclid"},
			ClickIDs{FBCLID: "f1"}},
		{"configured name to an unknown key", ClickIDs{}, "/?x=1", map[string]string{"x": "nope"}, ClickIDs{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.start
			got.AddLandingURL(tt.landing, tt.names)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%+v.AddLandingURL(%q, %v) mismatch (-want +got):\n%s", tt.start, tt.landing, tt.names, diff)
			}
		})
	}
}

func TestCanonicalClickKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"fbclid", "fbclid"}, {"FBCLID", "fbclid"}, {" gclid ", "gclid"},
		{"ScCid", "sccid"}, {"_fbp", "fbp"}, {"_fbc", "fbc"}, {"_ttp", "ttp"},
		{"_scid", "scid"}, {"_epik", "epik"}, {"rdt_cid", "rdt_cid"}, {"li_fat_id", "li_fat_id"},
		{"_rdt_uuid", "rdt_uuid"}, {"rdt_uuid", "rdt_uuid"},
		{"utm_source", ""}, {"", ""},
	}
	for _, tt := range tests {
		if got := CanonicalClickKey(tt.in); got != tt.want {
			t.Errorf("CanonicalClickKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestClickIDsSet(t *testing.T) {
	var c ClickIDs
	if c.Set("nope", "x") {
		t.Errorf("Set(%q) = true, want false for an unknown key", "nope")
	}
	if !c.Set("fbp", "  fb.1.2.3 ") || c.FBP != "fb.1.2.3" {
		t.Errorf("Set(fbp) stored %q, want %q", c.FBP, "fb.1.2.3")
	}
	if !c.Set("fbp", "other") || c.FBP != "fb.1.2.3" {
		t.Errorf("second Set(fbp) overwrote: %q", c.FBP)
	}
	// Every key in clickKeys must land in a field.
	for name, key := range clickKeys {
		var c ClickIDs
		if !c.Set(key, "v") || reflect.DeepEqual(c, ClickIDs{}) {
			t.Errorf("Set(%q) (from %q) stored nothing", key, name)
		}
	}
}

func TestClickIDsSetNamed(t *testing.T) {
	tests := []struct {
		name, key, value string
		names            map[string]string
		wantOK           bool
		want             ClickIDs
	}{
		{"canonical", "gclid", "g", nil, true, ClickIDs{GCLID: "g"}},
		{"cookie spelling", "_fbc", "fb.1.2.x", nil, true, ClickIDs{FBC: "fb.1.2.x"}},
		{"configured", "tt_click", "t", map[string]string{"tt_click": "ttclid"}, true, ClickIDs{TTCLID: "t"}},
		{"configured overrides known", "gclid", "g", map[string]string{"gclid": "wbraid"}, true, ClickIDs{WBRAID: "g"}},
		{"unknown", "foo", "x", nil, false, ClickIDs{}},
		{"blank value", "gclid", "  ", nil, false, ClickIDs{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got ClickIDs
			if ok := got.SetNamed(tt.key, tt.value, tt.names); ok != tt.wantOK {
				t.Errorf("SetNamed(%q, %q) = %v, want %v", tt.key, tt.value, ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SetNamed(%q, %q) mismatch (-want +got):\n%s", tt.key, tt.value, diff)
			}
		})
	}
}

func TestClickIDsAny(t *testing.T) {
	tests := []struct {
		name string
		c    ClickIDs
		want bool
	}{
		{"none", ClickIDs{}, false},
		{"browser ids only", ClickIDs{FBP: "fb.1.1.1", TTP: "t", SCID: "s"}, false},
		{"fbc cookie counts", ClickIDs{FBC: "fb.1.1.x"}, true},
		{"gclid", ClickIDs{GCLID: "g"}, true},
		{"sccid", ClickIDs{ScCID: "s"}, true},
	}
	for _, tt := range tests {
		if got := tt.c.Any(); got != tt.want {
			t.Errorf("%s: %+v.Any() = %v, want %v", tt.name, tt.c, got, tt.want)
		}
	}
}

func TestFBC(t *testing.T) {
	click := time.UnixMilli(1763600000123).UTC()
	tests := []struct {
		name   string
		fbclid string
		t      time.Time
		want   string
	}{
		{"format fb.1.<ms>.<fbclid>", testFBCLID, click, "fb.1.1763600000123." + testFBCLID},
		{"fbclid kept as it is", "AbC-_x.Y", click, "fb.1.1763600000123.AbC-_x.Y"},
		{"time zone does not matter", "x", click.In(time.FixedZone("X", 5*3600)), "fb.1.1763600000123.x"},
		{"no fbclid", "", click, ""},
		{"zero time", "x", time.Time{}, ""},
		{"before 1970", "x", time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FBC(tt.fbclid, tt.t); got != tt.want {
				t.Errorf("FBC(%q, %v) = %q, want %q", tt.fbclid, tt.t, got, tt.want)
			}
		})
	}
	shape := regexp.MustCompile(`^fb\.1\.[0-9]{13}\.` + regexp.QuoteMeta(testFBCLID) + `$`)
	if got := FBC(testFBCLID, time.Now()); !shape.MatchString(got) {
		t.Errorf("FBC(fbclid, now) = %q, want the shape %s", got, shape)
	}
}

func FuzzParseLandingURL(f *testing.F) {
	for _, s := range []string{
		"/products/x?fbclid=" + testFBCLID + "&utm_source=fb",
		"https://shop.example.com/?gclid=a&GCLID=b#frag",
		"/?ScCid=1&_fbp=fb.1.2.3&%zz=1&fbclid=%zz",
		"?&&=&fbclid==", "", "?", "#?", "?fbclid=a+b%20c", "\x00?gclid=\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, landing string) {
		got := ParseLandingURL(landing)
		if again := ParseLandingURL(landing); got != again {
			t.Fatalf("ParseLandingURL(%q) not deterministic: %+v then %+v", landing, got, again)
		}
		if !strings.Contains(landing, "?") && got != (ClickIDs{}) {
			t.Fatalf("ParseLandingURL(%q) = %+v from a URL without a query", landing, got)
		}
		v := reflect.ValueOf(got)
		for i := 0; i < v.NumField(); i++ {
			s := v.Field(i).String()
			if s != strings.TrimSpace(s) {
				t.Fatalf("ParseLandingURL(%q): field %s = %q is not trimmed", landing, v.Type().Field(i).Name, s)
			}
		}
		// Values already present are never overwritten.
		pre := ClickIDs{FBCLID: "keep", GCLID: "keep"}
		pre.AddLandingURL(landing, nil)
		if pre.FBCLID != "keep" || pre.GCLID != "keep" {
			t.Fatalf("AddLandingURL(%q) overwrote a value: %+v", landing, pre)
		}
	})
}
