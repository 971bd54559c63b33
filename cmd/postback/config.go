package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/postbackhq/postback/alert"
	"github.com/postbackhq/postback/delivery"
	"github.com/postbackhq/postback/store"
)

// Config is the whole configuration, read once at start from the
// environment (with flags of the same names in kebab case on top).
type Config struct {
	Addr          string
	DatabaseURL   string
	PublicURL     string
	SecretKey     string
	AdminPassword string
	APIToken      string
	LogLevel      string
	LogFormat     string
	// TrustedProxies lists reverse proxies whose X-Forwarded-For is
	// believed.
	TrustedProxies []string
	trustedProxies string
	// DebugAddr, when set, serves Go's pprof profiles there (keep it on
	// loopback or a private network).
	DebugAddr string
	// RetryBackoff is the first retry delay, doubled per attempt up to
	// RetryMaxBackoff.
	RetryBackoff    time.Duration
	RetryMaxBackoff time.Duration
	retryBackoff    string
	retryMaxBackoff string
	// SendTimeouts overrides the per-platform deadline of one request to
	// an ad platform (delivery.DefaultSendTimeouts).
	SendTimeouts map[string]time.Duration
	sendTimeouts string
	// Retention is how long finished events are kept; 0 keeps them.
	Retention time.Duration
	retention string
	// ReconcileInterval is how often each connected shop's orders are
	// compared with the webhooks received; 0 runs it only on demand.
	ReconcileInterval time.Duration
	reconcileInterval string
	// SMTPURL is POSTBACK_SMTP_URL (a secret: it carries the password).
	SMTPURL string

	// BeaconHold is how long a conversion waits for its browser beacon
	// when the shop uses the storefront script; 0 disables.
	BeaconHold time.Duration
	beaconHold string
	// WriterPriority is auto or off (see writerPriority).
	WriterPriority string
	// PlatformURLs maps a platform key to the base URL of its API.
	PlatformURLs map[string]string
	// MetricsToken, when set, is required as a bearer token for /metrics.
	MetricsToken string
	// MetricsAddr, when set, serves /metrics there instead of on Addr.
	MetricsAddr string
	// SessionIdle ends admin sessions unused this long.
	SessionIdle time.Duration
	sessionIdle string
	// SetupURLFile is where the first-run setup link is written (default
	// beside the SQLite database; none for PostgreSQL unless set).
	SetupURLFile string
	// MemoryLimit is the Go runtime's soft memory limit in bytes; 0 leaves
	// the runtime's own (GOMEMLIMIT, or none).
	MemoryLimit int64
	memoryLimit string
	// CompactAfter is how long after receipt finished events are
	// compressed; 0 turns compaction off.
	CompactAfter time.Duration
	compactAfter string
	// WebhookInflightBytes caps the webhook body bytes held at once.
	WebhookInflightBytes int64
	webhookInflight      string
}

// minTokenLen is the shortest POSTBACK_API_TOKEN and
// POSTBACK_METRICS_TOKEN accepted: 32 random characters are out of reach
// of guessing, even unthrottled.
const minTokenLen = 32

// defaultMemoryLimit is the soft memory limit when neither
// POSTBACK_MEMORY_LIMIT nor GOMEMLIMIT is set.
const defaultMemoryLimit = 256 << 20

// setting is one configuration variable.
type setting struct {
	env, def, help string
	field          func(*Config) *string
	url            bool
	secret         bool
}

