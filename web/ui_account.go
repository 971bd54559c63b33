package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/store"
)

type accountPage struct {
	page
	Errors map[string]string
}

func renderAccount(c *gin.Context, v *views, status int, p accountPage) {
	p.page = pageFor(c, "Account", "account")
	v.render(c, status, "account", p)
}

func handleUIAccount(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) { renderAccount(c, v, http.StatusOK, accountPage{}) }
}

// handleUIPasswordChange changes the logged-in user's password after
// checking the current one (throttled like a log-in, so a stolen session
// cannot guess it), and ends the user's other sessions.
func handleUIPasswordChange(cfg Config, v *views, d loginDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		sess, _ := sessionOf(c)
		p := accountPage{Errors: map[string]string{}}
		current, password := c.PostForm("current"), c.PostForm("password")
		checkNewPassword(password, c.PostForm("confirm"), p.Errors)
		if current == "" {
			p.Errors["current"] = "Enter your current password."
		}
		if len(p.Errors) > 0 {
			renderAccount(c, v, http.StatusUnprocessableEntity, p)
			return
		}
		att, wait, ok := d.guard.admit(cfg.Now(), sess.User.Username, c.ClientIP())
		if !ok {
			tooMany(c, v, wait)
			return
		}
		if err := att.wait(ctx); err != nil {
			att.undo()
			return
		}
		err := d.gate.do(ctx, func() error {
			if _, err := cfg.Store.Authenticate(ctx, sess.User.Username, current); err != nil {
				return err
			}
			keep, _ := c.Cookie(sessionCookie)
			return cfg.Store.SetPassword(ctx, sess.User.Username, password, keep)
		})
		switch {
		case errors.Is(err, store.ErrBadPassword):
			p.Errors["current"] = "Wrong password."
			renderAccount(c, v, http.StatusUnprocessableEntity, p)
			return
		case err != nil:
			att.undo()
			passwordCheckFail(c, v, err)
			return
		}
		att.succeeded()
		c.Redirect(http.StatusSeeOther, "/admin/account?msg=password-changed")
	}
}

// handleUILogoutEverywhere ends every session of the logged-in user,
// this one included.
func handleUILogoutEverywhere(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		sess, _ := sessionOf(c)
		if err := cfg.Store.DeleteUserSessions(c.Request.Context(), sess.User.ID); err != nil {
			v.storeFail(c, err, "sessions")
			return
		}
		setCookie(c, cfg, sessionCookie, "", 0)
		c.Redirect(http.StatusSeeOther, "/admin/login?msg=logged-out-everywhere")
	}
}
