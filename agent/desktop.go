package agent

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/flow/callers"
	"github.com/cityhealth/bridge/mapping"
)

// The Flex plugin's routes beside click-to-call: inbound screen pop and the
// wrap-up panel's choices.
const (
	PathCallers = "/v1/callers/:phone"
	PathWrapup  = "/v1/wrapup"
)

// Callers finds the records an inbound number belongs to.
type Callers interface {
	Lookup(ctx context.Context, phone string) ([]callers.Match, error)
}

// Mappings gives the mapping in force.
type Mappings interface {
	Current() *mapping.Mapping
}

// RegisterDesktop mounts GET /v1/callers/{phone} and GET /v1/wrapup behind
// the agent-role middleware.
func RegisterDesktop(r gin.IRouter, requireAgent gin.HandlerFunc, lookup Callers, maps Mappings, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &desktop{lookup: lookup, maps: maps, log: log}
	r.GET(PathCallers, requireAgent, h.callers)
	r.GET(PathWrapup, requireAgent, h.wrapup)
}

type desktop struct {
	lookup Callers
	maps   Mappings
	log    *slog.Logger
}

func (h *desktop) callers(c *gin.Context) {
	recs, err := h.lookup.Lookup(c.Request.Context(), c.Param("phone"))
	if err != nil {
		Error(c, h.log, err) // the lookup's errors never echo the number
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"records": recs})
}

func (h *desktop) wrapup(c *gin.Context) {
	d := h.maps.Current().OutcomeToCRM().Dispositions()
	if d == nil {
		d = []string{}
	}
	c.JSON(http.StatusOK, gin.H{"dispositions": d})
}
