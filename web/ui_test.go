package web_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/web"
)

func TestUIRedirectsToLoginOrSetup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.browser(t)
	if p := b.get(t, "/"); p.code != http.StatusFound || p.location != "/admin/" {
		t.Errorf("GET /: %d to %q, want 302 to /admin/", p.code, p.location)
	}
	// With no account yet, every page leads to setup.
	if p := b.get(t, "/admin/shops"); p.code != http.StatusSeeOther || p.location != "/admin/setup" {
		t.Errorf("GET /admin/shops before setup: %d to %q, want 303 to /admin/setup", p.code, p.location)
	}
	if p := b.get(t, "/admin/login"); p.code != http.StatusSeeOther || p.location != "/admin/setup" {
		t.Errorf("GET /admin/login before setup: %d to %q, want 303 to /admin/setup", p.code, p.location)
	}
	if _, err := h.store.CreateUser(context.Background(), adminUser, adminPassword, time.Now()); err != nil {
		t.Fatal(err)
	}
	gets := []string{
		"/admin/", "/admin/shops", "/admin/shops/new", "/admin/shops/1", "/admin/shops/1/edit",
		"/admin/shops/1/destinations/new", "/admin/destinations/1", "/admin/destinations/1/dry-run",
		"/admin/events", "/admin/events/rows", "/admin/events/1", "/admin/tokens",
	}
	for _, path := range gets {
		t.Run("GET "+path, func(t *testing.T) {
			p := b.get(t, path)
			want := "/admin/login?next=" + url.QueryEscape(path)
			if p.code != http.StatusSeeOther || p.location != want {
				t.Errorf("GET %s: %d to %q, want 303 to %q", path, p.code, p.location, want)
			}
		})
	}
	posts := []string{
		"/admin/logout", "/admin/shops", "/admin/shops/1", "/admin/shops/1/delete", "/admin/shops/1/destinations",
		"/admin/destinations/1", "/admin/destinations/1/toggle", "/admin/destinations/1/delete", "/admin/destinations/1/test",
		"/admin/events/1/redeliver", "/admin/tokens", "/admin/tokens/1/revoke",
	}
	for _, path := range posts {
		t.Run("POST "+path, func(t *testing.T) {
			p := b.post(t, path, url.Values{"csrf_token": {"anything"}})
			if p.code != http.StatusSeeOther || p.location != "/admin/login" {
				t.Errorf("POST %s: %d to %q, want 303 to /admin/login", path, p.code, p.location)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/admin/events/rows", nil)
	req.Header.Set("X-Postback-Fragment", "1")
	if p := b.do(t, req); p.code != http.StatusUnauthorized {
		t.Errorf("events refresh without a session: %d, want 401", p.code)
	}
	// A forged or expired cookie is no session.
	u, _ := url.Parse(h.srv.URL + "/admin/")
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "postback_session", Value: "forged", Path: "/admin"}})
	if p := b.get(t, "/admin/"); p.code != http.StatusSeeOther {
		t.Errorf("forged session cookie: %d, want 303 to the login page", p.code)
	}
}

func TestUISetupCreatesTheFirstAdminOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const setupToken = "the-one-time-setup-token-from-the-log"
	if err := h.store.AddSetupToken(context.Background(), setupToken, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	good := func(user string) url.Values {
		return url.Values{"setup_token": {setupToken}, "username": {user}, "password": {"longenough"}, "confirm": {"longenough"}}
	}
	// Without the token, from anywhere (loopback included), no form and
	// no account.
	intruder := h.browser(t)
	intruder.get(t, "/admin/login")
	for _, path := range []string{"/admin/setup", "/admin/setup?token=", "/admin/setup?token=guess", "/admin/setup?token=" + setupToken + "x"} {
		if p := intruder.get(t, path); p.code != http.StatusForbidden || strings.Contains(p.body, `name="password"`) {
			t.Errorf("GET %s: %d, want 403 without the form", path, p.code)
		} else {
			mustContain(t, "refused setup", p.body, "Setup link needed")
		}
	}
	for _, tok := range []string{"", "guess", setupToken[:len(setupToken)-1]} {
		form := good("intruder")
		form.Set("setup_token", tok)
		if p := intruder.post(t, "/admin/setup", form); p.code != http.StatusForbidden {
			t.Errorf("POST setup with token %q: %d, want 403", tok, p.code)
		}
	}
	if n, _ := h.store.CountUsers(context.Background()); n != 0 {
		t.Fatalf("%d users after setups without the token, want 0", n)
	}

	b := h.browser(t)
	p := b.get(t, "/admin/setup?token="+setupToken)
	if p.code != http.StatusOK {
		t.Fatalf("GET setup with the token: %d", p.code)
	}
	mustContain(t, "setup page", p.body, "Set up Postback", `name="password"`, `name="confirm"`,
		`name="setup_token" value="`+setupToken+`"`)
	if p.header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("setup page Referrer-Policy = %q, want no-referrer (the token is in its URL)", p.header.Get("Referrer-Policy"))
	}
	with := func(form url.Values, kv ...string) url.Values {
		out := url.Values{"setup_token": {setupToken}}
		for k, v := range form {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	tests := []struct {
		name      string
		form      url.Values
		wantCode  int
		wantError string
	}{
		{"no form token", with(nil, "csrf_token", "-", "username", "admin", "password", "longenough", "confirm", "longenough"), 403, "Form expired"},
		{"wrong form token", with(nil, "csrf_token", "forged-token-forged-token-forged-token", "username", "admin", "password", "longenough", "confirm", "longenough"), 403, "Form expired"},
		{"short password", with(nil, "username", "admin", "password", "short", "confirm", "short"), 422, "Use at least 8 characters."},
		{"passwords differ", with(nil, "username", "admin", "password", "longenough", "confirm", "longenougx"), 422, "The two passwords differ."},
		{"bad user name", with(nil, "username", "a b<c>", "password", "longenough", "confirm", "longenough"), 422, "Use 1 to 64 letters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.post(t, "/admin/setup", tt.form)
			if p.code != tt.wantCode {
				t.Fatalf("POST setup %v: %d, want %d: %s", tt.form, p.code, tt.wantCode, clip(p.body))
			}
			mustContain(t, "setup answer", p.body, tt.wantError)
			if tt.wantCode == 422 {
				// The re-shown form keeps the token for the next POST.
				mustContain(t, "setup answer", p.body, `name="setup_token" value="`+setupToken+`"`)
			}
			if n, _ := h.store.CountUsers(context.Background()); n != 0 {
				t.Errorf("after a refused setup %d users exist, want 0", n)
			}
		})
	}
	p = b.post(t, "/admin/setup", good("owner"))
	if p.code != http.StatusSeeOther || p.location != "/admin/?msg=welcome" {
		t.Fatalf("setup: %d to %q, want 303 to the dashboard: %s", p.code, p.location, clip(p.body))
	}
	if p := b.get(t, "/admin/?msg=welcome"); p.code != http.StatusOK {
		t.Errorf("dashboard after setup: %d, want 200 (logged in)", p.code)
	} else {
		mustContain(t, "dashboard after setup", p.body, "Welcome. Start by adding a shop.", "owner")
	}
	if ok, _ := h.store.SetupTokenValid(context.Background(), setupToken); ok {
		t.Error("the setup token outlived the first user")
	}
	other := h.browser(t)
	if p := other.get(t, "/admin/setup?token="+setupToken); p.code != http.StatusNotFound {
		t.Errorf("GET setup once an admin exists: %d, want 404", p.code)
	}
	other.get(t, "/admin/login")
	if p := other.post(t, "/admin/setup", good("intruder")); p.code != http.StatusNotFound {
		t.Errorf("POST setup once an admin exists: %d, want 404", p.code)
	}
	if n, _ := h.store.CountUsers(context.Background()); n != 1 {
		t.Errorf("%d users, want exactly the first one", n)
	}
}

