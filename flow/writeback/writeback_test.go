package writeback

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cityhealth/bridge/config"
	"github.com/cityhealth/bridge/connector/salesforce"
	"github.com/cityhealth/bridge/event"
	"github.com/cityhealth/bridge/mapping"
	"github.com/cityhealth/bridge/queue"
)

// fakeCRM answers each row through rowResult; calls records every call.
type fakeCRM struct {
	calls     [][]salesforce.Record
	callErr   error
	rowResult func(rec salesforce.Record) salesforce.RowResult
	// refuse fails a whole call, as Collections does for one bad row.
	refuse func(recs []salesforce.Record) error
}

var _ CRM = (*fakeCRM)(nil)

func (f *fakeCRM) UpsertCollection(_ context.Context, _, _ string, recs []salesforce.Record) ([]salesforce.RowResult, error) {
	f.calls = append(f.calls, recs)
	if f.callErr != nil {
		return nil, f.callErr
	}
	if f.refuse != nil {
		if err := f.refuse(recs); err != nil {
			return nil, err
		}
	}
	out := make([]salesforce.RowResult, len(recs))
	for i, r := range recs {
		out[i] = salesforce.RowResult{Success: true, Created: true}
		if f.rowResult != nil {
			out[i] = f.rowResult(r)
		}
	}
	return out, nil
}

type fakeContacts map[string]string

func (f fakeContacts) ContactByPhone(_ context.Context, phone string) (string, bool, error) {
	id, ok := f[phone]
	return id, ok, nil
}

