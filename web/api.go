package web

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/store"
)

// jsonError answers {"error": msg}; every API error has this shape.
func jsonError(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, gin.H{"error": msg})
}

// storeError maps a store error to an answer, logging only what is ours.
func storeError(c *gin.Context, log *slog.Logger, err error, what string) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		jsonError(c, http.StatusNotFound, what+" not found")
	case errors.Is(err, store.ErrConflict):
		jsonError(c, http.StatusConflict, what+" already exists")
	case errors.Is(err, store.ErrNotRedeliverable):
		jsonError(c, http.StatusConflict, err.Error())
	case errors.Is(err, store.ErrUnsealable):
		// The message says which secret and why, never what it holds.
		jsonError(c, http.StatusConflict, err.Error())
	default:
		log.ErrorContext(c.Request.Context(), "database error", slog.String("what", what), slog.String("error", err.Error()))
		jsonError(c, http.StatusServiceUnavailable, "database unavailable; retry")
	}
}

func handleNotFound() gin.HandlerFunc {
	return func(c *gin.Context) { jsonError(c, http.StatusNotFound, "not found") }
}

func handleHealthz() gin.HandlerFunc {
	return func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }
}

func handleReadyz(s *store.Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := s.Ping(c.Request.Context()); err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "error": "database unreachable"})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	}
}

// requireToken admits requests with the configured API token or a live
// token made in the UI. Wrong tokens are rate-limited per client address
// (429 with Retry-After); a missing header is not counted as a guess.
func requireToken(cfg Config, guard *apiGuard) gin.HandlerFunc {
	return func(c *gin.Context) {
		auth := c.GetHeader("Authorization")
		token, ok := strings.CutPrefix(auth, "Bearer ")
		token = strings.TrimSpace(token)
		if !ok || token == "" {
			c.Header("WWW-Authenticate", `Bearer realm="postback"`)
			jsonError(c, http.StatusUnauthorized, "missing API token: send Authorization: Bearer <token>")
			return
		}
		now := cfg.Now()
		r, wait := reserve(guard.addr.get(addrKey(c.ClientIP())), now)
		if r == nil {
			c.Header("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			jsonError(c, http.StatusTooManyRequests, "too many wrong API tokens from this address; retry later")
			return
		}
		if cfg.APIToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(cfg.APIToken)) == 1 {
			r.CancelAt(now)
			c.Next()
			return
		}
		live, err := cfg.Store.CheckAPIToken(c.Request.Context(), token, now)
		if err != nil {
			r.CancelAt(now)
			storeError(c, cfg.Log, err, "token")
			return
		}
		if !live {
			c.Header("WWW-Authenticate", `Bearer realm="postback", error="invalid_token"`)
			jsonError(c, http.StatusUnauthorized, "invalid API token")
			return
		}
		r.CancelAt(now)
		c.Next()
	}
}

// bindJSON decodes a request body strictly: unknown fields are an error,
// so a typo in a field name is reported instead of silently ignored.
func bindJSON(c *gin.Context, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		jsonError(c, http.StatusBadRequest, "invalid JSON body: "+cleanJSONError(err))
		return false
	}
	return true
}

func cleanJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be %s", typ.Field, typ.Type)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// idParam reads a positive integer path parameter, answering 404 when it
// is not one.
func idParam(c *gin.Context, name string) (int64, bool) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		jsonError(c, http.StatusNotFound, "not found")
		return 0, false
	}
	return id, true
}

// timeOrNil renders a time as RFC 3339 UTC, or null when zero.
func timeOrNil(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}
