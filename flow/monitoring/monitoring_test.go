package monitoring_test

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/flow/monitoring"
	"github.com/cityhealth/bridge/queue"
	"github.com/cityhealth/bridge/survey"
	"github.com/cityhealth/bridge/test/twiliosim"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

const phone = "+12125550123"

func TestEnteringMonitoringSchedulesOneReminderPerDay(t *testing.T) {
	for _, tt := range []struct {
		name, pref, lang, greeting string
	}{
		{"spanish", "Spanish", "es", "Hola Ana, responda el control de salud de hoy: https://bridge.example.org/survey/"},
		{"english", "English", "en", "Hi Ana, please answer today's short health check: https://bridge.example.org/survey/"},
		{"no language falls back to en", "", "en", "Hi Ana, please answer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := MustEnv(t)
			id, rec := e.contact(t, map[string]any{"Preferred_Language__c": tt.pref})
			e.mustHandle(t, recordMsg(id, rec))

			if n := e.tw.Calls(twiliosim.OpScheduleMessage); n != 14 {
				t.Fatalf("schedule calls = %d, want 14", n)
			}
			if n := e.tw.TotalCalls(); n != 14 {
				t.Errorf("twilio calls = %d, want exactly 14", n)
			}
			msgs := e.tw.Scheduled()
			if len(msgs) != 14 {
				t.Fatalf("scheduled %d messages, want 14", len(msgs))
			}
			for i, m := range msgs {
				day := time.Date(2026, 3, 1+i, 0, 0, 0, 0, time.UTC)
				// 10:00 in New York: EST (UTC-5) until Sunday 8 March, EDT (UTC-4) after.
				wantUTC := 15
				if !day.Before(time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)) {
					wantUTC = 14
				}
				want := time.Date(day.Year(), day.Month(), day.Day(), wantUTC, 0, 0, 0, time.UTC)
				if !m.SendAt.Equal(want) {
					t.Errorf("day %d: SendAt %s, want %s", i+1, m.SendAt, want)
				}
				if local := m.SendAt.In(e.ny); local.Hour() != 10 || local.Minute() != 0 {
					t.Errorf("day %d: local time %s", i+1, local)
				}
				if m.To != phone {
					t.Errorf("day %d: sent to %q", i+1, m.To)
				}
				if !strings.HasPrefix(m.Body, tt.greeting) {
					t.Errorf("day %d: body %q", i+1, m.Body)
				}
				if strings.Contains(m.Body, "Never Shown") || strings.Contains(m.Body, "García") {
					t.Errorf("day %d: body leaks record data: %q", i+1, m.Body)
				}
				c, err := e.links.Verify(tokenOf(t, m.Body))
				if err != nil {
					t.Fatalf("day %d: link does not verify: %v", i+1, err)
				}
				if c.ContactID != id || c.Date != day.Format("2006-01-02") || c.Language != tt.lang {
					t.Errorf("day %d: link claims %+v", i+1, c)
				}
				// valid until the end of the second day after its day, New York time
				wantExp := time.Date(day.Year(), day.Month(), day.Day()+3, 0, 0, 0, 0, e.ny)
				if !c.ExpiresAt.Time.Equal(wantExp) {
					t.Errorf("day %d: link expires %s, want %s", i+1, c.ExpiresAt.Time, wantExp)
				}
			}
			got, found, err := e.reg.ContactByPhone(context.Background(), phone)
			if err != nil || !found || got != id {
				t.Errorf("ContactByPhone = %q %v %v", got, found, err)
			}
			sc, found, err := e.reg.Greeting(context.Background(), id)
			if err != nil || !found || sc.FirstName != "Ana" || sc.Language != tt.lang {
				t.Errorf("SurveyContact = %+v %v %v", sc, found, err)
			}
		})
	}
}

