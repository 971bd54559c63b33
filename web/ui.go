package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// addUIRoutes mounts the admin UI under /admin.
func addUIRoutes(r *gin.Engine, cfg Config) {
	r.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, "/admin/") })
}