// platformURLs are the base URLs of each platform API, by platform key.
var platformURLs = []struct{ key, env, def string }{
	{"meta", "POSTBACK_META_URL", "https://graph.facebook.com"},
	{"google_ads", "POSTBACK_GOOGLE_ADS_URL", "https://googleads.googleapis.com"},
	{"google_oauth", "POSTBACK_GOOGLE_OAUTH_URL", "https://oauth2.googleapis.com"},
	{"google_data_manager", "POSTBACK_GOOGLE_DATA_MANAGER_URL", "https://datamanager.googleapis.com"},
	{"tiktok", "POSTBACK_TIKTOK_URL", "https://business-api.tiktok.com"},
	{"reddit", "POSTBACK_REDDIT_URL", "https://ads-api.reddit.com"},
	{"linkedin", "POSTBACK_LINKEDIN_URL", "https://api.linkedin.com"},
	{"linkedin_oauth", "POSTBACK_LINKEDIN_OAUTH_URL", "https://www.linkedin.com"},
	{"microsoft", "POSTBACK_MICROSOFT_URL", "https://capi.uet.microsoft.com"},
	{"microsoft_ads", "POSTBACK_MICROSOFT_ADS_URL", "https://campaign.api.bingads.microsoft.com"},
	{"microsoft_oauth", "POSTBACK_MICROSOFT_OAUTH_URL", "https://login.microsoftonline.com"},
	{"pinterest", "POSTBACK_PINTEREST_URL", "https://api.pinterest.com"},
	{"snapchat", "POSTBACK_SNAPCHAT_URL", "https://tr.snapchat.com"},
	{"stripe", "POSTBACK_STRIPE_URL", "https://api.stripe.com"},
}

func settings() []setting {
	s := []setting{
		{env: "POSTBACK_ADDR", def: ":8080", help: "listen address", field: func(c *Config) *string { return &c.Addr }},
		{env: "POSTBACK_DATABASE_URL", def: "postback.db", help: "SQLite path or file: URL, or a postgres:// URL", field: func(c *Config) *string { return &c.DatabaseURL }},
		{env: "POSTBACK_PUBLIC_URL", help: "base of the webhook URLs shown to users (default: http://localhost and the port of POSTBACK_ADDR)", url: true, field: func(c *Config) *string { return &c.PublicURL }},
		{env: "POSTBACK_SECRET_KEY", help: "32 bytes, base64 or hex; encrypts stored credentials (default: generated into postback.key beside the SQLite file)", secret: true, field: func(c *Config) *string { return &c.SecretKey }},
		{env: "POSTBACK_ADMIN_PASSWORD", help: "if set and no admin exists, creates user admin with it", secret: true, field: func(c *Config) *string { return &c.AdminPassword }},
		{env: "POSTBACK_API_TOKEN", help: "if set (at least 32 characters), accepted as a Bearer token for /api/v1", secret: true, field: func(c *Config) *string { return &c.APIToken }},
		{env: "POSTBACK_METRICS_TOKEN", help: "if set (at least 32 characters), /metrics requires it as a Bearer token", secret: true, field: func(c *Config) *string { return &c.MetricsToken }},
		{env: "POSTBACK_METRICS_ADDR", help: "if set, serve /metrics on this address instead of the main one (e.g. 127.0.0.1:9090)", field: func(c *Config) *string { return &c.MetricsAddr }},
		{env: "POSTBACK_SESSION_IDLE_TIMEOUT", def: "12h", help: "admin sessions unused this long end (they also end 7 days after log-in)", field: func(c *Config) *string { return &c.sessionIdle }},
		{env: "POSTBACK_SETUP_URL_FILE", help: "where the first-run setup link is written, mode 0600 (default: postback.setup-url beside the SQLite database, or in the working directory with PostgreSQL)", field: func(c *Config) *string { return &c.SetupURLFile }},
		{env: "POSTBACK_LOG_LEVEL", def: "info", help: "debug, info, warn or error", field: func(c *Config) *string { return &c.LogLevel }},
		{env: "POSTBACK_LOG_FORMAT", def: "text", help: "text or json", field: func(c *Config) *string { return &c.LogFormat }},
		{env: "POSTBACK_TRUSTED_PROXIES", help: "comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For is believed (default: none)", field: func(c *Config) *string { return &c.trustedProxies }},
		{env: "POSTBACK_DEBUG_ADDR", help: "if set, serve pprof profiles on this address (e.g. 127.0.0.1:6060)", field: func(c *Config) *string { return &c.DebugAddr }},
		{env: "POSTBACK_RETENTION", def: "90d", help: "how long finished events (raw bodies, payloads, attempts) are kept; 0 keeps them forever", field: func(c *Config) *string { return &c.retention }},
		{env: "POSTBACK_RETRY_BACKOFF", def: "30s", help: "first delay before retrying a failed delivery, doubled per attempt", field: func(c *Config) *string { return &c.retryBackoff }},
		{env: "POSTBACK_RECONCILE_INTERVAL", def: "15m", help: "how often each shop with store API credentials is reconciled (jittered); 0 runs it only on demand (webhook subscriptions are still checked hourly)", field: func(c *Config) *string { return &c.reconcileInterval }},
		{env: "POSTBACK_SMTP_URL", help: "smtp://user:pass@host:port (or smtps://) for e-mail alerts", secret: true, field: func(c *Config) *string { return &c.SMTPURL }},
		{env: "POSTBACK_MEMORY_LIMIT", help: "soft memory limit of the Go runtime, e.g. 256MiB or 1GiB; off for none (default: GOMEMLIMIT if set, else 256MiB)", field: func(c *Config) *string { return &c.memoryLimit }},
		{env: "POSTBACK_COMPACT_AFTER", def: "1m", help: "compress the body, payloads and responses of finished events this long after receipt, in the background; 0 turns it off", field: func(c *Config) *string { return &c.compactAfter }},
		{env: "POSTBACK_WEBHOOK_INFLIGHT_BYTES", def: "64MiB", help: "cap on webhook body bytes held by all requests at once; past it webhooks get 503 with Retry-After", field: func(c *Config) *string { return &c.webhookInflight }},
		{env: "POSTBACK_BEACON_HOLD", def: "15s", help: "how long a conversion waits for its browser beacon when the shop uses the script; 0 disables", field: func(c *Config) *string { return &c.beaconHold }},
		{env: "POSTBACK_RETRY_MAX_BACKOFF", def: "1h", help: "longest delay between delivery retries", field: func(c *Config) *string { return &c.retryMaxBackoff }},
		{env: "POSTBACK_WRITER_PRIORITY", def: "auto", help: "SQLite: auto gives the single writer thread the CPU first (raising it where permitted, else lowering the other threads); off leaves it to the OS", field: func(c *Config) *string { return &c.WriterPriority }},
		{env: "POSTBACK_SEND_TIMEOUTS", def: "", help: "per-platform request deadlines overriding the built-in ones, e.g. meta=3s,tiktok=10s", field: func(c *Config) *string { return &c.sendTimeouts }},
	}
	for _, p := range platformURLs {
		// Platform URLs land in Config.PlatformURLs, not a field of their own.
		s = append(s, setting{env: p.env, def: p.def, url: true, help: "base URL of the " + p.key + " API",
			field: func(*Config) *string { return nil }})
	}
	return s
}

