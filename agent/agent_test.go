package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cityhealth/bridge/fault"
	"github.com/cityhealth/bridge/fault/httpfault"
	"github.com/cityhealth/bridge/flow/callers"
	"github.com/cityhealth/bridge/flow/clicktocall"
)

func TestStatusOf(t *testing.T) {
	cases := []struct {
		err    error
		status int
		msg    string
	}{
		{fault.New(fault.Invalid, "body must be JSON"), http.StatusBadRequest, "body must be JSON"},
		{fmt.Errorf("click: %w", clicktocall.ErrInvalidID), http.StatusBadRequest, "record_id"},
		{clicktocall.ErrNotFound, http.StatusNotFound, "not found"},
		{&clicktocall.NotCallableError{Rule: "click_to_call.attributes.to", Field: "MobilePhone"}, http.StatusUnprocessableEntity, "MobilePhone"},
		{clicktocall.ErrNoWorker, http.StatusForbidden, "worker_sid"},
		{fmt.Errorf("%w: upstream said 503 for Jordan", clicktocall.ErrUnavailable), http.StatusServiceUnavailable, "try again"},
		{context.DeadlineExceeded, http.StatusServiceUnavailable, "timed out"},
		{errors.New("redis: dial 10.0.0.5: secret detail"), http.StatusInternalServerError, "internal error"},
	}
	for _, tc := range cases {
		status, msg := statusOf(tc.err)
		if status != tc.status || !strings.Contains(msg, tc.msg) {
			t.Errorf("%v: got %d %q, want %d containing %q", tc.err, status, msg, tc.status, tc.msg)
		}
		// Wrapped details (vendor text, record data) never reach the answer.
		if strings.Contains(msg, "Jordan") || strings.Contains(msg, "secret") {
			t.Errorf("%v: answer leaks %q", tc.err, msg)
		}
	}
}

func TestDesktopErrors(t *testing.T) {
	cases := []struct {
		err    error
		status int
		msg    string
	}{
		{fmt.Errorf("lookup: %w", callers.ErrInvalidPhone), http.StatusBadRequest, "not a possible number"},
		{callers.ErrNotMapped, http.StatusServiceUnavailable, "caller_lookup"},
		{fmt.Errorf("%w: salesforce: 503 for +17185550199", callers.ErrUnavailable), http.StatusServiceUnavailable, "try again"},
		{errors.New("boom +17185550199"), http.StatusInternalServerError, "internal error"},
	}
	for _, tc := range cases {
		status, msg := statusOf(tc.err)
		if status != tc.status || !strings.Contains(msg, tc.msg) || strings.Contains(msg, "555") {
			t.Errorf("%v: got %d %q, want %d containing %q", tc.err, status, msg, tc.status, tc.msg)
		}
	}
}

// statusOf is the status and "error" text the agent routes answer err with.
func statusOf(err error) (int, string) {
	status, body := httpfault.Answer(err)
	b, _ := json.Marshal(body)
	var v struct{ Error string }
	_ = json.Unmarshal(b, &v)
	return status, v.Error
}
