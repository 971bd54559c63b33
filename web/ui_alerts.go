package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/store"
)

type alertsPage struct {
	page
	Channels  []store.AlertChannel
	Incidents []store.Incident
	Shops     []store.Shop
	SMTP      bool
	Msg       string
	Error     string
	Errors    map[string]string
}

func renderAlerts(c *gin.Context, cfg Config, v *views, status int, p alertsPage) {
	ctx := c.Request.Context()
	var err error
	if p.Channels, err = cfg.Store.AlertChannels(ctx); err != nil {
		v.storeFail(c, err, "alert channels")
		return
	}
	if p.Incidents, err = cfg.Store.OpenIncidents(ctx); err != nil {
		v.storeFail(c, err, "incidents")
		return
	}
	if p.Shops, err = cfg.Store.Shops(ctx); err != nil {
		v.storeFail(c, err, "shops")
		return
	}
	p.page, p.SMTP = pageFor(c, "Alerts", "alerts"), cfg.SMTPConfigured
	if p.Msg == "" {
		p.Msg = c.Query("msg")
	}
	v.render(c, status, "alerts", p)
}

func handleUIAlerts(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) { renderAlerts(c, cfg, v, http.StatusOK, alertsPage{}) }
}

func handleUIAlertCreate(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		kind := c.PostForm("kind")
		shopID, _ := strconv.ParseInt(c.PostForm("shop_id"), 10, 64)
		label, bad := validAlertTarget(kind, c.PostForm("target"), cfg.SMTPConfigured)
		if bad == nil && shopID != 0 {
			if _, err := cfg.Store.Shop(c.Request.Context(), shopID); err != nil {
				bad = badField("kind", "no such shop")
			}
		}
		if bad != nil {
			renderAlerts(c, cfg, v, http.StatusUnprocessableEntity, alertsPage{Errors: map[string]string{bad.Field: bad.Message}})
			return
		}
		if _, err := cfg.Store.CreateAlertChannel(c.Request.Context(), store.AlertChannel{ShopID: shopID, Kind: kind,
			Target: strings.TrimSpace(c.PostForm("target")), Label: label, Enabled: true}, cfg.Now()); err != nil {
			v.storeFail(c, err, "alert channel")
			return
		}
		c.Redirect(http.StatusSeeOther, "/admin/alerts")
	}
}

func handleUIAlertTest(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := uiID(c, v, "This channel")
		if !ok {
			return
		}
		ch, err := cfg.Store.AlertChannel(c.Request.Context(), id)
		if err != nil {
			v.storeFail(c, err, "This channel")
			return
		}
		if cfg.Alerts == nil {
			renderAlerts(c, cfg, v, http.StatusServiceUnavailable, alertsPage{Msg: "test-failed", Error: "alerts are not available"})
			return
		}
		if err := cfg.Alerts.TestSend(c.Request.Context(), ch); err != nil {
			renderAlerts(c, cfg, v, http.StatusOK, alertsPage{Msg: "test-failed", Error: err.Error()})
			return
		}
		c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/alerts?msg=test-sent#channel-%d", id))
	}
}

func handleUIAlertDelete(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := uiID(c, v, "This channel")
		if !ok {
			return
		}
		if err := cfg.Store.DeleteAlertChannel(c.Request.Context(), id); err != nil {
			v.storeFail(c, err, "This channel")
			return
		}
		c.Redirect(http.StatusSeeOther, "/admin/alerts")
	}
}
