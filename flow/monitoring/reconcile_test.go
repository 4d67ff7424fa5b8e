package monitoring_test

import (
	"context"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/flow/monitoring"
	"github.com/cityhealth/bridge/queue"
	"github.com/cityhealth/bridge/test/twiliosim"
	"testing"
	"time"
)

func shortTimeout(_ *monitoring.Config, tc *twilio.Config) { tc.Timeout = 300 * time.Millisecond }

// reminderDays counts messages per New York day.
func (e *env) reminderDays() map[string]int {
	days := map[string]int{}
	for _, m := range e.tw.Messages() {
		days[m.SendAt.In(e.ny).Format("2006-01-02")]++
	}
	return days
}

func mustRetryable(t *testing.T, err error) {
	t.Helper()
	if err == nil || queue.IsPermanent(err) {
		t.Fatalf("want a retryable error, got %v", err)
	}
}

func TestAmbiguousReminderIsFoundAndCanceledOnStop(t *testing.T) {
	e := MustEnv(t, shortTimeout)
	ctx := context.Background()
	id, rec := e.contact(t, nil)
	e.tw.SetLatency(twiliosim.OpScheduleMessage, 2*time.Second) // created, answer lost
	mustRetryable(t, e.handle(t, recordMsg(id, rec))[0])
	e.tw.SetLatency(twiliosim.OpScheduleMessage, 0)
	if n := len(e.tw.Scheduled()); n != 1 {
		t.Fatalf("%d scheduled, want the one of unknown outcome", n)
	}

	e.mustHandle(t, smsMsg(phone, "STOP", "STOP"))
	msgs := e.tw.Messages()
	if len(msgs) != 1 {
		t.Fatalf("after STOP: %d messages, want 1", len(msgs))
	}
	if msgs[0].Status != "canceled" {
		t.Fatalf("after STOP: status %s, want canceled", msgs[0].Status)
	}
	if n := e.tw.Calls(twiliosim.OpListMessages); n != 1 {
		t.Errorf("list calls = %d, want 1", n)
	}
	if out, err := e.reg.OptedOut(ctx, id); err != nil || !out {
		t.Fatalf("opt-out flag: %v %v", out, err)
	}
	if v := e.sf.Record("Contact", id)["SMS_Opt_Out__c"]; v != true {
		t.Fatalf("SMS_Opt_Out__c = %v, want true", v)
	}
	// settled: Run has nothing left to look up, and schedules nothing
	e.clock.Add(time.Hour)
	calls := e.tw.TotalCalls()
	if n, err := e.flow.SchedulePending(ctx); err != nil || n != 0 {
		t.Fatalf("SchedulePending = %d %v", n, err)
	}
	if n := e.tw.TotalCalls() - calls; n != 0 {
		t.Errorf("%d Twilio calls after settling", n)
	}
}

func TestAmbiguousReminderIsCanceledWhenMonitoringEnds(t *testing.T) {
	e := MustEnv(t, shortTimeout)
	id, rec := e.contact(t, nil)
	e.tw.SetLatency(twiliosim.OpScheduleMessage, 2*time.Second)
	mustRetryable(t, e.handle(t, recordMsg(id, rec))[0])
	e.tw.SetLatency(twiliosim.OpScheduleMessage, 0)
	e.mustHandle(t, recordMsg(id, with(rec, "Monitoring_Status__c", "Completed", "LastModifiedDate", "2026-02-28T12:05:00.000Z")))
	if n := len(e.tw.Scheduled()); n != 0 {
		t.Fatalf("%d reminders survive the end of monitoring", n)
	}
	if n := e.tw.Calls(twiliosim.OpCancelMessage); n != 1 {
		t.Errorf("cancel calls = %d, want 1", n)
	}
}

