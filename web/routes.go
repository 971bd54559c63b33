package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// addRoutes lists the whole HTTP surface on one screen.
func addRoutes(r *gin.Engine, cfg Config, shops *shopCache) {
	r.GET("/healthz", handleHealthz())
	r.GET("/readyz", handleReadyz(cfg.Store))
	if !cfg.MetricsElsewhere {
		r.GET("/metrics", gin.WrapH(MetricsHandler(cfg.Gatherer, cfg.MetricsToken)))
	}

	r.POST("/webhooks/:source/:key", handleWebhook(cfg, shops))

	r.GET("/js/postback.js", handleScript(loadScript()))
	beacons := newIPLimiter(cfg.BeaconRate, cfg.BeaconBurst, 100_000)
	r.POST("/collect/:public_id", handleCollect(cfg, beacons))
	r.OPTIONS("/collect/:public_id", handleCollectPreflight())

	api := r.Group("/api/v1", requireToken(cfg, newAPIGuard()))
	api.POST("/shops", handleShopCreate(cfg))
	api.GET("/shops", handleShopList(cfg))
	api.GET("/shops/:id", handleShopGet(cfg))
	api.PATCH("/shops/:id", handleShopUpdate(cfg, shops))
	api.DELETE("/shops/:id", handleShopDelete(cfg, shops))
	api.POST("/shops/:id/reconcile", handleShopReconcile(cfg))
	api.GET("/shops/:id/webhooks", handleShopWebhooks(cfg, false))
	api.POST("/shops/:id/connect", handleShopWebhooks(cfg, true))
	api.GET("/shops/:id/accounted", handleShopAccounted(cfg))
	api.POST("/alert-channels", handleAlertChannelCreate(cfg))
	api.GET("/alert-channels", handleAlertChannelList(cfg))
	api.DELETE("/alert-channels/:id", handleAlertChannelDelete(cfg))
	api.POST("/alert-channels/:id/test", handleAlertChannelTest(cfg))
	api.GET("/incidents", handleIncidentList(cfg))
	api.GET("/alert-thresholds", handleAlertThresholdsGet(cfg))
	api.PUT("/alert-thresholds", handleAlertThresholdsPut(cfg))
	api.GET("/shops/:id/alert-thresholds", handleAlertThresholdsGet(cfg))
	api.PUT("/shops/:id/alert-thresholds", handleAlertThresholdsPut(cfg))
	api.POST("/shops/:id/destinations", handleDestinationCreate(cfg))
	api.GET("/shops/:id/destinations", handleDestinationList(cfg))
	api.GET("/destinations/:id", handleDestinationGet(cfg))
	api.PATCH("/destinations/:id", handleDestinationUpdate(cfg))
	api.DELETE("/destinations/:id", handleDestinationDelete(cfg))
	api.POST("/destinations/:id/dry-run", handleDestinationDryRun(cfg))
	api.GET("/destinations/:id/quality", handleDestinationQuality(cfg))
	api.GET("/events", handleEventList(cfg))
	api.GET("/events/:id", handleEventGet(cfg))
	api.POST("/events/:id/redeliver", handleEventRedeliver(cfg))

	uiNotFound := addUIRoutes(r, cfg, shops)

	r.NoRoute(uiNotFound, handleNotFound())
}

// MetricsHandler serves the Prometheus metrics, requiring token as a
// bearer token when it is set.
func MetricsHandler(g prometheus.Gatherer, token string) http.Handler {
	h := promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !tokensEqual(strings.TrimSpace(got), token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics need Authorization: Bearer <POSTBACK_METRICS_TOKEN>", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