func TestRedeliveryAndLaterChangesScheduleNothingTwice(t *testing.T) {
	e := MustEnv(t)
	id, rec := e.contact(t, nil)
	msg := recordMsg(id, rec)
	e.mustHandle(t, msg)
	e.mustHandle(t, msg) // the queue's re-delivery
	// a later change of another field, on another day (start stays put)
	e.clock.Add(26 * time.Hour)
	e.mustHandle(t, recordMsg(id, with(rec, "Outreach_Status__c", "Closed")))
	// the start date missing from a notification must not move "today"
	noStart := with(rec)
	delete(noStart, "Monitoring_Start__c")
	e.mustHandle(t, recordMsg(id, noStart))
	if n := e.tw.Calls(twiliosim.OpScheduleMessage); n != 14 {
		t.Fatalf("schedule calls = %d, want 14", n)
	}
	if n := len(e.tw.Messages()); n != 14 {
		t.Fatalf("messages = %d, want 14", n)
	}
}

func TestConcurrentDeliveriesScheduleOnce(t *testing.T) {
	e := MustEnv(t)
	id, rec := e.contact(t, nil)
	done := make(chan []error, 4)
	for range 4 {
		msg := recordMsg(id, rec)
		go func() { done <- e.flow.Handle(context.Background(), []queue.Message{msg}) }()
	}
	busy := 0
	for range 4 {
		for _, err := range <-done {
			if errors.Is(err, monitoring.ErrBusy) {
				busy++
			} else if err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := len(e.tw.Messages()); n != 14 {
		t.Fatalf("messages = %d, want 14 (busy retries: %d)", n, busy)
	}
}

func TestDaysWithin15MinutesAreSkipped(t *testing.T) {
	e := MustEnv(t)
	// 09:50 in New York on the first day: its 10:00 reminder is 10 minutes away.
	e.clock.Add(time.Date(2026, 3, 1, 14, 50, 0, 0, time.UTC).Sub(epoch))
	id, rec := e.contact(t, nil)
	e.mustHandle(t, recordMsg(id, rec))
	msgs := e.tw.Scheduled()
	if len(msgs) != 13 || e.tw.Calls(twiliosim.OpScheduleMessage) != 13 {
		t.Fatalf("scheduled %d in %d calls, want 13", len(msgs), e.tw.Calls(twiliosim.OpScheduleMessage))
	}
	if first := msgs[0].SendAt.In(e.ny).Format("2006-01-02"); first != "2026-03-02" {
		t.Errorf("first reminder on %s, want 2026-03-02", first)
	}
	// a start in the past: only the days still ahead
	id2, rec2 := e.contact(t, map[string]any{"MobilePhone": "+12125550124", "Monitoring_Start__c": "2026-02-20"})
	e.mustHandle(t, recordMsg(id2, rec2))
	if n := e.tw.Calls(twiliosim.OpScheduleMessage) - 13; n != 4 { // 2 to 5 March
		t.Errorf("past start: %d calls, want 4", n)
	}
}

func TestDaysBeyond35DaysAreScheduledByRun(t *testing.T) {
	e := MustEnv(t)
	// Start 30 March: 30 March..3 April are within 35 days of 28 Feb, the rest are not.
	id, rec := e.contact(t, map[string]any{"Monitoring_Start__c": "2026-03-30"})
	e.mustHandle(t, recordMsg(id, rec))
	if n := len(e.tw.Scheduled()); n != 5 {
		t.Fatalf("scheduled now: %d, want 5", n)
	}
	ctx := context.Background()
	if n, err := e.flow.SchedulePending(ctx); err != nil || n != 0 {
		t.Fatalf("nothing is due yet: %d %v", n, err)
	}
	e.clock.Add(3 * 24 * time.Hour)
	if n, err := e.flow.SchedulePending(ctx); err != nil || n != 3 {
		t.Fatalf("after 3 days: scheduled %d, err %v; want 3", n, err)
	}

	// Run does the rest on its own.
	e.clock.Add(30 * 24 * time.Hour)
	runCtx, cancel := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- e.flow.Run(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(e.tw.Scheduled()) < 14 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	msgs := e.tw.Messages()
	if len(msgs) != 14 || e.tw.Calls(twiliosim.OpScheduleMessage) != 14 {
		t.Fatalf("%d messages in %d calls, want 14", len(msgs), e.tw.Calls(twiliosim.OpScheduleMessage))
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		d := m.SendAt.In(e.ny).Format("2006-01-02")
		if seen[d] {
			t.Errorf("two reminders on %s", d)
		}
		seen[d] = true
		at := m.SendAt
		l, _ := survey.NewLinks(survey.LinksConfig{Secret: []byte(secret), PublicURL: "https://x.example", Now: func() time.Time { return at }})
		if c, err := l.Verify(tokenOf(t, m.Body)); err != nil || c.Date != d {
			t.Errorf("link of %s: %+v %v", d, c, err)
		}
	}
	if n, err := e.flow.SchedulePending(ctx); err != nil || n != 0 {
		t.Fatalf("index not emptied: %d %v", n, err)
	}
}

func TestLeavingMonitoringCancelsTheRest(t *testing.T) {
	e := MustEnv(t)
	id, rec := e.contact(t, nil)
	e.mustHandle(t, recordMsg(id, rec))
	// three reminders go out, then monitoring ends
	e.clock.Add(time.Date(2026, 3, 3, 18, 0, 0, 0, time.UTC).Sub(epoch))
	if sent := e.tw.SendDue(); len(sent) != 3 {
		t.Fatalf("sent %d, want 3", len(sent))
	}
	e.mustHandle(t, recordMsg(id, with(rec, "Monitoring_Status__c", "Completed")))
	if n := len(e.tw.Scheduled()); n != 0 {
		t.Fatalf("%d reminders still scheduled", n)
	}
	if n := e.tw.Calls(twiliosim.OpCancelMessage); n != 11 {
		t.Errorf("cancel calls = %d, want 11 (sent ones need none)", n)
	}
	// a stale re-delivery of the old Active notification changes nothing
	old := with(rec, "LastModifiedDate", "2026-02-28T12:00:00.000Z")
	e.mustHandle(t, recordMsg(id, with(rec, "Monitoring_Status__c", "Completed", "LastModifiedDate", "2026-03-03T17:00:00.000Z")))
	e.mustHandle(t, recordMsg(id, old))
	if n := len(e.tw.Scheduled()); n != 0 {
		t.Fatalf("stale notification rescheduled %d reminders", n)
	}
}

func TestCancelToleratesAlreadySent(t *testing.T) {
	e := MustEnv(t)
	id, rec := e.contact(t, nil)
	e.mustHandle(t, recordMsg(id, rec))
	// the first reminder went out minutes ago: cancel is tried, 30409 is fine
	e.clock.Add(time.Date(2026, 3, 1, 15, 5, 0, 0, time.UTC).Sub(epoch))
	e.tw.SendDue()
	e.mustHandle(t, recordMsg(id, with(rec, "Monitoring_Status__c", "Completed")))
	if n := e.tw.Calls(twiliosim.OpCancelMessage); n != 14 {
		t.Errorf("cancel calls = %d, want 14", n)
	}
	if n := len(e.tw.Scheduled()); n != 0 {
		t.Errorf("%d still scheduled", n)
	}
}

func TestStopCancelsAndSetsOptOutStartClearsAndResumes(t *testing.T) {
	e := MustEnv(t)
	ctx := context.Background()
	id, rec := e.contact(t, nil)
	e.mustHandle(t, recordMsg(id, rec))
	e.clock.Add(time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC).Sub(epoch))
	e.tw.SendDue() // 2 sent

	e.mustHandle(t, smsMsg(phone, "STOP", "STOP"))
	if n := len(e.tw.Scheduled()); n != 0 {
		t.Fatalf("%d reminders survive STOP", n)
	}
	if v := e.sf.Record("Contact", id)["SMS_Opt_Out__c"]; v != true {
		t.Fatalf("SMS_Opt_Out__c = %v, want true", v)
	}
	if out, err := e.reg.OptedOut(ctx, id); err != nil || !out {
		t.Fatalf("opt-out flag: %v %v", out, err)
	}
	// STOP re-delivered: idempotent
	e.mustHandle(t, smsMsg(phone, "stop", "STOP"))
	// the record still says Active (the field write has not come back yet): nothing scheduled
	calls := e.tw.Calls(twiliosim.OpScheduleMessage)
	e.mustHandle(t, recordMsg(id, with(rec, "LastModifiedDate", "2026-03-02T16:00:00.000Z")))
	if n := e.tw.Calls(twiliosim.OpScheduleMessage) - calls; n != 0 {
		t.Fatalf("opted-out contact: %d schedule calls", n)
	}

	e.mustHandle(t, smsMsg(phone, "START", "START"))
	if v := e.sf.Record("Contact", id)["SMS_Opt_Out__c"]; v != false {
		t.Fatalf("SMS_Opt_Out__c = %v after START, want false", v)
	}
	if out, _ := e.reg.OptedOut(ctx, id); out {
		t.Fatal("opt-out flag survives START")
	}
	// the 12 canceled days come back, once each
	sched := e.tw.Scheduled()
	if len(sched) != 12 {
		t.Fatalf("%d scheduled after START, want 12", len(sched))
	}
	if first := sched[0].SendAt.In(e.ny).Format("2006-01-02"); first != "2026-03-03" {
		t.Errorf("first resumed day %s", first)
	}
	e.mustHandle(t, recordMsg(id, with(rec, "LastModifiedDate", "2026-03-02T17:00:00.000Z")))
	if n := len(e.tw.Scheduled()); n != 12 {
		t.Fatalf("%d scheduled after a later record change, want 12", n)
	}
}

func TestStopFromUnknownNumberIsAcked(t *testing.T) {
	e := MustEnv(t)
	e.mustHandle(t, smsMsg("+12125559999", "STOP", "STOP"), smsMsg("+12125559999", "hello", ""))
	if e.tw.TotalCalls() != 0 || e.sf.APICalls() != 0 {
		t.Fatalf("calls: twilio %d salesforce %d", e.tw.TotalCalls(), e.sf.APICalls())
	}
}

func TestOptedOutIsNeverScheduled(t *testing.T) {
	e := MustEnv(t)
	ctx := context.Background()
	t.Run("record field", func(t *testing.T) {
		id, rec := e.contact(t, map[string]any{"SMS_Opt_Out__c": true})
		e.mustHandle(t, recordMsg(id, rec))
		if n := e.tw.TotalCalls(); n != 0 {
			t.Fatalf("%d twilio calls", n)
		}
	})
	t.Run("twilio 21610", func(t *testing.T) {
		e.tw.OptOut("+12125550777")
		id, rec := e.contact(t, map[string]any{"MobilePhone": "+12125550777"})
		e.mustHandle(t, recordMsg(id, rec)) // no error
		if n := e.tw.Calls(twiliosim.OpScheduleMessage); n != 1 {
			t.Fatalf("%d schedule calls, want 1 (then stop)", n)
		}
		if out, err := e.reg.OptedOut(ctx, id); err != nil || !out {
			t.Fatalf("not marked opted out: %v", err)
		}
		e.mustHandle(t, recordMsg(id, rec))
		if n := e.tw.Calls(twiliosim.OpScheduleMessage); n != 1 {
			t.Fatalf("%d schedule calls after re-delivery", n)
		}
	})
}

func TestAmbiguousFailureNeverDuplicates(t *testing.T) {
	e := MustEnv(t, func(_ *monitoring.Config, tc *twilio.Config) { tc.Timeout = 300 * time.Millisecond })
	id, rec := e.contact(t, nil)
	e.tw.SetLatency(twiliosim.OpScheduleMessage, 2*time.Second) // created, answer lost
	errs := e.handle(t, recordMsg(id, rec))
	if errs[0] == nil || queue.IsPermanent(errs[0]) {
		t.Fatalf("want a retryable error, got %v", errs[0])
	}
	e.tw.SetLatency(twiliosim.OpScheduleMessage, 0)
	e.mustHandle(t, recordMsg(id, rec)) // the queue's retry
	msgs := e.tw.Messages()
	days := map[string]int{}
	for _, m := range msgs {
		days[m.SendAt.In(e.ny).Format("2006-01-02")]++
	}
	if len(msgs) != 14 || len(days) != 14 {
		t.Fatalf("%d messages over %d days, want 14 over 14: %v", len(msgs), len(days), days)
	}
}

func TestTransientAndPermanentErrors(t *testing.T) {
	e := MustEnv(t)
	id, rec := e.contact(t, nil)
	e.tw.FailNext(twiliosim.OpScheduleMessage, 1, 503)
	errs := e.handle(t, recordMsg(id, rec))
	if errs[0] == nil || queue.IsPermanent(errs[0]) {
		t.Fatalf("503: want a retryable error, got %v", errs[0])
	}
	e.mustHandle(t, recordMsg(id, rec))
	if n := len(e.tw.Messages()); n != 14 {
		t.Fatalf("%d messages after retry, want 14", n)
	}

	id2, rec2 := e.contact(t, map[string]any{"MobilePhone": "+12125550125"})
	e.tw.FailNext(twiliosim.OpScheduleMessage, 1, 400)
	if errs := e.handle(t, recordMsg(id2, rec2)); !queue.IsPermanent(errs[0]) {
		t.Fatalf("400: want a permanent error, got %v", errs[0])
	}

	id3, rec3 := e.contact(t, map[string]any{"MobilePhone": ""})
	if errs := e.handle(t, recordMsg(id3, rec3)); !queue.IsPermanent(errs[0]) {
		t.Fatalf("no number: want a permanent error, got %v", errs[0])
	}

	// STOP while Salesforce is down: retried, and the retry completes it
	e.sf.Fail503(1)
	errs = e.handle(t, smsMsg(phone, "STOP", "STOP"))
	if errs[0] == nil || queue.IsPermanent(errs[0]) {
		t.Fatalf("STOP with Salesforce down: %v", errs[0])
	}
	if n := len(e.tw.Scheduled()); n != 0 {
		t.Fatalf("reminders must be canceled before the CRM write: %d left", n)
	}
	e.mustHandle(t, smsMsg(phone, "STOP", "STOP"))
	if v := e.sf.Record("Contact", id)["SMS_Opt_Out__c"]; v != true {
		t.Fatalf("SMS_Opt_Out__c = %v", v)
	}
}

func TestPhoneChangeMovesReminders(t *testing.T) {
	e := MustEnv(t)
	id, rec := e.contact(t, nil)
	e.mustHandle(t, recordMsg(id, rec))
	e.mustHandle(t, recordMsg(id, with(rec, "MobilePhone", "+12125550199", "LastModifiedDate", "2026-02-28T13:00:00.000Z")))
	sched := e.tw.Scheduled()
	if len(sched) != 14 {
		t.Fatalf("%d scheduled, want 14", len(sched))
	}
	for _, m := range sched {
		if m.To != "+12125550199" {
			t.Fatalf("reminder still goes to the old number")
		}
	}
	ctx := context.Background()
	if _, found, _ := e.reg.ContactByPhone(ctx, phone); found {
		t.Error("old number still maps to the contact")
	}
	if got, found, _ := e.reg.ContactByPhone(ctx, "+12125550199"); !found || got != id {
		t.Error("new number not remembered")
	}
}

func TestSharedPhoneStopsEveryContact(t *testing.T) {
	e := MustEnv(t)
	a, recA := e.contact(t, nil)
	b, recB := e.contact(t, map[string]any{"FirstName": "Luis"})
	e.mustHandle(t, recordMsg(a, recA), recordMsg(b, recB))
	if n := len(e.tw.Scheduled()); n != 28 {
		t.Fatalf("%d scheduled, want 28", n)
	}
	e.mustHandle(t, smsMsg(phone, "STOP", "STOP"))
	if n := len(e.tw.Scheduled()); n != 0 {
		t.Fatalf("%d survive STOP", n)
	}
	for _, id := range []string{a, b} {
		if v := e.sf.Record("Contact", id)["SMS_Opt_Out__c"]; v != true {
			t.Errorf("%s not opted out", id)
		}
	}
}

func TestDisabledSchedulesNothing(t *testing.T) {
	e := MustEnv(t, func(c *monitoring.Config, _ *twilio.Config) { c.Enabled = false })
	id, rec := e.contact(t, nil)
	e.mustHandle(t, recordMsg(id, rec))
	if n := e.tw.TotalCalls(); n != 0 {
		t.Fatalf("%d twilio calls", n)
	}
}

func TestPayloadShapes(t *testing.T) {
	e := MustEnv(t)
	id, rec := e.contact(t, nil)
	raw, _ := json.Marshal(event.Monitoring{Record: &event.Record{NotificationID: "n1", Object: "Contact", RecordID: id, Fields: rec}})
	e.mustHandle(t, queue.Message{ID: "1-0", Payload: raw})
	if n := len(e.tw.Scheduled()); n != 14 {
		t.Fatalf("wrapped record: %d scheduled", n)
	}
	// another object, and garbage
	other, _ := json.Marshal(event.Record{NotificationID: "n2", Object: "Lead", RecordID: "00Q000000000001AAA", Fields: rec})
	errs := e.handle(t, queue.Message{ID: "2-0", Payload: other}, queue.Message{ID: "3-0", Payload: []byte(`{"x":1}`)})
	if errs[0] != nil || !queue.IsPermanent(errs[1]) {
		t.Fatalf("errs = %v", errs)
	}
}

func TestNewChecksConfig(t *testing.T) {
	if _, err := monitoring.New(monitoring.Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
}

var _ monitoring.Links = (*survey.Links)(nil)

func TestLogsCarryNoPersonalData(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := MustEnv(t, func(c *monitoring.Config, tc *twilio.Config) { c.Logger = logger; tc.Timeout = 300 * time.Millisecond })
	id, rec := e.contact(t, nil)
	e.tw.SetLatency(twiliosim.OpScheduleMessage, time.Second)
	e.handle(t, recordMsg(id, rec))
	e.tw.SetLatency(twiliosim.OpScheduleMessage, 0)
	e.tw.FailNext(twiliosim.OpScheduleMessage, 1, 400)
	e.handle(t, recordMsg(id, rec))
	e.mustHandle(t, recordMsg(id, rec), smsMsg(phone, "STOP", "STOP"), smsMsg("+12125559999", "STOP", "STOP"))
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, id) {
		t.Fatalf("logs do not even name the contact id:\n%s", out)
	}
	// Planted values only: a bare digit run like "555" also matches timestamps.
	for _, bad := range []string{"Ana", "García", phone, "2125550123", "555-0123", "+12125559999", "2125559999", "survey/", "Hola", secret} {
		if strings.Contains(out, bad) {
			t.Errorf("logs contain %q:\n%s", bad, out)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Twilio refuses a SendAt outside its window with 35114, 35115 or 35117
// alike (here because its clock is 24 days behind ours, so the last days
// look more than 35 days away). Those days are deferred and scheduled later;
// the contact never fails and its other days are kept.
func TestSchedulingWindowRefusalsDeferTheDay(t *testing.T) {
	e := MustEnv(t)
	e.tw.SetClockSkew(-24 * 24 * time.Hour)
	id, rec := e.contact(t, nil)
	e.mustHandle(t, recordMsg(id, rec))
	if n := len(e.tw.Scheduled()); n != 10 {
		t.Fatalf("scheduled %d, want the 10 days Twilio accepted", n)
	}
	if n := e.tw.Calls(twiliosim.OpScheduleMessage); n != 14 {
		t.Fatalf("%d schedule calls, want 14 (4 refused, with 35114, 35115, 35117, 35114)", n)
	}

	ctx := context.Background()
	if n, err := e.flow.SchedulePending(ctx); err != nil || n != 0 {
		t.Fatalf("deferred days retried at once: %d %v", n, err)
	}
	e.tw.SetClockSkew(0)
	e.clock.Add(time.Hour)
	if n, err := e.flow.SchedulePending(ctx); err != nil || n != 4 {
		t.Fatalf("an hour later: scheduled %d, err %v; want the 4 deferred days", n, err)
	}
	days := map[string]int{}
	for _, m := range e.tw.Scheduled() {
		days[m.SendAt.In(e.ny).Format("2006-01-02")]++
	}
	if len(days) != 14 {
		t.Fatalf("days %v, want 14 distinct", days)
	}
	for d, n := range days {
		if n != 1 {
			t.Errorf("%s has %d reminders", d, n)
		}
	}
}
