package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cityhealth/bridge/test/twiliosim"
)

const wait = 10 * time.Second

func contact(id, first, phone, status string) map[string]*string {
	return map[string]*string{
		"Id": S(id), "FirstName": S(first), "MobilePhone": S(phone), "Outreach_Status__c": S(status),
		"Case_Number__c": S("NYC-2020-000999"), "Preferred_Language__c": S("English"), "Priority__c": N(1),
		"Index_Case_Name__c": S("Jordan Example"),
	}
}

func mustAck(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<Ack>true</Ack>") {
		t.Fatalf("want 200 Ack, got %d %s", resp.StatusCode, body)
	}
}

func openTasks(sim *twiliosim.Server) []twiliosim.Task { return sim.OpenTasks() }

func TestOutboundSampleOpensOneTaskPerRecord(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	b.Log.Plant("Jordan Example", "Alex", "(212) 555-0123")

	resp, body := b.PostOutbound("", Testdata(t, "salesforce-outbound-message.xml"))
	mustAck(t, resp, body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
		t.Fatalf("Ack content type %q", ct)
	}
	Eventually(t, wait, "a task for the Needs Outreach record", func() bool { return len(b.Twilio.Tasks()) == 1 })
	b.Settle(wait)

	tasks := b.Twilio.Tasks()
	if len(tasks) != 1 {
		t.Fatalf("want exactly one task (the Closed record has none), got %d", len(tasks))
	}
	task := tasks[0]
	attrs := task.Attributes
	crm, _ := attrs["crm"].(map[string]any)
	switch {
	case attrs["name"] != "Alex", attrs["to"] != "+12125550123", attrs["language"] != "es", attrs["case_number"] != "NYC-2020-000123":
		t.Fatalf("mapped attributes wrong: %v", attrs)
	case crm["record_id"] != "003RM00000Qx1a2YAB" || crm["object"] != "Contact":
		t.Fatalf("crm block wrong: %v", crm)
	case task.Priority != 2:
		t.Fatalf("priority %d, want 2", task.Priority)
	case task.WorkflowSID != b.Twilio.WorkflowSID:
		t.Fatalf("workflow %s", task.WorkflowSID)
	}
	raw, _ := json.Marshal(attrs)
	if strings.Contains(string(raw), "Jordan") {
		t.Fatalf("protected field reached Twilio: %s", raw)
	}

	// The same message again (Salesforce retries): Ack, and no Twilio call at all.
	b.Twilio.ResetCalls()
	resp, body = b.PostOutbound("", Testdata(t, "salesforce-outbound-message.xml"))
	mustAck(t, resp, body)
	b.Settle(wait)
	if n := b.Twilio.TotalCalls(); n != 0 {
		t.Fatalf("re-delivery made %d Twilio calls, want 0", n)
	}
}

func TestOutboundRecordLifecycle(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	b.Log.Plant("Jordan Example", "Morgan", "(917) 555-0142", "(917) 555-0199")
	id := ContactID(1)
	rec := contact(id, "Morgan", "(917) 555-0142", "Needs Outreach")

	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(1), Fields: rec}))
	Eventually(t, wait, "task created", func() bool { return len(openTasks(b.Twilio)) == 1 })
	b.Settle(wait)
	sid := openTasks(b.Twilio)[0].SID

	// A new notification whose mapped attributes did not change: no call.
	b.Twilio.ResetCalls()
	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(2), Fields: rec}))
	b.Settle(wait)
	if n := b.Twilio.TotalCalls(); n != 0 {
		t.Fatalf("unchanged record made %d Twilio calls", n)
	}

	// A changed phone updates the open task; no second task.
	rec["MobilePhone"] = S("(917) 555-0199")
	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(3), Fields: rec}))
	Eventually(t, wait, "task updated", func() bool {
		task, _ := b.Twilio.Task(sid)
		return task.Attributes["to"] == "+19175550199"
	})
	if n := len(b.Twilio.Tasks()); n != 1 {
		t.Fatalf("%d tasks after an update, want 1", n)
	}

	// A cancel value cancels it.
	rec["Outreach_Status__c"] = S("Closed")
	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(4), Fields: rec}))
	Eventually(t, wait, "task canceled", func() bool {
		task, _ := b.Twilio.Task(sid)
		return task.AssignmentStatus == "canceled"
	})
	b.Settle(wait)
	if n := len(b.Twilio.Tasks()); n != 1 {
		t.Fatalf("%d tasks, want 1", n)
	}
}