func TestUILoginAndLogout(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if _, err := h.store.CreateUser(context.Background(), adminUser, adminPassword, time.Now()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		form     url.Values
		wantCode int
		wantTo   string
		wantText string
	}{
		{"no form token", url.Values{"csrf_token": {"-"}, "username": {adminUser}, "password": {adminPassword}}, 403, "", "Form expired"},
		{"wrong password", url.Values{"username": {adminUser}, "password": {"nope"}}, 401, "", "Wrong user name or password."},
		{"unknown user", url.Values{"username": {"nobody"}, "password": {adminPassword}}, 401, "", "Wrong user name or password."},
		{"empty", url.Values{"username": {""}, "password": {""}}, 401, "", "Enter your user name and password."},
		{"good, back to the page asked for", url.Values{"username": {adminUser}, "password": {adminPassword}, "next": {"/admin/events?status=error"}}, 303, "/admin/events?status=error", ""},
		{"good, foreign next ignored", url.Values{"username": {adminUser}, "password": {adminPassword}, "next": {"//evil.example/admin/"}}, 303, "/admin/", ""},
		{"good, absolute next ignored", url.Values{"username": {adminUser}, "password": {adminPassword}, "next": {"https://evil.example/admin/"}}, 303, "/admin/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := h.browser(t)
			login := b.get(t, "/admin/login?next=%2Fadmin%2Fshops")
			mustContain(t, "login page", login.body, `name="next" value="/admin/shops"`)
			p := b.post(t, "/admin/login", tt.form)
			if p.code != tt.wantCode || p.location != tt.wantTo {
				t.Fatalf("POST login %v: %d to %q, want %d to %q: %s", tt.form, p.code, p.location, tt.wantCode, tt.wantTo, clip(p.body))
			}
			mustContain(t, "login answer", p.body, tt.wantText)
			mustNotContain(t, "login answer", p.body, adminPassword)
		})
	}
	b := h.loggedIn(t)
	sessionCookie := ""
	for _, c := range b.c.Jar.Cookies(mustURL(t, h.srv.URL+"/admin/")) {
		if c.Name == "postback_session" {
			sessionCookie = c.Value
		}
	}
	if sessionCookie == "" {
		t.Fatal("no postback_session cookie after log in")
	}
	if p := b.post(t, "/admin/logout", url.Values{"csrf_token": {"-"}}); p.code != http.StatusForbidden {
		t.Errorf("log out without the CSRF token: %d, want 403", p.code)
	}
	if p := b.post(t, "/admin/logout", nil); p.code != http.StatusSeeOther || p.location != "/admin/login" {
		t.Errorf("log out: %d to %q, want 303 to /admin/login", p.code, p.location)
	}
	if _, err := h.store.SessionByToken(context.Background(), sessionCookie, time.Now()); err == nil {
		t.Error("the session still exists after log out")
	}
	if p := b.get(t, "/admin/"); p.code != http.StatusSeeOther {
		t.Errorf("dashboard after log out: %d, want 303 to the login page", p.code)
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUISessionCookieAttributes(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprintf("secure=%v", secure), func(t *testing.T) {
			h := newHarness(t, func(c *web.Config) { c.SecureCookies = secure })
			if _, err := h.store.CreateUser(context.Background(), adminUser, adminPassword, time.Now()); err != nil {
				t.Fatal(err)
			}
			b := h.browser(t)
			b.get(t, "/admin/login")
			p := b.post(t, "/admin/login", url.Values{"username": {adminUser}, "password": {adminPassword}})
			var got *http.Cookie
			for _, c := range (&http.Response{Header: p.header}).Cookies() {
				if c.Name == "postback_session" && c.Value != "" {
					got = c
				}
			}
			if got == nil {
				t.Fatalf("no session cookie set; headers %v", p.header)
			}
			if !got.HttpOnly || got.SameSite != http.SameSiteLaxMode || got.Path != "/admin" || got.Secure != secure || got.MaxAge <= 0 {
				t.Errorf("session cookie = %+v, want HttpOnly, SameSite=Lax, Path=/admin, Secure=%v, a MaxAge", got, secure)
			}
		})
	}
}

