package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
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
			now := cfg.Now()
			sess, err := cfg.Store.SessionByToken(ctx, tok, now)
			switch {
			case err == nil && now.Sub(sess.LastSeenAt) > cfg.SessionIdle:
				// Idle too long: end it here; the sweeper would anyway.
				if err := cfg.Store.DeleteSession(ctx, tok, now); err != nil {
					cfg.Log.WarnContext(ctx, "delete idle session", slog.String("error", err.Error()))
				}
			case err == nil:
				// Noting use costs a write; once a minute is precise enough.
				if now.Sub(sess.LastSeenAt) > time.Minute {
					if err := cfg.Store.TouchSession(ctx, tok, now); err != nil {
						cfg.Log.WarnContext(ctx, "note session use", slog.String("error", err.Error()))
					}
				}
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

// loginDeps are what the password checks share: the throttle and the
// bound on bcrypt work.
type loginDeps struct {
	guard *loginGuard
	gate  *bcryptGate
}

func handleLogin(cfg Config, v *views, d loginDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !checkLoginCSRF(c, v) {
			return
		}
		ctx := c.Request.Context()
		username := strings.TrimSpace(c.PostForm("username"))
		password := c.PostForm("password")
		p := loginPage{Username: truncate(username, maxKeyLen), Next: safeNext(c.PostForm("next"))}
		if username == "" || password == "" {
			p.Error = "Enter your user name and password."
			renderLogin(c, cfg, v, http.StatusUnauthorized, p)
			return
		}
		att, wait, ok := d.guard.admit(cfg.Now(), username, c.ClientIP())
		if !ok {
			tooMany(c, v, wait)
			return
		}
		if err := att.wait(ctx); err != nil {
			att.undo()
			return
		}
		var user store.User
		err := d.gate.do(ctx, func() error {
			var err error
			user, err = cfg.Store.Authenticate(ctx, username, password)
			return err
		})
		switch {
		case errors.Is(err, store.ErrBadPassword):
			p.Error = "Wrong user name or password."
			renderLogin(c, cfg, v, http.StatusUnauthorized, p)
			return
		case err != nil:
			att.undo()
			passwordCheckFail(c, v, err)
			return
		}
		att.succeeded()
		if !startSession(c, cfg, v, user.ID) {
			return
		}
		c.Redirect(http.StatusSeeOther, p.Next)
	}
}

// tooMany answers a throttled password check.
func tooMany(c *gin.Context, v *views, wait time.Duration) {
	c.Header("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
	v.fail(c, http.StatusTooManyRequests, "Too many attempts",
		"Too many failed log-ins from this address or for this user. Wait "+waitText(wait)+" and try again.")
}

// passwordCheckFail answers a password check that could not run.
func passwordCheckFail(c *gin.Context, v *views, err error) {
	if errors.Is(err, errBusy) {
		c.Header("Retry-After", "10")
		v.fail(c, http.StatusServiceUnavailable, "Busy", "Too many log-ins at once. Try again in a few seconds.")
		return
	}
	if c.Request.Context().Err() != nil {
		c.Abort()
		return
	}
	v.storeFail(c, err, "user")
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

// setupTokenField carries the first-run setup token from the link's
// query into the form's POST.
const setupTokenField = "setup_token"

// setupAllowed checks that no user exists and token is a live setup
// token, rendering the refusal otherwise: 404 once setup is done, 403
// without the token (whoever reaches a fresh instance first must not
// become its admin).
func setupAllowed(c *gin.Context, cfg Config, v *views, token string) bool {
	ctx := c.Request.Context()
	n, err := cfg.Store.CountUsers(ctx)
	if err != nil {
		v.storeFail(c, err, "users")
		return false
	}
	if n > 0 {
		v.fail(c, http.StatusNotFound, "Not found", "Setup is done: an account exists. Log in instead.")
		return false
	}
	ok, err := cfg.Store.SetupTokenValid(ctx, token)
	if err != nil {
		v.storeFail(c, err, "setup")
		return false
	}
	if !ok {
		setupRefused(c, v)
		return false
	}
	return true
}

func setupRefused(c *gin.Context, v *views) {
	v.fail(c, http.StatusForbidden, "Setup link needed",
		"Open the one-time setup link Postback printed in its log at start (also written to the file postback.setup-url beside the database, or to POSTBACK_SETUP_URL_FILE). Restarting Postback prints a new one.")
}

func handleSetupForm(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		// The token is in this page's URL: keep it out of Referer headers.
		c.Header("Referrer-Policy", "no-referrer")
		token := c.Query("token")
		if !setupAllowed(c, cfg, v, token) {
			return
		}
		renderSetup(c, cfg, v, http.StatusOK, setupPage{loginPage: loginPage{Username: "admin"}, SetupToken: token})
	}
}

type setupPage struct {
	loginPage
	SetupToken string
}

func renderSetup(c *gin.Context, cfg Config, v *views, status int, p setupPage) {
	tok, err := loginFormToken(c, cfg)
	if err != nil {
		v.fail(c, http.StatusInternalServerError, "Cannot show the form", "No randomness available.")
		return
	}
	p.page = pageFor(c, "Set up Postback", "")
	p.CSRF = tok
	v.render(c, status, "setup", p)
}

// checkNewPassword validates a new password and its confirmation into
// errs.
func checkNewPassword(password, confirm string, errs map[string]string) {
	switch {
	case len(password) < 8:
		errs["password"] = "Use at least 8 characters."
	case len(password) > 72:
		errs["password"] = "Use at most 72 bytes (bcrypt's limit)."
	case password != confirm:
		errs["confirm"] = "The two passwords differ."
	}
}

func handleSetup(cfg Config, v *views, d loginDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !checkLoginCSRF(c, v) {
			return
		}
		ctx := c.Request.Context()
		token := c.PostForm(setupTokenField)
		if !setupAllowed(c, cfg, v, token) {
			return
		}
		p := setupPage{loginPage: loginPage{Username: strings.TrimSpace(c.PostForm("username")), Errors: map[string]string{}}, SetupToken: token}
		password := c.PostForm("password")
		if !usernamePattern.MatchString(p.Username) {
			p.Errors["username"] = "Use 1 to 64 letters, digits, dots, dashes, underscores or @."
		}
		checkNewPassword(password, c.PostForm("confirm"), p.Errors)
		if len(p.Errors) > 0 {
			renderSetup(c, cfg, v, http.StatusUnprocessableEntity, p)
			return
		}
		var user store.User
		err := d.gate.do(ctx, func() error {
			var err error
			user, err = cfg.Store.CreateFirstUser(ctx, token, p.Username, password, cfg.Now())
			return err
		})
		switch {
		case errors.Is(err, store.ErrSetupToken):
			setupRefused(c, v)
			return
		case errors.Is(err, store.ErrConflict):
			v.fail(c, http.StatusNotFound, "Not found", "Setup is done: an account exists. Log in instead.")
			return
		case err != nil:
			passwordCheckFail(c, v, err)
			return
		}
		cfg.OnSetupDone()
		if !startSession(c, cfg, v, user.ID) {
			return
		}
		c.Redirect(http.StatusSeeOther, "/admin/?msg=welcome")
	}
}
