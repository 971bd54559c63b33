package web

import (
	"slices"
	"testing"
	"time"

	"github.com/postbackhq/postback/platforms"
)

func TestLoginLimiter(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	type step struct {
		at      time.Duration
		keys    []string
		succeed bool
		wantOK  bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"five pass, the sixth waits", []step{
			{0, []string{"ip:a", "user:x"}, false, true}, {1, []string{"ip:a", "user:x"}, false, true},
			{2, []string{"ip:a", "user:x"}, false, true}, {3, []string{"ip:a", "user:x"}, false, true},
			{4, []string{"ip:a", "user:x"}, false, true}, {5, []string{"ip:a", "user:x"}, false, false},
		}},
		{"a full user key holds back every address", []step{
			{0, []string{"ip:1", "user:x"}, false, true}, {0, []string{"ip:2", "user:x"}, false, true},
			{0, []string{"ip:3", "user:x"}, false, true}, {0, []string{"ip:4", "user:x"}, false, true},
			{0, []string{"ip:5", "user:x"}, false, true}, {0, []string{"ip:6", "user:x"}, false, false},
			{0, []string{"ip:6", "user:y"}, false, true},
		}},
		{"the window slides", []step{
			{0, []string{"k"}, false, true}, {time.Minute, []string{"k"}, false, true}, {2 * time.Minute, []string{"k"}, false, true},
			{3 * time.Minute, []string{"k"}, false, true}, {4 * time.Minute, []string{"k"}, false, true},
			{14 * time.Minute, []string{"k"}, false, false}, {15*time.Minute + time.Second, []string{"k"}, false, true},
			{15*time.Minute + 2*time.Second, []string{"k"}, false, false},
		}},
		{"success forgets", []step{
			{0, []string{"k"}, false, true}, {0, []string{"k"}, false, true}, {0, []string{"k"}, false, true},
			{0, []string{"k"}, false, true}, {0, []string{"k"}, true, true},
			{0, []string{"k"}, false, true}, {0, []string{"k"}, false, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLoginLimiter(5, 15*time.Minute)
			for i, s := range tt.steps {
				ok, wait := l.attempt(t0.Add(s.at), s.keys...)
				if ok != s.wantOK {
					t.Fatalf("step %d: attempt(%v, %v) = %v, want %v", i, s.at, s.keys, ok, s.wantOK)
				}
				if !ok && (wait <= 0 || wait > 15*time.Minute) {
					t.Errorf("step %d: wait %v, want within the window", i, wait)
				}
				if s.succeed {
					l.succeed(s.keys...)
				}
			}
		})
	}
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/admin/events?status=error", "/admin/events?status=error"},
		{"", "/admin/"},
		{"/api/v1/shops", "/admin/"},
		{"//evil.example/admin/", "/admin/"},
		{"https://evil.example/admin/", "/admin/"},
		{"/admin/\\evil", "/admin/"},
		{"/admin/x\r\nSet-Cookie: a=b", "/admin/"},
	}
	for _, tt := range tests {
		if got := safeNext(tt.in); got != tt.want {
			t.Errorf("safeNext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFmtMoney(t *testing.T) {
	tests := []struct{ value, currency, want string }{
		{"10.5", "USD", "10.50 USD"},
		{"120.94", "EUR", "120.94 EUR"},
		{"12800", "JPY", "12800 JPY"},
		{"1.2345", "USD", "1.2345 USD"},
		{"3.1", "KWD", "3.100 KWD"},
		{"0", "", "0.00"},
		{"not a number", "USD", "not a number USD"},
	}
	for _, tt := range tests {
		if got := fmtMoney(tt.value, tt.currency); got != tt.want {
			t.Errorf("fmtMoney(%q, %q) = %q, want %q", tt.value, tt.currency, got, tt.want)
		}
	}
}

func TestFieldErrorDetail(t *testing.T) {
	tests := []struct {
		err  *fieldError
		want string
	}{
		{badField("settings.value_rule", "must be total or subtotal"), "Must be total or subtotal"},
		{badField("name", "is required"), "Is required"},
		{&fieldError{Field: "credentials", Message: "missing credentials for meta: access_token"}, "missing credentials for meta: access_token"},
	}
	for _, tt := range tests {
		if got := tt.err.Detail(); got != tt.want {
			t.Errorf("%+v.Detail() = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestTestModeSettings asks the real senders which settings put them in
// test mode: the destination page names exactly these.
func TestTestModeSettings(t *testing.T) {
	cfg := platforms.Config{}
	tests := []struct {
		sender platforms.Sender
		want   []string
	}{
		{platforms.NewMeta(cfg), []string{"Test event code"}},
		{platforms.NewGoogleAds(cfg, ""), []string{"Validate only (test mode)"}},
		{platforms.NewTikTok(cfg), []string{"Test event code"}},
		{platforms.NewReddit(cfg), []string{"Test mode"}},
		{platforms.NewPinterest(cfg), []string{"Test mode"}},
		{platforms.NewSnapchat(cfg), []string{"Validate only", "Test event code"}},
		{platforms.NewMicrosoft(cfg), nil},
		{platforms.NewLinkedIn(cfg, ""), nil},
	}
	for _, tt := range tests {
		if got := testModeSettings(tt.sender); !slices.Equal(got, tt.want) {
			t.Errorf("testModeSettings(%s) = %q, want %q", tt.sender.Name(), got, tt.want)
		}
	}
}
