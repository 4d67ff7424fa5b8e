// Package agent serves the Flex agents' JSON routes (click-to-call and the
// screen-pop context) and holds the one place where flow errors become HTTP
// statuses and user-safe messages.
package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/connector/redis"
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
		Error(c, h.log, BadRequest("body must be JSON {\"record_id\": \"…\"}"))
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

// BadRequest is a client error whose message is safe to return as is.
type BadRequest string

func (e BadRequest) Error() string { return string(e) }

// Error answers {"error": "…"} with the status err maps to. Messages come
// from a fixed set (or the flows' own user-safe errors); anything unknown is
// logged and answered as a bare 500, so no internal detail or record data
// reaches a response.
func Error(c *gin.Context, log *slog.Logger, err error) {
	status, msg := statusOf(err)
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "5")
	}
	if status >= 500 && log != nil {
		log.Error("request failed", "path", c.FullPath(), "status", status, "err", err)
	}
	c.AbortWithStatusJSON(status, gin.H{"error": msg})
}

func statusOf(err error) (int, string) {
	var bad BadRequest
	var notCallable *clicktocall.NotCallableError
	var unav unavailable
	switch {
	case redis.IsUnavailable(err):
		return http.StatusServiceUnavailable, "storage is unavailable; try again"
	case errors.As(err, &bad):
		return http.StatusBadRequest, string(bad)
	case errors.As(err, &unav):
		return http.StatusServiceUnavailable, string(unav)
	case errors.Is(err, clicktocall.ErrInvalidID):
		return http.StatusBadRequest, clicktocall.ErrInvalidID.Error()
	case errors.Is(err, clicktocall.ErrNotFound):
		return http.StatusNotFound, clicktocall.ErrNotFound.Error()
	case errors.As(err, &notCallable):
		return http.StatusUnprocessableEntity, notCallable.Error()
	case errors.Is(err, clicktocall.ErrNoWorker):
		return http.StatusForbidden, clicktocall.ErrNoWorker.Error()
	case errors.Is(err, clicktocall.ErrNotMapped):
		return http.StatusServiceUnavailable, clicktocall.ErrNotMapped.Error()
	case errors.Is(err, clicktocall.ErrUnavailable):
		return http.StatusServiceUnavailable, clicktocall.ErrUnavailable.Error()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "the request timed out; try again"
	}
	return http.StatusInternalServerError, "internal error"
}
