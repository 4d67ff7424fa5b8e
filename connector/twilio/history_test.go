package twilio_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/cityhealth/bridge/test/twiliosim"
)

// An Event resource rebuilt as a form is the form its event callback
// posted, field for field, so the webhook's code reads both alike.
func TestListEventsPageRebuildsTheCallbackForm(t *testing.T) {
	e := mustEnv(t, nil)
	ctx := context.Background()
	var sent []string
	for range 3 {
		task, err := e.c.CreateTask(ctx, map[string]any{"crm": map[string]any{"record_id": "003RM00000Qx1a2YAB"}}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.sim.CompleteTask(task.SID, map[string]any{"conversations": map[string]any{"outcome": "Reached"}}); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, task.SID)
		e.clock.Add(time.Second)
	}
	posted := e.sim.Events()
	start, end := e.clock.Now().Add(-time.Hour), e.clock.Now()
	var forms []map[string][]string
	cursor, pages := "", 0
	for {
		page, err := e.c.ListEventsPage(ctx, "task.completed", start, end, 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, f := range page.Forms {
			forms = append(forms, f)
		}
		if page.Next == "" {
			break
		}
		if pages > 10 {
			t.Fatalf("still paging after %d pages", pages)
		}
		cursor = page.Next
	}
	if pages != 2 || len(forms) != 3 {
		t.Fatalf("%d pages, %d events; want 2 pages of 2 and 1", pages, len(forms))
	}
	for _, f := range forms {
		var want map[string][]string
		for _, p := range posted {
			if p.Get("Sid") == f["Sid"][0] {
				want = p
			}
		}
		if !reflect.DeepEqual(map[string][]string(f), want) {
			t.Fatalf("rebuilt form\n%v\nwant the posted one\n%v", f, want)
		}
	}
	if n := e.sim.Calls(twiliosim.OpListEvents); n != 2 {
		t.Fatalf("%d list calls", n)
	}
	e.sim.FailNext(twiliosim.OpListEvents, 1, 503)
	if _, err := e.c.ListEventsPage(ctx, "task.completed", start, end, 2, ""); !retried(err) {
		t.Fatalf("503: %v, want a transient error", err)
	}
}

func TestListMessagesPageKeepsInboundAndStopsByDate(t *testing.T) {
	e := mustEnv(t, nil)
	ctx := context.Background()
	first, _ := e.sim.ReceiveSMS(phone, "+12125550100", "hello", "")
	e.clock.Add(time.Minute)
	if _, err := e.c.SendMessage(ctx, phone, "outbound"); err != nil {
		t.Fatal(err)
	}
	second, _ := e.sim.ReceiveSMS(phone, "+12125550100", "STOP", "STOP")
	page, err := e.c.ListMessagesPage(ctx, e.clock.Now().Add(-time.Hour), 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Inbound) != 2 || page.Inbound[0].Form.Get("MessageSid") != second || page.Inbound[1].Form.Get("MessageSid") != first {
		t.Fatalf("inbound %+v", page.Inbound)
	}
	m := page.Inbound[1]
	if m.Form.Get("From") != phone || m.Form.Get("Body") != "hello" || !m.DateSent.Equal(e.clock.Now().Add(-time.Minute).Truncate(time.Second)) {
		t.Fatalf("message %+v", m)
	}
	if page.Next != "" || page.Oldest.IsZero() {
		t.Fatalf("next %q oldest %v", page.Next, page.Oldest)
	}
}
