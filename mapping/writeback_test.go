package mapping

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func taskEvent(attrs map[string]any) map[string]any {
	return map[string]any{
		"task": map[string]any{
			"sid": "WT123", "age": 95.0, "priority": 2.0, "assignment_status": "completed",
			"attributes": attrs,
		},
		"worker": map[string]any{"sid": "WK1"},
		"event":  map[string]any{"type": "task.completed"},
	}
}

func TestOutcome(t *testing.T) {
	example := string(mustRead(t, "testdata/example.yaml"))
	tests := []struct {
		name         string
		mapping      string
		input        map[string]any
		want         Record
		wantFollowUp *FollowUp
		wantErr      string
	}{
		{
			name:    "example",
			mapping: example,
			input: taskEvent(map[string]any{
				"crm":           map[string]any{"record_id": "003A", "object": "Contact"},
				"conversations": map[string]any{"outcome": "Reached", "talk_time": 95},
				"call_sid":      "CA9",
			}),
			want: Record{
				"Twilio_Task_Sid__c": "WT123", "WhoId": "003A", "Subject": "Contact tracing call",
				"Status": "Completed", "CallType": "Outbound", "CallDisposition": "Reached",
				"CallDurationInSeconds": 95, "CallObject": "CA9",
			},
		},
		{
			name:    "follow-up date",
			mapping: example,
			input: taskEvent(map[string]any{
				"crm": map[string]any{"record_id": "003A"}, "follow_up_date": "2025-03-04",
			}),
			// No talk time recorded: no duration (task.age, queue time included, is not one).
			want: Record{
				"Twilio_Task_Sid__c": "WT123", "WhoId": "003A", "Subject": "Contact tracing call",
				"Status": "Completed", "CallType": "Outbound",
			},
			wantFollowUp: &FollowUp{ExternalID: "WT123-follow-up", RecordID: "003A", Date: "2025-03-04", Subject: "Follow-up call"},
		},
		{
			name:         "follow-up datetime",
			mapping:      outcomeDoc("") + "  follow_up: {path: task.attributes.next, subject: Call back}\n",
			input:        taskEvent(map[string]any{"next": "2025-03-04T09:00:00-05:00"}),
			want:         Record{"Twilio_Task_Sid__c": "WT123"},
			wantFollowUp: &FollowUp{ExternalID: "WT123-follow-up", Date: "2025-03-04", Subject: "Call back"},
		},
		{
			name:         "follow-up default subject",
			mapping:      outcomeDoc("") + "  follow_up: {path: task.attributes.next}\n",
			input:        taskEvent(map[string]any{"next": "2025-03-04"}),
			want:         Record{"Twilio_Task_Sid__c": "WT123"},
			wantFollowUp: &FollowUp{ExternalID: "WT123-follow-up", Date: "2025-03-04", Subject: DefaultFollowUpSubject},
		},
		{
			name:    "empty follow-up is none",
			mapping: outcomeDoc("") + "  follow_up: {path: task.attributes.next}\n",
			input:   taskEvent(map[string]any{"next": ""}),
			want:    Record{"Twilio_Task_Sid__c": "WT123"},
		},
		{
			name:    "bad follow-up date",
			mapping: outcomeDoc("") + "  follow_up: {path: task.attributes.next}\n",
			input:   taskEvent(map[string]any{"next": "next tuesday"}),
			wantErr: "outcome_to_crm.follow_up: follow-up date",
		},
		{
			name:    "required path missing",
			mapping: example,
			input:   taskEvent(map[string]any{}),
			wantErr: "outcome_to_crm.fields.WhoId: required value is missing or invalid (path task.attributes.crm.record_id)",
		},
		{
			name:    "no task sid",
			mapping: example,
			input:   map[string]any{"task": map[string]any{"attributes": map[string]any{}}},
			wantErr: "outcome_to_crm.external_id",
		},
		{
			name:    "worker and event paths",
			mapping: outcomeDoc("    Worker__c: {path: worker.sid}\n    Kind__c: {path: event.type, transform: upper}\n"),
			input:   taskEvent(nil),
			want:    Record{"Twilio_Task_Sid__c": "WT123", "Worker__c": "WK1", "Kind__c": "TASK.COMPLETED"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := mustParse(t, tt.mapping).OutcomeToCRM()
			got, fu, err := o.Apply(tt.input)
			if tt.wantErr != "" {
				var re *RuleError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want RuleError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("fields = %#v\nwant %#v", got, tt.want)
			}
			if !reflect.DeepEqual(fu, tt.wantFollowUp) {
				t.Errorf("follow-up = %+v, want %+v", fu, tt.wantFollowUp)
			}
		})
	}
}

