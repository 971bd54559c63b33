package web

import (
	"strings"
	"testing"
	"time"
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
