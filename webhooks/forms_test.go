package webhooks

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
	"github.com/gin-gonic/gin"
)

// fakeQueue records items and answers "seen before" for a repeated key.
type fakeQueue struct {
	items []queue.Item
	seen  map[string]bool
	err   error
}

func (q *fakeQueue) Enqueue(_ context.Context, items ...queue.Item) ([]bool, error) {
	if q.err != nil {
		return nil, q.err
	}
	if q.seen == nil {
		q.seen = map[string]bool{}
	}
	out := make([]bool, len(items))
	for i, it := range items {
		out[i] = !q.seen[it.Key]
		if out[i] {
			q.seen[it.Key] = true
			q.items = append(q.items, it)
		}
	}
	return out, nil
}

var _ Enqueuer = (*fakeQueue)(nil)

type sigOK struct{}

func (sigOK) Validate(_ string, _ url.Values, sig string) bool { return sig == "good" }

type noMappings struct{}

func (noMappings) Current() *mapping.Mapping { return nil }

func statusForm(sid, status, code string) url.Values {
	v := url.Values{"AccountSid": {"AC" + strings.Repeat("a", 32)}, "MessageSid": {sid}, "SmsSid": {sid},
		"MessageStatus": {status}, "SmsStatus": {status}, "To": {"+12125550123"}, "From": {"+12125550100"}}
	if code != "" {
		v.Set("ErrorCode", code)
	}
	return v
}

