package web_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	adminUser     = "admin"
	adminPassword = "correct horse battery"
)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see them, and remembers the last CSRF token a page
// carried.
type browser struct {
	h    *harness
	c    *http.Client
	csrf string
	// headers are added to every form post.
	headers map[string]string
}

// page is one answer of the UI.
type page struct {
	code     int
	body     string
	location string
	header   http.Header
}

func (h *harness) browser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{h: h, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var csrfPattern = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (b *browser) do(t *testing.T, req *http.Request) page {
	t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := page{code: resp.StatusCode, body: string(raw), location: resp.Header.Get("Location"), header: resp.Header}
	if m := csrfPattern.FindStringSubmatch(p.body); m != nil {
		b.csrf = html.UnescapeString(m[1])
	}
	return p
}

func (b *browser) get(t *testing.T, path string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.h.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.do(t, req)
}

// post sends a form with the last CSRF token seen, unless form sets
// csrf_token itself (use "-" to send none).
func (b *browser) post(t *testing.T, path string, form url.Values) page {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	switch form.Get("csrf_token") {
	case "":
		form.Set("csrf_token", b.csrf)
	case "-":
		form.Del("csrf_token")
	}
	req, err := http.NewRequest(http.MethodPost, b.h.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range b.headers {
		req.Header.Set(k, v)
	}
	return b.do(t, req)
}

// loggedIn returns a browser logged in as the admin (created if needed).
func (h *harness) loggedIn(t *testing.T) *browser {
	t.Helper()
	if n, err := h.store.CountUsers(context.Background()); err != nil {
		t.Fatal(err)
	} else if n == 0 {
		if _, err := h.store.CreateUser(context.Background(), adminUser, adminPassword, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	b := h.browser(t)
	b.get(t, "/admin/login")
	p := b.post(t, "/admin/login", url.Values{"username": {adminUser}, "password": {adminPassword}})
	if p.code != http.StatusSeeOther || p.location != "/admin/" {
		t.Fatalf("log in: %d to %q, want 303 to /admin/: %s", p.code, p.location, p.body)
	}
	b.get(t, "/admin/") // picks up the session's CSRF token
	return b
}

// mustContain fails unless body contains every want.
func mustContain(t *testing.T, what string, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q; page:\n%s", what, w, clip(body))
		}
	}
}

func mustNotContain(t *testing.T, what string, body string, bads ...string) {
	t.Helper()
	for _, b := range bads {
		if strings.Contains(body, b) {
			t.Errorf("%s contains %q; page:\n%s", what, b, clip(body))
		}
	}
}

// clip keeps failure output readable: the page's main part only.
func clip(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	if len(body) > 4000 {
		body = body[:4000] + "…"
	}
	return body
}
