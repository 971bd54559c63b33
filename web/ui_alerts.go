package web

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/alert"
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
	// Thresholds is the thresholds form, for every shop (ShopID 0) or one.
	Thresholds thresholdsForm
}

// thresholdsForm shows one level of alert thresholds: what it sets, and
// what an empty input inherits.
type thresholdsForm struct {
	ShopID int64
	Fields []thresholdInput
}

type thresholdInput struct {
	Name, Label, Unit string
	Min, Max          int
	// Value is what the level sets ("" inherits Inherited).
	Value     string
	Inherited int
}

// fillThresholds builds the form of shopID's thresholds; posted, when
// set, keeps what was typed.
func fillThresholds(c *gin.Context, cfg Config, shopID int64, posted bool) (thresholdsForm, error) {
	l, err := loadThresholds(c.Request.Context(), cfg.Store, shopID)
	if err != nil {
		return thresholdsForm{}, err
	}
	f := thresholdsForm{ShopID: shopID}
	for _, tf := range alert.ThresholdFields {
		in := thresholdInput{Name: tf.Name, Label: tf.Label, Unit: tf.Unit, Min: tf.Min, Max: tf.Max, Inherited: tf.Effective(l.Inherited)}
		switch v := *tf.Get(&l.Set); {
		case posted:
			in.Value = strings.TrimSpace(c.PostForm(tf.Name))
		case v != nil:
			in.Value = strconv.Itoa(*v)
		}
		f.Fields = append(f.Fields, in)
	}
	return f, nil
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
	if p.Thresholds.Fields == nil {
		shopID, _ := strconv.ParseInt(c.Query("thresholds"), 10, 64)
		if shopID != 0 && !slices.ContainsFunc(p.Shops, func(sh store.Shop) bool { return sh.ID == shopID }) {
			shopID = 0
		}
		if p.Thresholds, err = fillThresholds(c, cfg, shopID, false); err != nil {
			v.storeFail(c, err, "alert thresholds")
			return
		}
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

// handleUIAlertThresholds saves the thresholds of every shop (shop_id 0)
// or of one; an empty input inherits.
func handleUIAlertThresholds(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		shopID, err := strconv.ParseInt(c.PostForm("shop_id"), 10, 64)
		if err != nil || shopID < 0 {
			shopID = -1
		} else if shopID != 0 {
			if _, err := cfg.Store.Shop(ctx, shopID); err != nil {
				shopID = -1
			}
		}
		if shopID < 0 {
			v.notFound(c, "This shop")
			return
		}
		t, bad := thresholdsFromForm(c, shopID)
		if bad != nil {
			form, err := fillThresholds(c, cfg, shopID, true)
			if err != nil {
				v.storeFail(c, err, "alert thresholds")
				return
			}
			renderAlerts(c, cfg, v, http.StatusUnprocessableEntity, alertsPage{Thresholds: form, Errors: map[string]string{bad.Field: bad.Detail()}})
			return
		}
		if err := cfg.Store.SaveAlertThresholds(ctx, t, cfg.Now()); err != nil {
			v.storeFail(c, err, "alert thresholds")
			return
		}
		c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/alerts?thresholds=%d&msg=thresholds-saved#thresholds", shopID))
	}
}
