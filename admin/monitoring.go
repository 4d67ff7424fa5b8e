package admin

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/fault"
)

// PathMonitoring is the monitoring view: today's escalations, missed days
// and contacts by channel, ids only.
const PathMonitoring = "/admin/api/monitoring"

// Monitoring reads the monitoring view (escalation.Flow's Today). The
// value is encoded as it is: it holds ids and counts, never a name or number.
type Monitoring interface {
	View(ctx context.Context) (any, error)
}

// MonitoringFunc adapts a function to Monitoring.
type MonitoringFunc func(ctx context.Context) (any, error)

// View calls fn.
func (fn MonitoringFunc) View(ctx context.Context) (any, error) { return fn(ctx) }

func (a *API) monitoring(c *gin.Context) {
	if a.cfg.Monitoring == nil {
		writeError(c, a.log, errNoMonitoring)
		return
	}
	v, err := a.cfg.Monitoring.View(c.Request.Context())
	if err != nil {
		writeError(c, a.log, fault.Wrap(err, fault.Unavailable, "monitoring view unavailable"))
		return
	}
	c.JSON(http.StatusOK, v)
}
