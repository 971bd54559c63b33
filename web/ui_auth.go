package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/store"
)

const (
	sessionCookie = "postback_session"
	// loginCookie carries the token that guards the login and setup
	// forms, which have no session yet (double-submit: a cross-site form
	// cannot read it, and SameSite=Lax keeps it off cross-site POSTs).
	loginCookie = "postback_login"
	sessionTTL  = 7 * 24 * time.Hour
	csrfField   = "csrf_token"
	ctxSession  = "postback.session"
	// fragmentHeader marks the events page's own refresh requests, which
	// want a 401 rather than a redirect to the login page.
	fragmentHeader = "X-Postback-Fragment"
)

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// sessionOf returns the logged-in session set by requireSession.
func sessionOf(c *gin.Context) (store.Session, bool) {
	v, ok := c.Get(ctxSession)
	if !ok {
		return store.Session{}, false
	}
	s, ok := v.(store.Session)
	return s, ok
}

func setCookie(c *gin.Context, cfg Config, name, value string, ttl time.Duration) {
	ck := &http.Cookie{
		Name: name, Value: value, Path: "/admin", HttpOnly: true, Secure: cfg.SecureCookies, SameSite: http.SameSiteLaxMode,
	}
	if ttl > 0 {
		ck.MaxAge = int(ttl.Seconds())
		ck.Expires = cfg.Now().Add(ttl)
	} else {
		ck.MaxAge = -1
	}
	http.SetCookie(c.Writer, ck)
}

// requireSession admits logged-in admins. Others go to the login page (or
// to setup while no account exists); the events page's refresh gets 401.
func requireSession(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		if tok, err := c.Cookie(sessionCookie); err == nil && tok != "" {
			sess, err := cfg.Store.SessionByToken(ctx, tok, cfg.Now())
			switch {
			case err == nil:
				c.Set(ctxSession, sess)
				c.Next()
				return
			case !isNotFound(err):
				v.storeFail(c, err, "session")
				return
			}
		}
		if c.GetHeader(fragmentHeader) != "" {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		n, err := cfg.Store.CountUsers(ctx)
		if err != nil {
			v.storeFail(c, err, "users")
			return
		}
		if n == 0 {
			c.Redirect(http.StatusSeeOther, "/admin/setup")
			c.Abort()
			return
		}
		target := "/admin/login"
		if c.Request.Method == http.MethodGet {
			target += "?next=" + url.QueryEscape(c.Request.URL.RequestURI())
		}
		c.Redirect(http.StatusSeeOther, target)
		c.Abort()
	}
}

// checkCSRF refuses a POST whose form does not carry the session's CSRF
// token.
func checkCSRF(v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.Method != http.MethodPost {
			c.Next()
			return
		}
		sess, _ := sessionOf(c)
		if !tokensEqual(c.PostForm(csrfField), sess.CSRFToken) {
			v.fail(c, http.StatusForbidden, "Form expired",
				"This form was not sent from a page of this Postback, or your session changed since it was opened. Go back, reload the page and try again.")
			return
		}
		c.Next()
	}
}

