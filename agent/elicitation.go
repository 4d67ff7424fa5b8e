package agent

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/auth"
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
			Error(c, log, err)
			return
		}
		p, _ := auth.PrincipalFrom(c)
		log.Info("contacts requested from a case", "case_id", id, "agent", p.Subject, "sent", sent)
		// 202: the text is on its way; false when a link is already out and unused.
		c.JSON(http.StatusAccepted, gin.H{"sent": sent})
	})
}
