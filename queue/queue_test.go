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
