package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postbackhq/postback/store"
)

var setupLink = regexp.MustCompile(`/admin/setup\?token=([A-Za-z0-9_-]{43})`)

// TestFirstRunNeedsTheSetupLink starts a fresh instance without
// POSTBACK_ADMIN_PASSWORD: the setup page refuses visitors without the
// one-time link, which is logged once and written to a 0600 file beside
// the database, and dies with the first user.
func TestFirstRunNeedsTheSetupLink(t *testing.T) {
	dir := t.TempDir()
	in := start(t, map[string]string{
		"POSTBACK_DATABASE_URL": filepath.Join(dir, "p.db"), "POSTBACK_LOG_LEVEL": "debug",
		"POSTBACK_PUBLIC_URL": "https://postback.example.com",
	})
	logged := setupLink.FindAllStringSubmatch(in.stderr.String(), -1)
	if len(logged) != 1 || !strings.Contains(in.stderr.String(), "https://postback.example.com/admin/setup?token=") {
		t.Fatalf("log has %d setup links, want one with the public URL:\n%s", len(logged), in.stderr)
	}
	token := logged[0][1]
	file := filepath.Join(dir, "postback.setup-url")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != "https://postback.example.com/admin/setup?token="+token {
		t.Errorf("setup file holds %q, want the logged link", got)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("setup file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(in.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	// The request comes from loopback: no exemption for it.
	if resp, _ := get("/admin/setup"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET /admin/setup without the token: %d, want 403", resp.StatusCode)
	}
	resp, body := get("/admin/setup?token=" + token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the setup link: %d", resp.StatusCode)
	}
	// Over https: HSTS, and Secure cookies.
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no Strict-Transport-Security with an https public URL")
	}
	for _, ck := range resp.Cookies() {
		if !ck.Secure {
			t.Errorf("cookie %s is not Secure with an https public URL", ck.Name)
		}
	}
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(body)
	if csrf == nil {
		t.Fatal("setup page has no form token")
	}
	// The jar keeps Secure cookies off plain http; hand the form cookie
	// over as a browser on https would.
	form := url.Values{"csrf_token": {csrf[1]}, "setup_token": {token}, "username": {"owner"}, "password": {"longenough"}, "confirm": {"longenough"}}
	req, _ := http.NewRequest("POST", in.url+"/admin/setup", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, ck := range resp.Cookies() {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	post, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST setup with the token: %d, want 303", post.StatusCode)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("setup file still there after setup: %v", err)
	}
	if resp, _ := get("/admin/setup?token=" + token); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the setup link after setup: %d, want 404", resp.StatusCode)
	}
	in.stop(t)
	// The token shows in no other log line (the access log names routes).
	if n := strings.Count(in.stderr.String(), token); n != 1 {
		t.Errorf("the token appears %d times in the log, want once", n)
	}
}

func TestUserResetPassword(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "p.db")
	env := map[string]string{"POSTBACK_DATABASE_URL": dbPath, "POSTBACK_LOG_LEVEL": "warn"}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	if err := run(ctx, []string{"migrate"}, getenv, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, env)
	if _, err := st.CreateUser(ctx, "admin", "forgotten-password", time.Now()); err != nil {
		t.Fatal(err)
	}
	tok, _, err := st.CreateSession(ctx, 1, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	tests := []struct {
		name, stdin string
		args        []string
		wantErr     string
	}{
		{"no password", "", []string{"user", "reset-password", "admin"}, "no password on stdin"},
		{"too short", "short\n", []string{"user", "reset-password", "admin"}, "8 to 72 bytes"},
		{"unknown user", "long enough now\n", []string{"user", "reset-password", "nobody"}, `no user "nobody"`},
		{"password in argv", "", []string{"user", "reset-password", "admin", "hunter22hunter22"}, "never taken from the arguments"},
		{"no name", "", []string{"user", "reset-password"}, "usage"},
	}
	for _, tt := range tests {
		err := runIO(ctx, tt.args, getenv, strings.NewReader(tt.stdin), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "hunter22") {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
	var out strings.Builder
	if err := runIO(ctx, []string{"user", "reset-password", "admin"}, getenv, strings.NewReader("a new long password\n"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "password of admin reset") {
		t.Errorf("stdout = %q", out.String())
	}
	st = openStore(t, env)
	defer st.Close()
	if _, err := st.Authenticate(ctx, "admin", "a new long password"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if _, err := st.SessionByToken(ctx, tok, time.Now()); err == nil {
		t.Error("the user's session survived the reset")
	}
}

func openStore(t *testing.T, env map[string]string) *store.Store {
	t.Helper()
	cfg, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	key, err := loadKey(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := store.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), cfg.DatabaseURL, sealer, log)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestMetricsOnTheirOwnAddress(t *testing.T) {
	const token = "metrics-token-0123456789abcdef0123"
	maddr := freeAddr(t)
	in := start(t, map[string]string{
		"POSTBACK_DATABASE_URL": filepath.Join(t.TempDir(), "p.db"),
		"POSTBACK_METRICS_ADDR": maddr, "POSTBACK_METRICS_TOKEN": token,
	})
	defer in.stop(t)
	get := func(u, auth string) int {
		req, _ := http.NewRequest("GET", u, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(in.url+"/metrics", token); code != 404 {
		t.Errorf("/metrics on the main address: %d, want 404", code)
	}
	if code := get("http://"+maddr+"/metrics", ""); code != 401 {
		t.Errorf("/metrics without the token: %d, want 401", code)
	}
	if code := get("http://"+maddr+"/metrics", token); code != 200 {
		t.Errorf("/metrics with the token: %d, want 200", code)
	}
}
