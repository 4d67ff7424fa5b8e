package admin

import (
	"embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// The page is embedded so the bridge serves it offline, with no CDN.
//
//go:embed web/index.html web/app.js web/app.css
var webFiles embed.FS

// pageCSP allows only the page's own files and API; no inline script or
// style, no framing.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// registerPage serves GET /admin/ and its assets; /admin redirects there so
// the page's relative API paths resolve.
func registerPage(r gin.IRouter) {
	r.GET("/admin", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, PathPage) })
	r.GET(PathPage, serveFile("web/index.html", "text/html; charset=utf-8"))
	r.GET("/admin/app.js", serveFile("web/app.js", "text/javascript; charset=utf-8"))
	r.GET("/admin/app.css", serveFile("web/app.css", "text/css; charset=utf-8"))
}

func serveFile(name, contentType string) gin.HandlerFunc {
	body, err := webFiles.ReadFile(name)
	if err != nil {
		panic("admin: embedded " + name + " missing: " + err.Error()) // a build error
	}
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Content-Security-Policy", pageCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		c.Data(http.StatusOK, contentType, body)
	}
}
