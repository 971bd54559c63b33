package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/store"
)

// scriptFS holds the first-party storefront script.
//
//go:embed js/postback.js
var scriptFS embed.FS

// storefrontScript is the script with its content hash, read once.
type storefrontScript struct {
	body []byte
	etag string
	hash string
}

func loadScript() storefrontScript {
	b, err := scriptFS.ReadFile("js/postback.js")
	if err != nil {
		// The file is embedded at build time; a missing file fails the
		// build's tests, never a running server.
		panic("web: embedded js/postback.js: " + err.Error())
	}
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:8])
	return storefrontScript{body: b, etag: `"` + h + `"`, hash: h}
}

// handleScript serves GET /js/postback.js: cacheable for an hour (an
// update reaches stores within that), revalidated by its content hash.
func handleScript(s storefrontScript) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("ETag", s.etag)
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("X-Content-Type-Options", "nosniff")
		if inm := c.GetHeader("If-None-Match"); inm != "" && etagMatch(inm, s.etag) {
			c.Status(http.StatusNotModified)
			return
		}
		c.Data(http.StatusOK, "text/javascript; charset=utf-8", s.body)
	}
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// ScriptTag is the one tag a merchant adds to the store's pages.
func ScriptTag(publicURL string, sh store.Shop) string {
	return `<script src="` + strings.TrimRight(publicURL, "/") + `/js/postback.js" data-shop="` + sh.PublicID + `" async></script>`
}
