package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
)

// Browser beacon limits.
const (
	// MaxBeaconBody caps a beacon's body (8 KiB).
	MaxBeaconBody = 8 << 10
	// maxBeaconDepth bounds JSON nesting: the documented shape is three
	// levels deep (click_ids → name → value).
	maxBeaconDepth = 4
	// ScriptRecent is how recently a shop's script must have sent a
	// beacon for its conversions to wait for theirs.
	ScriptRecent = 7 * 24 * time.Hour
	maxUserAgent = 512
)

// DefaultBeaconHold is how long a conversion waits for its beacon by
// default (POSTBACK_BEACON_HOLD).
const DefaultBeaconHold = 15 * time.Second

// beaconHold is how long a webhook's conversion should wait for its
// browser beacon: the configured hold when the shop's script sent a beacon
// in the last 7 days, else 0.
func beaconHold(cfg Config, shop store.Shop, now time.Time) time.Duration {
	if cfg.BeaconHold <= 0 || !usesScript(shop, now) {
		return 0
	}
	return cfg.BeaconHold
}

// usesScript reports whether the shop's script sent a beacon in the last
// 7 days (ScriptSeenAt is kept to the hour, so allow one more).
func usesScript(shop store.Shop, now time.Time) bool {
	return !shop.ScriptSeenAt.IsZero() && now.Sub(shop.ScriptSeenAt) <= ScriptRecent+time.Hour
}

// beaconBody is the beacon as the browser sends it.
type beaconBody struct {
	OrderRef string                         `json:"order_ref"`
	EventID  string                         `json:"event_id"`
	PageURL  string                         `json:"page_url"`
	FBP      string                         `json:"fbp"`
	FBC      string                         `json:"fbc"`
	TTP      string                         `json:"ttp"`
	ClickIDs map[string]mapping.BeaconClick `json:"click_ids"`
	UTM      map[string]string              `json:"utm"`
	Consent  *mapping.Consent               `json:"consent"`
}

// handleCollect receives POST /collect/{public_id}. It answers 204 to
// every well-formed beacon whether or not an order matches (so it tells a
// stranger nothing), 404 without detail for an unknown shop, 400 for a
// malformed body, 413 for one over 8 KiB and 429 to an address sending too
// many. Cookie values are never logged.
func handleCollect(cfg Config, limits *ipLimiter) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		corsHeaders(c)
		now := cfg.Now().UTC()
		ip := c.ClientIP()
		count := func(outcome string) { cfg.Metrics.Beacons.WithLabelValues(outcome).Inc() }
		if !limits.allow(ip, now) {
			count("rate_limited")
			c.Header("Retry-After", "1")
			c.AbortWithStatus(http.StatusTooManyRequests)
			return
		}
		shop, err := cfg.Store.ShopByPublicID(ctx, c.Param("public_id"))
		switch {
		case errors.Is(err, store.ErrNotFound):
			count("unknown_shop")
			c.AbortWithStatus(http.StatusNotFound)
			return
		case err != nil:
			cfg.Log.ErrorContext(ctx, "look up shop for beacon", slog.String("error", err.Error()))
			c.AbortWithStatus(http.StatusServiceUnavailable)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxBeaconBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				count("too_large")
				jsonError(c, http.StatusRequestEntityTooLarge, "beacon body is over 8 KiB")
				return
			}
			jsonError(c, http.StatusBadRequest, "could not read the beacon body")
			return
		}
		b, msg := parseBeacon(body, now)
		if msg != "" {
			count("bad_request")
			jsonError(c, http.StatusBadRequest, msg)
			return
		}
		b.UserAgent = truncate(c.Request.UserAgent(), maxUserAgent)
		if a, err := netip.ParseAddr(ip); err == nil && a.IsGlobalUnicast() && !a.IsPrivate() {
			b.ClientIP = a.Unmap().String()
		}
		b.ReceivedAt = now
		res, err := cfg.Store.SaveBeacon(ctx, shop.ID, b, now)
		if err != nil {
			cfg.Log.ErrorContext(ctx, "save beacon", slog.Int64("shop_id", shop.ID), slog.String("error", err.Error()))
			c.AbortWithStatus(http.StatusServiceUnavailable)
			return
		}
		count(res.Outcome)
		if res.Released {
			cfg.Notify()
		}
		cfg.Log.DebugContext(ctx, "beacon", slog.Int64("shop_id", shop.ID), slog.String("outcome", res.Outcome),
			slog.Int("dropped", len(b.Dropped)))
		c.Status(http.StatusNoContent)
	}
}

