package e2e

import (
	"net/http"
	"testing"

	"github.com/cityhealth/bridge/test/redistest"
)

// The whole bridge on a real three-node Redis Cluster: every multi-key
// script (intake, retries, mapping saves) must keep its keys in one slot.
func TestBridgeOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a three-node Redis Cluster")
	}
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	b1 := MustStart(t, Options{Env: map[string]string{"BRIDGE_REDIS_URL": cluster.URL()}})
	b2 := MustStart(t, Options{SF: b1.SF, Twilio: b1.Twilio, Env: map[string]string{"BRIDGE_REDIS_URL": cluster.URL()}})

	if resp, body := b1.Do(http.MethodGet, "/readyz", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz on a cluster: %d %s", resp.StatusCode, body)
	}
	msg := OutboundMessage(SampleOrgID,
		Notification{ID: NotificationID(80), Fields: contact(ContactID(80), "Wren", "(212) 555-0180", "Needs Outreach")},
		Notification{ID: NotificationID(81), Fields: contact(ContactID(81), "Xia", "(212) 555-0181", "Needs Outreach")})
	b1.MustOutbound(msg)
	b2.MustOutbound(msg) // a retry landing on the other instance
	Eventually(t, wait, "two tasks", func() bool { return len(b1.Twilio.Tasks()) == 2 })

	for i := 0; i < 20; i++ {
		b := b1
		if i%2 == 1 {
			b = b2
		}
		form := TaskEvent(t, sid("EV", 800+i%10), sid("WT", 800+i%10), ContactID(800+i%10), map[string]any{"follow_up_date": nil})
		if resp, body := b.PostTwilio("/webhooks/twilio/taskrouter", form); resp.StatusCode != http.StatusOK {
			t.Fatalf("outcome: %d %s", resp.StatusCode, body)
		}
	}
	Eventually(t, wait, "ten rows", func() bool { return len(rowsByExternalID(b1)) == 10 })

	admin := map[string]string{"Authorization": "Bearer " + b1.AdminToken, "Content-Type": "application/yaml"}
	if resp, body := b1.Do(http.MethodPut, "/admin/api/mappings", Testdata(t, "mapping.yaml"), admin); resp.StatusCode != http.StatusOK {
		t.Fatalf("mapping save on a cluster: %d %s", resp.StatusCode, body)
	}
	if n := len(b1.Twilio.Tasks()); n != 2 {
		t.Fatalf("%d tasks, want 2", n)
	}
	for ext, n := range rowsByExternalID(b1) {
		if n != 1 {
			t.Fatalf("row %s written %d times", ext, n)
		}
	}
}
