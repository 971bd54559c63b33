package platforms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// oauthSources keeps one oauth2.TokenSource per destination, so that
// concurrent sends for a destination share one access token and one refresh
// (oauth2.ReuseTokenSource serialises refreshes behind a mutex). Replacing a
// destination's OAuth credentials replaces its source.
type oauthSources struct {
	client   *http.Client
	tokenURL string
	scopes   []string
	now      func() time.Time

	mu      sync.Mutex
	sources map[int64]oauthSource
}

type oauthSource struct {
	key string
	ts  oauth2.TokenSource
}

// oauthCreds are the refresh-token grant's inputs.
type oauthCreds struct {
	clientID, clientSecret, refreshToken string
}

func (c oauthCreds) key() string {
	sum := sha256.Sum256([]byte(c.clientID + "\x00" + c.clientSecret + "\x00" + c.refreshToken))
	return hex.EncodeToString(sum[:])
}

func newOAuthSources(client *http.Client, tokenURL string, scopes []string, now func() time.Time) *oauthSources {
	return &oauthSources{client: client, tokenURL: tokenURL, scopes: scopes, now: now, sources: map[int64]oauthSource{}}
}

// withRefreshScope makes refreshes name the scopes too. x/oauth2 sends only
// grant_type and refresh_token on a refresh; the Microsoft identity platform
// documents scope as required there ("Refresh the access token", v2.0
// authorization code flow).
func (o *oauthSources) withRefreshScope() *oauthSources {
	c := *o.client
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = formExtra{base: base, extra: url.Values{"scope": {strings.Join(o.scopes, " ")}}}
	o.client = &c
	return o
}

// formExtra adds form values that a form-encoded POST lacks.
type formExtra struct {
	base  http.RoundTripper
	extra url.Values
}

func (f formExtra) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.Body == nil ||
		!strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return f.base.RoundTrip(req)
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, err
	}
	for k, v := range f.extra {
		if form.Get(k) == "" {
			form[k] = v
		}
	}
	enc := form.Encode()
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(strings.NewReader(enc))
	r.ContentLength = int64(len(enc))
	r.GetBody = nil
	return f.base.RoundTrip(r)
}

// source returns the destination's token source, built on first use.
func (o *oauthSources) source(destID int64, c oauthCreds) oauth2.TokenSource {
	key := c.key()
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.sources[destID]; ok && s.key == key {
		return s.ts
	}
	conf := &oauth2.Config{
		ClientID: c.clientID, ClientSecret: c.clientSecret, Scopes: o.scopes,
		// Credentials in the form body, as both Google's and Microsoft's
		// token endpoints accept; AuthStyleAutoDetect would probe with a
		// failing request first.
		Endpoint: oauth2.Endpoint{TokenURL: o.tokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
	// The context only carries the HTTP client: refreshes happen on later
	// calls, each bounded by the client's timeout.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, o.client)
	ts := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: c.refreshToken})
	o.sources[destID] = oauthSource{key: key, ts: ts}
	return ts
}

// token returns a valid access token for the destination. A failure is a
// classified *Error: a revoked refresh token or a refused client is ErrAuth
// (the merchant must reconnect), a rate limit is ErrThrottled, and anything
// else transient.
func (o *oauthSources) token(ctx context.Context, destID int64, c oauthCreds, platform string) (string, error) {
	type res struct {
		tok *oauth2.Token
		err error
	}
	ch := make(chan res, 1)
	ts := o.source(destID, c)
	go func() {
		t, err := ts.Token()
		ch <- res{t, err}
	}()
	select {
	case <-ctx.Done():
		return "", Transient(0, "", "send interrupted")
	case r := <-ch:
		if r.err != nil {
			return "", oauthError(r.err, platform, o.now())
		}
		return r.tok.AccessToken, nil
	}
}

// forget drops a destination's cached token after the API refused it, so the
// next call refreshes.
func (o *oauthSources) forget(destID int64) {
	o.mu.Lock()
	delete(o.sources, destID)
	o.mu.Unlock()
}

// oauthError classes a failed refresh-token exchange.
func oauthError(err error, platform string, now time.Time) *Error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return Transient(0, "", "no answer from "+platform+"'s OAuth endpoint")
	}
	status := re.Response.StatusCode
	desc := truncate(strings.TrimSpace(re.ErrorDescription), 200)
	switch {
	case status == http.StatusTooManyRequests:
		return Throttled(status, re.ErrorCode, platform+"'s OAuth endpoint is rate limiting", RetryAfter(re.Response.Header, now))
	case status >= 500:
		return Transient(status, re.ErrorCode, platform+"'s OAuth endpoint failed")
	case re.ErrorCode == "invalid_grant":
		return Auth(status, "invalid_grant", "the refresh token was revoked or has expired; reconnect the "+platform+" account")
	}
	msg := platform + " refused the OAuth client credentials"
	if desc != "" {
		msg += ": " + desc
	}
	return Auth(status, re.ErrorCode, msg)
}
