package queue_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cityhealth/bridge/queue"
)

func TestPermanentSurvivesWrapping(t *testing.T) {
	base := errors.New("INVALID_FIELD")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", queue.Permanent(nil), false},
		{"plain", base, false},
		{"marked", queue.Permanent(base), true},
		{"wrapped after marking", fmt.Errorf("upsert task: %w", queue.Permanent(base)), true},
	}
	for _, tt := range tests {
		if got := queue.IsPermanent(tt.err); got != tt.want {
			t.Errorf("%s: IsPermanent = %v", tt.name, got)
		}
	}
	if !errors.Is(queue.Permanent(base), base) {
		t.Error("Permanent hides the error it marks")
	}
}

type vendorErr struct {
	permanent bool
	text      string
}

func (e *vendorErr) Error() string   { return "vendor said: Ana at +12125550123" }
func (e *vendorErr) Permanent() bool { return e.permanent }
func (e *vendorErr) LogText() string { return e.text }

func TestClassifyAndLogText(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		permanent bool
		log       string
	}{
		{"nil", nil, false, ""},
		{"plain", errors.New("network down"), false, "network down"},
		{"permanent vendor error, wrapped", fmt.Errorf("create task: %w", &vendorErr{true, "twilio status 400 code 21211"}), true, "twilio status 400 code 21211"},
		{"retryable vendor error", &vendorErr{false, "twilio status 429 code 20429"}, false, "twilio status 429 code 20429"},
		{"already permanent", queue.Permanent(errors.New("bad")), true, "bad"},
	}
	for _, tt := range tests {
		got := queue.Classify(tt.err)
		if queue.IsPermanent(got) != tt.permanent || !errors.Is(got, tt.err) {
			t.Errorf("%s: Classify = %v", tt.name, got)
		}
		if tt.err != nil && queue.LogText(tt.err) != tt.log {
			t.Errorf("%s: LogText = %q", tt.name, queue.LogText(tt.err))
		}
	}
}