func TestOutboundOlderNotificationDoesNotOverwrite(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	id := ContactID(2)
	newer := contact(id, "Riley", "(718) 555-0101", "Needs Outreach")
	newer["LastModifiedDate"] = S("2020-06-02T15:00:00.000Z")
	older := contact(id, "Riley", "(718) 555-0177", "Needs Outreach")
	older["LastModifiedDate"] = S("2020-06-02T14:00:00.000Z")

	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(10), Fields: newer}))
	Eventually(t, wait, "task created", func() bool { return len(b.Twilio.Tasks()) == 1 })
	b.Settle(wait)
	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(11), Fields: older}))
	b.Settle(wait)
	if to := b.Twilio.Tasks()[0].Attributes["to"]; to != "+17185550101" {
		t.Fatalf("an older notification overwrote the task: to=%v", to)
	}
}

func TestOutboundRefusals(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{Env: map[string]string{"BRIDGE_SF_OUTBOUND_TOKEN": "s3cret-token-0123456789abcdef-0123456789"}})
	good := OutboundMessage(SampleOrgID, Notification{ID: NotificationID(20), Fields: contact(ContactID(20), "Sky", "(212) 555-0100", "Needs Outreach")})
	cases := []struct {
		name, path, body string
		status           int
	}{
		{"no token", "/webhooks/salesforce/outbound", good, http.StatusForbidden},
		{"wrong token", "/webhooks/salesforce/outbound?token=nope", good, http.StatusForbidden},
		{"foreign org", "/webhooks/salesforce/outbound?token=s3cret-token-0123456789abcdef-0123456789", strings.Replace(good, SampleOrgID, "00D000000000001AAA", 1), http.StatusForbidden},
		{"malformed", "/webhooks/salesforce/outbound?token=s3cret-token-0123456789abcdef-0123456789", "<soapenv:Envelope", http.StatusBadRequest},
		{"oversized", "/webhooks/salesforce/outbound?token=s3cret-token-0123456789abcdef-0123456789", strings.Replace(good, "Sky", strings.Repeat("x", 6<<20), 1), http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := b.PostOutbound(tc.path, tc.body)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), "Fault") {
				t.Fatalf("want %d with a SOAP fault, got %d %s", tc.status, resp.StatusCode, body)
			}
			if strings.Contains(string(body), "s3cret") {
				t.Fatal("fault echoes the token")
			}
		})
	}
	b.Settle(wait)
	if n := b.Twilio.TotalCalls(); n != 0 {
		t.Fatalf("refused messages made %d Twilio calls", n)
	}
	for name, st := range b.QueueStats() {
		if st.Length != 0 {
			t.Fatalf("queue %s holds %d entries from refused messages", name, st.Length)
		}
	}
	b.MustOutboundAt("/webhooks/salesforce/outbound?token=s3cret-token-0123456789abcdef-0123456789", good)
}

func TestOutboundRedisDownAnswers503(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	msg := OutboundMessage(SampleOrgID, Notification{ID: NotificationID(30), Fields: contact(ContactID(30), "Lee", "(212) 555-0111", "Needs Outreach")})
	b.Redis.Kill()
	resp, body := b.PostOutbound("", msg)
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(string(body), "<Ack>true") {
		t.Fatalf("want 503 without an Ack while Redis is down, got %d %s", resp.StatusCode, body)
	}
	if resp, _ := b.Do(http.MethodGet, "/readyz", nil, nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz %d while Redis is down", resp.StatusCode)
	}
	// Salesforce retries once Redis is back: nothing was lost.
	b.Redis.Restart()
	Eventually(t, wait, "Redis back", func() bool {
		resp, _ := b.PostOutbound("", msg)
		return resp.StatusCode == http.StatusOK
	})
	Eventually(t, wait, "task created after the outage", func() bool { return len(b.Twilio.Tasks()) == 1 })
}

func TestOutboundTwilioFailuresRetriedFromQueue(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	b.Twilio.FailNext(twiliosim.OpCreateTask, 3, http.StatusServiceUnavailable)
	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(40), Fields: contact(ContactID(40), "Kai", "(212) 555-0122", "Needs Outreach")}))
	Eventually(t, wait, "task created after 503s", func() bool { return len(b.Twilio.Tasks()) == 1 })
	b.Settle(wait)
	if n := len(b.Twilio.Tasks()); n != 1 {
		t.Fatalf("%d tasks, want 1", n)
	}
}