// handleCollectPreflight answers the CORS preflight of a beacon.
func handleCollectPreflight() gin.HandlerFunc {
	return func(c *gin.Context) {
		corsHeaders(c)
		c.Header("Access-Control-Allow-Methods", "POST, OPTIONS")
		c.Header("Access-Control-Allow-Headers", "Content-Type")
		c.Header("Access-Control-Max-Age", "86400")
		c.Status(http.StatusNoContent)
	}
}

// corsHeaders lets any storefront post a beacon. No credentials are
// allowed: the beacon needs no cookie of ours.
func corsHeaders(c *gin.Context) {
	c.Header("Access-Control-Allow-Origin", "*")
	c.Header("Vary", "Origin")
}

// parseBeacon decodes and cleans a beacon; it returns a message for a
// body that is not one.
func parseBeacon(body []byte, now time.Time) (mapping.Beacon, string) {
	if !json.Valid(body) {
		return mapping.Beacon{}, "beacon body is not JSON"
	}
	if jsonDepth(body) > maxBeaconDepth {
		return mapping.Beacon{}, "beacon body is nested too deeply"
	}
	var in beaconBody
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&in); err != nil {
		return mapping.Beacon{}, "beacon body does not have the beacon's shape"
	}
	b := mapping.Beacon{
		OrderRef: in.OrderRef, EventID: in.EventID, PageURL: in.PageURL, FBP: in.FBP, FBC: in.FBC, TTP: in.TTP,
		ClickIDs: in.ClickIDs, UTM: in.UTM, Consent: in.Consent,
	}
	if len(b.ClickIDs) > 32 || len(b.UTM) > 16 {
		return mapping.Beacon{}, "beacon carries too many values"
	}
	if !b.Clean(now) {
		return mapping.Beacon{}, "order_ref is missing or not a valid reference"
	}
	return b, ""
}

// jsonDepth is the deepest nesting of objects and arrays in valid JSON.
func jsonDepth(b []byte) int {
	depth, most, inString, escaped := 0, 0, false, false
	for _, ch := range b {
		switch {
		case escaped:
			escaped = false
		case inString && ch == '\\':
			escaped = true
		case ch == '"':
			inString = !inString
		case inString:
		case ch == '{' || ch == '[':
			depth++
			most = max(most, depth)
		case ch == '}' || ch == ']':
			depth--
		}
	}
	return most
}

// ipLimiter rate-limits beacons per client address (IPv6 per /64) with a
// token bucket each, in bounded memory: idle buckets are swept, and past
// maxEntries the table starts afresh.
type ipLimiter struct {
	limit      rate.Limit
	burst      int
	maxEntries int
	mu         sync.Mutex
	m          map[netip.Prefix]*ipBucket
	lastSweep  time.Time
}

type ipBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newIPLimiter(perSecond float64, burst, maxEntries int) *ipLimiter {
	return &ipLimiter{limit: rate.Limit(perSecond), burst: burst, maxEntries: maxEntries, m: map[netip.Prefix]*ipBucket{}}
}

func (l *ipLimiter) allow(ip string, now time.Time) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		a = netip.IPv4Unspecified()
	}
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	key, _ := a.Prefix(bits)
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute {
		for k, b := range l.m {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.m, k)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.m[key]
	if !ok {
		if len(l.m) >= l.maxEntries {
			l.m = map[netip.Prefix]*ipBucket{}
		}
		b = &ipBucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.m[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}
