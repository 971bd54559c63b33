package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// addUIRoutes mounts the admin UI under /admin and returns the handler
// that answers unknown /admin paths with the UI's 404 page.
func addUIRoutes(r *gin.Engine, cfg Config, shops *shopCache) gin.HandlerFunc {
	v, err := parseViews(cfg.Log, cfg.Now)
	if err != nil {
		// The templates are compiled into the binary: a parse error is a
		// broken build, found by every test that starts a server. Refuse
		// to start rather than serve a UI without pages.
		panic(err)
	}
	r.SetHTMLTemplate(v.t)
	deps := loginDeps{guard: newLoginGuard(), gate: newBcryptGate(cfg.BcryptConcurrency)}

	r.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, "/admin/") })
	r.GET("/admin/static/*file", serveStatic(v.assets))

	open := r.Group("/admin", securityHeaders())
	open.GET("/login", handleLoginForm(cfg, v))
	open.POST("/login", handleLogin(cfg, v, deps))
	open.GET("/setup", handleSetupForm(cfg, v))
	open.POST("/setup", handleSetup(cfg, v, deps))

	admin := r.Group("/admin", securityHeaders(), requireSession(cfg, v), checkCSRF(v))
	admin.POST("/logout", handleLogout(cfg, v))
	admin.GET("/account", handleUIAccount(cfg, v))
	admin.POST("/account/password", handleUIPasswordChange(cfg, v, deps))
	admin.POST("/account/logout-everywhere", handleUILogoutEverywhere(cfg, v))
	admin.GET("/", handleUIDashboard(cfg, v))

	admin.GET("/shops", handleUIShopList(cfg, v))
	admin.GET("/shops/new", handleUIShopNew(cfg, v))
	admin.POST("/shops", handleUIShopCreate(cfg, v))
	admin.GET("/shops/:id", handleUIShop(cfg, v))
	admin.GET("/shops/:id/edit", handleUIShopEdit(cfg, v))
	admin.POST("/shops/:id", handleUIShopSave(cfg, v, shops))
	admin.POST("/shops/:id/delete", handleUIShopDelete(cfg, v, shops))
	admin.POST("/shops/:id/reconcile", handleUIShopReconcile(cfg, v))
	admin.POST("/shops/:id/connect", handleUIShopConnect(cfg, v))

	admin.GET("/shops/:id/destinations/new", handleUIDestinationNew(cfg, v))
	admin.POST("/shops/:id/destinations", handleUIDestinationCreate(cfg, v))
	admin.GET("/destinations/:id", handleUIDestination(cfg, v))
	admin.POST("/destinations/:id", handleUIDestinationSave(cfg, v))
	admin.POST("/destinations/:id/toggle", handleUIDestinationToggle(cfg, v))
	admin.POST("/destinations/:id/delete", handleUIDestinationDelete(cfg, v))
	admin.POST("/destinations/:id/test", handleUIDestinationTest(cfg, v))
	admin.GET("/destinations/:id/dry-run", handleUIDestinationDryRun(cfg, v))
	admin.POST("/destinations/:id/quality", handleUIQualityRefresh(cfg, v))

	admin.GET("/events", handleUIEventList(cfg, v))
	admin.GET("/events/rows", handleUIEventRows(cfg, v))
	admin.GET("/events/export.csv", handleUIEventExport(cfg, v))
	admin.GET("/events/:id", handleUIEvent(cfg, v))
	admin.POST("/events/:id/redeliver", handleUIEventRedeliver(cfg, v))

	admin.GET("/alerts", handleUIAlerts(cfg, v))
	admin.POST("/alerts", handleUIAlertCreate(cfg, v))
	admin.POST("/alerts/thresholds", handleUIAlertThresholds(cfg, v))
	admin.POST("/alerts/:id/test", handleUIAlertTest(cfg, v))
	admin.POST("/alerts/:id/delete", handleUIAlertDelete(cfg, v))

	admin.GET("/tokens", handleUITokens(cfg, v))
	admin.POST("/tokens", handleUITokenCreate(cfg, v))
	admin.POST("/tokens/:id/revoke", handleUITokenRevoke(cfg, v))

	return func(c *gin.Context) {
		if p := c.Request.URL.Path; p == "/admin" || strings.HasPrefix(p, "/admin/") {
			setSecurityHeaders(c)
			v.notFound(c, "This page")
			return
		}
		c.Next()
	}
}

// uiID reads a positive integer path parameter, rendering the 404 page
// when it is not one.
func uiID(c *gin.Context, v *views, what string) (int64, bool) {
	id, err := parseID(c.Param("id"))
	if err != nil {
		v.notFound(c, what)
		return 0, false
	}
	return id, true
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, errors.New("not a positive id")
	}
	return id, nil
}
