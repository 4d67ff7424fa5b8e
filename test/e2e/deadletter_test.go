package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Replaying without fixing anything fails again, and the dead letters say
// so: the new letter names the one it was replayed from and its error.
func TestReplayFailingAgainIsLinkedToTheFirstFailure(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	b.SF.RejectField("Task", "CallObject")
	b.PostTwilio("/webhooks/twilio/taskrouter", TaskEvent(t, sid("EV", 19), sid("WT", 19), ContactID(19), nil))
	var dl []map[string]any
	Eventually(t, wait, "a dead letter", func() bool { dl = deadLetters(t, b); return len(dl) == 1 })
	first, _ := dl[0]["id"].(string)
	admin := map[string]string{"Authorization": "Bearer " + b.AdminToken}
	if resp, body := b.Do(http.MethodPost, "/admin/api/deadletters/"+url.PathEscape(first)+"/replay", nil, admin); resp.StatusCode != http.StatusOK {
		t.Fatalf("replay: %d %s", resp.StatusCode, body)
	}
	Eventually(t, wait, "the replay's failure", func() bool {
		dl = deadLetters(t, b)
		return len(dl) == 1 && dl[0]["id"] != first
	})
	again := dl[0]
	hist, _ := again["history"].([]any)
	if again["replay_of"] != first || again["replays"] != 1.0 || len(hist) != 1 ||
		!strings.Contains(hist[0].(map[string]any)["error"].(string), "INVALID_FIELD") || again["key"] != dl[0]["key"] {
		t.Fatalf("failed-again letter %v, want it linked to %s", again, first)
	}
	if n := len(b.SF.Records("Task")); n != 0 {
		t.Fatalf("%d rows written by a failing replay", n)
	}
}
