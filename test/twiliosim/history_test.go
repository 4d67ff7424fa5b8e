package twiliosim

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func newTask(t *testing.T, s *Server) string {
	t.Helper()
	attrs, _ := json.Marshal(map[string]any{"crm": map[string]any{"record_id": "003A", "object": "Contact"}})
	status, body := call(t, s, "POST", "/v1/Workspaces/"+s.WorkspaceSID+"/Tasks", url.Values{"Attributes": {string(attrs)}})
	if status != 201 {
		t.Fatalf("create task: %d %v", status, body)
	}
	return body["sid"].(string)
}

// A 5xx is never retried; TaskRouter's event callback is never retried at
// all; an inbound SMS whose connection fails is retried once.
func TestWebhooksAreNotRetriedAfterAnAnswer(t *testing.T) {
	var hits atomic.Int32
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer refuse.Close()
	s := New(Options{EventCallbackURL: refuse.URL, SMSWebhookURL: refuse.URL})
	defer s.Close()

	if err := s.CompleteTask(newTask(t, s), nil); err == nil {
		t.Fatal("a refused event callback reported delivered")
	}
	if _, err := s.ReceiveSMS("+12125550123", "+12125550100", "hello", ""); err == nil {
		t.Fatal("a refused SMS webhook reported delivered")
	}
	if n := hits.Load(); n != 2 {
		t.Fatalf("%d deliveries for two webhooks answered 503, want 2 (no retry)", n)
	}

	// Connection refused: the SMS webhook is tried twice, the event once.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String() + "/hook"
	ln.Close()
	s.SetSMSWebhookURL(dead)
	s.SetEventCallbackURL(dead)
	before := s.DeliveryAttempts()
	_, _ = s.ReceiveSMS("+12125550123", "+12125550100", "hello", "")
	if n := s.DeliveryAttempts() - before; n != 2 {
		t.Fatalf("SMS webhook attempts on connection failure = %d, want 2", n)
	}
	before = s.DeliveryAttempts()
	_ = s.CompleteTask(newTask(t, s), nil)
	if n := s.DeliveryAttempts() - before; n != 1 {
		t.Fatalf("event callback attempts on connection failure = %d, want 1", n)
	}
	// Twilio keeps what it could not deliver.
	if n := len(s.Events()); n != 2 {
		t.Fatalf("events logged = %d, want 2", n)
	}
}

