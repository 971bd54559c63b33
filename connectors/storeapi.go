package connectors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// Errors from a store's own API (as opposed to its webhooks). Callers test
// them with errors.Is and show the merchant a status per kind.
var (
	// ErrStoreAuth: the store refused the credentials (401, 403).
	ErrStoreAuth = errors.New("store API refused the credentials")
	// ErrStoreUnavailable: the store could not answer now (5xx, network,
	// timeout, throttling); try again later.
	ErrStoreUnavailable = errors.New("store API unavailable")
	// ErrStoreBadAnswer: the store answered something that is not its API
	// (a URL that is not the store, garbage, a redirect).
	ErrStoreBadAnswer = errors.New("store API answered something unexpected")
	// ErrStoreNotConnected: the shop has no credentials for its store's API.
	ErrStoreNotConnected = errors.New("store API credentials not set")
)

// ThrottledError is a store API's "slow down" (HTTP 429, or Shopify's
// THROTTLED), with how long to wait. It unwraps to ErrStoreUnavailable.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("store API throttled the request; retry after %s", e.RetryAfter)
}

// Unwrap makes a throttle an ErrStoreUnavailable for errors.Is.
func (e *ThrottledError) Unwrap() error { return ErrStoreUnavailable }

// StoreCredentials are what a shop gave for its store's API. Each store
// reads its own fields: Shopify AdminAPIToken (and APISecret to sign the
// webhooks it registers), WooCommerce ConsumerKey and ConsumerSecret,
// Stripe StripeAPIKey.
type StoreCredentials struct {
	StoreURL       string
	AdminAPIToken  string
	APISecret      string
	ConsumerKey    string
	ConsumerSecret string
	StripeAPIKey   string
}

// StoreOrder is one order as a store's API lists it, shaped as the webhook
// that would have brought it, so reconciliation maps it with the
// connector's Parse exactly as it maps webhooks.
type StoreOrder struct {
	// ID is the store's order id as webhooks give it.
	ID     string
	Header http.Header
	Body   []byte
}

// OrderLister lists a store's orders that reached the shop's trigger
// (paid, or fulfilled) between since and until, following every page.
type OrderLister interface {
	ListOrders(ctx context.Context, cred StoreCredentials, since, until time.Time, trigger mapping.Trigger) ([]StoreOrder, error)
}

// storeAPIMaxPages caps the pages one listing reads, so a store that never
// ends its pagination cannot hold a run forever.
const storeAPIMaxPages = 200

// storeAPIMaxBody caps a store API answer.
const storeAPIMaxBody = 16 << 20

// storeAPITimeout bounds one call when the caller's client has none.
const storeAPITimeout = 30 * time.Second

// storeHTTPClient copies c (or makes a client) so that it follows no
// redirects, which could carry credentials to another host, and has a
// timeout.
func storeHTTPClient(c *http.Client) *http.Client {
	out := &http.Client{Timeout: storeAPITimeout}
	if c != nil {
		cp := *c
		out = &cp
		if out.Timeout == 0 {
			out.Timeout = storeAPITimeout
		}
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return out
}

// storeBaseURL checks the operator's store URL and returns it without a
// trailing slash. Credentials go only to https, except to local hosts
// (tests, development).
func storeBaseURL(raw string) (string, error) {
	raw = strings.TrimRight(strings.TrimSpace(raw), "/")
	if raw == "" {
		return "", fmt.Errorf("%w: no store URL", ErrStoreNotConnected)
	}
	if !strings.HasPrefix(raw, "https://") && !isLocalURL(raw) {
		return "", fmt.Errorf("%w: store URL must start with https://", ErrStoreBadAnswer)
	}
	return raw, nil
}

func isLocalURL(raw string) bool {
	for _, p := range []string{"http://127.0.0.1", "http://localhost", "http://[::1]"} {
		if strings.HasPrefix(raw, p) {
			return true
		}
	}
	return false
}

// storeStatusError classifies a non-2xx answer. The body is not quoted:
// it may echo what was sent.
func storeStatusError(resp *http.Response, now time.Time) error {
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w (HTTP %d)", ErrStoreAuth, resp.StatusCode)
	case resp.StatusCode == http.StatusTooManyRequests:
		return &ThrottledError{RetryAfter: retryAfter(resp.Header.Get("Retry-After"), now, 10*time.Second)}
	case resp.StatusCode >= 500:
		return fmt.Errorf("%w (HTTP %d)", ErrStoreUnavailable, resp.StatusCode)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fmt.Errorf("%w: redirect (HTTP %d); is the store URL right?", ErrStoreBadAnswer, resp.StatusCode)
	default:
		return fmt.Errorf("%w (HTTP %d)", ErrStoreBadAnswer, resp.StatusCode)
	}
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time, def time.Duration) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return def
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 {
		// Capped at a day: a larger value (or one past int64 nanoseconds)
		// is a misbehaving server, not a plan.
		return time.Duration(min(n, 86400) * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, 24*time.Hour)
		}
		return 0
	}
	return def
}

// readStoreBody reads a capped body.
func readStoreBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, storeAPIMaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read answer: %v", ErrStoreUnavailable, err)
	}
	if len(b) > storeAPIMaxBody {
		return nil, fmt.Errorf("%w: answer over %d bytes", ErrStoreBadAnswer, storeAPIMaxBody)
	}
	return b, nil
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// storeNetError wraps a transport error without the URL, which for some
// stores carries the shop's domain only but is kept out of messages the
// merchant sees anyway.
func storeNetError(err error) error {
	var ue interface{ Timeout() bool }
	if errors.As(err, &ue) && ue.Timeout() {
		return fmt.Errorf("%w: timed out", ErrStoreUnavailable)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: could not connect", ErrStoreUnavailable)
}

// bytesReader lets a nil body stay a nil io.Reader.
type bytesReader struct{ b []byte }

func newBytesReader(b []byte) *bytesReader { return &bytesReader{b: b} }

func (r *bytesReader) reader() io.Reader {
	if r == nil {
		return nil
	}
	return bytes.NewReader(r.b)
}
