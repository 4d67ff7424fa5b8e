package httpfault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/cityhealth/bridge/fault"
	"github.com/cityhealth/bridge/fault/httpfault"
	"github.com/cityhealth/bridge/flow/callers"
	"github.com/cityhealth/bridge/flow/clicktocall"
	"github.com/cityhealth/bridge/flow/selfreport"
	"github.com/cityhealth/bridge/mapping"
)

// netDown is what a refused connection looks like to a client.
var netDown = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

// TestAgentAnswers pins every status and body the agent routes give, byte
// for byte, as they were before the kinds: the Flex plugin and the e2e tests
// read them.
func TestAgentAnswers(t *testing.T) {
	rule := &mapping.RuleError{Path: "case_contacts.to", Field: "MobilePhone", Reason: "no number"}
	for _, tc := range []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"ctc invalid id", fmt.Errorf("click: %w", clicktocall.ErrInvalidID), 400, `{"error":"record_id must be a 15- or 18-character Salesforce id"}`},
		{"ctc not found", clicktocall.ErrNotFound, 404, `{"error":"record not found"}`},
		{"ctc no worker", clicktocall.ErrNoWorker, 403, `{"error":"the token carries no worker_sid, so no task can be routed to you"}`},
		{"ctc not mapped", clicktocall.ErrNotMapped, 503, `{"error":"no click_to_call mapping is configured"}`},
		{"ctc unavailable", fmt.Errorf("%w: upstream said 503 for Jordan", clicktocall.ErrUnavailable), 503, `{"error":"Salesforce or Twilio is unavailable; nothing was created, try again"}`},
		{"ctc not callable", &clicktocall.NotCallableError{Rule: "click_to_call.attributes.to", Field: "MobilePhone"}, 422, `{"error":"the record has no callable number in MobilePhone (click_to_call.attributes.to)"}`},
		{"ctc not callable, no field", fmt.Errorf("call: %w", &clicktocall.NotCallableError{Rule: "click_to_call.attributes.to"}), 422, `{"error":"the record has no callable number (click_to_call.attributes.to)"}`},
		{"callers invalid", fmt.Errorf("lookup: %w", callers.ErrInvalidPhone), 400, `{"error":"the phone number is not a possible number (E.164 or a 10-digit US number)"}`},
		{"callers not mapped", callers.ErrNotMapped, 503, `{"error":"no caller_lookup mapping is configured"}`},
		{"callers unavailable", fmt.Errorf("%w: salesforce: 503 for +17185550199", callers.ErrUnavailable), 503, `{"error":"Salesforce is unavailable; try again"}`},
		{"selfreport invalid", selfreport.ErrInvalidID, 400, `{"error":"record id is not a Salesforce id"}`},
		{"selfreport not found", selfreport.ErrNotFound, 404, `{"error":"record not found"}`},
		{"selfreport not reachable", &selfreport.NotReachableError{Rule: rule}, 422, `{"error":"the case has no number to text: ` + rule.Error() + `"}`},
		{"selfreport not mapped", selfreport.ErrNotMapped, 503, `{"error":"the mapping has no case_contacts section"}`},
		{"selfreport uncertain", selfreport.ErrUncertain, 503, `{"error":"the text may not have been sent; it will not be sent twice"}`},
		// The flow's own words win over its network cause.
		{"selfreport unavailable over a network error", fmt.Errorf("%w: %w", selfreport.ErrUnavailable, netDown), 503, `{"error":"Salesforce or Twilio is unavailable; try again"}`},
		{"redis down", fmt.Errorf("read link: %w", netDown), 503, `{"error":"storage is unavailable; try again"}`},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), 503, `{"error":"the request timed out; try again"}`},
		{"canceled", context.Canceled, 503, `{"error":"the request timed out; try again"}`},
		{"unknown", errors.New("redis: dial 10.0.0.5: secret detail for Jordan"), 500, `{"error":"internal error"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, logs := serve(t, tc.err)
			if w.Code != tc.status || w.Body.String() != tc.body {
				t.Fatalf("got %d %s, want %d %s", w.Code, w.Body, tc.status, tc.body)
			}
			if got := w.Header().Get("Retry-After"); (tc.status == 503) != (got == "5") {
				t.Errorf("Retry-After = %q on a %d", got, tc.status)
			}
			if tc.status >= 500 {
				if !strings.Contains(logs, "route=/v1/records/:id") || !strings.Contains(logs, fmt.Sprintf("status=%d", tc.status)) {
					t.Errorf("a %d is logged with its route and status: %q", tc.status, logs)
				}
			} else if logs != "" {
				t.Errorf("a %d is the caller's matter, not logged: %q", tc.status, logs)
			}
		})
	}
}

func TestKindStatuses(t *testing.T) {
	for k, want := range map[fault.Kind]int{
		fault.Invalid: 400, fault.Forbidden: 403, fault.NotFound: 404, fault.Conflict: 409,
		fault.TooLarge: 413, fault.Unsupported: 415, fault.Unprocessable: 422,
		fault.Internal: 500, fault.Upstream: 502, fault.Unavailable: 503, fault.Kind("new"): 500,
	} {
		if got := httpfault.Status(k); got != want {
			t.Errorf("Status(%q) = %d, want %d", k, got, want)
		}
	}
}

func TestValidationErrorsListPaths(t *testing.T) {
	errs := mapping.Errors{{Path: "record_to_task.attributes.to.transform", Message: "unknown transform"}}
	w, _ := serve(t, fmt.Errorf("save: %w", errs))
	if w.Code != 400 || w.Body.String() != `{"errors":[{"path":"record_to_task.attributes.to.transform","message":"unknown transform"}]}` {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
}

func serve(t *testing.T, err error) (*httptest.ResponseRecorder, string) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	e := gin.New()
	e.GET("/v1/records/:id", func(c *gin.Context) { httpfault.Write(c, log, err) })
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/records/003RM00000Cs1a2YAB", nil))
	return w, buf.String()
}
