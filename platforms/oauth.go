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

// OAuth access tokens for the platforms that mint them from a refresh token
// (Google Ads API and Data Manager, LinkedIn, Microsoft Advertising). The
// exchange, the reuse of a live token and the one-refresh-at-a-time lock
// are golang.org/x/oauth2's (Config.TokenSource under
// ReuseTokenSourceWithExpiry); what is ours is one token source per
// destination and credentials, dropping a token the platform refused, and
// classing a refused exchange as a delivery failure.
//
// Token lifetimes are dated by x/oauth2 on the wall clock, not by
// Config.Now.

// oauthMargin is how long before its expiry an access token is replaced,
// so that a token never dies in flight.
const oauthMargin = 5 * time.Minute

// oauthCreds are a destination's refresh-token grant inputs.
type oauthCreds struct {
	clientID, clientSecret, refreshToken string
}

// key identifies the credentials, so that replacing them drops the token
// source minted from the old ones.
func (c oauthCreds) key() string {
	sum := sha256.Sum256([]byte(c.clientID + "\x00" + c.clientSecret + "\x00" + c.refreshToken))
	return hex.EncodeToString(sum[:])
}

// oauthSources is one sender's token sources, one per destination.
type oauthSources struct {
	platform string // as merchants write it, for messages
	tokenURL string
	client   *http.Client

	mu sync.Mutex
	m  map[int64]*oauthSource
}

// oauthSource is one destination's tokens.
type oauthSource struct {
	key string
	mu  sync.Mutex
	ts  oauth2.TokenSource
	// refused is an access token the platform refused (HTTP 401).
	refused string
}

// newOAuthSources returns the token sources for a platform's token
// endpoint, reached through client (whose timeout bounds a refresh)
// without following redirects: a redirected token request would carry the
// client secret and refresh token to another host. extra are form values
// the refresh must carry beyond x/oauth2's (Microsoft's scope).
func newOAuthSources(platform, tokenURL string, client *http.Client, extra url.Values) *oauthSources {
	c := *client
	c.CheckRedirect = NoRedirect
	if len(extra) > 0 {
		base := c.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		c.Transport = formExtra{base: base, extra: extra}
	}
	return &oauthSources{platform: platform, tokenURL: tokenURL, client: &c, m: map[int64]*oauthSource{}}
}

// source is the destination's token source for creds, a new one when the
// credentials changed.
func (o *oauthSources) source(id int64, creds oauthCreds) *oauthSource {
	key := creds.key()
	o.mu.Lock()
	defer o.mu.Unlock()
	s, ok := o.m[id]
	if !ok || s.key != key {
		s = &oauthSource{key: key, ts: o.newTokenSource(creds, creds.refreshToken)}
		o.m[id] = s
	}
	return s
}

// newTokenSource is x/oauth2's refreshing source from refresh, reusing each
// token until oauthMargin before its expiry. Its context only carries the
// token client: a refresh serves every send waiting for it, so no one
// send's context may cancel it.
func (o *oauthSources) newTokenSource(creds oauthCreds, refresh string) oauth2.TokenSource {
	conf := &oauth2.Config{
		ClientID: creds.clientID, ClientSecret: creds.clientSecret,
		// Google, LinkedIn and Microsoft all take the client in the form.
		Endpoint: oauth2.Endpoint{TokenURL: o.tokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, o.client)
	return oauth2.ReuseTokenSourceWithExpiry(nil, conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}), oauthMargin)
}

// token returns an access token for the destination. stale is a token the
// platform just refused, or "": a source still holding it refreshes once,
// however many sends report it. Concurrent callers share one refresh.
func (o *oauthSources) token(ctx context.Context, id int64, creds oauthCreds, stale string) (string, error) {
	s := o.source(id, creds)
	s.mu.Lock()
	if stale != "" {
		s.refused = stale
	}
	ts, refused := s.ts, s.refused
	s.mu.Unlock()
	tok, err := o.fetch(ctx, ts, creds)
	if err == nil && tok.AccessToken == refused {
		s.mu.Lock()
		if s.ts == ts {
			// Start again from the newest refresh token (Microsoft
			// rotates them; x/oauth2 keeps the newest on the token).
			s.ts = o.newTokenSource(creds, tok.RefreshToken)
		}
		ts = s.ts
		s.mu.Unlock()
		tok, err = o.fetch(ctx, ts, creds)
	}
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// fetch asks ts for a token, giving up when ctx ends; a refresh under way
// then finishes (within the token client's timeout) for the next caller.
func (o *oauthSources) fetch(ctx context.Context, ts oauth2.TokenSource, creds oauthCreds) (*oauth2.Token, error) {
	type got struct {
		tok *oauth2.Token
		err error
	}
	ch := make(chan got, 1)
	go func() {
		tok, err := ts.Token()
		ch <- got{tok, err}
	}()
	select {
	case <-ctx.Done():
		return nil, Transient(0, "", "send interrupted")
	case g := <-ch:
		if g.err != nil {
			return nil, o.refreshError(g.err, creds)
		}
		return g.tok, nil
	}
}

// refreshError classes a failed refresh. A revoked refresh token
// (invalid_grant) or a refused client is ErrAuth: the destination parks
// until the merchant reconnects. A rate limit is ErrThrottled, a failing
// or silent endpoint transient.
func (o *oauthSources) refreshError(err error, creds oauthCreds) error {
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.Response != nil:
		return oauthError(re, o.platform, creds)
	case errors.Is(err, ErrRedirect):
		return Transient(0, "", o.platform+"'s OAuth token endpoint answered with a redirect, which is not followed (check its URL)")
	case strings.Contains(err.Error(), "server response missing access_token"):
		return Transient(http.StatusOK, "", o.platform+"'s OAuth token endpoint answered without an access token")
	}
	return Transient(0, "", "no answer from "+o.platform+"'s OAuth token endpoint")
}

// oauthError classes a refused refresh-token exchange (RFC 6749 §5.2). The
// endpoint's description is shown with the destination's secrets removed.
func oauthError(re *oauth2.RetrieveError, platform string, creds oauthCreds) error {
	status := re.Response.StatusCode
	desc := strings.TrimSpace(re.ErrorDescription)
	for _, secret := range []string{creds.clientSecret, creds.refreshToken} {
		desc = redact(desc, secret)
	}
	desc = truncate(desc, 200)
	now := time.Now()
	switch {
	case status == http.StatusTooManyRequests:
		return Throttled(status, re.ErrorCode, platform+"'s OAuth token endpoint is rate limiting", RetryAfter(re.Response.Header, now))
	case status >= 500:
		e := Transient(status, re.ErrorCode, platform+"'s OAuth token endpoint failed")
		e.RetryAfter = RetryAfter(re.Response.Header, now)
		return e
	case re.ErrorCode == "invalid_grant":
		return Auth(status, "invalid_grant", "the refresh token was revoked or has expired; reconnect the "+platform+" account")
	}
	msg := platform + " refused the OAuth client credentials"
	if desc != "" {
		msg += ": " + desc
	}
	return Auth(status, re.ErrorCode, msg)
}

// formExtra adds form values that a form-encoded POST lacks. x/oauth2
// sends only grant_type and refresh_token (and the client) on a refresh;
// the Microsoft identity platform documents scope as required there
// ("Refresh the access token", v2.0 authorization code flow).
type formExtra struct {
	base  http.RoundTripper
	extra url.Values
}

func (f formExtra) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.Body == nil ||
		!strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return f.base.RoundTrip(req)
	}
	form, err := readForm(req)
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

func readForm(req *http.Request) (url.Values, error) {
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	return url.ParseQuery(string(b))
}
