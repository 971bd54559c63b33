package delivery

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

func TestExplain(t *testing.T) {
	tests := []struct {
		name                    string
		platform, status, class string
		lastError               string
		want                    Explanation
	}{
		{
			name:     "refused token, parked",
			platform: "tiktok", status: store.DeliveryWaitingCredentials, class: "auth",
			lastError: platforms.Auth(200, "40105", "tiktok: Access token is invalid or has expired").Error() + waitingSuffix,
			want: Explanation{
				Headline: "TikTok refused the access token",
				Fix:      "Paste a new access token in the destination's credentials and save; the orders waiting for it are sent at once.",
				FixOn:    FixDestination, Code: "40105", StatusCode: 200, Message: "Access token is invalid or has expired",
			},
		},
		{
			name:     "event refused, short reason in the headline only",
			platform: "meta", status: store.DeliveryFailed, class: "invalid",
			lastError: platforms.Invalid(400, "100/2804003", "Invalid email hash").Error(),
			want: Explanation{
				Headline: "Meta rejected the event: invalid email hash",
				Fix:      "Correct what Meta names (in the store's order or the destination's settings), then redeliver the event.",
				FixOn:    FixRedeliver, Code: "100/2804003", StatusCode: 400, Message: "Invalid email hash", Quoted: true,
			},
		},
		{
			name:     "platform's prefix taken off",
			platform: "pinterest", status: store.DeliveryFailed, class: "invalid",
			lastError: platforms.Invalid(400, "", "Pinterest rejected the event: currency is not supported").Error(),
			want: Explanation{
				Headline: "Pinterest rejected the event: currency is not supported",
				Fix:      "Correct what Pinterest names (in the store's order or the destination's settings), then redeliver the event.",
				FixOn:    FixRedeliver, StatusCode: 400, Message: "currency is not supported", Quoted: true,
			},
		},
		{
			name:     "refresh token revoked",
			platform: "google_ads", status: store.DeliveryWaitingCredentials, class: "auth",
			lastError: platforms.Auth(400, "invalid_grant", "the refresh token was revoked or has expired; reconnect the Google Ads account").Error() + waitingSuffix,
			want: Explanation{
				Headline: "Google Ads refused the refresh token",
				Fix:      "Reconnect the Google Ads account: paste a new refresh token in the destination's credentials and save; the orders waiting for it are sent at once.",
				FixOn:    FixDestination, Code: "invalid_grant", StatusCode: 400,
				Message: "the refresh token was revoked or has expired; reconnect the Google Ads account",
			},
		},
		{
			name:     "credential missing, refused before asking",
			platform: "tiktok", status: store.DeliveryWaitingCredentials, class: "auth",
			lastError: platforms.Auth(0, "config", "tiktok destination has no access_token").Error() + waitingSuffix,
			want: Explanation{
				Headline: "The TikTok destination is not set up: TikTok destination has no access_token",
				Fix:      "Fill in the destination's credentials and settings and save; the orders waiting for it are sent at once.",
				FixOn:    FixDestination,
			},
		},
		{
			name:     "skipped: Postback's reason, platform titled, nothing from the platform",
			platform: "google_ads", status: store.DeliverySkipped, class: "too_old",
			lastError: "event is past google_ads's acceptance window; not sent",
			want:      Explanation{Headline: "Not sent to Google Ads: event is past Google Ads's acceptance window"},
		},
		{
			name:     "skipped from a parsed error",
			platform: "google_ads", status: store.DeliverySkipped, class: "invalid",
			lastError: platforms.Invalid(0, "no_identifier", "no gclid, gbraid, wbraid, email or phone to match the conversion on; not sent").Error(),
			want:      Explanation{Headline: "Not sent to Google Ads: no gclid, gbraid, wbraid, email or phone to match the conversion on"},
		},
		{
			name:     "server error, retrying",
			platform: "reddit", status: store.DeliveryRetrying, class: "transient",
			lastError: platforms.Transient(503, "", "reddit: upstream unavailable").Error(),
			want: Explanation{Headline: "Reddit had a server error (HTTP 503); Postback retries by itself",
				StatusCode: 503, Message: "upstream unavailable"},
		},
		{
			name:     "gave up",
			platform: "snapchat", status: store.DeliveryFailed, class: "transient",
			lastError: gaveUpPrefix + platforms.Transient(0, "", "snapchat: request failed").Error(),
			want:      Explanation{Headline: "Snapchat kept failing until its window closed: not sent", Message: "request failed"},
		},
		{
			name:     "not a platform error",
			platform: "meta", status: store.DeliveryFailed, class: "invalid",
			lastError: "stored conversion cannot be read: unexpected end of JSON input",
			want:      Explanation{Headline: "Stored conversion cannot be read: unexpected end of JSON input"},
		},
		{
			name:     "text that is not a platform's error, said once",
			platform: "tiktok", status: store.DeliveryWaitingCredentials, class: "auth",
			lastError: "TikTok refused the access token",
			want: Explanation{Headline: "TikTok refused the access token",
				Fix:   "Paste a new access token in the destination's credentials and save; the orders waiting for it are sent at once.",
				FixOn: FixDestination, Message: "TikTok refused the access token", Quoted: true},
		},
		{name: "no error", platform: "meta", status: store.DeliveryDelivered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Explain(tt.platform, tt.status, tt.class, tt.lastError)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Explain(%q, %q, %q, %q) (-want +got):\n%s", tt.platform, tt.status, tt.class, tt.lastError, diff)
			}
		})
	}
}

