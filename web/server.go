// Package web serves Postback over HTTP with Gin: store webhooks, the admin
// JSON API, health and metrics endpoints, and the admin UI.
package web

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/postbackhq/postback/connectors"
	"github.com/postbackhq/postback/internal/metrics"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// DefaultMaxBody is the largest webhook body accepted (5 MiB).
const DefaultMaxBody = 5 << 20

// DefaultMaxInflightBytes caps the webhook bytes held at once (64 MiB).
const DefaultMaxInflightBytes = 64 << 20

// Config is everything the HTTP layer depends on.
type Config struct {
	Store      *store.Store
	Committer  *store.Committer
	Connectors map[mapping.Source]connectors.Connector
	Senders    map[string]platforms.Sender
	Routing    store.Routing
	Log        *slog.Logger
	Metrics    *metrics.Metrics
	Gatherer   prometheus.Gatherer
	// PublicURL is the base of the webhook URLs shown to merchants.
	PublicURL string
	// APIToken, when set, is accepted as a bearer token for /api/v1.
	APIToken string
	// MaxBody caps a webhook body (default DefaultMaxBody).
	MaxBody int64
	// MaxInflightBytes caps the webhook body bytes held by all requests
	// together (default DefaultMaxInflightBytes); past it webhooks are
	// answered 503 with Retry-After.
	MaxInflightBytes int64
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Reconciler runs a shop's reconciliation on demand (nil: answer 503).
	Reconciler Reconciler
	// ReconcileEvery is how often connected shops are reconciled, for the
	// UI's wording (POSTBACK_RECONCILE_INTERVAL; 0: only on demand).
	ReconcileEvery time.Duration
	// Webhooks checks and registers shops' webhook subscriptions (nil:
	// answer 503).
	Webhooks WebhookManager
	// Alerts test-sends through alert channels; SMTPConfigured allows
	// e-mail channels (POSTBACK_SMTP_URL is set).
	Alerts         AlertTester
	SMTPConfigured bool
	// Notify wakes the delivery worker after deliveries were queued
	// outside a webhook (redeliver).
	Notify func()
	// SecureCookies marks session cookies Secure (PublicURL is https).
	SecureCookies bool
	// TrustedProxies are the addresses (IPs or CIDRs) of reverse proxies
	// whose X-Forwarded-For is believed; empty trusts none, so the client
	// address is the connection's.
	TrustedProxies []string
	// SessionIdle ends a session unused for this long (default 12 h);
	// sessions also end 7 days after log-in whatever their use.
	SessionIdle time.Duration
	// OnSetupDone runs once the first-run setup created the first user
	// (the program removes the setup-link file).
	OnSetupDone func()
	// MetricsToken, when set, is required as a bearer token for /metrics.
	MetricsToken string
	// MetricsElsewhere leaves /metrics off this handler: the program
	// serves it on its own address (MetricsHandler).
	MetricsElsewhere bool
	// BcryptConcurrency bounds concurrent password checks (default half
	// the CPUs, at least one).
	BcryptConcurrency int
	// Rejections, when set, counts webhooks refused for their signature per
	// shop, for the dashboard and the shop's page.
	Rejections *store.Rejections
	// ShopCacheTTL is how long a shop looked up by webhook key is reused
	// (default 5 s); changes made on another replica apply after it.
	ShopCacheTTL time.Duration
	// BeaconHold is how long a conversion of a shop that uses the
	// storefront script waits for its browser beacon (POSTBACK_BEACON_HOLD);
	// 0 disables the wait.
	BeaconHold time.Duration
	// BeaconRate and BeaconBurst limit beacons per client address
	// (default 5 a second, bursts of 40).
	BeaconRate  float64
	BeaconBurst int
}

// NewServer builds the HTTP handler.
func NewServer(cfg Config) http.Handler {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxInflightBytes <= 0 {
		cfg.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Notify == nil {
		cfg.Notify = func() {}
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.OnSetupDone == nil {
		cfg.OnSetupDone = func() {}
	}
	if cfg.ShopCacheTTL <= 0 {
		cfg.ShopCacheTTL = 5 * time.Second
	}
	if cfg.BeaconRate <= 0 {
		cfg.BeaconRate = 5
	}
	if cfg.BeaconBurst <= 0 {
		cfg.BeaconBurst = 40
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// Gin believes X-Forwarded-For from anyone by default, which would let
	// a client pick its own address past the login rate limit.
	if err := r.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		cfg.Log.Error("ignoring POSTBACK_TRUSTED_PROXIES", slog.String("error", err.Error()))
		_ = r.SetTrustedProxies(nil)
	}
	r.Use(recovery(cfg.Log), accessLog(cfg.Log))
	if strings.HasPrefix(cfg.PublicURL, "https://") {
		r.Use(strictTransport())
	}
	shops := newShopCache(cfg.Store, cfg.ShopCacheTTL, cfg.Now)
	addRoutes(r, cfg, shops)
	return r
}

// DefaultSessionIdle is how long an unused admin session lasts.
const DefaultSessionIdle = 12 * time.Hour

// strictTransport tells browsers to reach this host over https only, once
// they have seen it over https (they ignore the header over http). No
// includeSubDomains: other hosts under the domain are not ours to pin.
func strictTransport() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Strict-Transport-Security", "max-age=31536000")
		c.Next()
	}
}

// recovery turns a panic into a 500 and a log line, never a crash.
func recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				log.ErrorContext(c.Request.Context(), "panic while serving", slog.String("route", c.FullPath()), slog.Any("panic", v))
				c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "internal error"})
			}
		}()
		c.Next()
	}
}

// accessLog logs each request by route template, never by raw path: a
// webhook path carries the shop's key.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		log.DebugContext(c.Request.Context(), "request",
			slog.String("method", c.Request.Method), slog.String("route", route),
			slog.Int("status", c.Writer.Status()), slog.Duration("duration", time.Since(start)))
	}
}
