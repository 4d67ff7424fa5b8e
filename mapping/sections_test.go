package mapping

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

const channelsDoc = `reminders:
  when: {field: Monitoring_Status__c, active: [Active]}
  to: {field: MobilePhone, transform: e164}
  name: {field: FirstName}
  language: {field: Preferred_Language__c, transform: lower, map: {spanish: es, english: en}, default: en}
  templates: {en: 'Hi {{name}}: {{link}}', es: 'Hola {{name}}: {{link}}'}
  time: {field: Preferred_Time__c}
  channel: {field: Preferred_Channel__c, transform: lower, map: {text: sms, phone: voice}, default: sms}
  fallback: voice
  email: {field: Email}
  email_subject: {en: Your daily health check, es: Su control de salud diario}
  whatsapp: {en: HX00000000000000000000000000000001, es-mx: HX00000000000000000000000000000002}
  voice: {en: "Hello {{name}}.", es: "Hola {{name}}."}
survey_to_crm:
  object: Symptom_Survey__c
  external_id: Survey_Key__c
  questions:
    - {field: Fever__c, label: {en: Fever?}, type: yesno}
    - {field: Other_Symptoms__c, label: {en: Else?}, type: text}
escalate:
  when: {Fever__c: true, Other_Symptoms__c: breathless}
  missed_days: 2
  grace: 12h
  priority: 100
  keywords: {en: [sick, fever, "short of breath"], es: [enfermo, fiebre]}
case_contacts:
  source: Contact
  when: {field: Elicitation_Status__c, active: [Requested]}
  name: {field: FirstName}
  to: {field: MobilePhone, transform: e164}
  language: {field: Preferred_Language__c, transform: lower, map: {spanish: es}, default: en}
  templates: {en: 'Hi {{name}}: {{link}}'}
  object: Contact
  external_id: Elicitation_Key__c
  fields:
    FirstName: {path: reported.first_name, required: true}
    LastName: {const: (self-reported)}
    MobilePhone: {path: reported.phone, transform: e164}
    Household_Contact__c: {path: reported.household, transform: bool}
    Last_Exposure_Date__c: {path: reported.last_contact, transform: date}
    Source_Case__c: {path: case.id}
protected: [Index_Case_Name__c, Source_Case__c]
`

