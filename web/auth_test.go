package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postbackhq/postback/web"
)

// behindProxy makes the test client a trusted proxy, so X-Forwarded-For
// picks the client address.
func behindProxy(c *web.Config) { c.TrustedProxies = []string{"127.0.0.1", "::1"} }

func (b *browser) from(ip string) *browser {
	b.headers = map[string]string{"X-Forwarded-For": ip}
	return b
}

// TestUILoginThrottleCannotLockTheAdminOut checks that failures from some
// addresses never stop the right password from another one.
func TestUILoginThrottleCannotLockTheAdminOut(t *testing.T) {
	t.Parallel()
	// A stopped clock: buckets must not refill while bcrypt runs slowly.
	h := newHarness(t, behindProxy, func(c *web.Config) { c.Now = newClock().Now })
	if _, err := h.store.CreateUser(context.Background(), adminUser, adminPassword, time.Now()); err != nil {
		t.Fatal(err)
	}
	attacker := h.browser(t).from("203.0.113.5")
	attacker.get(t, "/admin/login")
	for i := 1; i <= 10; i++ {
		p := attacker.post(t, "/admin/login", url.Values{"username": {adminUser}, "password": {"guess" + strconv.Itoa(i)}})
		want := http.StatusUnauthorized
		if i > 5 {
			want = http.StatusTooManyRequests
		}
		if p.code != want {
			t.Fatalf("attacker's attempt %d: %d, want %d", i, p.code, want)
		}
	}
	login := func(ip string) page {
		t.Helper()
		b := h.browser(t).from(ip)
		b.get(t, "/admin/login")
		return b.post(t, "/admin/login", url.Values{"username": {adminUser}, "password": {adminPassword}})
	}
	if p := login("198.51.100.7"); p.code != http.StatusSeeOther {
		t.Fatalf("the admin from another address after ten failures: %d, want 303 (logged in): %s", p.code, clip(p.body))
	}
	// A spread attack drains the user's own budget; the admin from an
	// address that has not failed is slowed, never refused.
	for a := 1; a <= 4; a++ {
		b := h.browser(t).from(fmt.Sprintf("2001:db8:%d::1", a))
		b.get(t, "/admin/login")
		for range 5 {
			b.post(t, "/admin/login", url.Values{"username": {adminUser}, "password": {"wrong"}})
		}
	}
	start := time.Now()
	if p := login("198.51.100.8"); p.code != http.StatusSeeOther {
		t.Fatalf("the admin during a spread attack: %d, want 303: %s", p.code, clip(p.body))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("log-in during a spread attack took %v", d)
	}
	// An attacking address that failed is refused for the admin now.
	b := h.browser(t).from("2001:db8:1::ffff")
	b.get(t, "/admin/login")
	if p := b.post(t, "/admin/login", url.Values{"username": {adminUser}, "password": {"wrong"}}); p.code != http.StatusTooManyRequests {
		t.Errorf("a failed /64 of the spread attack: %d, want 429", p.code)
	}
}

// TestUILoginOverlongPasswordSameForEveryone checks that a password over
// bcrypt's 72 bytes gets the same answer for known and unknown users.
func TestUILoginOverlongPasswordSameForEveryone(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if _, err := h.store.CreateUser(context.Background(), adminUser, adminPassword, time.Now()); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("p", 100)
	var bodies []string
	for _, user := range []string{adminUser, "nobody"} {
		b := h.browser(t)
		b.get(t, "/admin/login")
		p := b.post(t, "/admin/login", url.Values{"username": {user}, "password": {long}})
		if p.code != http.StatusUnauthorized {
			t.Errorf("user %q with a 100-byte password: %d, want 401", user, p.code)
		}
		mustContain(t, "login answer", p.body, "Wrong user name or password.")
		i := strings.Index(p.body, "<main")
		j := strings.Index(p.body, "</main>")
		// Compare without the values that differ by design: the form
		// token and the user name typed.
		bodies = append(bodies, valueAttr.ReplaceAllString(p.body[i:j], ""))
	}
	if bodies[0] != bodies[1] {
		t.Errorf("known and unknown users get different pages:\n%s\n---\n%s", bodies[0], bodies[1])
	}
}

