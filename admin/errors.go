package admin

import (
	"log/slog"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/fault"
	"github.com/cityhealth/bridge/fault/httpfault"
)

func badRequest(msg string) error { return fault.New(fault.Invalid, msg) }

// Errors the handlers return; their text is written for the admin.
var (
	errRecordNotFound = fault.New(fault.NotFound, "record not found")
	errDeadNotFound   = fault.New(fault.NotFound, "dead letter not found")
	errTooLarge       = fault.New(fault.TooLarge, "the body is too large")
	errMediaType      = fault.New(fault.Unsupported, "send the mapping as application/yaml, text/yaml or application/json")
	errCRMUnavailable = fault.New(fault.Unavailable, "Salesforce is unavailable; try again")
	errNoMonitoring   = fault.New(fault.NotFound, "monitoring view is not configured")
)

// writeError answers err as every JSON route does (package httpfault),
// never cached: only fault messages and validation errors (which name paths
// and fields, never values) reach the body; anything else is logged and
// answered as a bare 500.
func writeError(c *gin.Context, log *slog.Logger, err error) {
	c.Header("Cache-Control", "no-store")
	httpfault.Write(c, log, err)
}
