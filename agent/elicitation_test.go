package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/flow/selfreport"
	"github.com/cityhealth/bridge/mapping"
)

type fakeElicitation func(id string) (bool, error)

func (f fakeElicitation) Request(_ context.Context, id string) (bool, error) { return f(id) }

func TestElicitationAnswers(t *testing.T) {
	gin.SetMode(gin.TestMode)
	cases := []struct {
		name   string
		sent   bool
		err    error
		status int
		body   string
	}{
		{"sent", true, nil, http.StatusAccepted, `{"sent":true}`},
		{"link out", false, nil, http.StatusAccepted, `{"sent":false}`},
		{"bad id", false, selfreport.ErrInvalidID, http.StatusBadRequest, "not a Salesforce id"},
		{"unknown", false, selfreport.ErrNotFound, http.StatusNotFound, "not found"},
		{"no number", false, &selfreport.NotReachableError{Rule: &mapping.RuleError{Path: "case_contacts.to", Field: "MobilePhone", Reason: "no number"}}, http.StatusUnprocessableEntity, "MobilePhone"},
		{"no mapping", false, selfreport.ErrNotMapped, http.StatusServiceUnavailable, "case_contacts"},
		{"unknown outcome", false, selfreport.ErrUncertain, http.StatusServiceUnavailable, "not be sent twice"},
		{"down", false, fmt.Errorf("%w: twilio said +19175550142 is bad", selfreport.ErrUnavailable), http.StatusServiceUnavailable, "try again"},
		{"other", false, errors.New("redis secret detail"), http.StatusInternalServerError, "internal error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := gin.New()
			pass := func(c *gin.Context) { c.Next() }
			RegisterElicitation(e, pass, fakeElicitation(func(string) (bool, error) { return tc.sent, tc.err }), nil)
			w := httptest.NewRecorder()
			e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/records/003RM00000Cs1a2YAB/elicitation", nil))
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.body) {
				t.Errorf("got %d %s, want %d containing %q", w.Code, w.Body, tc.status, tc.body)
			}
			if strings.Contains(w.Body.String(), "555") || strings.Contains(w.Body.String(), "secret") {
				t.Errorf("answer leaks: %s", w.Body)
			}
		})
	}
}