func TestAdoptedReminderIsNeverDuplicated(t *testing.T) {
	e := MustEnv(t, shortTimeout)
	ctx := context.Background()
	id, rec := e.contact(t, nil)
	e.tw.SetLatency(twiliosim.OpScheduleMessage, 2*time.Second)
	mustRetryable(t, e.handle(t, recordMsg(id, rec))[0])
	e.tw.SetLatency(twiliosim.OpScheduleMessage, 0)
	e.mustHandle(t, recordMsg(id, rec)) // the queue's retry adopts it
	e.clock.Add(5 * time.Minute)        // grace over: nothing more to do
	if _, err := e.flow.SchedulePending(ctx); err != nil {
		t.Fatal(err)
	}
	e.mustHandle(t, recordMsg(id, rec))
	if days := e.reminderDays(); len(e.tw.Messages()) != 14 || len(days) != 14 {
		t.Fatalf("%d messages over %d days, want 14 over 14", len(e.tw.Messages()), len(days))
	}
	if n := e.tw.Calls(twiliosim.OpScheduleMessage); n != 14 {
		t.Errorf("schedule calls = %d, want 14", n)
	}
	// the adopted day is cancelable like the others
	e.mustHandle(t, recordMsg(id, with(rec, "Monitoring_Status__c", "Completed", "LastModifiedDate", "2026-02-28T13:00:00.000Z")))
	if n := len(e.tw.Scheduled()); n != 0 {
		t.Fatalf("%d reminders still scheduled", n)
	}
}

func TestAmbiguousReminderNeverCreatedIsScheduledAgainOnce(t *testing.T) {
	e := MustEnv(t)
	ctx := context.Background()
	id, rec := e.contact(t, nil)
	e.tw.FailNext(twiliosim.OpScheduleMessage, 1, 502) // a gateway's 502: nothing created
	mustRetryable(t, e.handle(t, recordMsg(id, rec))[0])
	e.mustHandle(t, recordMsg(id, rec)) // within grace: the day is left alone
	if days := e.reminderDays(); len(days) != 13 || days["2026-03-01"] != 0 {
		t.Fatalf("within grace: %v", days)
	}
	if n, err := e.flow.SchedulePending(ctx); err != nil || n != 0 {
		t.Fatalf("within grace: SchedulePending = %d %v", n, err)
	}

	e.clock.Add(3 * time.Minute)
	if n, err := e.flow.SchedulePending(ctx); err != nil || n != 1 {
		t.Fatalf("after grace: SchedulePending = %d %v, want 1", n, err)
	}
	if n, err := e.flow.SchedulePending(ctx); err != nil || n != 0 {
		t.Fatalf("again: SchedulePending = %d %v, want 0", n, err)
	}
	e.mustHandle(t, recordMsg(id, rec))
	days := e.reminderDays()
	if len(e.tw.Messages()) != 14 || len(days) != 14 {
		t.Fatalf("%d messages over %d days, want 14 over 14: %v", len(e.tw.Messages()), len(days), days)
	}
	if n := e.tw.Calls(twiliosim.OpScheduleMessage); n != 15 {
		t.Errorf("schedule calls = %d, want 15 (the failed one, 13, the retried day)", n)
	}
}

func TestAmbiguousReminderNeverCreatedTooLateIsSkipped(t *testing.T) {
	e := MustEnv(t)
	ctx := context.Background()
	id, rec := e.contact(t, nil)
	e.tw.FailNext(twiliosim.OpScheduleMessage, 1, 502)
	mustRetryable(t, e.handle(t, recordMsg(id, rec))[0])
	// 09:50 in New York on 1 March: the first day's 10:00 is out of Twilio's window
	e.clock.Add(time.Date(2026, 3, 1, 14, 50, 0, 0, time.UTC).Sub(epoch))
	if n, err := e.flow.SchedulePending(ctx); err != nil || n != 13 {
		t.Fatalf("SchedulePending = %d %v, want the 13 other days", n, err)
	}
	if days := e.reminderDays(); len(days) != 13 || days["2026-03-01"] != 0 {
		t.Fatalf("days %v", days)
	}
	if n := e.tw.Calls(twiliosim.OpScheduleMessage); n != 14 {
		t.Errorf("schedule calls = %d, want 14", n)
	}
}
