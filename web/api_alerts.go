package web

import (
	"context"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/store"
)

// AlertTester sends a test message through a channel (the alert package).
type AlertTester interface {
	TestSend(ctx context.Context, ch store.AlertChannel) error
}

type alertChannelJSON struct {
	ID         int64   `json:"id"`
	ShopID     int64   `json:"shop_id"`
	Kind       string  `json:"kind"`
	Label      string  `json:"label"`
	Enabled    bool    `json:"enabled"`
	LastError  string  `json:"last_error"`
	LastSentAt *string `json:"last_sent_at"`
}

func toAlertChannelJSON(ch store.AlertChannel) alertChannelJSON {
	return alertChannelJSON{ID: ch.ID, ShopID: ch.ShopID, Kind: ch.Kind, Label: ch.Label, Enabled: ch.Enabled,
		LastError: ch.LastError, LastSentAt: timeOrNil(ch.LastSentAt)}
}

type alertChannelInput struct {
	ShopID  int64  `json:"shop_id"`
	Kind    string `json:"kind"`
	Target  string `json:"target"`
	Enabled *bool  `json:"enabled"`
}

// validAlertTarget checks a channel's target and returns what may be shown
// of it: the host of a URL (its path is the secret), or the address.
func validAlertTarget(kind, target string, smtp bool) (string, *fieldError) {
	target = strings.TrimSpace(target)
	switch kind {
	case "webhook", "slack":
		u, err := url.Parse(target)
		if err != nil || u.Host == "" || u.User != nil || len(target) > 2000 {
			return "", badField("target", "must be the channel's https:// URL")
		}
		local := u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1"
		if u.Scheme != "https" && !(u.Scheme == "http" && local) {
			return "", badField("target", "must start with https://")
		}
		return u.Host, nil
	case "email":
		if !smtp {
			return "", badField("kind", "e-mail alerts need POSTBACK_SMTP_URL")
		}
		a, err := mail.ParseAddress(target)
		if err != nil || a.Name != "" || strings.ContainsAny(target, "\r\n") {
			return "", badField("target", "must be one e-mail address")
		}
		return a.Address, nil
	}
	return "", badField("kind", "must be webhook, slack or email")
}

func handleAlertChannelCreate(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in alertChannelInput
		if !bindJSON(c, &in) {
			return
		}
		ctx := c.Request.Context()
		label, bad := validAlertTarget(in.Kind, in.Target, cfg.SMTPConfigured)
		if bad != nil {
			jsonError(c, http.StatusUnprocessableEntity, bad.Error())
			return
		}
		if in.ShopID != 0 {
			if _, err := cfg.Store.Shop(ctx, in.ShopID); err != nil {
				jsonError(c, http.StatusUnprocessableEntity, "shop_id: no such shop")
				return
			}
		}
		enabled := in.Enabled == nil || *in.Enabled
		ch, err := cfg.Store.CreateAlertChannel(ctx, store.AlertChannel{ShopID: in.ShopID, Kind: in.Kind,
			Target: strings.TrimSpace(in.Target), Label: label, Enabled: enabled}, cfg.Now())
		if err != nil {
			storeError(c, cfg.Log, err, "alert channel")
			return
		}
		c.JSON(http.StatusCreated, toAlertChannelJSON(ch))
	}
}

func handleAlertChannelList(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		chs, err := cfg.Store.AlertChannels(c.Request.Context())
		if err != nil {
			storeError(c, cfg.Log, err, "alert channels")
			return
		}
		out := make([]alertChannelJSON, 0, len(chs))
		for _, ch := range chs {
			out = append(out, toAlertChannelJSON(ch))
		}
		c.JSON(http.StatusOK, gin.H{"channels": out})
	}
}

func handleAlertChannelDelete(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		if err := cfg.Store.DeleteAlertChannel(c.Request.Context(), id); err != nil {
			storeError(c, cfg.Log, err, "alert channel")
			return
		}
		c.Status(http.StatusNoContent)
	}
}

func handleAlertChannelTest(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		ctx := c.Request.Context()
		ch, err := cfg.Store.AlertChannel(ctx, id)
		if err != nil {
			storeError(c, cfg.Log, err, "alert channel")
			return
		}
		if cfg.Alerts == nil {
			jsonError(c, http.StatusServiceUnavailable, "alerts are not available")
			return
		}
		if err := cfg.Alerts.TestSend(ctx, ch); err != nil {
			jsonError(c, http.StatusBadGateway, "test alert failed: "+err.Error())
			return
		}
		c.JSON(http.StatusOK, gin.H{"sent": true})
	}
}

func handleIncidentList(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		incs, err := cfg.Store.OpenIncidents(c.Request.Context())
		if err != nil {
			storeError(c, cfg.Log, err, "incidents")
			return
		}
		out := make([]gin.H, 0, len(incs))
		for _, i := range incs {
			out = append(out, gin.H{"id": i.ID, "shop_id": i.ShopID, "key": i.Key, "kind": i.Kind, "summary": i.Summary,
				"action": i.Action, "affected": i.Affected, "opened_at": timeOrNil(i.OpenedAt)})
		}
		c.JSON(http.StatusOK, gin.H{"incidents": out})
	}
}