func TestUILoginRateLimit(t *testing.T) {
	t.Parallel()
	clk := newClock()
	h := newHarness(t, func(c *web.Config) { c.Now = clk.Now })
	if _, err := h.store.CreateUser(context.Background(), adminUser, adminPassword, time.Now()); err != nil {
		t.Fatal(err)
	}
	b := h.browser(t)
	b.get(t, "/admin/login")
	login := func(user, password string) page {
		return b.post(t, "/admin/login", url.Values{"username": {user}, "password": {password}})
	}
	for i := 1; i <= 5; i++ {
		if p := login(adminUser, "wrong"); p.code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i, p.code)
		}
	}
	p := login(adminUser, adminPassword)
	if p.code != http.StatusTooManyRequests {
		t.Fatalf("6th attempt with the right password: %d, want 429", p.code)
	}
	mustContain(t, "429 page", p.body, "Too many attempts")
	if ra, err := strconv.Atoi(p.header.Get("Retry-After")); err != nil || ra <= 0 || ra > 15*60+1 {
		t.Errorf("Retry-After = %q, want seconds up to 15 minutes", p.header.Get("Retry-After"))
	}
	// Another user name from the same address is not held back by this
	// pair (the address has a limit of its own, twenty).
	if p := login("someone-else", "whatever"); p.code != http.StatusUnauthorized {
		t.Errorf("other user from the same address: %d, want 401", p.code)
	}
	clk.Advance(15*time.Minute + time.Second)
	if p := login(adminUser, adminPassword); p.code != http.StatusSeeOther {
		t.Errorf("after the window: %d, want 303 (logged in)", p.code)
	}
	// A success clears the count: five more failures are allowed.
	b2 := h.browser(t)
	b2.get(t, "/admin/login")
	for i := 1; i <= 5; i++ {
		if p := b2.post(t, "/admin/login", url.Values{"username": {adminUser}, "password": {"wrong"}}); p.code != http.StatusUnauthorized {
			t.Fatalf("failure %d after a success: %d, want 401", i, p.code)
		}
	}
}

// TestUILoginRateLimitIgnoresForwardedFor checks that a client cannot
// escape the per-address limit by claiming another address: only
// configured proxies are believed.
func TestUILoginRateLimitIgnoresForwardedFor(t *testing.T) {
	t.Parallel()
	// A stopped clock: buckets must not refill while bcrypt runs slowly
	// (the race detector makes it seconds).
	h := newHarness(t, func(c *web.Config) { c.Now = newClock().Now })
	if _, err := h.store.CreateUser(context.Background(), adminUser, adminPassword, time.Now()); err != nil {
		t.Fatal(err)
	}
	b := h.browser(t)
	b.get(t, "/admin/login")
	for i := 1; i <= 21; i++ {
		b.headers = map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i)}
		p := b.post(t, "/admin/login", url.Values{"username": {fmt.Sprint("user", i)}, "password": {"wrong"}})
		want := http.StatusUnauthorized
		if i == 21 {
			want = http.StatusTooManyRequests
		}
		if p.code != want {
			t.Fatalf("attempt %d with a forged X-Forwarded-For: %d, want %d", i, p.code, want)
		}
	}
}

func TestUIRejectsPostsWithoutCSRFToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	shop := h.createShop(t, "s3cret")
	dest := h.createDest(t, shop.ID, true)
	b := h.loggedIn(t)
	secret, tok, err := h.store.CreateAPIToken(context.Background(), "ci", time.Now())
	if err != nil || secret == "" {
		t.Fatal(err)
	}
	eventID := h.paidEvent(t, shop, "5001")
	posts := []struct {
		path string
		form url.Values
	}{
		{"/admin/logout", nil},
		{"/admin/shops", url.Values{"name": {"x"}, "source": {"shopify"}, "trigger": {"paid"}}},
		{fmt.Sprintf("/admin/shops/%d", shop.ID), url.Values{"name": {"renamed"}, "trigger": {"paid"}}},
		{fmt.Sprintf("/admin/shops/%d/delete", shop.ID), nil},
		{fmt.Sprintf("/admin/shops/%d/destinations", shop.ID), url.Values{"platform": {"fake"}, "credentials.pixel": {"p"}, "credentials.token": {"t"}}},
		{fmt.Sprintf("/admin/destinations/%d", dest), url.Values{"credentials.pixel": {"changed"}}},
		{fmt.Sprintf("/admin/destinations/%d/toggle", dest), nil},
		{fmt.Sprintf("/admin/destinations/%d/delete", dest), nil},
		{fmt.Sprintf("/admin/destinations/%d/test", dest), nil},
		{fmt.Sprintf("/admin/events/%d/redeliver", eventID), nil},
		{"/admin/tokens", url.Values{"name": {"x"}}},
		{fmt.Sprintf("/admin/tokens/%d/revoke", tok.ID), nil},
	}
	for _, tt := range posts {
		for _, token := range []string{"-", "wrong-token"} {
			t.Run(tt.path+" token="+token, func(t *testing.T) {
				form := url.Values{}
				for k, v := range tt.form {
					form[k] = v
				}
				form.Set("csrf_token", token)
				p := b.post(t, tt.path, form)
				if p.code != http.StatusForbidden {
					t.Errorf("POST %s with csrf_token %q: %d, want 403", tt.path, token, p.code)
				}
				mustContain(t, "403 page", p.body, "Form expired")
			})
		}
	}
	// Nothing changed.
	sh, err := h.store.Shop(context.Background(), shop.ID)
	if err != nil || sh.Name != "Acme" {
		t.Errorf("shop after refused posts = %+v, %v; want it unchanged", sh, err)
	}
	d, err := h.store.Destination(context.Background(), dest)
	if err != nil || !d.Enabled || d.Credentials["pixel"] != "p1" {
		t.Errorf("destination after refused posts = %+v, %v; want it unchanged", d, err)
	}
	if shops, _ := h.store.Shops(context.Background()); len(shops) != 1 {
		t.Errorf("%d shops after refused posts, want 1", len(shops))
	}
	if p := b.get(t, "/admin/"); p.code != http.StatusOK {
		t.Errorf("still logged in after a refused log out: %d", p.code)
	}
}

// createDest adds a fake destination, in test mode or not.
func (h *harness) createDest(t *testing.T, shopID int64, test bool) int64 {
	t.Helper()
	var d struct{ ID int64 }
	if code := h.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shopID), map[string]any{
		"platform": "fake", "credentials": map[string]any{"pixel": "p1", "token": "fake-secret-token"},
		"settings": map[string]any{"test": test},
	}, &d); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}
	return d.ID
}

// paidEvent posts a signed paid order and returns its event id.
func (h *harness) paidEvent(t *testing.T, shop shopResp, order string) int64 {
	t.Helper()
	return h.signedEvent(t, shop, []byte(`{"order":"`+order+`","paid":true}`))
}

