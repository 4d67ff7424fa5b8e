package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/auth"
	"github.com/cityhealth/bridge/flow/selfreport"
)

// Elicitation is the flow behind POST /v1/records/{id}/elicitation.
type Elicitation interface {
	Request(ctx context.Context, recordID string) (sent bool, err error)
}

// PathElicitation asks a case for their close contacts.
const PathElicitation = "/v1/records/:id/elicitation"

// RegisterElicitation mounts the elicitation route behind the agent-role
// middleware.
func RegisterElicitation(r gin.IRouter, requireAgent gin.HandlerFunc, flow Elicitation, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r.POST(PathElicitation, requireAgent, func(c *gin.Context) {
		id := c.Param("id")
		sent, err := flow.Request(c.Request.Context(), id)
		if err != nil {
			elicitationError(c, log, err)
			return
		}
		p, _ := auth.PrincipalFrom(c)
		log.Info("contacts requested from a case", "case_id", id, "agent", p.Subject, "sent", sent)
		// 202: the text is on its way; false when a link is already out and unused.
		c.JSON(http.StatusAccepted, gin.H{"sent": sent})
	})
}

func elicitationError(c *gin.Context, log *slog.Logger, err error) {
	var nr *selfreport.NotReachableError
	switch {
	case errors.Is(err, selfreport.ErrInvalidID):
		Error(c, log, BadRequest(selfreport.ErrInvalidID.Error()))
	case errors.Is(err, selfreport.ErrNotFound):
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": selfreport.ErrNotFound.Error()})
	case errors.As(err, &nr):
		c.AbortWithStatusJSON(http.StatusUnprocessableEntity, gin.H{"error": nr.Error()})
	case errors.Is(err, selfreport.ErrNotMapped):
		log.Warn("contacts requested without a case_contacts mapping", "case_id", c.Param("id"))
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"error": selfreport.ErrNotMapped.Error()})
	case errors.Is(err, selfreport.ErrUncertain):
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"error": selfreport.ErrUncertain.Error()})
	case errors.Is(err, selfreport.ErrUnavailable):
		log.Error("contacts request failed", "case_id", c.Param("id"), "err", err)
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"error": selfreport.ErrUnavailable.Error()})
	default:
		Error(c, log, err)
	}
}