func TestFollowUpRecord(t *testing.T) {
	f := &FollowUp{ExternalID: "WT1-follow-up", RecordID: "003A", Date: "2025-03-04", Subject: "Call"}
	want := Record{"Twilio_Task_Sid__c": "WT1-follow-up", "WhoId": "003A", "ActivityDate": "2025-03-04", "Status": "Not Started", "Subject": "Call"}
	if got := f.Record("Twilio_Task_Sid__c"); !reflect.DeepEqual(got, want) {
		t.Errorf("Record = %v", got)
	}
	f.RecordID = "a01B"
	if got := f.Record("X__c"); got["WhatId"] != "a01B" || got["WhoId"] != nil {
		t.Errorf("custom object record must be WhatId: %v", got)
	}
}

func TestSurvey(t *testing.T) {
	doc := `survey_to_crm:
  object: Symptom_Survey__c
  external_id: Survey_Key__c
  questions:
    - {field: Fever__c, label: {en: Do you have a fever?, es: ¿Tiene fiebre?}, type: yesno}
    - {field: Temp__c, label: {en: Temperature?}, type: number}
    - {field: Other__c, label: {en: Anything else?}, type: text}
  fields:
    Contact__c: {path: contact.id}
    Survey_Date__c: {path: survey.date}
    Language__c: {path: survey.language, default: en}
`
	s := mustParse(t, doc).SurveyToCRM()
	ev := map[string]any{"contact": map[string]any{"id": "003A"}, "survey": map[string]any{"date": "2025-03-04"}}
	base := Record{"Survey_Key__c": "003A-2025-03-04", "Contact__c": "003A", "Survey_Date__c": "2025-03-04", "Language__c": "en"}
	with := func(kv ...any) Record {
		r := Record{}
		for k, v := range base {
			r[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			r[kv[i].(string)] = kv[i+1]
		}
		return r
	}
	tests := []struct {
		name    string
		event   map[string]any
		input   map[string]string
		want    Record
		wantErr string
	}{
		{name: "yes", event: ev, input: map[string]string{"Fever__c": "yes"}, want: with("Fever__c", true)},
		{name: "no", event: ev, input: map[string]string{"Fever__c": "no"}, want: with("Fever__c", false)},
		{name: "YES trimmed", event: ev, input: map[string]string{"Fever__c": " YES "}, want: with("Fever__c", true)},
		{name: "number and text", event: ev, input: map[string]string{"Temp__c": "101.5", "Other__c": "  headache "}, want: with("Temp__c", 101.5, "Other__c", "headache")},
		{name: "unanswered left out", event: ev, input: map[string]string{"Fever__c": ""}, want: with()},
		{name: "unknown inputs ignored", event: ev, input: map[string]string{"csrf": "x", "Index_Case_Name__c": "y"}, want: with()},
		{name: "maybe refused", event: ev, input: map[string]string{"Fever__c": "maybe"}, wantErr: "survey_to_crm.questions[0]: answer must be yes or no (field Fever__c)"},
		{name: "true is not yes", event: ev, input: map[string]string{"Fever__c": "true"}, wantErr: "yes or no"},
		{name: "number refused", event: ev, input: map[string]string{"Temp__c": "hot"}, wantErr: "survey_to_crm.questions[1]: answer must be a number"},
		{name: "infinity refused", event: ev, input: map[string]string{"Temp__c": "Inf"}, wantErr: "a number"},
		{name: "no contact", event: map[string]any{"survey": map[string]any{"date": "2025-03-04"}}, input: nil, wantErr: "survey_to_crm.external_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Apply(tt.event, tt.input)
			if tt.wantErr != "" {
				var re *RuleError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want RuleError containing %q", err, tt.wantErr)
				}
				for _, a := range tt.input {
					if strings.Contains(err.Error(), a) {
						t.Fatalf("error leaks the answer: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Apply = %#v\nwant %#v", got, tt.want)
			}
		})
	}
	if s.ExternalIDField() != "Survey_Key__c" || s.Object() != "Symptom_Survey__c" {
		t.Error("object or external id")
	}
}

func TestLabelFor(t *testing.T) {
	q := Question{Label: map[string]string{"en": "Fever?", "es": "¿Fiebre?", "pt-br": "Febre?"}}
	for lang, want := range map[string]string{
		"es": "¿Fiebre?", "ES": "¿Fiebre?", "es-MX": "¿Fiebre?", "es_US": "¿Fiebre?",
		"fr": "Fever?", "": "Fever?", "pt-BR": "Febre?", "pt": "Fever?",
	} {
		if got := q.LabelFor(lang); got != want {
			t.Errorf("LabelFor(%q) = %q, want %q", lang, got, want)
		}
	}
}
