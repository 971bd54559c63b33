package platforms

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
)

// TestDefaultClientFollowsNoRedirect sends through each sender's default
// client to a fake platform that redirects (302, and 307/308, which would
// resend the body with its tokens) to a second server: nothing may reach
// the second server, and the conversion fails with a message naming the
// redirect.
func TestDefaultClientFollowsNoRedirect(t *testing.T) {
	now := time.Now()
	conv := mapping.Conversion{
		EventID: "o1", EventName: mapping.EventPurchase, EventTime: now.Add(-time.Hour), OrderID: "o1",
		Value: decimal.RequireFromString("10.50"), Currency: "USD", User: mapping.User{Email: "a@example.com"},
	}
	creds := map[string]string{
		"pixel_id": "123456789", "pixel_code": "C123", "access_token": "secret-token",
		"ad_account_id": "549755885175", "conversion_rule_id": "1234", "uet_tag_id": "5678",
	}
	senders := map[string]func(Config) Sender{
		"meta":      func(c Config) Sender { return NewMeta(c) },
		"tiktok":    func(c Config) Sender { return NewTikTok(c) },
		"pinterest": func(c Config) Sender { return NewPinterest(c) },
		"snapchat":  func(c Config) Sender { return NewSnapchat(c) },
	}
	for name, build := range senders {
		for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
			t.Run(name+"/"+http.StatusText(code), func(t *testing.T) {
				var reached atomic.Int64
				target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					reached.Add(1)
					w.WriteHeader(http.StatusOK)
				}))
				defer target.Close()
				redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, target.URL+r.URL.Path, code)
				}))
				defer redirector.Close()
				s := build(Config{BaseURL: redirector.URL, Now: func() time.Time { return now }})
				d := Destination{ID: 1, ShopID: 1, Platform: name, Credentials: creds, Settings: map[string]string{}}
				res := s.Send(context.Background(), d, []mapping.Conversion{conv})
				if n := reached.Load(); n != 0 {
					t.Fatalf("redirect target got %d requests, want 0", n)
				}
				if len(res) != 1 || res[0].Err == nil {
					t.Fatalf("Send = %+v, want one failed result", res)
				}
				if msg := res[0].Err.Error(); !strings.Contains(msg, "redirect") || strings.Contains(msg, "secret-token") {
					t.Errorf("error = %q, want it to name the redirect and carry no token", msg)
				}
			})
		}
	}
}

// TestNoRedirect checks the CheckRedirect function on its own: a client
// using it returns ErrRedirect naming the target host, and the target is
// never asked (the error may name the Location the server chose, never
// what Postback sent).
func TestNoRedirect(t *testing.T) {
	var reached atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	defer target.Close()
	redirector := httptest.NewServer(http.RedirectHandler(target.URL+"/x?access_token=t", http.StatusTemporaryRedirect))
	defer redirector.Close()
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: NoRedirect}
	resp, err := c.Post(redirector.URL, "application/json", strings.NewReader(`{"access_token":"t"}`))
	if err == nil {
		resp.Body.Close()
		t.Fatal("Post through a redirect: no error")
	}
	if !errors.Is(err, ErrRedirect) {
		t.Errorf("error = %v, want ErrRedirect", err)
	}
	if reached.Load() != 0 {
		t.Errorf("target reached %d times", reached.Load())
	}
}