func (h *harness) signedEvent(t *testing.T, shop shopResp, body []byte) int64 {
	t.Helper()
	code, out := h.webhook(t, webhookPath(shop), body, map[string]string{"X-Test-Signature": hex.EncodeToString(sign("s3cret", body))})
	if code != http.StatusOK {
		t.Fatalf("webhook: %d %v", code, out)
	}
	return int64(out["event_id"].(float64))
}

func TestUIShops(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.loggedIn(t)
	if p := b.get(t, "/admin/shops"); p.code != 200 {
		t.Fatalf("shop list: %d", p.code)
	} else {
		mustContain(t, "empty shop list", p.body, "No shop yet")
	}
	picker := b.get(t, "/admin/shops/new")
	mustContain(t, "store picker", picker.body, "/admin/shops/new?source=shopify", "/admin/shops/new?source=woocommerce", "/admin/shops/new?source=stripe")
	form := b.get(t, "/admin/shops/new?source=shopify")
	mustContain(t, "Shopify form", form.body, `name="name"`, `name="signing_secret"`, `name="currency"`, `name="event_id_template"`)
	mustNotContain(t, "Shopify form", form.body, `name="stripe_api_key"`, `name="paid_statuses"`)
	stripe := b.get(t, "/admin/shops/new?source=stripe")
	mustContain(t, "Stripe form", stripe.body, `name="stripe_api_key"`, `name="stripe_renewals"`, `name="stripe_subscription_event"`)
	mustNotContain(t, "Stripe form", stripe.body, `name="currency"`)

	valid := func() url.Values {
		return url.Values{"source": {"shopify"}, "name": {"Acme"}, "signing_secret": {"shpss_topsecret"}, "trigger": {"paid"},
			"value_rule": {"total"}, "currency": {"shop"}, "event_id_template": {""}}
	}
	bad := []struct {
		name  string
		field string
		value string
		want  string
	}{
		{"empty name", "name", " ", "Must be 1 to 200 characters"},
		{"template without order id", "event_id_template", "purchase", "Must contain {order_id}"},
		{"unknown trigger", "trigger", "shipped", "Must be paid or fulfilled"},
		{"unknown currency", "currency", "euro", "Must be shop or presentment"},
		{"attribute line without key", "attribute_names", "_fbc", "Line 1: write one name = key per line"},
		{"attribute of no click id", "attribute_names", "_x = nonsense", "is not a click id"},
		{"unknown store", "source", "magento", "Must be one of shopify, woocommerce, stripe"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			f := valid()
			f.Set(tt.field, tt.value)
			p := b.post(t, "/admin/shops", f)
			if p.code != http.StatusUnprocessableEntity {
				t.Fatalf("POST shop with %s=%q: %d, want 422", tt.field, tt.value, p.code)
			}
			mustContain(t, "refused shop form", p.body, tt.want)
			if tt.field != "source" {
				// The form comes back with the field marked and what was typed.
				mustContain(t, "refused shop form", p.body, "has-error", `value="`+f.Get("name")+`"`)
			}
			mustNotContain(t, "refused shop form", p.body, "shpss_topsecret")
			if tt.field != "source" {
				mustContain(t, "refused shop form", p.body, "Paste it again: secrets are never sent back")
			}
			if shops, _ := h.store.Shops(context.Background()); len(shops) != 0 {
				t.Errorf("a refused form saved %d shops", len(shops))
			}
		})
	}

	p := b.post(t, "/admin/shops", valid())
	if p.code != http.StatusSeeOther || !regexp.MustCompile(`^/admin/shops/\d+\?msg=shop-created$`).MatchString(p.location) {
		t.Fatalf("create shop: %d to %q", p.code, p.location)
	}
	shops, err := h.store.Shops(context.Background())
	if err != nil || len(shops) != 1 {
		t.Fatalf("shops = %v, %v", shops, err)
	}
	sh := shops[0]
	if sh.SigningSecret != "shpss_topsecret" || sh.Rules.Trigger != mapping.TriggerPaid {
		t.Errorf("created shop = %+v", sh)
	}
	detail := b.get(t, p.location)
	mustContain(t, "new shop page", detail.body, "Shop added.", web.WebhookURL("https://postback.example.com", sh),
		"Settings › Notifications › Webhooks", "Order payment", "Refund create", `data-copy="#webhook-url"`)
	mustNotContain(t, "new shop page", detail.body, "shpss_topsecret")
	// The click-id snippet the match advice points to is on the page,
	// escaped as text.
	mustContain(t, "new shop page", detail.body, "Click ids and the pixel", "/cart/update.js", "&lt;script&gt;", `data-copy="#click-snippet"`)
	if list := b.get(t, "/admin/shops"); !strings.Contains(list.body, "Acme") {
		t.Errorf("shop list lacks the new shop:\n%s", clip(list.body))
	}

	edit := b.get(t, fmt.Sprintf("/admin/shops/%d/edit", sh.ID))
	mustContain(t, "edit form", edit.body, `value="Acme"`, "Leave empty to keep the current secret")
	mustNotContain(t, "edit form", edit.body, "shpss_topsecret", `name="source"`)
	path := fmt.Sprintf("/admin/shops/%d", sh.ID)
	keep := url.Values{"name": {"Acme EU"}, "signing_secret": {""}, "trigger": {"fulfilled"}, "value_rule": {"subtotal"},
		"currency": {"presentment"}, "event_id_template": {"purchase-{order_id}"}, "send_zero_value": {"true"}, "attribute_names": {"_fbc = fbc\n_gclid=gclid"}}
	if p := b.post(t, path, keep); p.code != http.StatusSeeOther || p.location != path+"?msg=shop-saved" {
		t.Fatalf("save shop: %d to %q: %s", p.code, p.location, clip(p.body))
	}
	got, _ := h.store.Shop(context.Background(), sh.ID)
	want := mapping.ShopRules{Trigger: mapping.TriggerFulfilled, EventIDTemplate: "purchase-{order_id}", ValueRule: mapping.ValueSubtotal,
		Currency: mapping.CurrencyPresentment, SendZeroValue: true, StripeSubscriptionEvent: mapping.EventPurchase,
		AttributeNames: map[string]string{"_fbc": "fbc", "_gclid": "gclid"}}
	if got.Name != "Acme EU" || got.SigningSecret != "shpss_topsecret" || fmt.Sprint(got.Rules) != fmt.Sprint(want) {
		t.Errorf("after save = name %q secret kept %v rules %+v; want Acme EU, kept, %+v", got.Name, got.SigningSecret == "shpss_topsecret", got.Rules, want)
	}
	rotate := url.Values{"name": {"Acme EU"}, "signing_secret": {"shpss_new"}, "trigger": {"paid"}, "value_rule": {"total"}, "currency": {"shop"}}
	if p := b.post(t, path, rotate); p.code != http.StatusSeeOther {
		t.Fatalf("rotate secret: %d", p.code)
	}
	got, _ = h.store.Shop(context.Background(), sh.ID)
	if got.SigningSecret != "shpss_new" || got.PreviousSecret != "shpss_topsecret" {
		t.Errorf("after rotation secret=%q previous=%q, want the new one with the old one still accepted", got.SigningSecret, got.PreviousSecret)
	}
	if p := b.get(t, path+"/edit"); !strings.Contains(p.body, `name="forget_previous_secret"`) {
		t.Errorf("edit form after a rotation lacks the box to stop accepting the old secret")
	}
	rotate.Set("forget_previous_secret", "true")
	b.post(t, path, rotate)
	if got, _ = h.store.Shop(context.Background(), sh.ID); got.PreviousSecret != "" {
		t.Errorf("previous secret = %q after forgetting it", got.PreviousSecret)
	}
	badSave := url.Values{"name": {""}, "trigger": {"paid"}, "value_rule": {"total"}, "currency": {"shop"}}
	if p := b.post(t, path, badSave); p.code != http.StatusUnprocessableEntity {
		t.Errorf("save with an empty name: %d, want 422", p.code)
	}
	if got, _ = h.store.Shop(context.Background(), sh.ID); got.Name != "Acme EU" {
		t.Errorf("a refused save changed the name to %q", got.Name)
	}
	if p := b.post(t, path+"/delete", nil); p.code != http.StatusSeeOther || p.location != "/admin/shops?msg=shop-deleted" {
		t.Errorf("delete: %d to %q", p.code, p.location)
	}
	if _, err := h.store.Shop(context.Background(), sh.ID); err == nil {
		t.Error("shop still exists after delete")
	}
	for _, p := range []string{path, path + "/edit", "/admin/shops/abc", "/admin/shops/0", "/admin/shops/99999/destinations/new"} {
		if got := b.get(t, p); got.code != http.StatusNotFound || !strings.Contains(got.body, "Not found") {
			t.Errorf("GET %s: %d, want the 404 page", p, got.code)
		}
	}
	if p := b.post(t, "/admin/shops/99999/delete", nil); p.code != http.StatusNotFound {
		t.Errorf("delete unknown shop: %d, want 404", p.code)
	}
}

