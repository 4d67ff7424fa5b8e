package selfreport

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/connector/twilio"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
	"github.com/cityhealth/bridge/survey"
	"github.com/cityhealth/bridge/test/redistest"
)

const caseID = "003RM00000Cs1a2YAB"

type sent struct{ to, body string }

// fakeMessages records texts; fail, when set, answers instead.
type fakeMessages struct {
	mu   sync.Mutex
	sent []sent
	fail func() error
}

func (f *fakeMessages) SendMessage(_ context.Context, to, body string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		if err := f.fail(); err != nil {
			return "", err
		}
	}
	f.sent = append(f.sent, sent{to, body})
	return "SM00000000000000000000000000000001", nil
}

var _ Messages = (*fakeMessages)(nil)

type fakeCRM map[string]salesforce.Record

func (f fakeCRM) Get(_ context.Context, object, id string, fields []string) (salesforce.Record, error) {
	if r, ok := f[id]; ok && object == "Contact" {
		return r, nil
	}
	return nil, &salesforce.APIError{Status: 404, Code: "NOT_FOUND"}
}

var _ CRM = fakeCRM{}

type env struct {
	flow *Flow
	msgs *fakeMessages
	kv   *redis.KV
}

func mustFlow(t *testing.T) *env {
	t.Helper()
	m, err := mapping.Parse([]byte(config.ExampleMapping))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := redis.NewKV(redistest.Start(t).Client(t), "")
	if err != nil {
		t.Fatal(err)
	}
	links, err := survey.NewReportLinks(survey.LinksConfig{Secret: []byte("a-test-secret-that-is-long-enough-0123"), PublicURL: "https://bridge.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := &fakeMessages{}
	crm := fakeCRM{caseID: {"Id": caseID, "FirstName": "Marisol Inés", "MobilePhone": "(917) 555-0142", "Preferred_Language__c": "Spanish"}}
	f, err := New(Config{Messages: msgs, CRM: crm, Store: kv, Links: links, Mappings: mapping.NewHolder(m, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return &env{flow: f, msgs: msgs, kv: kv}
}

func recordMsg(n int, status string) queue.Message {
	fields := map[string]any{"Id": caseID, "FirstName": "Marisol", "MobilePhone": "(917) 555-0142", "Elicitation_Status__c": status}
	b, _ := json.Marshal(event.Record{NotificationID: "04l" + string(rune('A'+n)), Object: "Contact", RecordID: caseID, Fields: fields})
	return queue.Message{ID: string(rune('a' + n)), Payload: b}
}

func (e *env) handle(t *testing.T, msgs ...queue.Message) []error {
	t.Helper()
	return e.flow.Handle(context.Background(), msgs)
}

func TestEnteringTheStateTextsOneLink(t *testing.T) {
	e := mustFlow(t)
	for i, err := range e.handle(t, recordMsg(0, "Requested"), recordMsg(1, "Requested")) {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if len(e.msgs.sent) != 1 {
		t.Fatalf("%d texts", len(e.msgs.sent))
	}
	s := e.msgs.sent[0]
	if s.to != "+19175550142" || !strings.HasPrefix(s.body, "Hi Marisol, please tell us who you were close to: https://bridge.example.org/report/") {
		t.Fatalf("text %+v", s)
	}
	// A tracer asking now: a link is out and unused.
	if ok, err := e.flow.Request(context.Background(), caseID[:15]); err != nil || ok {
		t.Fatalf("request with a link out: %v %v", ok, err)
	}
	// Leaving the state and entering again while the link is unused: still one.
	e.handle(t, recordMsg(2, "Received"), recordMsg(3, "Requested"))
	if len(e.msgs.sent) != 1 {
		t.Fatalf("%d texts", len(e.msgs.sent))
	}
}

func TestUsedLinkLetsTheCaseBeAskedAgain(t *testing.T) {
	e := mustFlow(t)
	ctx := context.Background()
	if ok, err := e.flow.Request(ctx, caseID); err != nil || !ok {
		t.Fatalf("request: %v %v", ok, err)
	}
	out, _, _ := e.kv.Get(ctx, outKey(caseID))
	name, found, err := e.flow.ReportFirstName(ctx, caseID, out)
	if err != nil || !found || name != "Marisol" {
		t.Fatalf("first name %q %v %v", name, found, err)
	}
	if _, found, _ := e.flow.ReportFirstName(ctx, "003RM00000Other0AAA", out); found {
		t.Fatal("another case's link shows this case's name")
	}
	if err := e.flow.ReportDone(ctx, caseID, out); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := e.flow.ReportFirstName(ctx, caseID, out); found {
		t.Fatal("the name outlived the used link")
	}
	if ok, err := e.flow.Request(ctx, caseID); err != nil || !ok {
		t.Fatalf("request after use: %v %v", ok, err)
	}
	if len(e.msgs.sent) != 2 || e.msgs.sent[0].body == e.msgs.sent[1].body {
		t.Fatalf("texts %v", e.msgs.sent)
	}
}

// A send Twilio surely refused releases the claim, so the retry sends; a
// send whose outcome is unknown keeps it: never two links.
func TestSendFailures(t *testing.T) {
	e := mustFlow(t)
	e.msgs.fail = func() error { return &twilio.APIError{Status: 503, Code: 20003} }
	errs := e.handle(t, recordMsg(0, "Requested"))
	if errs[0] == nil || queue.IsPermanent(errs[0]) {
		t.Fatalf("a 503 should be retried: %v", errs[0])
	}
	e.msgs.fail = nil
	if errs := e.handle(t, recordMsg(0, "Requested")); errs[0] != nil {
		t.Fatalf("retry: %v", errs[0])
	}
	if len(e.msgs.sent) != 1 {
		t.Fatalf("%d texts after the retry", len(e.msgs.sent))
	}

	e2 := mustFlow(t)
	e2.msgs.fail = func() error {
		return &twilio.TransportError{Op: "send_message", Sent: true, Err: context.DeadlineExceeded}
	}
	if errs := e2.handle(t, recordMsg(0, "Requested")); errs[0] != nil {
		t.Fatalf("an unknown outcome is not retried: %v", errs[0])
	}
	e2.msgs.fail = nil
	if ok, err := e2.flow.Request(context.Background(), caseID); err != nil || ok {
		t.Fatalf("request after an unknown outcome: %v %v", ok, err)
	}
	if len(e2.msgs.sent) != 0 {
		t.Fatalf("a second link went out after an unknown outcome")
	}

	e3 := mustFlow(t)
	e3.msgs.fail = func() error { return &twilio.APIError{Status: 400, Code: 21211} }
	if errs := e3.handle(t, recordMsg(0, "Requested")); !queue.IsPermanent(errs[0]) || strings.Contains(errs[0].Error(), "555") {
		t.Fatalf("an invalid number is permanent, without the number: %v", errs[0])
	}
}

func TestRequestErrors(t *testing.T) {
	e := mustFlow(t)
	ctx := context.Background()
	var nr *NotReachableError
	for _, tt := range []struct {
		id   string
		want func(error) bool
	}{
		{"not-an-id!", func(err error) bool { return errors.Is(err, ErrInvalidID) }},
		{"003RM0000000000AAA", func(err error) bool { return errors.Is(err, ErrNotFound) }},
	} {
		if _, err := e.flow.Request(ctx, tt.id); !tt.want(err) {
			t.Errorf("%s: %v", tt.id, err)
		}
	}
	e.flow.cfg.CRM = fakeCRM{caseID: {"Id": caseID, "FirstName": "Marisol"}}
	if _, err := e.flow.Request(ctx, caseID); !errors.As(err, &nr) || !strings.Contains(err.Error(), "MobilePhone") {
		t.Errorf("no number: %v", err)
	}
	if len(e.msgs.sent) != 0 {
		t.Fatal("texts sent")
	}
	// and through the queue: permanent, and the state is not kept
	errs := e.handle(t, func() queue.Message {
		b, _ := json.Marshal(event.Record{Object: "Contact", RecordID: caseID, Fields: map[string]any{"Elicitation_Status__c": "Requested"}})
		return queue.Message{ID: "x", Payload: b}
	}())
	if !queue.IsPermanent(errs[0]) {
		t.Fatalf("no number through the queue: %v", errs[0])
	}
	if _, found, _ := e.kv.Get(ctx, activeKey(caseID)); found {
		t.Fatal("a case that was not asked is remembered as asked")
	}
}

func TestID18(t *testing.T) {
	if got := id18("001A0000006Vm9r"); got != "001A0000006Vm9rIAC" {
		t.Fatalf("id18 = %s", got)
	}
	if got := id18(caseID); got != caseID {
		t.Fatalf("id18 of an 18-character id = %s", got)
	}
}
