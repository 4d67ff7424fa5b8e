// Package httpfault is the one place where an error becomes a JSON answer
// on the agent and admin routes, as WTF Dial's http.Error and go-kit's
// err2code do: a fault kind gives the status, its message the body; any
// other error is logged (route only) and answered as a bare 500.
package httpfault

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/fault"
	"github.com/cityhealth/bridge/mapping"
)

// Status is the HTTP status of a fault kind.
func Status(k fault.Kind) int {
	switch k {
	case fault.Invalid:
		return http.StatusBadRequest
	case fault.NotFound:
		return http.StatusNotFound
	case fault.Conflict:
		return http.StatusConflict
	case fault.Forbidden:
		return http.StatusForbidden
	case fault.Unprocessable:
		return http.StatusUnprocessableEntity
	case fault.TooLarge:
		return http.StatusRequestEntityTooLarge
	case fault.Unsupported:
		return http.StatusUnsupportedMediaType
	case fault.Upstream:
		return http.StatusBadGateway
	case fault.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// The answers for errors that carry no kind of their own.
const (
	msgStorage  = "storage is unavailable; try again"
	msgTimedOut = "the request timed out; try again"
	msgInternal = "internal error"
)

// Answer is the status and JSON body err is answered with.
func Answer(err error) (int, any) {
	var invalid mapping.Errors
	switch {
	case fault.KindOf(err) != fault.Internal:
		// Checked first: a flow's own answer (e.g. "Salesforce or Twilio is
		// unavailable") stands even when its cause is a network error.
		return Status(fault.KindOf(err)), gin.H{"error": fault.Message(err)}
	case errors.As(err, &invalid):
		// Validation errors name paths and fields, never values.
		return http.StatusBadRequest, gin.H{"errors": invalid}
	case redis.IsUnavailable(err):
		// Redis is down: the one answer every route gives for it.
		return http.StatusServiceUnavailable, gin.H{"error": msgStorage}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, gin.H{"error": msgTimedOut}
	}
	return http.StatusInternalServerError, gin.H{"error": msgInternal}
}

// Write answers err and aborts the handler chain. A 503 says when to try
// again; a 5xx is logged with the route and the error, never the request.
func Write(c *gin.Context, log *slog.Logger, err error) {
	status, body := Answer(err)
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "5")
	}
	if status >= 500 && log != nil {
		log.Error("request failed", "route", c.FullPath(), "status", status, "err", err)
	}
	c.AbortWithStatusJSON(status, body)
}