// The example: the headline and the detail never repeat
// Postback's wrapping or each other.
func TestExplainNeverDoubles(t *testing.T) {
	last := platforms.Auth(200, "40105", "tiktok: Access token is invalid or has expired").Error() + waitingSuffix
	ex := Explain("tiktok", store.DeliveryWaitingCredentials, "auth", last)
	all := ex.Headline + " | " + ex.Detail()
	for _, bad := range []string{"credentials rejected", "tiktok:", "http 200:", "(code 40105)", "waiting for new credentials"} {
		if strings.Contains(all, bad) {
			t.Errorf("explanation %q contains Postback's wrapping %q", all, bad)
		}
	}
	if got, want := ex.Detail(), "code 40105 · HTTP 200 · Access token is invalid or has expired"; got != want {
		t.Errorf("Detail() = %q, want %q", got, want)
	}
	if strings.Count(all, "Access token is invalid") != 1 {
		t.Errorf("the platform's words appear more than once: %q", all)
	}
	// A short refusal is quoted by the headline, and not again below it.
	ex = Explain("meta", store.DeliveryFailed, "invalid", platforms.Invalid(400, "100", "Invalid email hash").Error())
	if got, want := ex.Headline+" | "+ex.Detail(), "Meta rejected the event: invalid email hash | code 100 · HTTP 400"; got != want {
		t.Errorf("headline | detail = %q, want %q", got, want)
	}
}

// The worker's outcome for a refused credential explains as the issue asks.
func TestClassifiedAuthErrorExplains(t *testing.T) {
	w := &Worker{cfg: Config{Now: func() time.Time { return time.Unix(0, 0) }}}
	outs, _ := w.classify([]store.Claimed{{ID: 1}}, []platforms.Result{{StatusCode: 200,
		Err: platforms.Auth(200, "40105", "tiktok: Access token is invalid or has expired")}}, time.Unix(0, 0), 0)
	ex := Explain("tiktok", store.DeliveryWaitingCredentials, outs[0].ErrorClass, outs[0].Error)
	if ex.Headline != "TikTok refused the access token" || ex.Code != "40105" {
		t.Errorf("explanation of %q = %+v", outs[0].Error, ex)
	}
}