func newFlow(t *testing.T, crm *fakeCRM) *Flow {
	t.Helper()
	m, err := mapping.Parse([]byte(config.ExampleMapping))
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Config{CRM: crm, Contacts: fakeContacts{"+12125550123": "003RM00000Qx1a2YAB"}, Mappings: mapping.NewHolder(m, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func taskMsg(n int, followUp bool) queue.Message {
	attrs := map[string]any{"crm": map[string]any{"record_id": "003RM00000Qx1a2YAB"}, "conversations": map[string]any{"outcome": "Reached"}}
	if followUp {
		attrs["follow_up_date"] = "2020-06-04"
	}
	ev := event.Writeback{Task: &event.Task{EventSID: fmt.Sprintf("EV%d", n), EventType: "task.completed", TaskSID: fmt.Sprintf("WT%d", n), TaskAge: 60, Attributes: attrs}}
	b, _ := json.Marshal(ev)
	return queue.Message{ID: fmt.Sprint(n), Payload: b}
}

func TestBatchIsOneCallPerTwoHundredRows(t *testing.T) {
	crm := &fakeCRM{}
	f := newFlow(t, crm)
	var msgs []queue.Message
	for i := 0; i < 200; i++ {
		msgs = append(msgs, taskMsg(i, false))
	}
	msgs = append(msgs, taskMsg(7, false)) // a duplicate in the same batch
	for i, err := range f.Handle(context.Background(), msgs) {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if len(crm.calls) != 1 || len(crm.calls[0]) != 200 {
		t.Fatalf("%d calls (first with %d rows), want 1 call of 200 distinct rows", len(crm.calls), len(crm.calls[0]))
	}
	if crm.calls[0][0]["Twilio_Task_Sid__c"] != "WT0" || crm.calls[0][0]["WhoId"] != "003RM00000Qx1a2YAB" {
		t.Fatalf("row: %v", crm.calls[0][0])
	}
}

func TestFollowUpOnlyAfterTheOutcomeLands(t *testing.T) {
	crm := &fakeCRM{rowResult: func(r salesforce.Record) salesforce.RowResult {
		if r["Twilio_Task_Sid__c"] == "WT1" {
			return salesforce.RowResult{Errors: []salesforce.RowError{{StatusCode: "INVALID_FIELD", Fields: []string{"CallObject"}}}}
		}
		return salesforce.RowResult{Success: true}
	}}
	f := newFlow(t, crm)
	errs := f.Handle(context.Background(), []queue.Message{taskMsg(1, true), taskMsg(2, true)})
	if !queue.IsPermanent(errs[0]) || errs[1] != nil {
		t.Fatalf("errs %v", errs)
	}
	if len(crm.calls) != 2 || len(crm.calls[1]) != 1 || crm.calls[1][0]["Twilio_Task_Sid__c"] != "WT2-follow-up" {
		t.Fatalf("follow-ups written: %v", crm.calls)
	}
	if fu := crm.calls[1][0]; fu["ActivityDate"] != "2020-06-04" || fu["Status"] != "Not Started" || fu["Subject"] != "Follow-up call" {
		t.Fatalf("follow-up row %v", fu)
	}
}

func TestErrorsAreClassified(t *testing.T) {
	cases := []struct {
		name      string
		crm       *fakeCRM
		permanent bool
	}{
		{"lock kept failing", &fakeCRM{rowResult: func(salesforce.Record) salesforce.RowResult {
			return salesforce.RowResult{Errors: []salesforce.RowError{{StatusCode: "UNABLE_TO_LOCK_ROW"}}}
		}}, false},
		{"required field missing", &fakeCRM{rowResult: func(salesforce.Record) salesforce.RowResult {
			return salesforce.RowResult{Errors: []salesforce.RowError{{StatusCode: "REQUIRED_FIELD_MISSING", Fields: []string{"Subject"}}}}
		}}, true},
		{"outage", &fakeCRM{callErr: &salesforce.APIError{Status: 503, Code: "SERVER_UNAVAILABLE"}}, false},
		{"request limit", &fakeCRM{callErr: &salesforce.APIError{Status: 403, Code: "REQUEST_LIMIT_EXCEEDED"}}, false},
		{"malformed id", &fakeCRM{callErr: &salesforce.APIError{Status: 400, Code: "MALFORMED_ID"}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := newFlow(t, tc.crm).Handle(context.Background(), []queue.Message{taskMsg(1, false)})
			if errs[0] == nil || queue.IsPermanent(errs[0]) != tc.permanent {
				t.Fatalf("err %v, permanent want %v", errs[0], tc.permanent)
			}
		})
	}
}

func TestRepliesAndSurveys(t *testing.T) {
	crm := &fakeCRM{}
	f := newFlow(t, crm)
	enc := func(ev event.Writeback) queue.Message { b, _ := json.Marshal(ev); return queue.Message{Payload: b} }
	at := time.Date(2020, 6, 3, 2, 0, 0, 0, time.UTC) // 22:00 on June 2 in New York
	msgs := []queue.Message{
		enc(event.Writeback{Reply: &event.SMS{MessageSID: "SM1", From: "+12125550123", Body: "fine", ReceivedAt: at}}),
		enc(event.Writeback{Reply: &event.SMS{MessageSID: "SM2", From: "+19995550000", Body: "who?", ReceivedAt: at}}),
		enc(event.Writeback{Survey: &event.Survey{ContactID: "003RM00000Qx1a2YAB", Date: "2020-06-02", Answers: map[string]string{"Fever__c": "yes", "Cough__c": "no"}}}),
		enc(event.Writeback{Survey: &event.Survey{ContactID: "003RM00000Qx1a2YAB", Date: "2020-06-03", Answers: map[string]string{"Fever__c": "maybe"}}}),
	}
	errs := f.Handle(context.Background(), msgs)
	if errs[0] != nil || errs[1] != nil || errs[2] != nil || !queue.IsPermanent(errs[3]) {
		t.Fatalf("errs %v", errs)
	}
	var reply, unmatched, survey salesforce.Record
	for _, call := range crm.calls {
		for _, r := range call {
			if r["Twilio_Task_Sid__c"] == "SM1" {
				reply = r
			}
			if r["Twilio_Task_Sid__c"] == "SM2" {
				unmatched = r
			}
			if r["Survey_Key__c"] != nil {
				survey = r
			}
		}
	}
	if reply["WhoId"] != "003RM00000Qx1a2YAB" || reply["ActivityDate"] != "2020-06-02" || reply["Description"] != "fine" {
		t.Fatalf("reply row %v", reply)
	}
	if _, linked := unmatched["WhoId"]; linked || unmatched["Description"] != "From +19995550000: who?" {
		t.Fatalf("unmatched reply row %v", unmatched)
	}
	if survey["Survey_Key__c"] != "003RM00000Qx1a2YAB-2020-06-02" || survey["Fever__c"] != true || survey["Cough__c"] != false {
		t.Fatalf("survey row %v", survey)
	}
}

func TestWhatsAppDeliveryFailureFindsTheContact(t *testing.T) {
	crm := &fakeCRM{}
	f := newFlow(t, crm)
	b, _ := json.Marshal(event.Writeback{Delivery: &event.Delivery{MessageSID: "SM3", To: "whatsapp:+12125550123", Status: "undelivered",
		ErrorCode: 30003, At: time.Date(2020, 6, 3, 2, 0, 0, 0, time.UTC)}})
	if errs := f.Handle(context.Background(), []queue.Message{{Payload: b}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if len(crm.calls) != 1 || crm.calls[0][0]["WhoId"] != "003RM00000Qx1a2YAB" || crm.calls[0][0]["Twilio_Task_Sid__c"] != "SM3-delivery" {
		t.Fatalf("calls %v, want the WhatsApp number's contact", crm.calls)
	}
}

func TestDeliveryFailureIsOneActivityPerMessage(t *testing.T) {
	crm := &fakeCRM{}
	f := newFlow(t, crm)
	enc := func(ev event.Writeback) queue.Message { b, _ := json.Marshal(ev); return queue.Message{Payload: b} }
	at := time.Date(2020, 6, 3, 2, 0, 0, 0, time.UTC)
	d := &event.Delivery{MessageSID: "SM1", To: "+12125550123", Status: "undelivered", ErrorCode: 30006, At: at}
	errs := f.Handle(context.Background(), []queue.Message{
		enc(event.Writeback{Delivery: d}),
		enc(event.Writeback{Delivery: d}), // a repeated callback in the same batch
		enc(event.Writeback{Delivery: &event.Delivery{MessageSID: "SM2", To: "+19995550000", Status: "failed", ErrorCode: 30003, At: at}}),
	})
	if errs[0] != nil || errs[1] != nil || errs[2] != nil {
		t.Fatalf("errs %v", errs)
	}
	if len(crm.calls) != 1 || len(crm.calls[0]) != 1 {
		t.Fatalf("calls %v, want one row (the unknown number writes nothing)", crm.calls)
	}
	r := crm.calls[0][0]
	if r["Twilio_Task_Sid__c"] != "SM1-delivery" || r["WhoId"] != "003RM00000Qx1a2YAB" || r["ActivityDate"] != "2020-06-02" ||
		!strings.Contains(r["Subject"].(string), "30006") || strings.Contains(r["Description"].(string), "+1212") {
		t.Fatalf("row %v", r)
	}
}

// One bad row fails a Collections call as a whole (400 INVALID_FIELD or
// JSON_PARSER_ERROR). The batch is split until the bad row is alone: it
// goes to the dead letters with its code and field, the 199 others are
// written in the same pass, and the calls stay within 1 + 2*log2(200).
func TestWholeRequestRefusalIsolatesTheBadRow(t *testing.T) {
	for _, refusal := range []*salesforce.APIError{
		{Status: 400, Code: "INVALID_FIELD", Fields: []string{"Extra__c"}},
		{Status: 400, Code: "JSON_PARSER_ERROR"},
	} {
		t.Run(refusal.Code, func(t *testing.T) {
			written := map[string]int{}
			crm := &fakeCRM{refuse: func(recs []salesforce.Record) error {
				for _, r := range recs {
					if r["Twilio_Task_Sid__c"] == "WT57" {
						return fmt.Errorf("upsert collection Task: %w", refusal)
					}
				}
				for _, r := range recs {
					written[r["Twilio_Task_Sid__c"].(string)]++
				}
				return nil
			}}
			f := newFlow(t, crm)
			var msgs []queue.Message
			for i := 0; i < 200; i++ {
				msgs = append(msgs, taskMsg(i, false))
			}
			errs := f.Handle(context.Background(), msgs)
			for i, err := range errs {
				if i == 57 {
					if !queue.IsPermanent(err) || !strings.Contains(err.Error(), refusal.Code) {
						t.Fatalf("bad row: %v, want a permanent %s", err, refusal.Code)
					}
					if refusal.Code == "INVALID_FIELD" && !strings.Contains(err.Error(), "Extra__c") {
						t.Fatalf("bad row's error does not name the field: %v", err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("good row %d: %v", i, err)
				}
			}
			if len(written) != 199 {
				t.Fatalf("%d rows written, want 199", len(written))
			}
			for sid, n := range written {
				if n != 1 {
					t.Fatalf("%s written %d times", sid, n)
				}
			}
			if n := len(crm.calls); n > 1+2*8 {
				t.Fatalf("%d Salesforce calls, want at most 17", n)
			}
			t.Logf("%s: %d Salesforce calls for 200 rows with one bad", refusal.Code, len(crm.calls))
		})
	}
}

// An INVALID_FIELD refusal that names a field: every row carrying it fails
// at once and the rest go in one more call, however many rows are bad.
func TestUnknownFieldFailsTheRowsCarryingIt(t *testing.T) {
	doc := strings.Replace(config.ExampleMapping, "    CallObject: {path: task.attributes.call_sid}\n",
		"    CallObject: {path: task.attributes.call_sid}\n    Extra__c: {path: task.attributes.extra}\n", 1)
	m, err := mapping.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	written := 0
	crm := &fakeCRM{refuse: func(recs []salesforce.Record) error {
		for _, r := range recs {
			if _, ok := r["Extra__c"]; ok {
				return &salesforce.APIError{Status: 400, Code: "INVALID_FIELD", Fields: []string{"extra__c"}}
			}
		}
		written += len(recs)
		return nil
	}}
	f, err := New(Config{CRM: crm, Contacts: fakeContacts{}, Mappings: mapping.NewHolder(m, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []queue.Message
	for i := 0; i < 200; i++ {
		ev := event.Writeback{Task: &event.Task{EventSID: fmt.Sprintf("EV%d", i), EventType: "task.completed", TaskSID: fmt.Sprintf("WT%d", i),
			Attributes: map[string]any{"crm": map[string]any{"record_id": "003RM00000Qx1a2YAB"}}}}
		if i%10 == 3 {
			ev.Task.Attributes["extra"] = "x"
		}
		b, _ := json.Marshal(ev)
		msgs = append(msgs, queue.Message{ID: fmt.Sprint(i), Payload: b})
	}
	errs := f.Handle(context.Background(), msgs)
	for i, err := range errs {
		if (i%10 == 3) != (err != nil) || (err != nil && !queue.IsPermanent(err)) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if written != 180 || len(crm.calls) != 2 {
		t.Fatalf("%d rows written in %d calls, want 180 in 2", written, len(crm.calls))
	}
}
