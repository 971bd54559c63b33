package platforms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// OAuth access tokens for the platforms that mint them from a refresh token
// (Google Ads, LinkedIn). The exchange itself (RFC 6749 §6: the form, the
// answer, the error object) is golang.org/x/oauth2's; what is ours is one
// cached token per destination, on the sender's clock, with one refresh at
// a time: concurrent sends for a destination wait for the refresh in flight
// rather than each spending the refresh token.

// oauthTokens caches one access token per destination.
type oauthTokens struct {
	mu sync.Mutex
	m  map[int64]*oauthToken
}

// oauthToken is one destination's token. sem is a one-slot semaphore
// guarding the other fields, so waiters still honour their context.
type oauthToken struct {
	sem    chan struct{}
	key    string // the credentials the token was minted from
	access string
	expiry time.Time
}

func (t *oauthTokens) entry(id int64) *oauthToken {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[int64]*oauthToken{}
	}
	e, ok := t.m[id]
	if !ok {
		e = &oauthToken{sem: make(chan struct{}, 1)}
		t.m[id] = e
	}
	return e
}

// oauthGrant is what a refresh needs.
type oauthGrant struct {
	tokenURL, clientID, clientSecret, refreshToken string
}

// key identifies the grant's credentials, so that replacing them drops a
// token minted from the old ones.
func (g oauthGrant) key() string {
	sum := sha256.Sum256([]byte(g.clientID + "\x00" + g.clientSecret + "\x00" + g.refreshToken))
	return hex.EncodeToString(sum[:])
}

// token returns the destination's cached access token, or refreshes it when
// it is missing, about to expire (margin), minted from other credentials,
// or equal to stale (a token the platform just refused). failure classes a
// refused exchange.
func (t *oauthTokens) token(ctx context.Context, id int64, g oauthGrant, client *http.Client, now time.Time,
	margin time.Duration, stale string, failure func(*oauth2.RetrieveError) error) (string, error) {
	e := t.entry(id)
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return "", Transient(0, "", "send interrupted")
	}
	defer func() { <-e.sem }()
	key := g.key()
	if e.key == key && e.access != "" && e.access != stale && now.Before(e.expiry) {
		return e.access, nil
	}
	e.key, e.access, e.expiry = key, "", time.Time{}
	access, ttl, err := oauthRefresh(ctx, g, client, failure)
	if err != nil {
		return "", err
	}
	if ttl < 2*margin {
		margin = ttl / 2
	}
	e.access, e.expiry = access, now.Add(ttl-margin)
	return access, nil
}

// oauthDefaultTTL is assumed when the token endpoint does not say how long
// a token lives.
const oauthDefaultTTL = time.Hour

// oauthRefresh exchanges the refresh token for an access token through
// golang.org/x/oauth2, with the client id and secret in the form (both
// Google and LinkedIn take them there), over client.
func oauthRefresh(ctx context.Context, g oauthGrant, client *http.Client, failure func(*oauth2.RetrieveError) error) (string, time.Duration, error) {
	conf := &oauth2.Config{
		ClientID: g.clientID, ClientSecret: g.clientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: g.tokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, client)
	tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: g.refreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re) && re.Response != nil:
			return "", 0, failure(re)
		case ctx.Err() != nil:
			return "", 0, Transient(0, "", "send interrupted")
		case strings.Contains(err.Error(), "server response missing access_token"):
			return "", 0, Transient(http.StatusOK, "", "the token endpoint answered without an access token")
		}
		return "", 0, Transient(0, "", "no answer from the OAuth token endpoint")
	}
	ttl := oauthDefaultTTL
	if !tok.Expiry.IsZero() {
		// x/oauth2 dates the expiry by the wall clock; keep only the
		// lifetime, which the sender dates by its own clock.
		ttl = max(time.Until(tok.Expiry).Round(time.Second), 0)
	}
	return tok.AccessToken, ttl, nil
}

// retrieveAnswer is a refused exchange as the answer reader sees it.
func retrieveAnswer(re *oauth2.RetrieveError) answer {
	return answer{Status: re.Response.StatusCode, Header: re.Response.Header, Body: re.Body}
}