var valueAttr = regexp.MustCompile(`value="[^"]*"`)

func TestAPIBearerFailuresThrottledPerAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t, behindProxy, func(c *web.Config) { c.Now = newClock().Now })
	call := func(ip, auth string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", h.srv.URL+"/api/v1/shops", nil)
		req.Header.Set("X-Forwarded-For", ip)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// Requests without a token are not guesses.
	for range 20 {
		if r := call("203.0.113.5", ""); r.StatusCode != 401 {
			t.Fatalf("no token: %d, want 401", r.StatusCode)
		}
	}
	for i := 1; i <= 10; i++ {
		if r := call("203.0.113.5", fmt.Sprintf("Bearer pbk_guess%d", i)); r.StatusCode != 401 {
			t.Fatalf("wrong token %d: %d, want 401", i, r.StatusCode)
		}
	}
	r := call("203.0.113.5", "Bearer pbk_guess11")
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); r.StatusCode != http.StatusTooManyRequests || err != nil || ra <= 0 {
		t.Errorf("11th wrong token: %d Retry-After %q, want 429 with seconds", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if r := call("198.51.100.7", "Bearer "+apiToken); r.StatusCode != 200 {
		t.Errorf("right token from another address: %d, want 200", r.StatusCode)
	}
	// Right tokens are not counted.
	for range 30 {
		if r := call("198.51.100.8", "Bearer "+apiToken); r.StatusCode != 200 {
			t.Fatalf("right token, repeated: %d, want 200", r.StatusCode)
		}
	}
}

func TestUISessionIdleTimeout(t *testing.T) {
	t.Parallel()
	clk := newClock()
	h := newHarness(t, func(c *web.Config) { c.Now = clk.Now })
	b := h.loggedIn(t)
	// Use keeps it alive past the idle timeout…
	for range 3 {
		clk.Advance(11 * time.Hour)
		if p := b.get(t, "/admin/"); p.code != http.StatusOK {
			t.Fatalf("dashboard after 11 h idle: %d, want 200", p.code)
		}
	}
	// …12 hours without use ends it.
	clk.Advance(12*time.Hour + time.Minute)
	if p := b.get(t, "/admin/"); p.code != http.StatusSeeOther || !strings.HasPrefix(p.location, "/admin/login") {
		t.Errorf("dashboard after 12 h idle: %d to %q, want 303 to the login page", p.code, p.location)
	}
	// The absolute limit holds however busy the session.
	b = h.loggedIn(t)
	for range 16 { // 176 h
		clk.Advance(11 * time.Hour)
		b.get(t, "/admin/")
	}
	if p := b.get(t, "/admin/"); p.code != http.StatusSeeOther {
		t.Errorf("dashboard 7 days after log-in: %d, want 303 to the login page", p.code)
	}
}

func TestUIChangePasswordAndLogOutEverywhere(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.loggedIn(t)
	other := h.loggedIn(t)
	if p := b.get(t, "/admin/account"); p.code != http.StatusOK {
		t.Fatalf("account page: %d", p.code)
	} else {
		mustContain(t, "account page", p.body, "Change password", `name="current"`, "Log out everywhere")
	}
	const newPassword = "a brand new passphrase"
	tests := []struct {
		name      string
		form      url.Values
		wantCode  int
		wantError string
	}{
		{"no CSRF token", url.Values{"csrf_token": {"-"}, "current": {adminPassword}, "password": {newPassword}, "confirm": {newPassword}}, 403, "Form expired"},
		{"wrong current", url.Values{"current": {"nope"}, "password": {newPassword}, "confirm": {newPassword}}, 422, "Wrong password."},
		{"short", url.Values{"current": {adminPassword}, "password": {"short"}, "confirm": {"short"}}, 422, "Use at least 8 characters."},
		{"differ", url.Values{"current": {adminPassword}, "password": {newPassword}, "confirm": {newPassword + "!"}}, 422, "The two passwords differ."},
	}
	for _, tt := range tests {
		p := b.post(t, "/admin/account/password", tt.form)
		if p.code != tt.wantCode {
			t.Fatalf("%s: %d, want %d: %s", tt.name, p.code, tt.wantCode, clip(p.body))
		}
		mustContain(t, tt.name, p.body, tt.wantError)
	}
	p := b.post(t, "/admin/account/password", url.Values{"current": {adminPassword}, "password": {newPassword}, "confirm": {newPassword}})
	if p.code != http.StatusSeeOther {
		t.Fatalf("change password: %d: %s", p.code, clip(p.body))
	}
	if p := b.get(t, "/admin/account?msg=password-changed"); p.code != http.StatusOK {
		t.Errorf("this session after the change: %d, want 200", p.code)
	}
	if p := other.get(t, "/admin/"); p.code != http.StatusSeeOther {
		t.Errorf("another session after the change: %d, want 303 (ended)", p.code)
	}
	if _, err := h.store.Authenticate(context.Background(), adminUser, newPassword); err != nil {
		t.Errorf("new password: %v", err)
	}
	// Log out everywhere ends this session and any other.
	third := h.browser(t)
	third.get(t, "/admin/login")
	if p := third.post(t, "/admin/login", url.Values{"username": {adminUser}, "password": {newPassword}}); p.code != http.StatusSeeOther {
		t.Fatalf("log in with the new password: %d", p.code)
	}
	if p := b.post(t, "/admin/account/logout-everywhere", nil); p.code != http.StatusSeeOther || !strings.HasPrefix(p.location, "/admin/login") {
		t.Errorf("log out everywhere: %d to %q", p.code, p.location)
	}
	for name, br := range map[string]*browser{"this": b, "other": third} {
		if p := br.get(t, "/admin/"); p.code != http.StatusSeeOther {
			t.Errorf("%s session after log out everywhere: %d, want 303", name, p.code)
		}
	}
}

func TestStrictTransportSecurityOverHTTPS(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ publicURL, want string }{
		{"https://postback.example.com", "max-age=31536000"},
		{"http://localhost:8080", ""},
	} {
		h := newHarness(t, func(c *web.Config) { c.PublicURL = tt.publicURL })
		for _, path := range []string{"/admin/login", "/healthz"} {
			resp, err := http.Get(h.srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Strict-Transport-Security"); got != tt.want {
				t.Errorf("public URL %s, GET %s: Strict-Transport-Security %q, want %q", tt.publicURL, path, got, tt.want)
			}
		}
	}
}

func TestMetricsTokenAndAddress(t *testing.T) {
	t.Parallel()
	get := func(h *harness, auth string) int {
		req, _ := http.NewRequest("GET", h.srv.URL+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(newHarness(t), ""); code != 200 {
		t.Errorf("default /metrics: %d, want 200 (open, as interface.md says)", code)
	}
	const token = "metrics-token-metrics-token-0123"
	h := newHarness(t, func(c *web.Config) { c.MetricsToken = token })
	for auth, want := range map[string]int{"": 401, "Bearer wrong": 401, "Bearer " + token: 200, "Basic " + token: 401} {
		if code := get(h, auth); code != want {
			t.Errorf("/metrics with Authorization %q: %d, want %d", auth, code, want)
		}
	}
	if code := get(newHarness(t, func(c *web.Config) { c.MetricsElsewhere = true }), ""); code != 404 {
		t.Errorf("/metrics on the main address when served elsewhere: %d, want 404", code)
	}
}