// flagName is a variable's flag: POSTBACK_DATABASE_URL → database-url.
func flagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "POSTBACK_")), "_", "-")
}

// parseConfig reads the environment, then flags, then validates. Every
// error names the variable at fault in one line.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg := Config{PlatformURLs: map[string]string{}}
	fs := flag.NewFlagSet("postback", flag.ContinueOnError)
	fs.SetOutput(stderr)
	values := map[string]*string{}
	for _, s := range settings() {
		v := getenv(s.env)
		if v == "" {
			v = s.def
		}
		p := new(string)
		values[s.env] = p
		usage := s.help + " (" + s.env + ")"
		// The usage text shows the built-in default, never the
		// environment's value: -h or a mistyped flag would otherwise
		// print secrets (and a database URL's password) into the journal.
		fs.StringVar(p, flagName(s.env), s.def, usage)
		fs.StringVar(p, "postback-"+flagName(s.env), s.def, "same as -"+flagName(s.env))
		*p = v
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, s := range settings() {
		v := strings.TrimSpace(*values[s.env])
		if s.url && !(v == "" && s.env == "POSTBACK_PUBLIC_URL") {
			if err := checkURL(v); err != nil {
				return Config{}, fmt.Errorf("%s: %v", s.env, err)
			}
			v = strings.TrimRight(v, "/")
		}
		if f := s.field(&cfg); f != nil {
			*f = v
		}
	}
	for _, p := range platformURLs {
		cfg.PlatformURLs[p.key] = strings.TrimRight(strings.TrimSpace(*values[p.env]), "/")
	}
	if cfg.Addr == "" {
		return Config{}, errors.New("POSTBACK_ADDR: must not be empty")
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = defaultPublicURL(cfg.Addr)
	}
	if cfg.DatabaseURL == "" {
		return Config{}, errors.New("POSTBACK_DATABASE_URL: must not be empty")
	}
	if store.DialectOf(cfg.DatabaseURL) == store.Postgres {
		if _, err := url.Parse(cfg.DatabaseURL); err != nil {
			return Config{}, errors.New("POSTBACK_DATABASE_URL: not a valid postgres:// URL")
		}
		if cfg.SecretKey == "" {
			return Config{}, errors.New("POSTBACK_SECRET_KEY: required with PostgreSQL (every replica must share the same key)")
		}
	}
	if cfg.SecretKey != "" {
		if _, err := store.ParseKey(cfg.SecretKey); err != nil {
			return Config{}, fmt.Errorf("POSTBACK_SECRET_KEY: %v", err)
		}
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return Config{}, errors.New("POSTBACK_LOG_LEVEL: must be debug, info, warn or error")
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return Config{}, errors.New("POSTBACK_LOG_FORMAT: must be text or json")
	}
	for _, p := range strings.Split(cfg.trustedProxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			return Config{}, fmt.Errorf("POSTBACK_TRUSTED_PROXIES: %q is not an IP address or CIDR", p)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, p)
	}
	if n := len(cfg.APIToken); n > 0 && n < minTokenLen {
		return Config{}, fmt.Errorf("POSTBACK_API_TOKEN: must be at least %d characters (it has %d); e.g. openssl rand -hex 24", minTokenLen, n)
	}
	if n := len(cfg.MetricsToken); n > 0 && n < minTokenLen {
		return Config{}, fmt.Errorf("POSTBACK_METRICS_TOKEN: must be at least %d characters (it has %d)", minTokenLen, n)
	}
	var err error
	if cfg.SessionIdle, err = time.ParseDuration(cfg.sessionIdle); err != nil || cfg.SessionIdle <= 0 {
		return Config{}, errors.New("POSTBACK_SESSION_IDLE_TIMEOUT: must be a positive duration such as 12h")
	}
	if cfg.Retention, err = parseDays(cfg.retention); err != nil || cfg.Retention < 0 {
		return Config{}, errors.New("POSTBACK_RETENTION: must be a duration such as 90d or 720h, or 0")
	}
	if cfg.RetryBackoff, err = time.ParseDuration(cfg.retryBackoff); err != nil || cfg.RetryBackoff <= 0 {
		return Config{}, errors.New("POSTBACK_RETRY_BACKOFF: must be a positive duration such as 30s")
	}
	if cfg.RetryMaxBackoff, err = time.ParseDuration(cfg.retryMaxBackoff); err != nil || cfg.RetryMaxBackoff < cfg.RetryBackoff {
		return Config{}, errors.New("POSTBACK_RETRY_MAX_BACKOFF: must be a duration no shorter than POSTBACK_RETRY_BACKOFF")
	}
	if cfg.SMTPURL != "" {
		if _, err := alert.ParseSMTPURL(cfg.SMTPURL, ""); err != nil {
			return Config{}, errors.New("POSTBACK_SMTP_URL: " + err.Error())
		}
	}
	if cfg.ReconcileInterval, err = time.ParseDuration(cfg.reconcileInterval); err != nil || (cfg.ReconcileInterval != 0 && cfg.ReconcileInterval < time.Minute) {
		return Config{}, errors.New("POSTBACK_RECONCILE_INTERVAL: must be a duration of at least 1m, such as 15m, or 0")
	}
	switch v := strings.ToLower(cfg.memoryLimit); {
	case v == "" && getenv("GOMEMLIMIT") != "":
		// The runtime already read GOMEMLIMIT.
	case v == "":
		cfg.MemoryLimit = defaultMemoryLimit
	case v == "off" || v == "0":
		cfg.MemoryLimit = math.MaxInt64
	default:
		if cfg.MemoryLimit, err = parseBytes(v); err != nil || cfg.MemoryLimit < 32<<20 {
			return Config{}, errors.New("POSTBACK_MEMORY_LIMIT: must be a size of at least 32MiB such as 256MiB or 1GiB, or off")
		}
	}
	if cfg.CompactAfter, err = time.ParseDuration(cfg.compactAfter); cfg.compactAfter != "0" && (err != nil || cfg.CompactAfter <= 0) {
		return Config{}, errors.New("POSTBACK_COMPACT_AFTER: must be a positive duration such as 1m, or 0")
	}
	if cfg.WebhookInflightBytes, err = parseBytes(cfg.webhookInflight); err != nil || cfg.WebhookInflightBytes < 64<<10 {
		return Config{}, errors.New("POSTBACK_WEBHOOK_INFLIGHT_BYTES: must be a size of at least 64KiB such as 64MiB")
	}
	if cfg.BeaconHold, err = parseDays(cfg.beaconHold); err != nil || cfg.BeaconHold < 0 || cfg.BeaconHold > 10*time.Minute {
		return Config{}, errors.New("POSTBACK_BEACON_HOLD: must be a duration from 0 to 10m, such as 15s")
	}
	if cfg.WriterPriority = strings.ToLower(cfg.WriterPriority); cfg.WriterPriority != "auto" && cfg.WriterPriority != "off" {
		return Config{}, errors.New("POSTBACK_WRITER_PRIORITY: must be auto or off")
	}
	if cfg.SendTimeouts, err = parseSendTimeouts(cfg.sendTimeouts); err != nil {
		return Config{}, fmt.Errorf("POSTBACK_SEND_TIMEOUTS: %v", err)
	}
	return cfg, nil
}