func TestEventsListFiltersAndPages(t *testing.T) {
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	clock := now
	s := New(Options{Now: func() time.Time { return clock }})
	defer s.Close()
	old := newTask(t, s)
	clock = now.Add(-31 * 24 * time.Hour) // beyond retention
	if err := s.SendTaskEvent(old, "task.completed"); err != nil {
		t.Fatal(err)
	}
	var sids []string
	for i := range 5 {
		clock = now.Add(time.Duration(i) * time.Minute)
		sid := newTask(t, s)
		sids = append(sids, sid)
		if err := s.CompleteTask(sid, map[string]any{"conversations": map[string]any{"outcome": "Reached"}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SendTaskEvent(sid, "task.wrapup"); err != nil {
			t.Fatal(err)
		}
	}
	clock = now.Add(10 * time.Minute)
	path := "/v1/Workspaces/" + s.WorkspaceSID + "/Events"
	q := url.Values{"EventType": {"task.completed"}, "StartDate": {now.Add(time.Minute).Format(time.RFC3339)},
		"EndDate": {now.Add(3 * time.Minute).Format(time.RFC3339)}, "PageSize": {"2"}}
	var got []string
	next := path + "?" + q.Encode()
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		u, _ := url.Parse(next)
		status, body := call(t, s, "GET", u.Path, u.Query())
		if status != 200 {
			t.Fatalf("page %d: %d %v", pages, status, body)
		}
		for _, e := range body["events"].([]any) {
			e := e.(map[string]any)
			data := e["event_data"].(map[string]any)
			if e["event_type"] != "task.completed" || !strings.HasPrefix(e["sid"].(string), "EV") || data["task_sid"] != e["resource_sid"] ||
				data["task_attributes"] == nil || data["task_assignment_status"] != "completed" || e["event_date_ms"] == nil {
				t.Fatalf("event %v", e)
			}
			got = append(got, data["task_sid"].(string))
		}
		meta := body["meta"].(map[string]any)
		next, _ = meta["next_page_url"].(string)
	}
	if len(got) != 3 || got[0] != sids[3] || got[2] != sids[1] {
		t.Fatalf("listed %v, want tasks 3, 2, 1 of %v", got, sids)
	}
	// Default window: the last 15 minutes. The 31-day-old event is gone.
	status, body := call(t, s, "GET", path, url.Values{"PageSize": {"1000"}})
	if status != 200 || len(body["events"].([]any)) != 10 {
		t.Fatalf("default window: %d, %d events, want 10", status, len(body["events"].([]any)))
	}
	status, body = call(t, s, "GET", path, url.Values{"StartDate": {now.Add(-40 * 24 * time.Hour).Format(time.RFC3339)}, "PageSize": {"1000"}})
	if status != 200 || len(body["events"].([]any)) != 10 {
		t.Fatalf("retention: %d events, want 10", len(body["events"].([]any)))
	}
	if status, _ := call(t, s, "GET", path, url.Values{"Page": {"1"}}); status != 400 {
		t.Fatalf("Page without PageToken: %d, want 400", status)
	}
	if status, _ := call(t, s, "GET", path, url.Values{"StartDate": {"yesterday"}}); status != 400 {
		t.Fatalf("bad StartDate: %d, want 400", status)
	}
	s.FailNext(OpListEvents, 1, 500)
	if status, _ := call(t, s, "GET", path, nil); status != 500 {
		t.Fatalf("injected fault: %d", status)
	}
}

func TestInboundMessagesAndDateSent(t *testing.T) {
	day := time.Date(2026, 3, 2, 23, 30, 0, 0, time.UTC)
	clock := day
	s := New(Options{Now: func() time.Time { return clock }})
	defer s.Close()
	first, _ := s.ReceiveSMS("+12125550123", "+12125550100", "hello", "")
	clock = day.Add(time.Hour) // the next day
	second, _ := s.ReceiveSMS("+12125550123", "+12125550100", "STOP", "STOP")
	path := "/2010-04-01/Accounts/" + s.AccountSID + "/Messages.json"
	// A time of day in the filter is ignored: Twilio filters by date.
	status, body := call(t, s, "GET", path, url.Values{"DateSent>": {day.Add(20 * time.Minute).Format(time.RFC3339)}})
	msgs := body["messages"].([]any)
	if status != 200 || len(msgs) != 2 || msgs[0].(map[string]any)["sid"] != second || msgs[1].(map[string]any)["sid"] != first {
		t.Fatalf("DateSent>: %d %v", status, body)
	}
	m := msgs[0].(map[string]any)
	if m["direction"] != "inbound" || m["date_sent"] == nil || m["status"] != "received" {
		t.Fatalf("inbound message %v", m)
	}
	status, body = call(t, s, "GET", path, url.Values{"DateSent>": {"2026-03-03"}})
	if status != 200 || len(body["messages"].([]any)) != 1 {
		t.Fatalf("DateSent> next day: %d %v", status, body)
	}
	if status, _ := call(t, s, "GET", path, url.Values{"DateSent>": {"03/02/2026"}}); status != 400 {
		t.Fatalf("bad DateSent: %d", status)
	}
	// Twilio's own STOP handling: sending to the number now fails.
	if status, body := call(t, s, "POST", path, url.Values{"To": {"+12125550123"}, "Body": {"x"}, "From": {"+12125550100"}}); status != 400 || body["code"] != float64(21610) {
		t.Fatalf("send after STOP: %d %v", status, body)
	}
}

func TestStatusCallbacks(t *testing.T) {
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	clock := now
	s := New(Options{Now: func() time.Time { return clock }})
	defer s.Close()
	rec := newReceiver(s.AuthToken, "/webhooks/twilio/status")
	defer rec.srv.Close()
	path := "/2010-04-01/Accounts/" + s.AccountSID + "/Messages.json"
	if status, body := call(t, s, "POST", path, url.Values{"To": {"+12125550123"}, "Body": {"x"}, "From": {"+1"}, "StatusCallback": {"not a url"}}); status != 400 || body["code"] != float64(21609) {
		t.Fatalf("bad StatusCallback: %d %v", status, body)
	}
	schedule := func(to string) string {
		status, body := call(t, s, "POST", path, url.Values{"To": {to}, "Body": {"x"}, "MessagingServiceSid": {s.MessagingServiceSID},
			"ScheduleType": {"fixed"}, "SendAt": {now.Add(time.Hour).Format(time.RFC3339)}, "StatusCallback": {rec.url()}})
		if status != 201 {
			t.Fatalf("schedule: %d %v", status, body)
		}
		return body["sid"].(string)
	}
	ok, blocked := schedule("+12125550123"), schedule("+12125550124")
	s.OptOut("+12125550124")
	clock = now.Add(2 * time.Hour)
	s.SendDue()
	if len(rec.forms) != 2 {
		t.Fatalf("%d status callbacks, want 2", len(rec.forms))
	}
	byID := map[string]url.Values{}
	for i, f := range rec.forms {
		if !rec.valid[i] {
			t.Fatalf("unsigned status callback %v", f)
		}
		byID[f.Get("MessageSid")] = f
	}
	if f := byID[ok]; f.Get("MessageStatus") != "sent" || f.Get("ErrorCode") != "" {
		t.Fatalf("sent callback %v", f)
	}
	if f := byID[blocked]; f.Get("MessageStatus") != "failed" || f.Get("ErrorCode") != "21610" || f.Get("To") != "+12125550124" {
		t.Fatalf("failed callback %v", f)
	}
	if err := s.FailMessage(ok, "undelivered", 30003); err != nil {
		t.Fatal(err)
	}
	if f := rec.forms[2]; f.Get("MessageStatus") != "undelivered" || f.Get("ErrorCode") != "30003" {
		t.Fatalf("undelivered callback %v", f)
	}
}
