package writeback

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/queue"
	"strings"
	"testing"
	"time"
)

type fakeEscalations struct {
	items []queue.Item
	err   error
}

func (f *fakeEscalations) Enqueue(_ context.Context, items ...queue.Item) ([]bool, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.items = append(f.items, items...)
	return make([]bool, len(items)), nil
}

func wbMsg(t *testing.T, ev event.Writeback) queue.Message {
	t.Helper()
	raw, _ := json.Marshal(ev)
	return queue.Message{ID: "1-0", Payload: raw}
}

func TestSurveysAndSickRepliesReachEscalation(t *testing.T) {
	crm := &fakeCRM{}
	f := newFlow(t, crm)
	esc := &fakeEscalations{}
	f.cfg.Escalations = esc
	// 23:30 UTC on 3 March is still the 3rd in New York.
	at := time.Date(2026, 3, 3, 23, 30, 0, 0, time.UTC)
	msgs := []queue.Message{
		wbMsg(t, event.Writeback{Survey: &event.Survey{ContactID: "003RM00000Qx1a2YAB", Date: "2026-03-03", Language: "es",
			Answers: map[string]string{"Fever__c": "yes", "Cough__c": "no", "Other_Symptoms__c": "private words"}, SubmittedAt: at}}),
		wbMsg(t, event.Writeback{Survey: &event.Survey{ContactID: "003RM00000Qx1a2YAB", Date: "2026-03-02", Language: "es",
			Answers: map[string]string{"Fever__c": "no", "Cough__c": "no"}, SubmittedAt: at}}),
		wbMsg(t, event.Writeback{Reply: &event.SMS{MessageSID: "SM" + "0123456789abcdef0123456789abcdef", From: "+12125550123", Body: "I am SICK", ReceivedAt: at}}),
		wbMsg(t, event.Writeback{Reply: &event.SMS{MessageSID: "SM" + "1123456789abcdef0123456789abcdef", From: "+12125550123", Body: "thanks", ReceivedAt: at}}),
		wbMsg(t, event.Writeback{Reply: &event.SMS{MessageSID: "SM" + "2123456789abcdef0123456789abcdef", From: "+13125550000", Body: "sick", ReceivedAt: at}}),
	}
	for i, err := range f.Handle(context.Background(), msgs) {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if len(esc.items) != 3 {
		t.Fatalf("%d escalation triggers, want 2 answers and 1 reply", len(esc.items))
	}
	var evs []event.Escalation
	for _, it := range esc.items {
		var ev event.Escalation
		_ = json.Unmarshal(it.Payload, &ev)
		evs = append(evs, ev)
		if containsAny(string(it.Payload), "private", "SICK", "+1212") {
			t.Fatalf("an escalation trigger carries the contact's words or number: %s", it.Payload)
		}
	}
	if evs[0].Kind != event.EscalationAnswer || len(evs[0].Symptoms) != 1 || evs[0].Symptoms[0] != "Fever__c" || evs[0].Date != "2026-03-03" || esc.items[0].Key != "answer:003RM00000Qx1a2YAB-2026-03-03" {
		t.Fatalf("fever answer: %+v key %s", evs[0], esc.items[0].Key)
	}
	if evs[1].Kind != event.EscalationAnswer || len(evs[1].Symptoms) != 0 || evs[1].Day != "2026-03-02" {
		t.Fatalf("plain answer: %+v", evs[1])
	}
	if evs[2].Kind != event.EscalationReply || evs[2].ContactID != "003RM00000Qx1a2YAB" || esc.items[2].Key != "reply:SM0123456789abcdef0123456789abcdef" {
		t.Fatalf("reply: %+v", evs[2])
	}

	// When the trigger cannot be queued, the message fails (and its
	// upsert, safe to repeat, runs again on the retry).
	esc.err = errors.New("redis down")
	errs := f.Handle(context.Background(), msgs[:1])
	if errs[0] == nil || queue.IsPermanent(errs[0]) {
		t.Fatalf("enqueue failure: %v, want a retryable error", errs[0])
	}
	// A row Salesforce refused triggers nothing.
	esc.err = nil
	esc.items = nil
	crm.callErr = errors.New("network")
	f.Handle(context.Background(), msgs[:1])
	if len(esc.items) != 0 {
		t.Fatal("a survey that was not written escalated")
	}
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}