// parseSendTimeouts reads "platform=duration,…".
func parseSendTimeouts(v string) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	known := delivery.DefaultSendTimeouts()
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, dur, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if _, isPlatform := known[name]; !ok || !isPlatform {
			return nil, fmt.Errorf("%q is not platform=duration for a known platform", part)
		}
		d, err := time.ParseDuration(strings.TrimSpace(dur))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q: the duration must be positive, such as 3s", part)
		}
		out[name] = d
	}
	return out, nil
}

// parseBytes reads a size: plain bytes, or with a unit (KiB, MiB, GiB
// and KB, MB, GB; case-insensitive).
func parseBytes(v string) (int64, error) {
	v = strings.TrimSpace(strings.ToLower(v))
	units := []struct {
		suffix string
		mult   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"b", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			v, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size", v)
	}
	return n * mult, nil
}

func checkURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", v)
	}
	return nil
}

// loadKey returns the encryption key: POSTBACK_SECRET_KEY, or the key file
// beside the SQLite database, created (mode 0600) on first start.
func loadKey(cfg Config, log *slog.Logger) ([]byte, error) {
	if cfg.SecretKey != "" {
		return store.ParseKey(cfg.SecretKey)
	}
	dbPath := store.SQLitePath(cfg.DatabaseURL)
	if dbPath == "" {
		log.Warn("in-memory database with no POSTBACK_SECRET_KEY: using a throwaway key")
		k, err := store.NewKey()
		if err != nil {
			return nil, err
		}
		return store.ParseKey(k)
	}
	dir := filepath.Dir(dbPath)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("POSTBACK_DATABASE_URL: directory %s of the SQLite database does not exist", dir)
	}
	path := filepath.Join(dir, "postback.key")
	b, err := os.ReadFile(path)
	if err == nil {
		checkKeyFileMode(path, log)
		key, err := store.ParseKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("POSTBACK_SECRET_KEY: key file %s: %v", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("POSTBACK_SECRET_KEY: read key file %s: %v", path, err)
	}
	k, err := store.NewKey()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("POSTBACK_SECRET_KEY: create key file %s: %v", path, err)
	}
	if _, err := f.WriteString(k + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("POSTBACK_SECRET_KEY: write key file %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("POSTBACK_SECRET_KEY: write key file %s: %v", path, err)
	}
	log.Info("generated an encryption key for stored credentials; back it up with the database, or set POSTBACK_SECRET_KEY", slog.String("path", path))
	return store.ParseKey(k)
}

// parseDays reads a duration, also in days ("90d").
func parseDays(v string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	if v == "0" {
		return 0, nil
	}
	return time.ParseDuration(v)
}
