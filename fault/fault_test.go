package fault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cityhealth/bridge/fault"
)

type notCallable struct{ rule string }

func (e *notCallable) Error() string         { return "no number (" + e.rule + ")" }
func (e *notCallable) FaultKind() fault.Kind { return fault.Unprocessable }

var _ fault.Kinded = (*notCallable)(nil)

func TestKindAndMessage(t *testing.T) {
	errGone := fault.New(fault.NotFound, "record not found")
	for _, tc := range []struct {
		name     string
		err      error
		wantKind fault.Kind
		wantMsg  string
	}{
		{"nil", nil, fault.Internal, "internal error"},
		{"plain", errors.New("dial tcp 10.0.0.1: refused"), fault.Internal, "internal error"},
		{"context", context.Canceled, fault.Internal, "internal error"},
		{"new", errGone, fault.NotFound, "record not found"},
		{"wrapped sentinel keeps only its own text", fmt.Errorf("%w: upstream said 500 for Jane", errGone), fault.NotFound, "record not found"},
		{"errorf", fault.Errorf(fault.Invalid, "limit must be between %d and %d", 1, 1000), fault.Invalid, "limit must be between 1 and 1000"},
		{"wrap hides the cause", fault.Wrap(errors.New("secret detail"), fault.Upstream, "Salesforce refused the read"), fault.Upstream, "Salesforce refused the read"},
		{"typed error", fmt.Errorf("call: %w", &notCallable{"click_to_call.attributes.to"}), fault.Unprocessable, "no number (click_to_call.attributes.to)"},
		{"outermost kind wins", fault.Wrap(errGone, fault.Unavailable, "try again"), fault.Unavailable, "try again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fault.KindOf(tc.err); got != tc.wantKind {
				t.Errorf("KindOf = %q, want %q", got, tc.wantKind)
			}
			if got := fault.Message(tc.err); got != tc.wantMsg {
				t.Errorf("Message = %q, want %q", got, tc.wantMsg)
			}
		})
	}
}

func TestWrapKeepsCauseForLogsAndErrorsIs(t *testing.T) {
	cause := errors.New("connection reset")
	err := fault.Wrap(cause, fault.Unavailable, "Salesforce is unavailable; try again")
	if !errors.Is(err, cause) {
		t.Fatal("Wrap must keep the cause in the chain")
	}
	if err.Error() != "Salesforce is unavailable; try again: connection reset" {
		t.Fatalf("Error() = %q", err.Error())
	}
	sentinel := fault.New(fault.Conflict, "changed")
	if !errors.Is(fmt.Errorf("save: %w", sentinel), sentinel) {
		t.Fatal("a sentinel must match through wrapping")
	}
}
