package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/store"
)

type tokensPage struct {
	page
	Tokens []store.APIToken
	// Secret is a token just created: shown on this one answer, never
	// again (only its hash is stored).
	Secret string
	Name   string
	Errors map[string]string
	// EnvToken says POSTBACK_API_TOKEN is set (its value is never shown).
	EnvToken bool
}

func renderTokens(c *gin.Context, cfg Config, v *views, status int, p tokensPage) {
	tokens, err := cfg.Store.APITokens(c.Request.Context())
	if err != nil {
		v.storeFail(c, err, "API tokens")
		return
	}
	p.page, p.Tokens, p.EnvToken = pageFor(c, "API tokens", "tokens"), tokens, cfg.APIToken != ""
	v.render(c, status, "tokens", p)
}

func handleUITokens(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) { renderTokens(c, cfg, v, http.StatusOK, tokensPage{}) }
}

func handleUITokenCreate(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		name := strings.TrimSpace(c.PostForm("name"))
		if name == "" || len(name) > 100 {
			renderTokens(c, cfg, v, http.StatusUnprocessableEntity, tokensPage{Name: name,
				Errors: map[string]string{"name": "Name the token (1 to 100 characters), e.g. after the script that uses it."}})
			return
		}
		secret, _, err := cfg.Store.CreateAPIToken(c.Request.Context(), name, cfg.Now())
		if err != nil {
			v.storeFail(c, err, "API token")
			return
		}
		renderTokens(c, cfg, v, http.StatusOK, tokensPage{Secret: secret, Name: name})
	}
}

func handleUITokenRevoke(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := uiID(c, v, "This token")
		if !ok {
			return
		}
		if err := cfg.Store.RevokeAPIToken(c.Request.Context(), id, cfg.Now()); err != nil {
			v.storeFail(c, err, "This token")
			return
		}
		c.Redirect(http.StatusSeeOther, "/admin/tokens?msg=token-revoked")
	}
}
