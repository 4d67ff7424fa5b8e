package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/flow/clicktocall"
	"github.com/cityhealth/bridge/mapping"
)

// clientError is a request problem whose message is safe to return as is.
type clientError struct {
	status int
	msg    string
}

func (e *clientError) Error() string { return e.msg }

func badRequest(msg string) error { return &clientError{http.StatusBadRequest, msg} }

// Errors the handlers return; their text is written for the admin.
var (
	errRecordNotFound = &clientError{http.StatusNotFound, "record not found"}
	errDeadNotFound   = &clientError{http.StatusNotFound, "dead letter not found"}
	errTooLarge       = &clientError{http.StatusRequestEntityTooLarge, "the body is too large"}
	errMediaType      = &clientError{http.StatusUnsupportedMediaType, "send the mapping as application/yaml, text/yaml or application/json"}
	errCRMUnavailable = &clientError{http.StatusServiceUnavailable, "Salesforce is unavailable; try again"}
)

// writeError answers err with the one status and user-safe body this
// package maps it to. Only messages written for users (and validation and
// rule errors, which name paths and fields, never values) reach the body;
// anything else is logged and answered as a bare 500.
func writeError(c *gin.Context, log *slog.Logger, err error) {
	status, body := errorResponse(err)
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "5")
	}
	if status >= 500 {
		log.Error("admin request failed", "route", c.FullPath(), "status", status, "err", err)
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, body)
}

func errorResponse(err error) (int, any) {
	var (
		ce          *clientError
		invalid     mapping.Errors
		ruleErr     *mapping.RuleError
		notCallable *clicktocall.NotCallableError
		sfErr       *salesforce.APIError
	)
	switch {
	case redis.IsUnavailable(err):
		// Redis is down: the one answer every route gives for it.
		return http.StatusServiceUnavailable, gin.H{"error": "storage is unavailable; try again"}
	case errors.As(err, &invalid):
		return http.StatusBadRequest, gin.H{"errors": invalid}
	case errors.As(err, &ce):
		return ce.status, gin.H{"error": ce.msg}
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, gin.H{"error": "the mapping changed since the version you loaded; load it again and reapply your edits"}
	case errors.Is(err, ErrNoVersion):
		return http.StatusNotFound, gin.H{"error": "no such mapping version"}
	case errors.As(err, &ruleErr):
		// Names the rule and the field it reads, never the value.
		return http.StatusUnprocessableEntity, gin.H{"error": ruleErr.Error()}
	case errors.As(err, &notCallable):
		msg := notCallable.Rule + ": the record has no callable number"
		if notCallable.Field != "" {
			msg += " (" + notCallable.Field + ")"
		}
		return http.StatusUnprocessableEntity, gin.H{"error": msg}
	case errors.Is(err, salesforce.ErrNotFound):
		return http.StatusNotFound, gin.H{"error": errRecordNotFound.msg}
	case errors.Is(err, redis.ErrNotFound):
		return http.StatusNotFound, gin.H{"error": errDeadNotFound.msg}
	case errors.As(err, &sfErr):
		// Salesforce's message can quote values; only its code is safe.
		msg := "Salesforce refused the read"
		if sfErr.Code != "" {
			msg += " (" + sfErr.Code + ")"
		}
		return http.StatusBadGateway, gin.H{"error": msg}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, gin.H{"error": "the request timed out; try again"}
	}
	return http.StatusInternalServerError, gin.H{"error": "internal error"}
}