// fakeForm is a complete fake destination form.
func fakeForm(pixel, token string, test bool) url.Values {
	f := url.Values{"platform": {"fake"}, "credentials.pixel": {pixel}, "credentials.token": {token}, "enabled": {"true"}}
	if test {
		f.Set("settings.test", "true")
	}
	return f
}

func TestUIDestinations(t *testing.T) {
	t.Parallel()
	var notified atomic.Int32
	h := newHarness(t, func(c *web.Config) { c.Notify = func() { notified.Add(1) } })
	shop := h.createShop(t, "s3cret")
	b := h.loggedIn(t)
	base := fmt.Sprintf("/admin/shops/%d/destinations", shop.ID)
	mustContain(t, "platform picker", b.get(t, base+"/new").body, base+"/new?platform=fake")
	form := b.get(t, base+"/new?platform=fake")
	mustContain(t, "fake form", form.body, `name="credentials.pixel"`, `name="credentials.token" type="password"`, `name="settings.test" value="true"`)

	bad := []struct {
		name string
		form url.Values
		want []string
	}{
		{"missing everything", fakeForm("", "", false), []string{"missing credentials for fake: pixel, token", "Required."}},
		{"missing token", fakeForm("px", "", false), []string{"missing credentials for fake: token", `value="px"`}},
		{"missing pixel", fakeForm("", "typed-secret", false), []string{"missing credentials for fake: pixel", "Paste it again: secrets are never sent back"}},
		{"unknown platform", url.Values{"platform": {"myspace"}}, []string{"Unknown platform"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			p := b.post(t, base, tt.form)
			if p.code != http.StatusUnprocessableEntity {
				t.Fatalf("POST %v: %d, want 422", tt.form, p.code)
			}
			mustContain(t, "refused destination form", p.body, tt.want...)
			mustNotContain(t, "refused destination form", p.body, "typed-secret")
			if ds, _ := h.store.Destinations(context.Background(), shop.ID); len(ds) != 0 {
				t.Errorf("a refused form saved %d destinations", len(ds))
			}
		})
	}
	p := b.post(t, base, fakeForm("px-1", "very-secret-token", false))
	if p.code != http.StatusSeeOther || !regexp.MustCompile(`^/admin/destinations/\d+\?msg=dest-created$`).MatchString(p.location) {
		t.Fatalf("create destination: %d to %q: %s", p.code, p.location, clip(p.body))
	}
	ds, _ := h.store.Destinations(context.Background(), shop.ID)
	if len(ds) != 1 || ds[0].Credentials["token"] != "very-secret-token" || !ds[0].Enabled || ds[0].Settings["test"] != "" {
		t.Fatalf("destinations = %+v", ds)
	}
	d := ds[0]
	path := fmt.Sprintf("/admin/destinations/%d", d.ID)
	page := b.get(t, p.location)
	if n := strings.Count(page.body, "Destination added."); n != 1 {
		t.Errorf("new destination page says %d times that it was added, want once", n)
	}
	mustContain(t, "destination page", page.body, `value="px-1"`, "Leave empty to keep the saved value",
		"fill in <strong>test</strong>", "Send test event")
	mustNotContain(t, "destination page", page.body, "very-secret-token")
	shopPage := b.get(t, fmt.Sprintf("/admin/shops/%d", shop.ID))
	mustContain(t, "shop page", shopPage.body, path, "enabled", "pixel px-1")
	mustNotContain(t, "shop page", shopPage.body, "very-secret-token")

	// Not in test mode: the test event is refused with the setting to fill.
	p = b.post(t, path+"/test", nil)
	if p.code != http.StatusConflict {
		t.Errorf("test event outside test mode: %d, want 409", p.code)
	}
	mustContain(t, "refused test event", p.body, "Not sent: this destination is not in test mode.")

	// Saving with an empty secret keeps it; the test box turns test mode on.
	save := url.Values{"credentials.pixel": {"px-2"}, "credentials.token": {""}, "settings.test": {"true"}, "enabled": {"true"}}
	if p := b.post(t, path, save); p.code != http.StatusSeeOther || p.location != path+"?msg=dest-saved" {
		t.Fatalf("save: %d to %q: %s", p.code, p.location, clip(p.body))
	}
	got, _ := h.store.Destination(context.Background(), d.ID)
	if got.Credentials["token"] != "very-secret-token" || got.Credentials["pixel"] != "px-2" || got.Settings["test"] != "true" {
		t.Errorf("after save = %+v, want the token kept, the pixel replaced, test on", got)
	}
	if p := b.post(t, path, url.Values{"credentials.pixel": {""}, "enabled": {"true"}}); p.code != http.StatusUnprocessableEntity {
		t.Errorf("save with the pixel removed: %d, want 422", p.code)
	} else {
		mustContain(t, "refused save", p.body, "missing credentials for fake: pixel", "Required.")
	}

	p = b.post(t, path+"/test", nil)
	if p.code != http.StatusOK {
		t.Fatalf("test event: %d: %s", p.code, clip(p.body))
	}
	mustContain(t, "test event answer", p.body, `class="chip chip-delivered">accepted`, "HTTP 200", "postback-test-")

	dry := b.get(t, path+"/dry-run")
	mustContain(t, "dry run", dry.body, "https://fake.example/px-2", "POST", "a sample order")
	eventID := h.paidEvent(t, shop, "7001")
	dry = b.get(t, fmt.Sprintf("%s/dry-run?event_id=%d", path, eventID))
	if dry.code != http.StatusOK {
		t.Errorf("dry run for an event: %d", dry.code)
	}
	mustContain(t, "dry run for an event", dry.body, fmt.Sprintf("for event %d", eventID))
	if p := b.get(t, path+"/dry-run?event_id=99999"); p.code != http.StatusNotFound {
		t.Errorf("dry run for an unknown event: %d, want 404", p.code)
	}

	before := notified.Load()
	if p := b.post(t, path+"/toggle", nil); p.code != http.StatusSeeOther || !strings.HasSuffix(p.location, "msg=dest-disabled") {
		t.Errorf("disable: %d to %q", p.code, p.location)
	}
	if got, _ := h.store.Destination(context.Background(), d.ID); got.Enabled {
		t.Error("destination still enabled after toggle")
	}
	if p := b.post(t, path+"/toggle", nil); !strings.HasSuffix(p.location, "msg=dest-enabled") {
		t.Errorf("enable: %d to %q", p.code, p.location)
	}
	if notified.Load() == before {
		t.Error("enabling a destination did not wake the delivery worker")
	}
	if p := b.post(t, path+"/delete", nil); p.code != http.StatusSeeOther {
		t.Errorf("delete: %d", p.code)
	}
	for _, p := range []string{path, path + "/dry-run", "/admin/destinations/x"} {
		if got := b.get(t, p); got.code != http.StatusNotFound {
			t.Errorf("GET %s after delete: %d, want 404", p, got.code)
		}
	}
	for _, p := range []string{path, path + "/toggle", path + "/test", path + "/delete"} {
		if got := b.post(t, p, nil); got.code != http.StatusNotFound {
			t.Errorf("POST %s after delete: %d, want 404", p, got.code)
		}
	}
}

