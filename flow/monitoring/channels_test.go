package monitoring_test

import (
	"context"
	"testing"
	"time"

	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/flow/monitoring"
	"github.com/cityhealth/bridge/test/twiliosim"
)

// sentNow are the messages sent at once (not through the scheduler).
func sentNow(tw *twiliosim.Server) []twiliosim.Message {
	var out []twiliosim.Message
	for _, m := range tw.Messages() {
		if m.SendAt.IsZero() {
			out = append(out, m)
		}
	}
	return out
}

// A day too near for Twilio's scheduler is sent by the bridge at its time.
// An ambiguous answer (502) is never simply repeated: the day waits for
// Twilio's list, and only when the message is surely missing is it sent
// again, once.
func TestTooNearDaySentByTheBridgeOnceAfterAnAmbiguousAnswer(t *testing.T) {
	e := MustEnv(t)
	ctx := context.Background()
	// 07:00 in New York; the contact's time is 07:05 today.
	id, rec := e.contact(t, map[string]any{"Monitoring_Start__c": "2026-02-28", "Preferred_Time__c": "07:05"})
	e.mustHandle(t, recordMsg(id, rec))
	if n := len(sentNow(e.tw)); n != 0 {
		t.Fatalf("%d sent before the contact's time", n)
	}
	e.clock.Add(6 * time.Minute)
	e.tw.FailNext(twiliosim.OpSendMessage, 1, 502)
	if _, err := e.flow.SchedulePending(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.flow.SchedulePending(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.tw.Calls(twiliosim.OpSendMessage); n != 1 {
		t.Fatalf("%d sends after an ambiguous answer, want 1 (no blind retry)", n)
	}
	e.clock.Add(3 * time.Minute) // past Grace: Twilio's list shows nothing
	if _, err := e.flow.SchedulePending(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.flow.SchedulePending(ctx); err != nil {
		t.Fatal(err)
	}
	sent := sentNow(e.tw)
	if len(sent) != 1 || sent[0].To != "+12125550123" {
		t.Fatalf("sent %+v, want one message", sent)
	}
}

// Horizon: a contact has at most the horizon's days at Twilio; the rest
// wait in the rolling schedule.
func TestHorizonBoundsWhatTwilioHolds(t *testing.T) {
	e := MustEnv(t, func(c *monitoring.Config, _ *twilio.Config) { c.Horizon = 48 * time.Hour })
	ctx := context.Background()
	id, rec := e.contact(t, map[string]any{"Monitoring_Start__c": "2026-03-01"})
	e.mustHandle(t, recordMsg(id, rec))
	// 07:00 on 28 Feb: 1 Mar 10:00 is 27 h away, 2 Mar 10:00 51 h.
	if n := len(e.tw.Scheduled()); n != 1 {
		t.Fatalf("%d at Twilio, want 1", n)
	}
	for i := 0; i < 16*4; i++ {
		e.clock.Add(6 * time.Hour)
		e.tw.SendDue()
		if _, err := e.flow.SchedulePending(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(e.tw.Scheduled()); n > 3 {
			t.Fatalf("%d at Twilio", n)
		}
	}
	if n := len(e.tw.Messages()); n != 14 {
		t.Fatalf("%d reminders in all, want 14", n)
	}
}