func TestChannelsEscalateCaseContacts(t *testing.T) {
	m := mustParse(t, channelsDoc)
	r := m.Reminders()
	t.Run("channel", func(t *testing.T) {
		for in, want := range map[any]string{"Text": "sms", "phone": "voice", "WhatsApp": "whatsapp", "email": "email", nil: "sms", "pigeon": "sms"} {
			if got := r.Channel(Record{"Preferred_Channel__c": in}); got != want {
				t.Errorf("Channel(%v) = %q, want %q", in, got, want)
			}
		}
		if r.Fallback() != "voice" {
			t.Errorf("Fallback = %q", r.Fallback())
		}
	})
	t.Run("time", func(t *testing.T) {
		for in, want := range map[string][2]int{"08:30": {8, 30}, "8:05": {8, 5}, "18:45:00.000Z": {18, 45}, "23:59:59": {23, 59}} {
			h, mi, ok := r.TimeOf(Record{"Preferred_Time__c": in})
			if !ok || h != want[0] || mi != want[1] {
				t.Errorf("TimeOf(%q) = %d:%d %v", in, h, mi, ok)
			}
		}
		for _, in := range []any{"24:00", "noon", "", nil, "8:5"} {
			if _, _, ok := r.TimeOf(Record{"Preferred_Time__c": in}); ok {
				t.Errorf("TimeOf(%v) accepted", in)
			}
		}
	})
	t.Run("texts", func(t *testing.T) {
		if sid, ok := r.WhatsAppTemplate("es-MX"); !ok || !strings.HasSuffix(sid, "2") {
			t.Errorf("es-MX template = %q %v", sid, ok)
		}
		if sid, ok := r.WhatsAppTemplate("EN"); !ok || !strings.HasSuffix(sid, "1") {
			t.Errorf("en template = %q %v", sid, ok)
		}
		if _, ok := r.WhatsAppTemplate("fr"); ok {
			t.Error("fr has no template: it must fall back to SMS, not to English")
		}
		if got := r.EmailSubject("es"); got != "Su control de salud diario" {
			t.Errorf("EmailSubject = %q", got)
		}
		if got := r.VoiceGreeting("fr", "Ana"); got != "Hello Ana." {
			t.Errorf("VoiceGreeting = %q", got)
		}
		if got := r.Email(Record{"Email": " a@example.org "}); got != "a@example.org" {
			t.Errorf("Email = %q", got)
		}
		want := []string{"Email", "FirstName", "MobilePhone", "Monitoring_Status__c", "Preferred_Channel__c", "Preferred_Language__c", "Preferred_Time__c"}
		if got := r.Fields(); !reflect.DeepEqual(got, want) {
			t.Errorf("Fields = %v", got)
		}
	})
	t.Run("escalate", func(t *testing.T) {
		x := m.Escalate()
		if x.MissedDays() != 2 || x.Grace() != 12*time.Hour || x.Priority() != 100 {
			t.Errorf("settings %d %v %d", x.MissedDays(), x.Grace(), x.Priority())
		}
		tests := []struct {
			answers map[string]any
			want    []string
		}{
			{map[string]any{"Fever__c": "yes"}, []string{"Fever__c"}},
			{map[string]any{"fever__c": true}, []string{"Fever__c"}},
			{map[string]any{"Fever__c": "no", "Other_Symptoms__c": " Breathless "}, []string{"Other_Symptoms__c"}},
			{map[string]any{"Fever__c": "no", "Other_Symptoms__c": "fine"}, nil},
			{map[string]any{}, nil},
		}
		for _, tt := range tests {
			if got := x.Symptoms(tt.answers); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Symptoms(%v) = %v, want %v", tt.answers, got, tt.want)
			}
		}
		for body, want := range map[string]bool{"I feel SICK today": true, "fever!": true, "Estoy enfermo.": true,
			"I am short of breath": true, "sickness": false, "feverish": false, "fine thanks": false, "short, of breath": true} {
			if got := x.ReplyKeyword(body); got != want {
				t.Errorf("ReplyKeyword(%q) = %v", body, got)
			}
		}
	})
	t.Run("case contacts", func(t *testing.T) {
		c := m.CaseContacts()
		if !c.Active(Record{"Elicitation_Status__c": "Requested"}) || c.Active(Record{"Elicitation_Status__c": "Done"}) {
			t.Error("Active")
		}
		if c.CaseLinkField() != "Source_Case__c" || c.ExternalIDField() != "Elicitation_Key__c" || c.Object() != "Contact" || c.Source() != "Contact" {
			t.Error("names")
		}
		key := CaseContactKey("003000000000001AAA", "+17185550199", "")
		if key != "003000000000001AAA-+17185550199" || CaseContactKey("X", "", " Ana@Example.org") != "X-ana@example.org" {
			t.Errorf("key = %q", key)
		}
		row, err := c.Apply(map[string]any{"reported": map[string]any{"first_name": "Bo", "phone": "(718) 555-0199", "household": "yes", "last_contact": "2026-11-20"},
			"case": map[string]any{"id": "003000000000001AAA"}}, key)
		want := Record{"FirstName": "Bo", "LastName": "(self-reported)", "MobilePhone": "+17185550199", "Household_Contact__c": true,
			"Last_Exposure_Date__c": "2026-11-20", "Source_Case__c": "003000000000001AAA", "Elicitation_Key__c": key}
		if err != nil || !reflect.DeepEqual(row, want) {
			t.Errorf("Apply = %v %v", row, err)
		}
		var re *RuleError
		if _, err := c.Apply(map[string]any{"reported": map[string]any{}}, key); !errors.As(err, &re) {
			t.Errorf("missing first name: %v", err)
		}
		if got := m.RecordFields("Contact"); !contains(got, "Elicitation_Status__c") || contains(got, "Source_Case__c") {
			t.Errorf("RecordFields = %v", got)
		}
	})
}