func TestUIEvents(t *testing.T) {
	t.Parallel()
	var notified atomic.Int32
	h := newHarness(t, func(c *web.Config) { c.Notify = func() { notified.Add(1) } })
	shop := h.createShop(t, "s3cret")
	h.createDest(t, shop.ID, false)
	b := h.loggedIn(t)
	accepted := h.paidEvent(t, shop, "9001")
	ignored := h.signedEvent(t, shop, []byte(`{"order":"9002","paid":false}`))
	broken := h.signedEvent(t, shop, []byte(`{"order": broken`))
	var newest int64
	for i := 0; i < 55; i++ {
		newest = h.paidEvent(t, shop, strconv.Itoa(10000+i))
	}

	list := b.get(t, "/admin/events")
	if list.code != 200 {
		t.Fatalf("events: %d", list.code)
	}
	mustContain(t, "events list", list.body, "10054", "10.50 USD", `class="chip chip-pending"`, "fake · pending", `id="live"`,
		`data-refresh="/admin/events/rows"`, "cursor=")
	if n := strings.Count(list.body, "<tr data-id="); n != 50 {
		t.Errorf("first page has %d rows, want 50", n)
	}
	older := b.get(t, "/admin/events?cursor="+regexp.MustCompile(`cursor=(\d+)`).FindStringSubmatch(list.body)[1])
	mustContain(t, "second page", older.body, "9001", "← Newest")
	mustNotContain(t, "second page", older.body, `id="live"`)
	if n := strings.Count(older.body, "<tr data-id="); n != 8 {
		t.Errorf("second page has %d rows, want 8", n)
	}
	filters := []struct {
		query string
		want  []string
		not   []string
	}{
		{"status=ignored", []string{fmt.Sprintf(`data-id="%d"`, ignored)}, []string{fmt.Sprintf(`data-id="%d"`, accepted)}},
		{"status=error", []string{fmt.Sprintf(`data-id="%d"`, broken)}, []string{fmt.Sprintf(`data-id="%d"`, ignored)}},
		{"delivery_status=pending&status=accepted", []string{fmt.Sprintf(`data-id="%d"`, newest)}, []string{fmt.Sprintf(`data-id="%d"`, ignored)}},
		{"delivery_status=delivered", []string{"No events match these filters"}, nil},
		{fmt.Sprintf("shop_id=%d&source=shopify&status=ignored", shop.ID), []string{fmt.Sprintf(`data-id="%d"`, ignored)}, nil},
	}
	for _, tt := range filters {
		t.Run(tt.query, func(t *testing.T) {
			p := b.get(t, "/admin/events?"+tt.query)
			if p.code != 200 {
				t.Fatalf("GET events?%s: %d", tt.query, p.code)
			}
			mustContain(t, "filtered list", p.body, tt.want...)
			mustNotContain(t, "filtered list", p.body, tt.not...)
		})
	}
	for _, q := range []string{"status=weird", "delivery_status=lost", "source=magento", "shop_id=x", "cursor=-1"} {
		if p := b.get(t, "/admin/events?"+q); p.code != http.StatusBadRequest {
			t.Errorf("GET events?%s: %d, want 400", q, p.code)
		}
	}
	rows := b.get(t, "/admin/events/rows?status=ignored")
	if rows.code != 200 || strings.Contains(rows.body, "<html") || !strings.Contains(rows.body, fmt.Sprintf(`<tr data-id="%d"`, ignored)) {
		t.Errorf("rows fragment: %d %s, want only the table rows", rows.code, clip(rows.body))
	}

	detail := b.get(t, fmt.Sprintf("/admin/events/%d", accepted))
	mustContain(t, "accepted event", detail.body, "Webhook received", "Mapped to a conversion", "Purchase 10.5 USD",
		"fake", "(not sent yet)", "Canonical conversion", "a@example.com", "Match quality", "no click id: add Postback&#39;s script",
		"Redeliver", "Raw webhook body", "&#34;order&#34;: &#34;9001&#34;")
	mustContain(t, "ignored event", b.get(t, fmt.Sprintf("/admin/events/%d", ignored)).body, "Why it was ignored", "not paid")
	errPage := b.get(t, fmt.Sprintf("/admin/events/%d", broken))
	mustContain(t, "error event", errPage.body, "Why it could not be read", "malformed", "Raw webhook body", "{&#34;order&#34;: broken")
	mustNotContain(t, "error event", errPage.body, `action="/admin/events/`)

	if p := b.post(t, fmt.Sprintf("/admin/events/%d/redeliver", accepted), nil); p.code != http.StatusSeeOther || !strings.HasSuffix(p.location, "msg=redelivered-none") {
		t.Errorf("redeliver with nothing failed: %d to %q, want the nothing-queued note", p.code, p.location)
	}
	before := notified.Load()
	p := b.post(t, fmt.Sprintf("/admin/events/%d/redeliver", accepted), url.Values{"all": {"true"}})
	if p.code != http.StatusSeeOther || p.location != fmt.Sprintf("/admin/events/%d?msg=redelivered", accepted) {
		t.Errorf("redeliver all: %d to %q", p.code, p.location)
	}
	if notified.Load() == before {
		t.Error("redeliver did not wake the delivery worker")
	}
	mustContain(t, "event after redeliver", b.get(t, p.location).body, "Queued again.")
	if p := b.post(t, fmt.Sprintf("/admin/events/%d/redeliver", ignored), nil); p.code != http.StatusConflict {
		t.Errorf("redeliver an ignored event: %d, want 409", p.code)
	}
	for _, path := range []string{"/admin/events/424242", "/admin/events/abc", "/admin/nothing-here", "/admin/events/1/nothing"} {
		p := b.get(t, path)
		if p.code != http.StatusNotFound || !strings.Contains(p.body, "<h1>Not found</h1>") {
			t.Errorf("GET %s: %d, want the HTML 404 page: %s", path, p.code, clip(p.body))
		}
	}
	if p := b.post(t, "/admin/events/424242/redeliver", nil); p.code != http.StatusNotFound {
		t.Errorf("redeliver unknown: %d, want 404", p.code)
	}
	var apiErr map[string]any
	if code := h.api(t, "GET", "/api/v1/nothing", nil, &apiErr); code != 404 || apiErr["error"] == nil {
		t.Errorf("API 404 = %d %v, want JSON", code, apiErr)
	}
}

