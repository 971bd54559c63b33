// Package platforms turns canonical conversions into ad platforms' requests
// and classifies what the platforms answer. One file per platform; this file
// holds the shared contract.
package platforms

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
)

// Destination is one platform account configured for a shop, with its
// credentials decrypted.
type Destination struct {
	ID          int64
	ShopID      int64
	Platform    string
	Credentials map[string]string
	Settings    map[string]string
}

// Field describes one credential or setting a platform needs, for
// validation and for the admin forms.
type Field struct {
	Name     string
	Label    string
	Help     string
	Required bool
	Secret   bool // never shown back once saved
	Setting  bool // lives in settings, not credentials
	Bool     bool // a yes/no setting ("true"/"false")
	// Choices, when set, are the only values the field takes: forms show
	// a select, and anything else is refused. A Choice with the empty
	// Value means "not set".
	Choices []Choice
}

// Choice is one value a Field may take.
type Choice struct {
	Value string
	Label string
	// Aliases are other spellings accepted for Value, in any case.
	Aliases []string
}

// Pick returns the choice a value names (in any case, or by an alias).
func (f Field) Pick(v string) (Choice, bool) {
	for _, c := range f.Choices {
		if strings.EqualFold(v, c.Value) {
			return c, true
		}
		for _, a := range c.Aliases {
			if strings.EqualFold(v, a) {
				return c, true
			}
		}
	}
	return Choice{}, false
}

// Request is a rendered outgoing request, with every secret redacted, as
// stored on a delivery and shown in a dry run.
type Request struct {
	Method string            `json:"method"`
	URL    string            `json:"url"`
	Header map[string]string `json:"headers,omitempty"`
	Body   json.RawMessage   `json:"body"`
}

// Result is what happened to one conversion of a batch.
type Result struct {
	// Payload is this conversion's part of the request as sent, with hashed
	// identifiers only.
	Payload json.RawMessage
	// StatusCode is the HTTP status of the answer (0 when none arrived).
	StatusCode int
	// Response is the platform's answer for this conversion (the whole body
	// for platforms that answer per batch).
	Response string
	// Err is nil when the platform accepted the conversion; otherwise it is
	// an *Error wrapping one of the class sentinels.
	Err error
	// Match is which identifiers were sent, the quality estimate, and what
	// the platform reported about matching.
	Match mapping.Match
}

// Sender delivers conversions to one ad platform.
type Sender interface {
	// Name is the platform key used in the API ("meta", "google_ads").
	Name() string
	// Fields lists the credentials and settings a destination needs.
	Fields() []Field
	// BatchSize is the most conversions one request may carry.
	BatchSize() int
	// MaxAge is how old an event the platform still accepts; older
	// conversions fail without being sent.
	MaxAge() time.Duration
	// TestMode reports whether the destination sends to the platform's
	// test mode (test orders go only to such destinations).
	TestMode(d Destination) bool
	// Render builds the request for a batch without sending it (dry run).
	Render(d Destination, convs []mapping.Conversion) (Request, error)
	// Send delivers a batch and returns one Result per conversion, in order.
	// It never returns fewer results than conversions.
	Send(ctx context.Context, d Destination, convs []mapping.Conversion) []Result
}

// Config is what every sender is built from.
type Config struct {
	// BaseURL replaces the platform's public API host (tests, gateways).
	BaseURL string
	// Client sends the requests; it must have a timeout.
	Client *http.Client
	// Now is the clock, for event-age checks (OAuth token lifetimes are
	// dated by golang.org/x/oauth2 on the wall clock).
	Now func() time.Time
	// Version is Postback's own version, named to platforms that take a
	// partner or integration name (Meta's partner_agent).
	Version string
}

func (c Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// withDefaults is c as a sender keeps it: an empty BaseURL becomes the
// platform's public host base, without trailing slashes, and a nil Client
// becomes one with the given timeout that follows no redirect.
func (c Config) withDefaults(base string, timeout time.Duration) Config {
	if c.BaseURL == "" {
		c.BaseURL = base
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Client == nil {
		c.Client = &http.Client{Timeout: timeout, CheckRedirect: NoRedirect}
	}
	return c
}

// Adjustment restates or retracts a conversion already delivered, for a
// refund.
type Adjustment struct {
	Original mapping.Conversion
	Refund   mapping.Refund
	// Remaining is the order's value after this and every earlier refund;
	// zero means the whole order was refunded (a retraction).
	Remaining decimal.Decimal
}

// Adjuster is implemented by platforms that accept refund adjustments
// (Google Ads). Platforms without it show refunds as not supported.
type Adjuster interface {
	Adjust(ctx context.Context, d Destination, adjs []Adjustment) []Result
}