func TestNewSectionsValidation(t *testing.T) {
	type want struct{ path, msg string }
	swap := func(oldNew ...string) string { return strings.NewReplacer(oldNew...).Replace(channelsDoc) }
	tests := []struct {
		name    string
		mapping string
		want    want
	}{
		{"unknown channel const", swap("default: sms}", "default: fax}"), want{"reminders.channel.default", `unknown channel "fax"`}},
		{"unknown channel map", swap("phone: voice}", "phone: telegram}"), want{"reminders.channel.map.phone", "unknown channel"}},
		{"unknown fallback", swap("fallback: voice", "fallback: carrier-pigeon"), want{"reminders.fallback", "unknown channel"}},
		{"whatsapp without template", swap("  whatsapp: {en: HX00000000000000000000000000000001, es-mx: HX00000000000000000000000000000002}\n", "",
			"default: sms}", "default: whatsapp}"), want{"reminders.whatsapp", "is required"}},
		{"bad content sid", swap("HX00000000000000000000000000000001", "HXnope"), want{"reminders.whatsapp.en", "Content template SID"}},
		{"email without address", swap("  email: {field: Email}\n", "", "default: sms}", "default: email}"), want{"reminders.email", "is required"}},
		{"voice placeholder", swap(`"Hello {{name}}."`, `"Hello {{case}}."`), want{"reminders.voice.en", "unknown placeholder {{case}}"}},
		{"subject placeholder", swap("Your daily health check,", "\"Check {{date}}\","), want{"reminders.email_subject.en", "unknown placeholder"}},
		{"unknown reminders key", swap("  fallback: voice\n", "  fallback: voice\n  sms_only: true\n"), want{"reminders.sms_only", "unknown key"}},
		{"protected time", swap("time: {field: Preferred_Time__c}", "time: {field: Index_Case_Name__c}"), want{"reminders.time.field", "protected"}},
		{"escalate unknown key", swap("  grace: 12h\n", "  grace: 12h\n  page: oncall\n"), want{"escalate.page", "unknown key"}},
		{"escalate not a question", swap("when: {Fever__c: true,", "when: {Cough__c: true,"), want{"escalate.when.Cough__c", "not one of survey_to_crm.questions"}},
		{"escalate protected", swap("when: {Fever__c: true,", "when: {Index_Case_Name__c: true,"), want{"escalate.when.Index_Case_Name__c", "protected"}},
		{"escalate grace", swap("grace: 12h", "grace: soon"), want{"escalate.grace", "duration"}},
		{"escalate missed days", swap("missed_days: 2", "missed_days: 0"), want{"escalate.missed_days", "1 to 35"}},
		{"escalate priority", swap("priority: 100", "priority: -1"), want{"escalate.priority", "0 or more"}},
		{"escalate keywords language", swap("es: [enfermo, fiebre]", "Spanish!: [enfermo]"), want{"escalate.keywords.Spanish!", "language code"}},
		{"case link not protected", swap("protected: [Index_Case_Name__c, Source_Case__c]", "protected: [Index_Case_Name__c]"), want{"case_contacts.fields.Source_Case__c", "list Source_Case__c in protected"}},
		{"case contacts no external id", swap("  external_id: Elicitation_Key__c\n", ""), want{"case_contacts.external_id", "is required"}},
		{"case contacts reads protected", swap("name: {field: FirstName}\n  to: {field: MobilePhone, transform: e164}\n  language: {field: Preferred_Language__c, transform: lower, map: {spanish: es}, default: en}\n  templates: {en: 'Hi {{name}}: {{link}}'}",
			"name: {field: Index_Case_Name__c}\n  to: {field: MobilePhone, transform: e164}\n  language: {field: Preferred_Language__c, transform: lower, map: {spanish: es}, default: en}\n  templates: {en: 'Hi {{name}}: {{link}}'}"), want{"case_contacts.name.field", "protected"}},
		{"case contacts template without link", swap("templates: {en: 'Hi {{name}}: {{link}}'}\n  object", "templates: {en: 'Hi {{name}}'}\n  object"), want{"case_contacts.templates.en", "{{link}}"}},
		{"case contacts bad path", swap("{path: reported.first_name, required: true}", "{path: task.first_name}"), want{"case_contacts.fields.FirstName.path", "must start with reported, case"}},
		{"case contacts unknown key", swap("  source: Contact\n", "  source: Contact\n  expires: 72h\n"), want{"case_contacts.expires", "unknown key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := Validate([]byte(tt.mapping))
			for _, fe := range errs {
				if fe.Path == tt.want.path && strings.Contains(fe.Message, tt.want.msg) {
					return
				}
			}
			t.Errorf("missing %s: …%s…; got %v", tt.want.path, tt.want.msg, errs)
		})
	}
}
