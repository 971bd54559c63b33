package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/delivery"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// uiFS holds the admin UI's templates and its one stylesheet and script.
//
//go:embed templates/*.html static/*
var uiFS embed.FS

// views renders the admin UI's pages.
type views struct {
	t   *template.Template
	log *slog.Logger
	// assets maps a static file name to its URL with a content hash, so
	// browsers may cache it for good.
	assets map[string]string
}

// parseViews parses every template once. Templates are embedded, so an
// error here is a defect of the build, found by any test that starts a
// server; the caller refuses to start.
func parseViews(log *slog.Logger, now func() time.Time) (*views, error) {
	v := &views{log: log, assets: map[string]string{}}
	entries, err := fs.ReadDir(uiFS, "static")
	if err != nil {
		return nil, fmt.Errorf("admin ui assets: %w", err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(uiFS, "static/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("admin ui assets: %w", err)
		}
		sum := sha256.Sum256(b)
		v.assets[e.Name()] = "/admin/static/" + e.Name() + "?v=" + hex.EncodeToString(sum[:6])
	}
	t, err := template.New("ui").Funcs(uiFuncs(v.assets, now)).ParseFS(uiFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("admin ui templates: %w", err)
	}
	v.t = t
	return v, nil
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 instead of half a page.
func (v *views) render(c *gin.Context, status int, name string, data any) {
	var buf bytes.Buffer
	if err := v.t.ExecuteTemplate(&buf, name, data); err != nil {
		v.log.ErrorContext(c.Request.Context(), "render page", slog.String("template", name), slog.String("error", err.Error()))
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error while rendering the page"))
		c.Abort()
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// errorPage is the data of the one page every UI error renders.
type errorPage struct {
	page
	Status  int
	Heading string
	Message string
	Back    string
}

// fail renders the error page and stops the handler chain.
func (v *views) fail(c *gin.Context, status int, heading, msg string) {
	p := errorPage{page: pageFor(c, heading, ""), Status: status, Heading: heading, Message: msg, Back: "/admin/"}
	v.render(c, status, "error", p)
	c.Abort()
}

// notFound is the UI's 404 page.
func (v *views) notFound(c *gin.Context, what string) {
	v.fail(c, http.StatusNotFound, "Not found", what+" does not exist, or was deleted.")
}

// storeFail shows a store error: not found as 404, anything else as a
// temporary failure, logged.
func (v *views) storeFail(c *gin.Context, err error, what string) {
	switch {
	case isNotFound(err):
		v.notFound(c, what)
	case isUnsealable(err):
		// Says which secret and why (another key, corrupted), never what.
		v.fail(c, http.StatusConflict, "Stored secret cannot be decrypted", what+": "+err.Error())
	default:
		v.log.ErrorContext(c.Request.Context(), "database error", slog.String("what", what), slog.String("error", err.Error()))
		v.fail(c, http.StatusServiceUnavailable, "Temporarily unavailable", "The database did not answer. Try again in a moment.")
	}
}

// eventMention is how notes name another event ("refund linked to event
// 42", "duplicate of … (event 42)").
var eventMention = regexp.MustCompile(`\bevent (\d{1,19})\b`)

// linkEvents escapes a note and links each event it names to that event's
// page.
func linkEvents(s string) template.HTML {
	esc := template.HTMLEscapeString(s)
	return template.HTML(eventMention.ReplaceAllString(esc, `<a href="/admin/events/$1">event $1</a>`))
}

// uiFuncs are the helpers templates may call.
func uiFuncs(assets map[string]string, now func() time.Time) template.FuncMap {
	return template.FuncMap{
		"asset":         func(name string) string { return assets[name] },
		"when":          fmtTime,
		"iso":           func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago":           func(t time.Time) string { return fmtAgo(now(), t) },
		"pretty":        prettyJSON,
		"prettyValue":   prettyValue,
		"platformLabel": platformLabel,
		"titled":        platforms.Titled,
		"linkEvents":    linkEvents,
		"explain":       explained,
		"explainAuth": func(platform, text string) delivery.Explanation {
			return delivery.Explain(platform, store.DeliveryWaitingCredentials, "auth", text)
		},
		"showsQuality": showsQuality,
		"hasProblem":   hasProblem,
		"percent":      percent,
		"deref":        func(f *float64) float64 { return *f },
		"pctOf":        pctOf,
		"sourceLabel":  sourceLabel,
		"storeCred":    storeCred,
		"latency":      func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + " ms" },
		"pct":          func(f float64) string { return strconv.Itoa(int(f*100+0.5)) + "%" },
		"identifiers":  identifiersOf,
		"qualityClass": qualityClass,
		"add":          func(a, b int) int { return a + b },
		"mul":          func(a, b int) int { return a * b },
		"money":        fmtMoney,
		"matchView":    func(m *mapping.Match, platform string) matchView { return matchView{Match: m, Platform: platform} },
	}
}

// matchView is the data of the "match" template: a match and the platform
// it was for ("" for the event's own).
type matchView struct {
	Match    *mapping.Match
	Platform string
}

// fmtTime is a time as the UI shows it before the browser turns it into
// local time: UTC, to the second.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func fmtAgo(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		s = strconv.Itoa(int(d.Minutes())) + " min"
	case d < 48*time.Hour:
		s = strconv.Itoa(int(d.Hours())) + " h"
	default:
		s = strconv.Itoa(int(d.Hours()/24)) + " days"
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// minorUnits are the currencies whose amounts do not have two decimals
// (ISO 4217 exponents); the rest show cents.
var minorUnits = map[string]int32{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
	"UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

// fmtMoney shows a stored decimal amount with its currency's decimals,
// never rounding away a digit that was sent.
func fmtMoney(value, currency string) string {
	d, err := decimal.NewFromString(value)
	if err != nil {
		return strings.TrimSpace(value + " " + currency)
	}
	places, ok := minorUnits[currency]
	if !ok {
		places = 2
	}
	if exp := -d.Exponent(); exp > places {
		places = exp
	}
	return strings.TrimSpace(d.StringFixed(places) + " " + currency)
}

// prettyJSON indents a JSON text for reading; anything else is returned
// as it is.
func prettyJSON(s string) string {
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(s), "", "  ") != nil {
		return s
	}
	return buf.String()
}

// prettyValue renders a value as indented JSON.
func prettyValue(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("cannot show: %v", err)
	}
	return string(b)
}

// platformLabel is a platform's title ("Google Ads" for "google_ads").
func platformLabel(name string) string { return platforms.Title(name) }

// showsQuality reports whether a delivery's match quality means anything:
// not for a refund adjustment (it matches on the order's conversion), a
// delivery Postback chose not to send, or one refused for its credentials
// (nothing was judged).
func showsQuality(d store.Delivery) bool {
	return d.Match != nil && d.Kind != store.KindAdjustment && d.Status != store.DeliverySkipped &&
		d.Status != store.DeliveryWaitingCredentials && d.ErrorClass != "auth"
}

// explained is a delivery's last error explained, for the rows and cards
// that show it.
func explained(d store.Delivery) delivery.Explanation { return delivery.ExplainDelivery(d) }

// hasProblem reports whether a delivery's row shows why: it failed, was
// skipped, waits for credentials, or waits for a retry after an error.
func hasProblem(d store.Delivery) bool {
	switch d.Status {
	case store.DeliveryFailed, store.DeliverySkipped, store.DeliveryWaitingCredentials, store.DeliveryRetrying:
		return d.LastError != ""
	}
	return false
}

func sourceLabel(s any) string {
	switch fmt.Sprint(s) {
	case string(mapping.SourceShopify):
		return "Shopify"
	case string(mapping.SourceWooCommerce):
		return "WooCommerce"
	case string(mapping.SourceStripe):
		return "Stripe"
	}
	return fmt.Sprint(s)
}

// identifier is one match signal and whether it was present.
type identifier struct {
	Label   string
	Present bool
	// Unused says the platform does not take this identifier at all:
	// shown grey as "not used by this platform", never as missing.
	Unused bool
}

// identifiersOf lists a match's identifiers in the order platforms value
// them. For a platform, each is sent, missing (the platform takes it but
// the order lacked it) or not used by the platform; for the event itself
// (platform ""), present or missing.
func identifiersOf(m *mapping.Match, platform string) []identifier {
	if m == nil {
		return nil
	}
	all := mapping.Match{ClickID: true, Email: true, Phone: true, Name: true, Address: true, ExternalID: true,
		IP: true, UserAgent: true, FBP: true, FBC: true}
	takes, known := platforms.Takes(platform)
	if !known {
		takes = all
	}
	out := []identifier{
		{"Click id", m.ClickID, !takes.ClickID}, {"Email", m.Email, !takes.Email}, {"Phone", m.Phone, !takes.Phone},
		{"Name", m.Name, !takes.Name}, {"Address", m.Address, !takes.Address},
		{"Customer id", m.ExternalID, !takes.ExternalID}, {"IP address", m.IP, !takes.IP}, {"User agent", m.UserAgent, !takes.UserAgent},
	}
	if platform == "" || takes.FBP {
		out = append(out, identifier{"Browser id (fbp)", m.FBP, false}, identifier{"Click cookie (fbc)", m.FBC, false})
	}
	return out
}

func qualityClass(q int) string {
	switch {
	case q >= 7:
		return "good"
	case q >= 4:
		return "fair"
	}
	return "poor"
}

// page is what every page's layout needs; each page's data embeds it.
type page struct {
	Title string
	Nav   string
	User  string
	CSRF  string
	Flash string
}

// pageFor fills the layout data from the request's session, if any.
func pageFor(c *gin.Context, title, nav string) page {
	p := page{Title: title, Nav: nav, Flash: flashes[c.Query("msg")]}
	if s, ok := sessionOf(c); ok {
		p.User, p.CSRF = s.User.Username, s.CSRFToken
	}
	return p
}

// flashes are the fixed messages a redirect may ask for with ?msg=; only
// these keys are shown, so no one can put words on the page by a link.
var flashes = map[string]string{
	"welcome":               "Welcome. Start by adding a shop.",
	"password-changed":      "Password changed. Your other sessions were ended.",
	"logged-out-everywhere": "Logged out everywhere.",
	"shop-saved":            "Shop saved.",
	"shop-deleted":          "Shop deleted, with its destinations and events.",
	"dest-saved":            "Destination saved.",
	"dest-deleted":          "Destination deleted.",
	"dest-enabled":          "Destination enabled.",
	"dest-disabled":         "Destination disabled: new conversions are not queued for it.",
	"redelivered":           "Queued again. The delivery worker sends it within seconds; reload this page to see the result.",
	"redelivered-none":      "Nothing was queued: no delivery of this event failed. Tick “also resend deliveries that succeeded” to send it to every destination again.",
	"token-revoked":         "Token revoked.",
}

// securityHeaders keeps the admin pages out of frames and caches and lets
// them load only their own script and stylesheet.
func securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		setSecurityHeaders(c)
		c.Next()
	}
}

const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func setSecurityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if c.Request.Body != nil {
		// Admin forms are small; a larger body is not one of ours.
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 1<<20)
	}
}

// serveStatic serves the embedded stylesheet and script; their URLs carry
// a content hash, so they may be cached for a year.
func serveStatic(assets map[string]string) gin.HandlerFunc {
	return func(c *gin.Context) {
		name := strings.TrimPrefix(c.Param("file"), "/")
		if _, ok := assets[name]; !ok {
			c.AbortWithStatus(http.StatusNotFound)
			return
		}
		c.Header("Cache-Control", "public, max-age=31536000, immutable")
		c.Header("X-Content-Type-Options", "nosniff")
		c.FileFromFS("static/"+name, http.FS(uiFS))
	}
}
