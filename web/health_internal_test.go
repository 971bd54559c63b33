package web

import (
	"strings"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
)

func TestWebhookURLWarning(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"https://postback.example.com", ""},
		{"https://203.0.113.7:8443", ""},
		{"http://localhost:8080", "which Shopify, WooCommerce and Stripe cannot reach"},
		{"https://127.0.0.1", "cannot reach"},
		{"https://[::1]:8080", "cannot reach"},
		{"https://10.1.2.3", "cannot reach"},
		{"https://192.168.1.20", "cannot reach"},
		{"https://169.254.0.9", "cannot reach"},
		{"https://postback.local", "cannot reach"},
		{"http://postback.example.com", "plain http"},
		{"::", "not a URL"},
	}
	for _, tt := range tests {
		got := webhookURLWarning(tt.url)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("webhookURLWarning(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
}

func TestQuietAfterAndSpans(t *testing.T) {
	if got := quietAfter(40); got != 6*time.Hour {
		t.Errorf("quietAfter(40/day) = %v, want the 6 h floor", got)
	}
	if got := quietAfter(3); got != 24*time.Hour {
		t.Errorf("quietAfter(3/day) = %v, want 24 h (three usual gaps)", got)
	}
	for d, want := range map[time.Duration]string{26 * time.Hour: "26 hours", 6*24*time.Hour + time.Hour: "6 days", 40 * time.Minute: "40 minutes", 5 * time.Second: "5 seconds"} {
		if got := fmtSpan(d); got != want {
			t.Errorf("fmtSpan(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestIdentifiersNotUsedByThePlatform(t *testing.T) {
	m := &mapping.Match{ClickID: true, Email: true, IP: true}
	state := func(platform string) map[string]string {
		out := map[string]string{}
		for _, id := range identifiersOf(m, platform) {
			switch {
			case id.Unused:
				out[id.Label] = "unused"
			case id.Present:
				out[id.Label] = "sent"
			default:
				out[id.Label] = "missing"
			}
		}
		return out
	}
	g := state("google_ads")
	if g["IP address"] != "unused" || g["User agent"] != "unused" || g["Email"] != "sent" || g["Phone"] != "missing" || g["Browser id (fbp)"] != "" {
		t.Errorf("google_ads identifiers = %v; want IP and user agent not used, email sent, phone missing, no fbp", g)
	}
	if mt := state("meta"); mt["IP address"] != "sent" || mt["User agent"] != "missing" || mt["Browser id (fbp)"] != "missing" {
		t.Errorf("meta identifiers = %v", mt)
	}
	if ev := state(""); ev["Phone"] != "missing" || ev["Browser id (fbp)"] != "missing" {
		t.Errorf("event identifiers = %v", ev)
	}
}