func TestStatusCallbackRoute(t *testing.T) {
	gin.SetMode(gin.TestMode)
	mon, wb := &fakeQueue{}, &fakeQueue{}
	h, err := New(Config{OrgID: "00DRM000000AbCD", OutboundToken: strings.Repeat("t", 32), AccountSID: "AC" + strings.Repeat("a", 32), PublicURL: "https://bridge.test", Records: &fakeQueue{}, Monitoring: mon, Writeback: wb,
		Mappings: noMappings{}, Signature: sigOK{}, Now: func() time.Time { return time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	e := gin.New()
	h.Register(e)
	post := func(form url.Values, sig string) int {
		req := httptest.NewRequest(http.MethodPost, PathStatus, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			req.Header.Set("X-Twilio-Signature", sig)
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		return w.Code
	}
	sid := "SM" + strings.Repeat("1", 32)
	if code := post(statusForm(sid, "failed", "21610"), ""); code != http.StatusForbidden {
		t.Fatalf("unsigned: %d, want 403", code)
	}
	if code := post(statusForm(sid, "failed", "21610"), "forged"); code != http.StatusForbidden || len(mon.items)+len(wb.items) != 0 {
		t.Fatalf("forged: %d, %d items", code, len(mon.items)+len(wb.items))
	}
	for _, ignored := range []url.Values{statusForm(sid, "sent", ""), statusForm(sid, "delivered", ""), statusForm(sid, "failed", "30007")} {
		if code := post(ignored, "good"); code != http.StatusOK {
			t.Fatalf("%v: %d, want 200", ignored, code)
		}
	}
	if len(mon.items)+len(wb.items) != 0 {
		t.Fatal("an ignored status recorded something")
	}
	if code := post(url.Values{"MessageStatus": {"failed"}}, "good"); code != http.StatusBadRequest {
		t.Fatalf("no MessageSid: %d, want 400", code)
	}

	// 21610: a STOP for the recipient, on the monitoring queue, once.
	for range 2 {
		if code := post(statusForm(sid, "failed", "21610"), "good"); code != http.StatusOK {
			t.Fatalf("21610: %d", code)
		}
	}
	if len(mon.items) != 1 || len(wb.items) != 0 {
		t.Fatalf("21610 recorded %d monitoring, %d writeback items", len(mon.items), len(wb.items))
	}
	var m event.Monitoring
	_ = json.Unmarshal(mon.items[0].Payload, &m)
	if m.SMS == nil || m.SMS.OptOutType != "STOP" || m.SMS.From != "+12125550123" {
		t.Fatalf("21610 item %+v", m.SMS)
	}

	// 30003/30005/30006: one activity per message, whatever the repeats.
	for i, code := range []string{"30003", "30005", "30006"} {
		other := "SM" + strings.Repeat(string(rune('2'+i)), 32)
		for range 2 {
			if c := post(statusForm(other, "undelivered", code), "good"); c != http.StatusOK {
				t.Fatalf("%s: %d", code, c)
			}
		}
	}
	if len(wb.items) != 3 {
		t.Fatalf("%d delivery activities, want 3", len(wb.items))
	}
	var w event.Writeback
	_ = json.Unmarshal(wb.items[0].Payload, &w)
	if w.Delivery == nil || w.Delivery.ErrorCode != 30003 || w.Delivery.To != "+12125550123" || w.Delivery.Status != "undelivered" {
		t.Fatalf("delivery item %+v", w.Delivery)
	}

	// Redis down: 503, as the other webhooks.
	wb.err = context.DeadlineExceeded
	if code := post(statusForm("SM"+strings.Repeat("9", 32), "failed", "30003"), "good"); code != http.StatusServiceUnavailable {
		t.Fatalf("queue down: %d, want 503", code)
	}
}

// The reconciler rebuilds forms from Twilio's lists; these functions are
// what both it and the handlers call.
func TestFormItemsShareKeys(t *testing.T) {
	form := url.Values{"Sid": {"EV" + strings.Repeat("a", 32)}, "EventType": {"task.completed"}, "TaskSid": {"WT" + strings.Repeat("b", 32)},
		"TaskAttributes": {`{"crm":{"record_id":"003RM00000Qx1a2YAB"}}`}, "TimestampMs": {"1772463600000"}}
	item, ok, err := TaskRouterItem(form)
	if err != nil || !ok || item.Key != form.Get("Sid") {
		t.Fatalf("item %q ok=%v err=%v, want keyed by EventSid", item.Key, ok, err)
	}
	form.Set("EventType", "task.created")
	if _, ok, _ := TaskRouterItem(form); ok {
		t.Fatal("task.created taken")
	}
	sms := url.Values{"MessageSid": {"SM" + strings.Repeat("c", 32)}, "From": {"+12125550123"}, "Body": {" stop "}}
	q, item, err := SMSItem(sms, time.Now(), time.Time{})
	if err != nil || q != event.QueueMonitoring || item.Key != sms.Get("MessageSid") {
		t.Fatalf("STOP: %q %q %v", q, item.Key, err)
	}
	sms.Set("Body", "HELP")
	if q, _, err := SMSItem(sms, time.Now(), time.Time{}); q != "" || err != nil {
		t.Fatalf("HELP: %q %v", q, err)
	}
	sms.Set("Body", "hello")
	if q, _, _ := SMSItem(sms, time.Now(), time.Time{}); q != event.QueueWriteback {
		t.Fatalf("reply went to %q", q)
	}
}

// TaskEvent is what the webhook records and what the admin preview maps:
// one reading of TaskRouter's form.
func TestTaskEvent(t *testing.T) {
	form := url.Values{"EventSid": {"EV" + strings.Repeat("a", 32)}, "EventType": {"task.completed"}, "TaskSid": {"WT" + strings.Repeat("b", 32)},
		"TaskAge": {" 95 "}, "TaskPriority": {"2"}, "TaskAssignmentStatus": {"completed"}, "TaskCanceledReason": {"timeout"},
		"TaskQueueName": {"Outreach"}, "TaskChannelUniqueName": {"voice"}, "WorkerSid": {"WK1"}, "WorkerName": {"ana"},
		"TaskAttributes": {`{"crm":{"record_id":"003RM00000Qx1a2YAB"},"n":1}`}, "Timestamp": {"1772463600"}}
	ev, err := TaskEvent(form)
	if err != nil {
		t.Fatal(err)
	}
	want := event.Task{EventSID: form.Get("EventSid"), EventType: "task.completed", TaskSID: form.Get("TaskSid"), TaskAge: 95, Priority: 2,
		AssignmentStatus: "completed", Reason: "timeout", QueueName: "Outreach", Channel: "voice", WorkerSID: "WK1", WorkerName: "ana",
		Timestamp: time.Unix(1772463600, 0).UTC()}
	got := ev
	got.Attributes = nil
	if !reflectEqual(got, want) || ev.Attributes["n"] != 1.0 {
		t.Fatalf("TaskEvent = %+v\nwant %+v", ev, want)
	}
	form.Set("TimestampMs", "1772463600123")
	if ev, _ := TaskEvent(form); !ev.Timestamp.Equal(time.UnixMilli(1772463600123)) {
		t.Fatalf("TimestampMs wins: %v", ev.Timestamp)
	}
	form.Set("TaskAttributes", "{not json")
	ev, err = TaskEvent(form)
	if err == nil || ev.Attributes != nil || ev.TaskSID != form.Get("TaskSid") {
		t.Fatalf("bad attributes: %+v, %v; want the task without attributes and an error", ev, err)
	}
	if _, ok, err := TaskRouterItem(form); ok || err != nil {
		t.Fatalf("the webhook ignores a task whose attributes are not JSON: ok=%v err=%v", ok, err)
	}
}

func reflectEqual(a, b event.Task) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
