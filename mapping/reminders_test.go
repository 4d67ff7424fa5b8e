package mapping

import (
	"errors"
	"reflect"
	"testing"
)

func TestReminders(t *testing.T) {
	r := mustParse(t, string(mustRead(t, "testdata/example.yaml"))).Reminders()
	active := Record{"Monitoring_Status__c": "Active", "Monitoring_Start__c": "2025-03-01", "FirstName": "Ana",
		"MobilePhone": "617 555 0199", "Preferred_Language__c": "Spanish", "SMS_Opt_Out__c": false}

	t.Run("active", func(t *testing.T) {
		tests := []struct {
			name  string
			input Record
			want  bool
		}{
			{name: "active", input: active, want: true},
			{name: "opt-out not set", input: Record{"Monitoring_Status__c": "Active"}, want: true},
			{name: "opted out", input: Record{"Monitoring_Status__c": "Active", "SMS_Opt_Out__c": true}, want: false},
			{name: "opted out soap", input: Record{"Monitoring_Status__c": "Active", "SMS_Opt_Out__c": "true"}, want: false},
			{name: "ended", input: Record{"Monitoring_Status__c": "Completed"}, want: false},
			{name: "missing", input: Record{}, want: false},
		}
		for _, tt := range tests {
			if got := r.Active(tt.input); got != tt.want {
				t.Errorf("%s: Active = %v", tt.name, got)
			}
		}
	})
	t.Run("fields", func(t *testing.T) {
		want := []string{"FirstName", "MobilePhone", "Monitoring_Start__c", "Monitoring_Status__c", "Preferred_Language__c", "SMS_Opt_Out__c"}
		if got := r.Fields(); !reflect.DeepEqual(got, want) {
			t.Errorf("Fields = %v", got)
		}
	})
	t.Run("values", func(t *testing.T) {
		if d, ok := r.Start(active); !ok || d != "2025-03-01" {
			t.Errorf("Start = %q %v", d, ok)
		}
		if d, ok := r.Start(Record{"Monitoring_Start__c": "2025-03-01T14:00:00.000+0000"}); !ok || d != "2025-03-01" {
			t.Errorf("Start datetime = %q %v", d, ok)
		}
		if _, ok := r.Start(Record{}); ok {
			t.Error("Start without a date")
		}
		if to, err := r.To(active); err != nil || to != "+16175550199" {
			t.Errorf("To = %q %v", to, err)
		}
		var re *RuleError
		if _, err := r.To(Record{"MobilePhone": "none"}); !errors.As(err, &re) || re.Path != "reminders.to" {
			t.Errorf("To err = %v", err)
		}
		if r.Name(active) != "Ana" || r.Name(Record{}) != "" {
			t.Error("Name")
		}
		if r.Language(active) != "es" || r.Language(Record{}) != "en" || r.Language(Record{"Preferred_Language__c": "French"}) != "french" {
			t.Error("Language")
		}
	})
	t.Run("render", func(t *testing.T) {
		tests := []struct{ lang, name, link, want string }{
			{"en", "Ana", "https://b/s/t1", "Hi Ana, please answer today's short health check: https://b/s/t1"},
			{"es", "Ana", "https://b/s/t1", "Hola Ana, responda el control de salud de hoy: https://b/s/t1"},
			{"es-MX", "Ana", "L", "Hola Ana, responda el control de salud de hoy: L"},
			{"french", "Ana", "L", "Hi Ana, please answer today's short health check: L"},
			{"", "", "L", "Hi , please answer today's short health check: L"},
			{"en", "{{link}}", "L", "Hi {{link}}, please answer today's short health check: L"},
		}
		for _, tt := range tests {
			if got := r.Render(tt.lang, tt.name, tt.link); got != tt.want {
				t.Errorf("Render(%q) = %q", tt.lang, got)
			}
		}
	})
}

func TestRemindersDefaults(t *testing.T) {
	r := mustParse(t, remindersDoc("", "")).Reminders()
	if r.Days() != DefaultDays {
		t.Errorf("Days = %d", r.Days())
	}
	if h, m := r.At(); h != 10 || m != 0 {
		t.Errorf("At = %d:%d", h, m)
	}
	if r.Object() != "Contact" || r.Language(Record{}) != "en" {
		t.Error("defaults")
	}
	r = mustParse(t, remindersDoc("  days: 35\n  at: \"7:05\"\n  language: {const: es}\n", "")).Reminders()
	if h, m := r.At(); r.Days() != 35 || h != 7 || m != 5 || r.Language(nil) != "es" {
		t.Errorf("days %d at %d:%d", r.Days(), h, m)
	}
	// reminders on another object do not read the Contact opt-out field
	r = mustParse(t, "record_to_task:\n  object: Lead\n  when: {field: S, create: [A]}\n"+remindersDoc("", "")).Reminders()
	if r.Object() != "Lead" {
		t.Errorf("Object = %s", r.Object())
	}
}
