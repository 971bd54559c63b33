package platforms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tokenFake is an OAuth token endpoint: it checks the refresh grant and
// mints numbered tokens, or answers with a fixed failure.
type tokenFake struct {
	t         *testing.T
	expiresIn int
	fail      func(w http.ResponseWriter) // answers instead, when set
	delay     time.Duration

	calls atomic.Int64
}

func (f *tokenFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("client_id") == "" {
		f.t.Errorf("token request %v: %v", r.PostForm, err)
	}
	n := f.calls.Add(1)
	time.Sleep(f.delay)
	if f.fail != nil {
		f.fail(w)
		return
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"access_token":"tok-%d","expires_in":%d,"token_type":"Bearer"}`, n, f.expiresIn))
}

func newTokenFake(t *testing.T) (*tokenFake, *oauthSources) {
	t.Helper()
	f := &tokenFake{t: t, expiresIn: 3600}
	srv := startFake(t, f)
	return f, newOAuthSources("Test", srv.URL+"/token", &http.Client{Timeout: 2 * time.Second}, nil)
}

var testCreds = oauthCreds{clientID: "cid", clientSecret: "client-secret-xyz", refreshToken: "refresh-secret-xyz"}

func TestOAuthSources(t *testing.T) {
	ctx := context.Background()
	t.Run("one refresh shared by concurrent sends and reused", func(t *testing.T) {
		f, o := newTokenFake(t)
		f.delay = 50 * time.Millisecond
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if tok, err := o.token(ctx, 1, testCreds, ""); err != nil || tok != "tok-1" {
					t.Errorf("token %q, %v", tok, err)
				}
			}()
		}
		wg.Wait()
		if tok, _ := o.token(ctx, 1, testCreds, ""); tok != "tok-1" || f.calls.Load() != 1 {
			t.Errorf("token %q after %d refreshes; want tok-1 from one", tok, f.calls.Load())
		}
	})
	t.Run("one source per destination and credentials", func(t *testing.T) {
		f, o := newTokenFake(t)
		a, _ := o.token(ctx, 1, testCreds, "")
		b, _ := o.token(ctx, 2, testCreds, "")
		rotated := testCreds
		rotated.clientSecret = "rotated"
		c, _ := o.token(ctx, 1, rotated, "")
		if a == b || a == c || f.calls.Load() != 3 {
			t.Errorf("tokens %q %q %q from %d refreshes; want three", a, b, c, f.calls.Load())
		}
	})
	t.Run("a refused token is replaced once", func(t *testing.T) {
		f, o := newTokenFake(t)
		first, _ := o.token(ctx, 1, testCreds, "")
		// Two sends report the same refused token: one refresh.
		second, err := o.token(ctx, 1, testCreds, first)
		again, _ := o.token(ctx, 1, testCreds, first)
		if err != nil || second == first || again != second || f.calls.Load() != 2 {
			t.Errorf("tokens %q %q %q, %v, %d refreshes; want one new token from 2", first, second, again, err, f.calls.Load())
		}
	})
	t.Run("a rotated refresh token is used for the next refresh", func(t *testing.T) {
		var got []string
		var mu sync.Mutex
		srv := startFake(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			mu.Lock()
			got = append(got, r.PostForm.Get("refresh_token"))
			n := len(got)
			mu.Unlock()
			// Microsoft answers each refresh with a new refresh token.
			writeJSON(w, http.StatusOK, fmt.Sprintf(`{"access_token":"tok-%d","expires_in":3600,"refresh_token":"rotated-%d"}`, n, n))
		}))
		o := newOAuthSources("Test", srv.URL+"/token", &http.Client{Timeout: 2 * time.Second}, nil)
		first, _ := o.token(ctx, 1, testCreds, "")
		if _, err := o.token(ctx, 1, testCreds, first); err != nil {
			t.Fatal(err)
		}
		if want := []string{testCreds.refreshToken, "rotated-1"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("refreshed with %v, want %v", got, want)
		}
	})
	t.Run("a token inside the margin is replaced", func(t *testing.T) {
		f, o := newTokenFake(t)
		f.expiresIn = int(oauthMargin/time.Second) - 60
		a, _ := o.token(ctx, 1, testCreds, "")
		b, _ := o.token(ctx, 1, testCreds, "")
		if a == b || f.calls.Load() != 2 {
			t.Errorf("tokens %q %q; want a fresh one", a, b)
		}
	})
	t.Run("cancelled while waiting", func(t *testing.T) {
		f, o := newTokenFake(t)
		f.delay = 300 * time.Millisecond
		cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if _, err := o.token(cctx, 1, testCreds, ""); !errors.Is(err, ErrTransient) {
			t.Errorf("%v, want transient", err)
		}
	})
}

func TestOAuthRefreshErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		class  error
		code   string
	}{
		{"revoked refresh token", 400, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`, ErrAuth, "invalid_grant"},
		{"refused client", 401, `{"error":"invalid_client","error_description":"bad secret client-secret-xyz"}`, ErrAuth, "invalid_client"},
		{"rate limited", 429, `{"error":"rate_limited"}`, ErrThrottled, "rate_limited"},
		{"outage", 503, `down`, ErrTransient, ""},
		{"no access token", 200, `{"token_type":"Bearer"}`, ErrTransient, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, o := newTokenFake(t)
			f.fail = func(w http.ResponseWriter) {
				if tt.status == 307 {
					w.Header().Set("Location", "http://127.0.0.1:1/steal")
				}
				writeJSON(w, tt.status, tt.body)
			}
			_, err := o.token(context.Background(), 1, testCreds, "")
			if !errors.Is(err, tt.class) || errCode(err) != tt.code {
				t.Fatalf("%v (code %q), want %v %q", err, errCode(err), tt.class, tt.code)
			}
			for _, secret := range []string{testCreds.clientSecret, testCreds.refreshToken} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("%v shows a secret", err)
				}
			}
			if tt.class == ErrAuth && !strings.Contains(err.Error(), "Test") {
				t.Errorf("%v does not name the platform", err)
			}
		})
	}
}

// TestOAuthNoRedirect: a token endpoint that redirects (307 would resend
// the form with the client secret and refresh token) is not followed,
// whatever client the sender was given.
func TestOAuthNoRedirect(t *testing.T) {
	var reached atomic.Int64
	target := startFake(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	redirector := startFake(t, http.RedirectHandler(target.URL+"/token", http.StatusTemporaryRedirect))
	o := newOAuthSources("Test", redirector.URL+"/token", &http.Client{Timeout: 2 * time.Second}, nil)
	_, err := o.token(context.Background(), 1, testCreds, "")
	if !errors.Is(err, ErrTransient) || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("%v, want a transient failure naming the redirect", err)
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("redirect target reached %d times", n)
	}
}