// tokensEqual compares in constant time; an empty token never matches.
func tokensEqual(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// loginFormToken returns the login form's token, setting its cookie when
// the browser has none.
func loginFormToken(c *gin.Context, cfg Config) (string, error) {
	if tok, err := c.Cookie(loginCookie); err == nil && len(tok) >= 32 {
		return tok, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	setCookie(c, cfg, loginCookie, tok, time.Hour)
	return tok, nil
}

// checkLoginCSRF refuses a login or setup POST without the cookie's token.
func checkLoginCSRF(c *gin.Context, v *views) bool {
	cookie, _ := c.Cookie(loginCookie)
	if !tokensEqual(c.PostForm(csrfField), cookie) {
		v.fail(c, http.StatusForbidden, "Form expired", "Reload the login page and try again. (Cookies must be enabled.)")
		return false
	}
	return true
}

type loginPage struct {
	page
	Username string
	Next     string
	Error    string
	Errors   map[string]string
}

func handleLoginForm(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		n, err := cfg.Store.CountUsers(c.Request.Context())
		if err != nil {
			v.storeFail(c, err, "users")
			return
		}
		if n == 0 {
			c.Redirect(http.StatusSeeOther, "/admin/setup")
			return
		}
		renderLogin(c, cfg, v, http.StatusOK, loginPage{Next: safeNext(c.Query("next"))})
	}
}

func renderLogin(c *gin.Context, cfg Config, v *views, status int, p loginPage) {
	tok, err := loginFormToken(c, cfg)
	if err != nil {
		v.fail(c, http.StatusInternalServerError, "Cannot show the form", "No randomness available.")
		return
	}
	p.page = pageFor(c, "Log in", "")
	p.CSRF = tok
	v.render(c, status, "login", p)
}

// safeNext keeps a post-login redirect inside the admin UI.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/admin/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/admin/"
	}
	return next
}

func handleLogin(cfg Config, v *views, limiter *loginLimiter) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !checkLoginCSRF(c, v) {
			return
		}
		ctx := c.Request.Context()
		username := strings.TrimSpace(c.PostForm("username"))
		password := c.PostForm("password")
		p := loginPage{Username: username, Next: safeNext(c.PostForm("next"))}
		if username == "" || password == "" {
			p.Error = "Enter your user name and password."
			renderLogin(c, cfg, v, http.StatusUnauthorized, p)
			return
		}
		keys := []string{"ip:" + c.ClientIP(), "user:" + strings.ToLower(username)}
		if ok, wait := limiter.attempt(cfg.Now(), keys...); !ok {
			c.Header("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			v.fail(c, http.StatusTooManyRequests, "Too many attempts",
				"Too many failed log-ins from this address or for this user. Wait "+waitText(wait)+" and try again.")
			return
		}
		user, err := cfg.Store.Authenticate(ctx, username, password)
		switch {
		case errors.Is(err, store.ErrBadPassword):
			p.Error = "Wrong user name or password."
			renderLogin(c, cfg, v, http.StatusUnauthorized, p)
			return
		case err != nil:
			v.storeFail(c, err, "user")
			return
		}
		limiter.succeed(keys...)
		if !startSession(c, cfg, v, user.ID) {
			return
		}
		c.Redirect(http.StatusSeeOther, p.Next)
	}
}

func startSession(c *gin.Context, cfg Config, v *views, userID int64) bool {
	tok, _, err := cfg.Store.CreateSession(c.Request.Context(), userID, sessionTTL, cfg.Now())
	if err != nil {
		v.storeFail(c, err, "session")
		return false
	}
	setCookie(c, cfg, sessionCookie, tok, sessionTTL)
	setCookie(c, cfg, loginCookie, "", 0)
	return true
}

func waitText(d time.Duration) string {
	m := int(d.Minutes() + 0.999)
	if m <= 1 {
		return "a minute"
	}
	return strconv.Itoa(m) + " minutes"
}

func handleLogout(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		if tok, err := c.Cookie(sessionCookie); err == nil {
			if err := cfg.Store.DeleteSession(c.Request.Context(), tok, cfg.Now()); err != nil {
				v.storeFail(c, err, "session")
				return
			}
		}
		setCookie(c, cfg, sessionCookie, "", 0)
		c.Redirect(http.StatusSeeOther, "/admin/login")
	}
}

// usernamePattern keeps user names plain: they appear in logs and pages.
var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// setupGuard lets exactly one visitor create the first account on this
// replica; the count is checked again under it.
type setupGuard struct{ mu sync.Mutex }

func handleSetupForm(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		n, err := cfg.Store.CountUsers(c.Request.Context())
		if err != nil {
			v.storeFail(c, err, "users")
			return
		}
		if n > 0 {
			v.fail(c, http.StatusNotFound, "Not found", "Setup is done: an account exists. Log in instead.")
			return
		}
		renderSetup(c, cfg, v, http.StatusOK, loginPage{Username: "admin"})
	}
}

