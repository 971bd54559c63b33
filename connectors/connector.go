// Package connectors turns store webhooks (Shopify, WooCommerce, Stripe)
// into canonical mapping types. Verification is a pure function of the raw
// body, the headers and the shop's secret, run on the exact bytes received
// before anything is parsed.
package connectors

import (
	"errors"
	"net/http"

	"github.com/postbackhq/postback/mapping"
)

// Verification errors. Every one of them means the webhook is answered 401.
var (
	ErrNotSigned        = errors.New("webhook has no signature")
	ErrNoValidSignature = errors.New("webhook signature does not match")
	ErrTooOld           = errors.New("webhook timestamp outside tolerance")
)

// ErrMalformed wraps a body that was genuinely signed but cannot be parsed;
// such a webhook is stored as an error event and answered 200.
var ErrMalformed = errors.New("malformed webhook body")

// Connector verifies and maps one store's webhooks.
type Connector interface {
	// Source is the store this connector serves.
	Source() mapping.Source
	// Verify checks the signature of body against the shop's secret. It
	// returns nil, or an error matching ErrNotSigned, ErrNoValidSignature
	// or ErrTooOld.
	Verify(h http.Header, body []byte, secret string) error
	// Parse maps a verified delivery under the shop's rules. A body that
	// cannot be parsed returns an error wrapping ErrMalformed.
	Parse(h http.Header, body []byte, rules mapping.ShopRules) (mapping.Webhook, error)
}

// Pinger is implemented by connectors whose store sends an unsigned
// connectivity check (WooCommerce's ping when a webhook is saved). The web
// layer asks it before verifying; a ping is answered 200 and stored nowhere.
type Pinger interface {
	IsPing(h http.Header, body []byte) bool
}
