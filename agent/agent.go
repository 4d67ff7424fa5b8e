// Package agent serves the Flex agents' JSON routes (click-to-call and the
// screen-pop context); package httpfault turns the flows' errors into answers.
package agent

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/fault"
	"github.com/cityhealth/bridge/fault/httpfault"
	"github.com/cityhealth/bridge/flow/clicktocall"
)

// ClickToCall is the flow behind the agent routes.
type ClickToCall interface {
	Call(ctx context.Context, agent clicktocall.Agent, recordID string) (clicktocall.Result, error)
	Context(ctx context.Context, agent clicktocall.Agent, recordID string) (map[string]any, error)
}

// Agent routes.
const (
	PathClickToCall   = "/v1/click-to-call"
	PathRecordContext = "/v1/records/:id/context"
)

// Register mounts the agent routes behind the agent-role middleware.
func Register(r gin.IRouter, requireAgent gin.HandlerFunc, flow ClickToCall, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &handlers{flow: flow, log: log}
	r.POST(PathClickToCall, requireAgent, h.clickToCall)
	r.GET(PathRecordContext, requireAgent, h.context)
}

type handlers struct {
	flow ClickToCall
	log  *slog.Logger
}

func agentOf(c *gin.Context) clicktocall.Agent {
	p, _ := auth.PrincipalFrom(c)
	return clicktocall.Agent{Subject: p.Subject, WorkerSID: p.WorkerSID}
}

func (h *handlers) clickToCall(c *gin.Context) {
	var req struct {
		RecordID string `json:"record_id"`
	}
	if err := c.ShouldBindJSON(&req); err != nil {
		Error(c, h.log, errBody)
		return
	}
	res, err := h.flow.Call(c.Request.Context(), agentOf(c), req.RecordID)
	if err != nil {
		Error(c, h.log, err)
		return
	}
	status := http.StatusCreated
	if res.Repeated {
		status = http.StatusOK
	}
	c.JSON(status, res)
}

func (h *handlers) context(c *gin.Context) {
	attrs, err := h.flow.Context(c.Request.Context(), agentOf(c), c.Param("id"))
	if err != nil {
		Error(c, h.log, err)
		return
	}
	// The body is the attributes themselves, so a Flex plugin passes it to
	// StartOutboundCall as taskAttributes unchanged.
	c.JSON(http.StatusOK, attrs)
}

// Error answers {"error": "…"} with the status err's fault kind maps to
// (package httpfault); anything else is logged and answered as a bare 500,
// so no internal detail or record data reaches a response.
func Error(c *gin.Context, log *slog.Logger, err error) { httpfault.Write(c, log, err) }

// errBody: the click-to-call body is not the JSON it should be.
var errBody = fault.New(fault.Invalid, "body must be JSON {\"record_id\": \"…\"}")
