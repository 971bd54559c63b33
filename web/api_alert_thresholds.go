package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/alert"
	"github.com/postbackhq/postback/store"
)

// alertThresholdsJSON is a set of thresholds; null (or absent) inherits
// from the level above.
type alertThresholdsJSON struct {
	FailingMinutes *int `json:"failing_minutes"`
	SharePercent   *int `json:"share_percent"`
	ShareMinOrders *int `json:"share_min_orders"`
	SilentHours    *int `json:"silent_hours"`
	UsualWebhooks  *int `json:"usual_webhooks"`
}

func (j alertThresholdsJSON) toStore(shopID int64) store.AlertThresholds {
	return store.AlertThresholds{ShopID: shopID, FailingMinutes: j.FailingMinutes, SharePercent: j.SharePercent,
		ShareMinOrders: j.ShareMinOrders, SilentHours: j.SilentHours, UsualWebhooks: j.UsualWebhooks}
}

func thresholdsToJSON(t store.AlertThresholds) alertThresholdsJSON {
	return alertThresholdsJSON{FailingMinutes: t.FailingMinutes, SharePercent: t.SharePercent,
		ShareMinOrders: t.ShareMinOrders, SilentHours: t.SilentHours, UsualWebhooks: t.UsualWebhooks}
}

func effectiveToJSON(t alert.Thresholds) alertThresholdsJSON {
	var out store.AlertThresholds
	for _, f := range alert.ThresholdFields {
		v := f.Effective(t)
		*f.Get(&out) = &v
	}
	return thresholdsToJSON(out)
}

// thresholdLevels are a shop's (0: the global) stored thresholds, what it
// inherits, and what is in force.
type thresholdLevels struct {
	Set       store.AlertThresholds
	Inherited alert.Thresholds
	Effective alert.Thresholds
}

// loadThresholds resolves shopID's thresholds (0: global) over Postback's
// defaults.
func loadThresholds(ctx context.Context, st *store.Store, shopID int64) (thresholdLevels, error) {
	all, err := st.AlertThresholds(ctx)
	if err != nil {
		return thresholdLevels{}, err
	}
	l := thresholdLevels{Set: all[shopID], Inherited: alert.DefaultThresholds}
	if shopID != 0 {
		l.Inherited = alert.Resolve(alert.DefaultThresholds, all[0])
	}
	l.Set.ShopID = shopID
	l.Effective = alert.Resolve(l.Inherited, l.Set)
	return l, nil
}

func thresholdsAnswer(l thresholdLevels) gin.H {
	return gin.H{"shop_id": l.Set.ShopID, "set": thresholdsToJSON(l.Set), "inherited": effectiveToJSON(l.Inherited),
		"effective": effectiveToJSON(l.Effective)}
}

// thresholdsShopID reads the shop of a thresholds call: 0 for the global
// route, else an existing shop's id (404 otherwise).
func thresholdsShopID(c *gin.Context, cfg Config) (int64, bool) {
	if c.Param("id") == "" {
		return 0, true
	}
	id, ok := idParam(c, "id")
	if !ok {
		return 0, false
	}
	if _, err := cfg.Store.Shop(c.Request.Context(), id); err != nil {
		storeError(c, cfg.Log, err, "shop")
		return 0, false
	}
	return id, true
}

// handleAlertThresholdsGet answers GET /api/v1/alert-thresholds (global)
// and GET /api/v1/shops/{id}/alert-thresholds.
func handleAlertThresholdsGet(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := thresholdsShopID(c, cfg)
		if !ok {
			return
		}
		l, err := loadThresholds(c.Request.Context(), cfg.Store, id)
		if err != nil {
			storeError(c, cfg.Log, err, "alert thresholds")
			return
		}
		c.JSON(http.StatusOK, thresholdsAnswer(l))
	}
}

// handleAlertThresholdsPut replaces the global or a shop's thresholds; a
// field left out or null inherits. A value out of range is refused with
// the field named, and nothing changes.
func handleAlertThresholdsPut(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := thresholdsShopID(c, cfg)
		if !ok {
			return
		}
		var in alertThresholdsJSON
		if !bindJSON(c, &in) {
			return
		}
		t := in.toStore(id)
		if bad := alert.CheckThresholds(t); bad != nil {
			jsonError(c, http.StatusUnprocessableEntity, badField(bad.Field, bad.Message).Error())
			return
		}
		ctx := c.Request.Context()
		if err := cfg.Store.SaveAlertThresholds(ctx, t, cfg.Now()); err != nil {
			storeError(c, cfg.Log, err, "alert thresholds")
			return
		}
		l, err := loadThresholds(ctx, cfg.Store, id)
		if err != nil {
			storeError(c, cfg.Log, err, "alert thresholds")
			return
		}
		c.JSON(http.StatusOK, thresholdsAnswer(l))
	}
}

// thresholdsFromForm reads a thresholds form: one input per field, empty
// inherits.
func thresholdsFromForm(c *gin.Context, shopID int64) (store.AlertThresholds, *fieldError) {
	t := store.AlertThresholds{ShopID: shopID}
	for _, f := range alert.ThresholdFields {
		raw := strings.TrimSpace(c.PostForm(f.Name))
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil {
			return t, badField(f.Name, "must be a whole number, or empty to inherit")
		}
		*f.Get(&t) = &n
	}
	if bad := alert.CheckThresholds(t); bad != nil {
		return t, badField(bad.Field, bad.Message)
	}
	return t, nil
}