// TestUIEscapesHostileText stores an order whose every text field carries
// markup, and checks each page shows it as text.
func TestUIEscapesHostileText(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.loggedIn(t)
	const x = `<script>alert("pwn")</script>`
	ctx := context.Background()
	sh, err := h.store.CreateShop(ctx, store.Shop{Name: "Shop " + x, Source: mapping.SourceShopify, SigningSecret: "s",
		Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid, EventIDTemplate: "p-{order_id}" + x}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.CreateDestination(ctx, store.Destination{ShopID: sh.ID, Platform: "fake", Enabled: true,
		Credentials: map[string]string{"pixel": x, "token": "t"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	conv := &mapping.Conversion{EventID: "e" + x, EventName: mapping.EventPurchase, EventTime: time.Now().UTC(), OrderID: "o" + x,
		Value: decimal.RequireFromString("1"), Currency: "USD", User: mapping.User{FirstName: x, Email: x + "@example.com"}}
	items := []store.Incoming{
		{ShopID: sh.ID, Source: mapping.SourceShopify, Topic: "orders/paid" + x, ReceivedAt: time.Now().UTC(), Body: []byte(`{"note":"` + x + `"}`),
			Webhook: mapping.Webhook{Source: mapping.SourceShopify, Topic: "orders/paid" + x, OrderID: "o" + x, Outcome: mapping.OutcomeConversion, Conversion: conv}},
		{ShopID: sh.ID, Source: mapping.SourceShopify, Topic: "orders/create", ReceivedAt: time.Now().UTC(), Body: []byte(x),
			Webhook: mapping.Webhook{Source: mapping.SourceShopify, OrderID: "i" + x, Outcome: mapping.OutcomeIgnored, Reason: "reason " + x}},
		{ShopID: sh.ID, Source: mapping.SourceShopify, ReceivedAt: time.Now().UTC(), Body: []byte(x), ParseError: "malformed " + x},
	}
	res, err := h.store.CommitBatch(ctx, items, allRouting{})
	if err != nil {
		t.Fatal(err)
	}
	pages := []string{"/admin/shops", fmt.Sprintf("/admin/shops/%d", sh.ID), fmt.Sprintf("/admin/shops/%d/edit", sh.ID),
		"/admin/events", "/admin/events/rows"}
	for _, r := range res {
		pages = append(pages, fmt.Sprintf("/admin/events/%d", r.EventID))
	}
	ds, _ := h.store.Destinations(ctx, sh.ID)
	pages = append(pages, fmt.Sprintf("/admin/destinations/%d", ds[0].ID), fmt.Sprintf("/admin/destinations/%d/dry-run?event_id=%d", ds[0].ID, res[0].EventID))
	for _, path := range pages {
		t.Run(path, func(t *testing.T) {
			p := b.get(t, path)
			if p.code != http.StatusOK {
				t.Fatalf("GET %s: %d: %s", path, p.code, clip(p.body))
			}
			mustNotContain(t, path, p.body, "<script>alert")
			if !strings.Contains(p.body, "&lt;script&gt;alert(") {
				t.Errorf("%s does not show the markup as text:\n%s", path, clip(p.body))
			}
		})
	}
	tokens := b.post(t, "/admin/tokens", url.Values{"name": {x}})
	mustNotContain(t, "tokens page", tokens.body, "<script>alert")
	mustContain(t, "tokens page", tokens.body, "&lt;script&gt;alert(")
}

// allRouting sends every conversion everywhere (store.Routing).
type allRouting struct{}

func (allRouting) Accepts(string, map[string]string, bool) bool { return true }
func (allRouting) Adjusts(string) bool                          { return false }
func (allRouting) MaxAge(string) time.Duration                  { return 7 * 24 * time.Hour }

func TestUIDashboard(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.loggedIn(t)
	empty := b.get(t, "/admin/")
	mustContain(t, "empty dashboard", empty.body, "Connect your first store", "Nothing delivered in this period yet.")
	shop := h.createShop(t, "s3cret")
	h.createDest(t, shop.ID, false)
	for i := 0; i < 3; i++ {
		h.paidEvent(t, shop, strconv.Itoa(300+i))
	}
	h.signedEvent(t, shop, []byte(`{"order": broken`))
	for _, window := range []string{"", "?window=24h", "?window=7d"} {
		t.Run("window"+window, func(t *testing.T) {
			p := b.get(t, "/admin/"+window)
			if p.code != 200 {
				t.Fatalf("dashboard: %d", p.code)
			}
			mustContain(t, "dashboard", p.body, "Webhooks received", `<span class="stat-value">4</span>`, "Conversions sent",
				"Events failing now", "<svg", `class="bar"`, "3 accepted, 0 ignored, 0 duplicate, 1 unreadable")
			mustNotContain(t, "dashboard", p.body, "Connect your first store")
			bars := strings.Count(p.body, "<rect class=\"bar")
			want := 2 * 24
			if window == "?window=7d" {
				want = 2 * 7
			}
			if bars != want {
				t.Errorf("dashboard%s draws %d bars, want %d", window, bars, want)
			}
		})
	}
}

func TestUITokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.loggedIn(t)
	first := b.get(t, "/admin/tokens").body
	mustContain(t, "tokens page", first, "No token made here yet; only <code>POSTBACK_API_TOKEN</code> works.", "The token in <code>POSTBACK_API_TOKEN</code> also works")
	mustNotContain(t, "tokens page", first, apiToken)
	if p := b.post(t, "/admin/tokens", url.Values{"name": {" "}}); p.code != http.StatusUnprocessableEntity {
		t.Errorf("token without a name: %d, want 422", p.code)
	} else {
		mustContain(t, "refused token", p.body, "Name the token")
	}
	p := b.post(t, "/admin/tokens", url.Values{"name": {"deploy"}})
	secret := regexp.MustCompile(`value="(pbk_[A-Za-z0-9_-]+)"`).FindStringSubmatch(p.body)
	if p.code != http.StatusOK || secret == nil {
		t.Fatalf("create token: %d, secret shown %v: %s", p.code, secret, clip(p.body))
	}
	if code := h.apiWith(t, secret[1], "/api/v1/shops"); code != http.StatusOK {
		t.Errorf("API with the new token: %d, want 200", code)
	}
	list := b.get(t, "/admin/tokens")
	mustContain(t, "token list", list.body, "deploy", secret[1][:10]+"…", "active")
	mustNotContain(t, "token list", list.body, secret[1])
	tokens, _ := h.store.APITokens(context.Background())
	if p := b.post(t, fmt.Sprintf("/admin/tokens/%d/revoke", tokens[0].ID), nil); p.code != http.StatusSeeOther {
		t.Errorf("revoke: %d", p.code)
	}
	if code := h.apiWith(t, secret[1], "/api/v1/shops"); code != http.StatusUnauthorized {
		t.Errorf("API with the revoked token: %d, want 401", code)
	}
	mustContain(t, "token list after revoke", b.get(t, "/admin/tokens").body, "revoked")
	if p := b.post(t, fmt.Sprintf("/admin/tokens/%d/revoke", tokens[0].ID), nil); p.code != http.StatusNotFound {
		t.Errorf("revoke twice: %d, want 404", p.code)
	}
}

func (h *harness) apiWith(t *testing.T, token, path string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestUIStaticAndHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.loggedIn(t)
	p := b.get(t, "/admin/shops")
	css := regexp.MustCompile(`href="(/admin/static/app\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(p.body)
	js := regexp.MustCompile(`src="(/admin/static/app\.js\?v=[0-9a-f]+)"`).FindStringSubmatch(p.body)
	if css == nil || js == nil {
		t.Fatalf("page links no versioned assets: %s", p.body[:min(len(p.body), 600)])
	}
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(p.header.Get("Content-Security-Policy"), want) {
			t.Errorf("Content-Security-Policy = %q, want %q in it", p.header.Get("Content-Security-Policy"), want)
		}
	}
	if p.header.Get("X-Frame-Options") != "DENY" || p.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers = %v, want DENY framing and no-store", p.header)
	}
	for _, asset := range []struct{ path, ctype string }{{css[1], "text/css"}, {js[1], "javascript"}} {
		a := b.get(t, asset.path)
		if a.code != 200 || !strings.Contains(a.header.Get("Content-Type"), asset.ctype) || !strings.Contains(a.header.Get("Cache-Control"), "immutable") {
			t.Errorf("GET %s: %d %v", asset.path, a.code, a.header)
		}
	}
	for _, path := range []string{"/admin/static/", "/admin/static/nope.css", "/admin/static/../templates/layout.html"} {
		if a := b.get(t, path); a.code != http.StatusNotFound && a.code != http.StatusMovedPermanently {
			t.Errorf("GET %s: %d, want 404", path, a.code)
		}
	}
}
