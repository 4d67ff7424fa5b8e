package twilio_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/test/twiliosim"
)

const phone = "+12125550123"

func TestScheduleAndCancelMessage(t *testing.T) {
	e := mustEnv(t, nil)
	ctx := context.Background()
	// a zone other than UTC: SendAt must still go out as UTC
	ny, _ := time.LoadLocation("America/New_York")
	at := e.clock.Now().Add(24 * time.Hour).In(ny)

	sid, err := e.c.ScheduleMessage(ctx, phone, "Hi Alex", at)
	if err != nil {
		t.Fatal(err)
	}
	sched := e.sim.Scheduled()
	if len(sched) != 1 || sched[0].SID != sid {
		t.Fatalf("scheduled %+v", sched)
	}
	m := sched[0]
	if !m.SendAt.Equal(at) || m.MessagingServiceSID != e.sim.MessagingServiceSID || m.To != phone || m.Body != "Hi Alex" {
		t.Fatalf("message %+v", m)
	}

	if err := e.c.CancelMessage(ctx, sid); err != nil {
		t.Fatal(err)
	}
	if len(e.sim.Scheduled()) != 0 || e.sim.Messages()[0].Status != "canceled" {
		t.Fatalf("after cancel %+v", e.sim.Messages())
	}
	// canceling twice: no longer scheduled
	if err := e.c.CancelMessage(ctx, sid); !twilio.HasCode(err, twilio.CodeNotCancelable) {
		t.Fatalf("second cancel: %v", err)
	}
}

func TestScheduleMessageErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		sendIn   time.Duration
		optedOut bool
		noMG     bool
		wantCode int
	}{
		{"4 minutes ahead", 4 * time.Minute, false, false, twilio.CodeSendAtOutOfWindow},
		{"in the past", -time.Hour, false, false, twilio.CodeSendAtOutOfWindow},
		{"36 days ahead", 36 * 24 * time.Hour, false, false, twilio.CodeSendAtOutOfWindow},
		{"15 minutes ahead", 15 * time.Minute, false, false, 0},
		{"35 days ahead", 35 * 24 * time.Hour, false, false, 0},
		{"opted out", time.Hour, true, false, twilio.CodeUnsubscribed},
		{"no messaging service", time.Hour, false, true, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEnv(t, func(c *twilio.Config) {
				if tt.noMG {
					c.MessagingServiceSID = ""
				}
			})
			if tt.optedOut {
				e.sim.OptOut(phone)
			}
			_, err := e.c.ScheduleMessage(ctx, phone, "hi", e.clock.Now().Add(tt.sendIn))
			switch tt.wantCode {
			case 0:
				if err != nil {
					t.Fatal(err)
				}
			case -1:
				if err == nil || e.sim.TotalCalls() != 0 {
					t.Fatalf("want a local error and no call, got %v", err)
				}
			default:
				var ae *twilio.APIError
				if !errors.As(err, &ae) || ae.Code != tt.wantCode || ae.Status != 400 {
					t.Fatalf("want code %d, got %v", tt.wantCode, err)
				}
				if retried(err) {
					t.Error("must not be transient")
				}
				if twilio.IsSchedulingWindow(err) != (tt.wantCode == twilio.CodeSendAtOutOfWindow) {
					t.Errorf("IsSchedulingWindow(%v) wrong", err)
				}
				if len(e.sim.Messages()) != 0 {
					t.Error("a refused message was stored")
				}
			}
		})
	}
}

func TestIsSchedulingWindow(t *testing.T) {
	for code, want := range map[int]bool{35114: true, 35115: true, 35117: true, 35111: false, 21610: false} {
		err := fmt.Errorf("schedule: %w", &twilio.APIError{Status: 400, Code: code})
		if got := twilio.IsSchedulingWindow(err); got != want {
			t.Errorf("code %d: %v, want %v", code, got, want)
		}
	}
}

func TestCancelSentMessage(t *testing.T) {
	e := mustEnv(t, nil)
	ctx := context.Background()
	sid, err := e.c.ScheduleMessage(ctx, phone, "hi", e.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(2 * time.Hour)
	if sent := e.sim.SendDue(); len(sent) != 1 || sent[0] != sid {
		t.Fatalf("SendDue = %v", sent)
	}
	err = e.c.CancelMessage(ctx, sid)
	var ae *twilio.APIError
	if !errors.As(err, &ae) || ae.Code != twilio.CodeNotCancelable || ae.Status != 400 {
		t.Fatalf("want 30409, got %v", err)
	}
	if e.sim.Calls(twiliosim.OpCancelMessage) != 1 {
		t.Error("cancel not counted")
	}
}

func TestSendMessage(t *testing.T) {
	ctx := context.Background()
	t.Run("messaging service", func(t *testing.T) {
		e := mustEnv(t, nil)
		sid, err := e.c.SendMessage(ctx, phone, "hello")
		if err != nil {
			t.Fatal(err)
		}
		m := e.sim.Messages()
		if len(m) != 1 || m[0].SID != sid || m[0].Status == "scheduled" || m[0].MessagingServiceSID == "" {
			t.Fatalf("%+v", m)
		}
	})
	t.Run("from number", func(t *testing.T) {
		e := mustEnv(t, func(c *twilio.Config) { c.MessagingServiceSID = ""; c.From = "+12125550100" })
		if _, err := e.c.SendMessage(ctx, phone, "hello"); err != nil {
			t.Fatal(err)
		}
		if m := e.sim.Messages(); m[0].From != "+12125550100" {
			t.Fatalf("%+v", m)
		}
	})
	t.Run("opted out", func(t *testing.T) {
		e := mustEnv(t, nil)
		e.sim.OptOut(phone)
		if _, err := e.c.SendMessage(ctx, phone, "hello"); !twilio.HasCode(err, twilio.CodeUnsubscribed) {
			t.Fatalf("want 21610, got %v", err)
		}
	})
}

func TestListMessagesTo(t *testing.T) {
	e := mustEnv(t, nil)
	ctx := context.Background()
	sid, err := e.c.ScheduleMessage(ctx, phone, "Hi Alex", e.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SendMessage(ctx, "+12125550199", "someone else"); err != nil {
		t.Fatal(err)
	}
	// more than one page of 100
	for range 120 {
		if _, err := e.c.SendMessage(ctx, phone, "filler"); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.c.CancelMessage(ctx, sid); err != nil {
		t.Fatal(err)
	}
	e.sim.ResetCalls()
	list, err := e.c.ListMessagesTo(ctx, phone)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 121 {
		t.Fatalf("listed %d messages, want 121", len(list))
	}
	if n := e.sim.Calls(twiliosim.OpListMessages); n != 2 {
		t.Errorf("list calls = %d, want 2 pages", n)
	}
	last := list[len(list)-1] // newest first: the scheduled one is oldest
	if last.SID != sid || last.Status != "canceled" || last.Body != "Hi Alex" || !last.DateCreated.Equal(e.clock.Now()) {
		t.Fatalf("listed %+v", last)
	}

	if _, err := e.c.ListMessagesTo(ctx, ""); err == nil {
		t.Error("empty To accepted")
	}
	e.sim.FailNext(twiliosim.OpListMessages, 1, 503)
	if _, err := e.c.ListMessagesTo(ctx, phone); !retried(err) {
		t.Errorf("want a transient error, got %v", err)
	}
}
