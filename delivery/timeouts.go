package delivery

import "time"

// sendTimeouts bounds one request to each platform, so that a platform
// that hangs (connections open, no answer) gives its slot back and its
// destination's breaker opens, instead of holding the slot for the HTTP
// client's 30 s. Each is the platform's own guidance where it gives one,
// otherwise a few times its usual answer time (our choice: the other
// platforms publish no recommended timeout). Tests and unusual gateways
// override them with Config.SendTimeouts.
var sendTimeouts = map[string]time.Duration{
	// Meta: "we recommend setting a timeout of 1500 milliseconds on the
	// request. For the majority of requests, the response time will be
	// under 600 milliseconds." (Conversions API, Troubleshooting,
	// https://developers.facebook.com/documentation/ads-commerce/conversions-api/support,
	// read 2026-12-03.) That advice is for one event per request; our
	// batches carry up to 1,000, so perEvent below adds time for them.
	"meta": 1500 * time.Millisecond,
	// Google names no client timeout (its Python client library sets
	// none and leaves it to the server: developers.google.com/google-ads/
	// api/docs/client-libs/python/timeouts, read 2026-12-03). Ours: an
	// OAuth token refresh may come before the upload, two requests.
	"google_ads": 10 * time.Second,
	// LinkedIn may refresh its token too; Microsoft's offline
	// conversions are a SOAP call that answers in seconds.
	"linkedin":  10 * time.Second,
	"microsoft": 10 * time.Second,
	"tiktok":    5 * time.Second,
	"reddit":    5 * time.Second,
	"pinterest": 5 * time.Second,
	"snapchat":  5 * time.Second,
}

// DefaultSendTimeouts returns the built-in per-platform deadlines.
func DefaultSendTimeouts() map[string]time.Duration {
	out := make(map[string]time.Duration, len(sendTimeouts))
	for k, v := range sendTimeouts {
		out[k] = v
	}
	return out
}

// defaultSendTimeout is for a platform not in the table.
const defaultSendTimeout = 10 * time.Second

// perEvent is added per conversion in a batch, for the platform to read
// and validate a large request (1,000 Meta events: +1 s).
const perEvent = time.Millisecond

// sendTimeout is how long one batch of n conversions may take.
func (w *Worker) sendTimeout(platform string, n int) time.Duration {
	d, ok := w.cfg.SendTimeouts[platform]
	if !ok {
		d, ok = sendTimeouts[platform]
	}
	if !ok {
		d = defaultSendTimeout
	}
	return d + time.Duration(n)*perEvent
}