func TestOutboundAmbiguousCreateMakesOneTask(t *testing.T) {
	t.Parallel()
	tuning := DefaultTuning()
	tuning.TwilioTimeout = 300 * time.Millisecond
	b := MustStart(t, Options{Tuning: &tuning})
	// The sim creates the task, then answers too late: the bridge cannot tell
	// whether its create happened.
	b.Twilio.SetLatency(twiliosim.OpCreateTask, time.Second)
	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(50), Fields: contact(ContactID(50), "Ash", "(212) 555-0133", "Needs Outreach")}))
	Eventually(t, wait, "first create attempt", func() bool { return b.Twilio.Calls(twiliosim.OpCreateTask) >= 1 })
	b.Twilio.SetLatency(twiliosim.OpCreateTask, 0)
	b.Settle(wait)
	if n := len(b.Twilio.Tasks()); n != 1 {
		t.Fatalf("an ambiguous create left %d tasks, want 1", n)
	}
}

// Flex keeps its own attributes on the task during a call; a record change
// in between must merge into them, not replace them (TaskRouter replaces
// all attributes on update).
func TestOutboundUpdateKeepsFlexAttributes(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	b.Log.Plant("Jordan Example", "Quinn", "(917) 555-0177", "(917) 555-0178")
	id := ContactID(5)
	rec := contact(id, "Quinn", "(917) 555-0177", "Needs Outreach")
	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(5), Fields: rec}))
	Eventually(t, wait, "task created", func() bool { return len(openTasks(b.Twilio)) == 1 })
	b.Settle(wait)
	sid := openTasks(b.Twilio)[0].SID

	// The agent takes the call; Flex writes its attributes.
	if err := b.Twilio.SetAssignmentStatus(sid, "assigned"); err != nil {
		t.Fatal(err)
	}
	flex := map[string]any{"call_sid": "CA" + strings.Repeat("0", 31) + "1", "conference": map[string]any{"sid": "CF" + strings.Repeat("0", 32)},
		"conversations": map[string]any{"outcome": "Reached", "talk_time": 42}}
	if err := b.Twilio.WriteAttributes(sid, flex); err != nil {
		t.Fatal(err)
	}

	// The record changes: a new number and no case number any more.
	rec["MobilePhone"] = S("(917) 555-0178")
	delete(rec, "Case_Number__c")
	b.MustOutbound(OutboundMessage(SampleOrgID, Notification{ID: NotificationID(6), Fields: rec}))
	Eventually(t, wait, "task updated", func() bool {
		task, _ := b.Twilio.Task(sid)
		return task.Attributes["to"] == "+19175550178"
	})
	task, _ := b.Twilio.Task(sid)
	a := task.Attributes
	conv, _ := a["conversations"].(map[string]any)
	switch {
	case a["call_sid"] != flex["call_sid"], a["conference"] == nil, conv["outcome"] != "Reached", conv["talk_time"] == nil:
		t.Fatalf("Flex's attributes lost: %v", a)
	case a["case_number"] != nil:
		t.Fatalf("case_number the mapping no longer yields is still there: %v", a)
	case a["crm"] == nil || a["name"] != "Quinn":
		t.Fatalf("mapped attributes wrong: %v", a)
	}
}

// A notification without sObject data (the record was deleted before
// delivery) is acknowledged and counted; the others are processed.
func TestOutboundDeletedRecordIsAcknowledged(t *testing.T) {
	t.Parallel()
	b := MustStart(t, Options{})
	b.Log.Plant("Jordan Example", "Rae", "(917) 555-0166")
	msg := OutboundMessage(SampleOrgID,
		Notification{ID: NotificationID(70), Deleted: true},
		Notification{ID: NotificationID(71), Fields: contact(ContactID(71), "Rae", "(917) 555-0166", "Needs Outreach")})
	b.MustOutbound(msg)
	Eventually(t, wait, "the live record's task", func() bool { return len(openTasks(b.Twilio)) == 1 })
	b.Settle(wait)
	if n := len(b.Twilio.Tasks()); n != 1 {
		t.Fatalf("%d tasks, want 1", n)
	}
	_, body := b.Do(http.MethodGet, "/metrics", nil, nil)
	if !strings.Contains(string(body), `bridge_intake_total{result="deleted",source="salesforce"} 1`) {
		t.Fatalf("deleted notification not counted:\n%s", grepLines(string(body), "bridge_intake_total"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