func renderSetup(c *gin.Context, cfg Config, v *views, status int, p loginPage) {
	tok, err := loginFormToken(c, cfg)
	if err != nil {
		v.fail(c, http.StatusInternalServerError, "Cannot show the form", "No randomness available.")
		return
	}
	p.page = pageFor(c, "Set up Postback", "")
	p.CSRF = tok
	v.render(c, status, "setup", p)
}

func handleSetup(cfg Config, v *views, guard *setupGuard) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !checkLoginCSRF(c, v) {
			return
		}
		ctx := c.Request.Context()
		guard.mu.Lock()
		defer guard.mu.Unlock()
		n, err := cfg.Store.CountUsers(ctx)
		if err != nil {
			v.storeFail(c, err, "users")
			return
		}
		if n > 0 {
			v.fail(c, http.StatusNotFound, "Not found", "Setup is done: an account exists. Log in instead.")
			return
		}
		p := loginPage{Username: strings.TrimSpace(c.PostForm("username")), Errors: map[string]string{}}
		password := c.PostForm("password")
		if !usernamePattern.MatchString(p.Username) {
			p.Errors["username"] = "Use 1 to 64 letters, digits, dots, dashes, underscores or @."
		}
		switch {
		case len(password) < 8:
			p.Errors["password"] = "Use at least 8 characters."
		case len(password) > 72:
			p.Errors["password"] = "Use at most 72 bytes (bcrypt's limit)."
		case password != c.PostForm("confirm"):
			p.Errors["confirm"] = "The two passwords differ."
		}
		if len(p.Errors) > 0 {
			renderSetup(c, cfg, v, http.StatusUnprocessableEntity, p)
			return
		}
		user, err := cfg.Store.CreateUser(ctx, p.Username, password, cfg.Now())
		if err != nil {
			v.storeFail(c, err, "user")
			return
		}
		if !startSession(c, cfg, v, user.ID) {
			return
		}
		c.Redirect(http.StatusSeeOther, "/admin/?msg=welcome")
	}
}

// loginLimiter counts log-in attempts per key (client IP, user name) in
// memory: at most max in any window. It is per process; with several
// replicas each counts its own, so the effective limit is max times the
// replicas. An attempt is counted before the password is checked, so
// parallel guesses cannot slip past the count, and forgotten on success.
type loginLimiter struct {
	mu       sync.Mutex
	max      int
	window   time.Duration
	attempts map[string][]time.Time
}

func newLoginLimiter(max int, window time.Duration) *loginLimiter {
	return &loginLimiter{max: max, window: window, attempts: map[string][]time.Time{}}
}

// attempt records an attempt for every key, or refuses it when one key is
// at the limit and says how long until a slot frees.
func (l *loginLimiter) attempt(now time.Time, keys ...string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.attempts) > 10_000 {
		l.sweep(now)
	}
	for _, k := range keys {
		recent := l.recent(k, now)
		if len(recent) >= l.max {
			return false, recent[0].Add(l.window).Sub(now)
		}
	}
	for _, k := range keys {
		l.attempts[k] = append(l.recent(k, now), now)
	}
	return true, 0
}

// succeed forgets the keys' attempts after a good password.
func (l *loginLimiter) succeed(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		delete(l.attempts, k)
	}
}

func (l *loginLimiter) recent(k string, now time.Time) []time.Time {
	ts := l.attempts[k]
	i := 0
	for i < len(ts) && !ts[i].After(now.Add(-l.window)) {
		i++
	}
	return ts[i:]
}

func (l *loginLimiter) sweep(now time.Time) {
	for k := range l.attempts {
		if len(l.recent(k, now)) == 0 {
			delete(l.attempts, k)
		}
	}
}
