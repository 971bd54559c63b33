package platforms

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// oauthCreds are a destination's refresh-token grant inputs.
type oauthCreds struct {
	clientID, clientSecret, refreshToken string
}

// grant is the refresh for tokenURL.
func (c oauthCreds) grant(tokenURL string) oauthGrant {
	return oauthGrant{tokenURL: tokenURL, clientID: c.clientID, clientSecret: c.clientSecret, refreshToken: c.refreshToken}
}

// withFormValues returns a copy of client whose form-encoded POSTs carry
// extra values they lack. x/oauth2 sends only grant_type and refresh_token
// on a refresh; the Microsoft identity platform documents scope as required
// there ("Refresh the access token", v2.0 authorization code flow).
func withFormValues(client *http.Client, extra url.Values) *http.Client {
	c := *client
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = formExtra{base: base, extra: extra}
	return &c
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

// oauthError classes a refused refresh-token exchange: a revoked refresh
// token or a refused client is ErrAuth (the merchant must reconnect), a rate
// limit ErrThrottled, a server failure transient.
func oauthError(re *oauth2.RetrieveError, platform string, now time.Time) error {
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
