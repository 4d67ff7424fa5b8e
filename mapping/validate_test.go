package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// valid sections to build failing documents from.
const (
	okRTT = `record_to_task:
  object: Contact
  when: {field: Outreach_Status__c, create: [Needs Outreach], cancel: [Closed]}
`
	okProtected = "protected: [Index_Case_Name__c]\n"
)

func TestValidationErrors(t *testing.T) {
	type want struct{ path, msg string }
	tests := []struct {
		name    string
		mapping string
		wantErr []want // each must be reported, with this exact path
	}{
		// document
		{name: "empty", mapping: "", wantErr: []want{{"", "empty"}}},
		{name: "only comments", mapping: "# nothing\n", wantErr: []want{{"", "empty"}}},
		{name: "not a mapping", mapping: "- a\n- b\n", wantErr: []want{{"", "mapping of sections"}}},
		{name: "bad yaml", mapping: "record_to_task: {object: [\n", wantErr: []want{{"", "not valid YAML"}}},
		{name: "two documents", mapping: okRTT + "---\n" + okRTT, wantErr: []want{{"", "exactly one document"}}},
		{name: "anchors refused", mapping: "record_to_task: &a\n  object: Contact\nclick_to_call: *a\n", wantErr: []want{{"record_to_task", "anchors"}, {"click_to_call", "anchors"}}},
		{name: "duplicate key", mapping: okRTT + "  object: Lead\n", wantErr: []want{{"record_to_task.object", "duplicate"}}},

		// unknown keys
		{name: "unknown section", mapping: okRTT + "extras: {}\n", wantErr: []want{{"extras", "unknown key"}}},
		{name: "unknown rule key", mapping: ruleDoc(`{field: A, trnsform: lower}`), wantErr: []want{{"record_to_task.attributes.v.trnsform", "unknown key"}}},
		{name: "unknown when key", mapping: "record_to_task:\n  object: Contact\n  when: {field: S, create: [A], remove: [B]}\n", wantErr: []want{{"record_to_task.when.remove", "unknown key"}}},
		{name: "unknown question key", mapping: "survey_to_crm:\n  object: S__c\n  external_id: K__c\n  questions:\n    - {field: F__c, label: {en: F?}, type: yesno, hint: x}\n", wantErr: []want{{"survey_to_crm.questions[0].hint", "unknown key"}}},
		{name: "unknown reminders key", mapping: remindersDoc("", "  every: 2\n"), wantErr: []want{{"reminders.every", "unknown key"}}},

		// rules
		{name: "unknown transform", mapping: ruleDoc(`{field: A, transform: titlecase}`), wantErr: []want{{"record_to_task.attributes.v.transform", `unknown transform "titlecase"`}}},
		{name: "no source", mapping: ruleDoc(`{transform: lower}`), wantErr: []want{{"record_to_task.attributes.v", "needs one of field, path or const"}}},
		{name: "two sources", mapping: ruleDoc(`{field: A, const: b}`), wantErr: []want{{"record_to_task.attributes.v", "exactly one"}}},
		{name: "three sources", mapping: ruleDoc(`{field: A, path: task.x, const: b}`), wantErr: []want{{"record_to_task.attributes.v", "exactly one"}}},
		{name: "rule not a mapping", mapping: ruleDoc(`FirstName`), wantErr: []want{{"record_to_task.attributes.v", "mapping"}}},
		{name: "required not bool", mapping: ruleDoc(`{field: A, required: sometimes}`), wantErr: []want{{"record_to_task.attributes.v.required", "true or false"}}},
		{name: "map not a mapping", mapping: ruleDoc(`{field: A, map: [a, b]}`), wantErr: []want{{"record_to_task.attributes.v.map", "mapping"}}},
		{name: "map value list", mapping: ruleDoc(`{field: A, map: {a: [1]}}`), wantErr: []want{{"record_to_task.attributes.v.map.a", "single value"}}},
		{name: "const list", mapping: ruleDoc(`{const: [1, 2]}`), wantErr: []want{{"record_to_task.attributes.v.const", "single value"}}},
		{name: "const empty", mapping: ruleDoc(`{const: null}`), wantErr: []want{{"record_to_task.attributes.v.const", "must have a value"}}},
		{name: "const nan", mapping: ruleDoc(`{const: .nan}`), wantErr: []want{{"record_to_task.attributes.v.const", "finite"}}},

		// field versus path
		{name: "path in record_to_task", mapping: ruleDoc(`{path: task.sid}`), wantErr: []want{{"record_to_task.attributes.v.path", "use field"}}},
		{name: "path in click_to_call", mapping: "click_to_call:\n  object: Contact\n  attributes:\n    to: {path: contact.phone}\n", wantErr: []want{{"click_to_call.attributes.to.path", "use field"}}},
		{name: "path in reminders", mapping: remindersDoc("  to: {path: contact.phone}\n", ""), wantErr: []want{{"reminders.to.path", "use field"}}},
		{name: "field in outcome", mapping: outcomeDoc("    CallObject: {field: Call_Sid__c}\n"), wantErr: []want{{"outcome_to_crm.fields.CallObject.field", "use path"}}},
		{name: "field in survey", mapping: surveyDoc("    Contact__c: {field: Id}\n"), wantErr: []want{{"survey_to_crm.fields.Contact__c.field", "use path"}}},
		{name: "outcome path root", mapping: outcomeDoc("    CallObject: {path: contact.id}\n"), wantErr: []want{{"outcome_to_crm.fields.CallObject.path", "task, worker, event"}}},
		{name: "survey path root", mapping: surveyDoc("    Contact__c: {path: task.sid}\n"), wantErr: []want{{"survey_to_crm.fields.Contact__c.path", "contact, survey"}}},
		{name: "path one segment", mapping: outcomeDoc("    CallObject: {path: task}\n"), wantErr: []want{{"outcome_to_crm.fields.CallObject.path", "dotted path"}}},
		{name: "path empty segment", mapping: outcomeDoc("    CallObject: {path: task..sid}\n"), wantErr: []want{{"outcome_to_crm.fields.CallObject.path", "dotted path"}}},

		// Salesforce names
		{name: "field with space", mapping: ruleDoc(`{field: First Name}`), wantErr: []want{{"record_to_task.attributes.v.field", "not a Salesforce field name"}}},
		{name: "field starting with digit", mapping: ruleDoc(`{field: 1Name}`), wantErr: []want{{"record_to_task.attributes.v.field", "not a Salesforce"}}},
		{name: "field trailing underscore", mapping: ruleDoc(`{field: Name__}`), wantErr: []want{{"record_to_task.attributes.v.field", "not a Salesforce"}}},
		{name: "field with dash", mapping: ruleDoc(`{field: First-Name}`), wantErr: []want{{"record_to_task.attributes.v.field", "not a Salesforce"}}},
		{name: "object dotted", mapping: "record_to_task:\n  object: Account.Contact\n  when: {field: S, create: [A]}\n", wantErr: []want{{"record_to_task.object", "not a Salesforce API name"}}},
		{name: "written field dotted", mapping: outcomeDoc("    Account.Name: {const: x}\n"), wantErr: []want{{"outcome_to_crm.fields.Account.Name", "not a Salesforce field name"}}},
		{name: "opt-out field bad", mapping: "contact_updates: {object: Contact, opt_out_field: SMS Opt Out}\n", wantErr: []want{{"contact_updates.opt_out_field", "not a Salesforce"}}},

		// required keys
		{name: "record_to_task without object", mapping: "record_to_task:\n  when: {field: S, create: [A]}\n", wantErr: []want{{"record_to_task.object", "is required"}}},
		{name: "record_to_task without when", mapping: "record_to_task:\n  object: Contact\n", wantErr: []want{{"record_to_task.when", "is required"}}},
		{name: "when without create", mapping: "record_to_task:\n  object: Contact\n  when: {field: S, cancel: [A]}\n", wantErr: []want{{"record_to_task.when.create", "is required"}}},
		{name: "when create empty", mapping: "record_to_task:\n  object: Contact\n  when: {field: S, create: []}\n", wantErr: []want{{"record_to_task.when.create", "non-empty list"}}},
		{name: "create and cancel overlap", mapping: "record_to_task:\n  object: Contact\n  when: {field: S, create: [A], cancel: [A]}\n", wantErr: []want{{"record_to_task.when.cancel", "also a create value"}}},
		{name: "click_to_call without object", mapping: "click_to_call:\n  attributes:\n    to: {field: MobilePhone}\n", wantErr: []want{{"click_to_call.object", "is required"}}},
		{name: "click_to_call without to", mapping: "click_to_call:\n  object: Contact\n  attributes:\n    name: {field: FirstName}\n", wantErr: []want{{"click_to_call.attributes.to", "is required"}}},
		{name: "outcome without external_id", mapping: "outcome_to_crm:\n  object: Task\n  fields:\n    Status: {const: Completed}\n", wantErr: []want{{"outcome_to_crm.external_id", "is required"}}},
		{name: "outcome without object", mapping: "outcome_to_crm:\n  external_id: Twilio_Task_Sid__c\n", wantErr: []want{{"outcome_to_crm.object", "is required"}}},
		{name: "survey without external_id", mapping: "survey_to_crm:\n  object: S__c\n  questions:\n    - {field: F__c, label: {en: F?}, type: yesno}\n", wantErr: []want{{"survey_to_crm.external_id", "is required"}}},
		{name: "survey without questions", mapping: "survey_to_crm:\n  object: S__c\n  external_id: K__c\n", wantErr: []want{{"survey_to_crm.questions", "is required"}}},
		{name: "contact_updates without field", mapping: "contact_updates: {object: Contact}\n", wantErr: []want{{"contact_updates.opt_out_field", "is required"}}},
		{name: "reminders without to", mapping: "reminders:\n  when: {field: M, active: [Active]}\n  templates: {en: '{{link}}'}\n", wantErr: []want{{"reminders.to", "is required"}}},
		{name: "reminders without templates", mapping: "reminders:\n  when: {field: M, active: [Active]}\n  to: {field: MobilePhone}\n", wantErr: []want{{"reminders.templates", "is required"}}},
		{name: "external id mapped", mapping: outcomeDoc("    Twilio_Task_Sid__c: {path: task.sid}\n"), wantErr: []want{{"outcome_to_crm.fields.Twilio_Task_Sid__c", "external_id"}}},
		{name: "follow_up needs Task", mapping: "outcome_to_crm:\n  object: Call__c\n  external_id: Sid__c\n  follow_up: {path: task.attributes.d}\n", wantErr: []want{{"outcome_to_crm.follow_up", "object Task"}}},
		{name: "follow_up with field", mapping: outcomeDoc("") + "  follow_up: {field: D__c}\n", wantErr: []want{{"outcome_to_crm.follow_up.field", "unknown key"}, {"outcome_to_crm.follow_up.path", "is required"}}},

		// attributes
		{name: "attribute conflict parent after", mapping: ruleDoc(`{const: 1}`) + "    v.x: {const: 2}\n", wantErr: []want{{"record_to_task.attributes.v.x", `conflicts with attribute "v"`}}},
		{name: "attribute conflict parent before", mapping: "record_to_task:\n  object: Contact\n  when: {field: S, create: [A]}\n  attributes:\n    case.number: {const: 1}\n    case: {const: 2}\n", wantErr: []want{{"record_to_task.attributes.case", `conflicts with attribute "case.number"`}}},
		{name: "attribute crm reserved", mapping: "record_to_task:\n  object: Contact\n  when: {field: S, create: [A]}\n  attributes:\n    crm: {const: 1}\n", wantErr: []want{{"record_to_task.attributes.crm", "set by the bridge"}}},
		{name: "attribute crm child reserved", mapping: "record_to_task:\n  object: Contact\n  when: {field: S, create: [A]}\n  attributes:\n    crm.record_id: {const: 1}\n", wantErr: []want{{"record_to_task.attributes.crm.record_id", "set by the bridge"}}},
		{name: "click_to_call targetWorker reserved", mapping: "click_to_call:\n  object: Contact\n  attributes:\n    to: {field: MobilePhone}\n    targetWorker: {const: WK1}\n", wantErr: []want{{"click_to_call.attributes.targetWorker", "set by the bridge"}}},
		{name: "attribute bad name", mapping: "record_to_task:\n  object: Contact\n  when: {field: S, create: [A]}\n  attributes:\n    a..b: {const: 1}\n", wantErr: []want{{"record_to_task.attributes.a..b", "attribute name"}}},
		{name: "priority map not int", mapping: "record_to_task:\n  object: Contact\n  when: {field: S, create: [A]}\n  priority: {field: P, map: {High: top}}\n", wantErr: []want{{"record_to_task.priority.map.High", "whole number"}}},
		{name: "priority default not int", mapping: "record_to_task:\n  object: Contact\n  when: {field: S, create: [A]}\n  priority: {field: P, default: high}\n", wantErr: []want{{"record_to_task.priority.default", "whole number"}}},

		// protected fields, everywhere
		{name: "protected in attribute", mapping: okProtected + ruleDoc(`{field: Index_Case_Name__c}`), wantErr: []want{{"record_to_task.attributes.v.field", "protected"}}},
		{name: "protected any case", mapping: okProtected + ruleDoc(`{field: index_case_name__C}`), wantErr: []want{{"record_to_task.attributes.v.field", "protected"}}},
		{name: "protected in relationship", mapping: okProtected + ruleDoc(`{field: Account.Index_Case_Name__c}`), wantErr: []want{{"record_to_task.attributes.v.field", "protected"}}},
		{name: "protected in when", mapping: okProtected + "record_to_task:\n  object: Contact\n  when: {field: Index_Case_Name__c, create: [A]}\n", wantErr: []want{{"record_to_task.when.field", "protected"}}},
		{name: "protected in priority", mapping: okProtected + okRTT + "  priority: {field: Index_Case_Name__c}\n", wantErr: []want{{"record_to_task.priority.field", "protected"}}},
		{name: "protected in map value", mapping: okProtected + ruleDoc(`{field: A, map: {x: Index_Case_Name__c}}`), wantErr: []want{{"record_to_task.attributes.v.map.x", "protected"}}},
		{name: "protected in const", mapping: okProtected + ruleDoc(`{const: Index_Case_Name__c}`), wantErr: []want{{"record_to_task.attributes.v.const", "protected"}}},
		{name: "protected as attribute name", mapping: okProtected + "record_to_task:\n  object: Contact\n  when: {field: S, create: [A]}\n  attributes:\n    Index_Case_Name__c: {const: x}\n", wantErr: []want{{"record_to_task.attributes.Index_Case_Name__c", "protected"}}},
		{name: "protected in click_to_call", mapping: okProtected + "click_to_call:\n  object: Contact\n  attributes:\n    to: {field: MobilePhone}\n    who: {field: Index_Case_Name__c}\n", wantErr: []want{{"click_to_call.attributes.who.field", "protected"}}},
		{name: "protected in event path", mapping: okProtected + outcomeDoc("    Description: {path: task.attributes.Index_Case_Name__c}\n"), wantErr: []want{{"outcome_to_crm.fields.Description.path", "protected"}}},
		{name: "protected written", mapping: okProtected + outcomeDoc("    Index_Case_Name__c: {const: x}\n"), wantErr: []want{{"outcome_to_crm.fields.Index_Case_Name__c", "protected"}}},
		{name: "protected question", mapping: okProtected + "survey_to_crm:\n  object: S__c\n  external_id: K__c\n  questions:\n    - {field: Index_Case_Name__c, label: {en: Who?}, type: text}\n", wantErr: []want{{"survey_to_crm.questions[0].field", "protected"}}},
		{name: "protected opt-out", mapping: okProtected + "contact_updates: {object: Contact, opt_out_field: Index_Case_Name__c}\n", wantErr: []want{{"contact_updates.opt_out_field", "protected"}}},
		{name: "protected reminders start", mapping: okProtected + remindersDoc("  start: {field: Index_Case_Name__c}\n", ""), wantErr: []want{{"reminders.start.field", "protected"}}},
		{name: "protected reminders when", mapping: okProtected + "reminders:\n  when: {field: Index_Case_Name__c, active: [A]}\n  to: {field: MobilePhone}\n  templates: {en: '{{link}}'}\n", wantErr: []want{{"reminders.when.field", "protected"}}},
		{name: "protected reminders name", mapping: okProtected + remindersDoc("  name: {field: Index_Case_Name__c}\n", ""), wantErr: []want{{"reminders.name.field", "protected"}}},
		{name: "protected external id", mapping: okProtected + "outcome_to_crm: {object: Task, external_id: Index_Case_Name__c}\n", wantErr: []want{{"outcome_to_crm.external_id", "protected"}}},
		{name: "protected list bad name", mapping: "protected: [Index Case]\n" + okRTT, wantErr: []want{{"protected[0]", "not a Salesforce"}}},
		{name: "protected not a list", mapping: "protected: {a: b}\n" + okRTT, wantErr: []want{{"protected", "list"}}},

		// reminders
		{name: "template unknown placeholder", mapping: remindersDoc("", "  templates: {en: 'Hi {{first_name}} {{link}}'}\n"), wantErr: []want{{"reminders.templates.en", "unknown placeholder {{first_name}}"}}},
		{name: "template spaced placeholder", mapping: remindersDoc("", "  templates: {en: 'Hi {{ name }} {{link}}'}\n"), wantErr: []want{{"reminders.templates.en", "unknown placeholder"}}},
		{name: "template unclosed", mapping: remindersDoc("", "  templates: {en: 'Hi {{name {{link}}'}\n"), wantErr: []want{{"reminders.templates.en", "unknown placeholder"}}},
		{name: "template open at end", mapping: remindersDoc("", "  templates: {en: '{{link}} {{'}\n"), wantErr: []want{{"reminders.templates.en", `"{{" without "}}"`}}},
		{name: "template stray close", mapping: remindersDoc("", "  templates: {en: '{{link}} }}'}\n"), wantErr: []want{{"reminders.templates.en", `"}}" without "{{"`}}},
		{name: "template without link", mapping: remindersDoc("", "  templates: {en: 'Hi {{name}}'}\n"), wantErr: []want{{"reminders.templates.en", "{{link}}"}}},
		{name: "template es bad", mapping: remindersDoc("", "  templates: {en: '{{link}}', es: 'Hola {{nombre}} {{link}}'}\n"), wantErr: []want{{"reminders.templates.es", "{{nombre}}"}}},
		{name: "templates without en", mapping: remindersDoc("", "  templates: {es: '{{link}}'}\n"), wantErr: []want{{"reminders.templates.en", "is required"}}},
		{name: "template bad language", mapping: remindersDoc("", "  templates: {en: '{{link}}', Spanish!: '{{link}}'}\n"), wantErr: []want{{"reminders.templates.Spanish!", "language code"}}},
		{name: "at hour", mapping: remindersDoc("", "  at: \"25:00\"\n"), wantErr: []want{{"reminders.at", "HH:MM"}}},
		{name: "at minute", mapping: remindersDoc("", "  at: \"10:60\"\n"), wantErr: []want{{"reminders.at", "HH:MM"}}},
		{name: "at no minutes", mapping: remindersDoc("", "  at: 10\n"), wantErr: []want{{"reminders.at", "HH:MM"}}},
		{name: "at words", mapping: remindersDoc("", "  at: ten am\n"), wantErr: []want{{"reminders.at", "HH:MM"}}},
		{name: "days zero", mapping: remindersDoc("", "  days: 0\n"), wantErr: []want{{"reminders.days", "1 to 35"}}},
		{name: "days too many", mapping: remindersDoc("", "  days: 36\n"), wantErr: []want{{"reminders.days", "1 to 35"}}},
		{name: "days fraction", mapping: remindersDoc("", "  days: 2.5\n"), wantErr: []want{{"reminders.days", "1 to 35"}}},
		{name: "days word", mapping: remindersDoc("", "  days: two\n"), wantErr: []want{{"reminders.days", "1 to 35"}}},
		{name: "start not a date", mapping: remindersDoc("  start: {field: S__c, transform: lower}\n", ""), wantErr: []want{{"reminders.start.transform", "date"}}},
		{name: "active empty", mapping: "reminders:\n  when: {field: M, active: []}\n  to: {field: MobilePhone}\n  templates: {en: '{{link}}'}\n", wantErr: []want{{"reminders.when.active", "non-empty"}}},

		// survey
		{name: "question type", mapping: "survey_to_crm:\n  object: S__c\n  external_id: K__c\n  questions:\n    - {field: A__c, label: {en: A?}, type: yesno}\n    - {field: B__c, label: {en: B?}, type: scale}\n", wantErr: []want{{"survey_to_crm.questions[1].type", `unknown question type "scale"`}}},
		{name: "question label without en", mapping: "survey_to_crm:\n  object: S__c\n  external_id: K__c\n  questions:\n    - {field: A__c, label: {es: ¿A?}, type: yesno}\n", wantErr: []want{{"survey_to_crm.questions[0].label.en", "is required"}}},
		{name: "question duplicate", mapping: "survey_to_crm:\n  object: S__c\n  external_id: K__c\n  questions:\n    - {field: A__c, label: {en: A?}, type: yesno}\n    - {field: a__c, label: {en: A again?}, type: text}\n", wantErr: []want{{"survey_to_crm.questions[1].field", "already asked"}}},
		{name: "question written by fields too", mapping: surveyDoc("    Fever__c: {const: true}\n"), wantErr: []want{{"survey_to_crm.fields.Fever__c", "already written"}}},
		{name: "questions empty", mapping: "survey_to_crm:\n  object: S__c\n  external_id: K__c\n  questions: []\n", wantErr: []want{{"survey_to_crm.questions", "non-empty"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.mapping))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tt.mapping)
			}
			if m != nil {
				t.Fatal("Parse returned a mapping with an error")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err is %T, want Errors", err)
			}
			for _, w := range tt.wantErr {
				found := false
				for _, fe := range errs {
					if fe.Path == w.path && strings.Contains(fe.Message, w.msg) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing error %s: …%s…; got:\n%v", w.path, w.msg, errs)
				}
			}
			if got := Validate([]byte(tt.mapping)); !reflect.DeepEqual(got, errs) {
				t.Errorf("Validate = %v, Parse = %v", got, errs)
			}
		})
	}
}

func remindersDoc(extra, override string) string {
	doc := "reminders:\n  when: {field: Monitoring_Status__c, active: [Active]}\n"
	if !strings.Contains(extra, "  to:") {
		doc += "  to: {field: MobilePhone, transform: e164}\n"
	}
	if !strings.Contains(override, "templates") {
		doc += "  templates: {en: 'Hi {{name}}: {{link}}'}\n"
	}
	return doc + extra + override
}

func outcomeDoc(fields string) string {
	doc := "outcome_to_crm:\n  object: Task\n  external_id: Twilio_Task_Sid__c\n"
	if fields != "" {
		doc += "  fields:\n" + fields
	}
	return doc
}

func surveyDoc(fields string) string {
	return "survey_to_crm:\n  object: Symptom_Survey__c\n  external_id: Survey_Key__c\n  questions:\n    - {field: Fever__c, label: {en: Fever?}, type: yesno}\n  fields:\n" + fields
}

func TestValidationCollectsEverything(t *testing.T) {
	doc := okProtected + `record_to_task:
  object: Contact
  when: {field: Outreach_Status__c, create: [Go]}
  attributes:
    a: {field: Index_Case_Name__c}
    b: {field: X, transform: nope}
outcome_to_crm:
  object: Task
reminders:
  when: {field: M, active: [A]}
  to: {field: MobilePhone}
  at: "7"
  templates: {en: "{{who}} {{link}}"}
`
	errs := Validate([]byte(doc))
	wantPaths := []string{
		"record_to_task.attributes.a.field",
		"record_to_task.attributes.b.transform",
		"outcome_to_crm.external_id",
		"reminders.at",
		"reminders.templates.en",
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Path)
	}
	if !reflect.DeepEqual(got, wantPaths) {
		t.Fatalf("paths = %v, want %v\n%v", got, wantPaths, errs)
	}
	if errs[0].Line != 6 {
		t.Errorf("line = %d, want 6", errs[0].Line)
	}
	if !strings.HasPrefix(errs.Error(), "5 problems") || !strings.Contains(errs.Error(), "\nreminders.at: ") {
		t.Errorf("Error() = %q", errs.Error())
	}
	b, _ := json.Marshal(errs[:1])
	if !strings.HasPrefix(string(b), `[{"path":"record_to_task.attributes.a.field","message":`) {
		t.Errorf("JSON = %s", b)
	}
}

func TestSectionsOptional(t *testing.T) {
	for _, doc := range []string{"{}", "protected: []\n", "protected:\n", "reminders:\nprotected: [A__c]\n", okRTT} {
		m := mustParse(t, doc)
		if doc != okRTT && (m.RecordToTask() != nil || m.Reminders() != nil || m.OutcomeToCRM() != nil) {
			t.Errorf("%q: absent sections must be nil", doc)
		}
		if o, f := m.OptOutField(); o != "" || f != "" {
			t.Errorf("OptOutField = %q %q", o, f)
		}
	}
}

func TestExample(t *testing.T) {
	yml := mustRead(t, "testdata/example.yaml")
	jsn := mustRead(t, "testdata/example.json")
	if errs := Validate(yml); errs != nil {
		t.Fatalf("example.yaml: %v", errs)
	}
	my := mustParse(t, string(yml))
	mj := mustParse(t, string(jsn))
	if string(my.Source()) != string(yml) {
		t.Error("Source must be the document as given")
	}
	a, _ := my.JSON()
	b, _ := mj.JSON()
	if string(a) != string(b) {
		t.Errorf("YAML and JSON differ:\n%s\n%s", a, b)
	}
	if _, err := Parse(a); err != nil {
		t.Errorf("JSON() does not parse: %v", err)
	}

	for _, m := range []*Mapping{my, mj} {
		r := m.RecordToTask()
		if r.Object() != "Contact" {
			t.Errorf("object = %q", r.Object())
		}
		wantFields := []string{"Case_Number__c", "FirstName", "MobilePhone", "Outreach_Status__c", "Preferred_Language__c", "Priority__c"}
		if got := r.Fields(); !reflect.DeepEqual(got, wantFields) {
			t.Errorf("RecordToTask.Fields = %v", got)
		}
		rec := Record{
			"Id": "003000000000001AAA", "Outreach_Status__c": "Needs Outreach", "Priority__c": "2",
			"FirstName": "Ana", "MobilePhone": "(617) 555-0199", "Preferred_Language__c": "Spanish",
			"Case_Number__c": "C-42", "Index_Case_Name__c": "Secret Person",
		}
		attrs, prio, err := r.Apply(rec)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"name": "Ana", "to": "+16175550199", "language": "es", "case_number": "C-42"}
		if !reflect.DeepEqual(attrs, want) || prio != 2 {
			t.Errorf("Apply = %v, %d", attrs, prio)
		}
		if r.Action(rec) != ActionCreate {
			t.Error("want create")
		}
		if got := m.Protected(); !reflect.DeepEqual(got, []string{"Index_Case_Name__c"}) {
			t.Errorf("Protected = %v", got)
		}
		all := m.RecordFields("Contact")
		for _, f := range all {
			if m.IsProtected(f) {
				t.Errorf("RecordFields reads protected %s", f)
			}
		}
		wantAll := []string{"Case_Number__c", "FirstName", "MobilePhone", "Monitoring_Start__c", "Monitoring_Status__c", "Outreach_Status__c", "Preferred_Language__c", "Priority__c", "SMS_Opt_Out__c"}
		if !reflect.DeepEqual(all, wantAll) {
			t.Errorf("RecordFields = %v", all)
		}
		if o, f := m.OptOutField(); o != "Contact" || f != "SMS_Opt_Out__c" {
			t.Errorf("OptOutField = %s %s", o, f)
		}
		qs := m.SurveyToCRM().Questions()
		if len(qs) != 3 || qs[0].Field != "Fever__c" || qs[2].Type != Text || qs[0].LabelFor("es") != "¿Tiene fiebre?" {
			t.Errorf("Questions = %+v", qs)
		}
		rem := m.Reminders()
		if rem.Days() != 14 || rem.Object() != "Contact" {
			t.Errorf("reminders days %d object %s", rem.Days(), rem.Object())
		}
		if h, mi := rem.At(); h != 10 || mi != 0 {
			t.Errorf("At = %d:%d", h, mi)
		}
	}
}

func TestProtectedHelpers(t *testing.T) {
	m := mustParse(t, string(mustRead(t, "testdata/example.yaml")))
	for name, want := range map[string]bool{
		"Index_Case_Name__c": true, "INDEX_CASE_NAME__C": true, "Account.Index_Case_Name__c": true,
		"FirstName": false, "Index_Case_Name__c2": false,
	} {
		if got := m.IsProtected(name); got != want {
			t.Errorf("IsProtected(%q) = %v", name, got)
		}
	}
	rec := Record{"FirstName": "Ana", "index_case_name__c": "x", "Account": map[string]any{"Index_Case_Name__c": "y", "Name": "z"}}
	got := m.Redact(rec)
	want := Record{"FirstName": "Ana", "Account": map[string]any{"Name": "z"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Redact = %v", got)
	}
	if _, ok := rec["index_case_name__c"]; !ok {
		t.Error("Redact must not modify its input")
	}
}

func TestLargeDocuments(t *testing.T) {
	var keys, attrs strings.Builder
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&keys, "k%d: 1\n", i)
		fmt.Fprintf(&attrs, "    a%d.b%d: {const: 1}\n", i%100, i)
	}
	errs := Validate([]byte(keys.String()))
	if len(errs) != maxErrors+1 || !strings.Contains(errs[maxErrors].Message, "4900 more problems") {
		t.Errorf("errors not capped: %d, last %v", len(errs), errs[len(errs)-1])
	}
	mustParse(t, "record_to_task:\n  object: Contact\n  when: {field: S, create: [A]}\n  attributes:\n"+attrs.String())
	if errs := Validate([]byte(strings.Repeat("[", 20000) + strings.Repeat("]", 20000))); len(errs) != 1 {
		t.Errorf("deep nesting: %v", errs)
	}
	if errs := Validate(make([]byte, MaxDocumentSize+1)); len(errs) != 1 || !strings.Contains(errs[0].Message, "larger") {
		t.Errorf("size limit: %v", errs)
	}
}

// BRIDGE_PROTECTED_FIELDS cannot be lifted by the document: `protected: []`
// still refuses a rule reading one, and the compiled mapping protects it.
func TestParseProtectedAlways(t *testing.T) {
	doc := []byte("record_to_task:\n  object: Contact\n  when: {field: Outreach_Status__c, create: [Needs Outreach]}\n" +
		"  attributes:\n    to: {field: MobilePhone, transform: e164, required: true}\n    index: {field: index_case_name__c}\nprotected: []\n")
	if _, err := Parse(doc); err != nil {
		t.Fatalf("without the always-protected list the document is valid: %v", err)
	}
	_, err := ParseProtected(doc, []string{"Index_Case_Name__c"})
	var errs Errors
	if !errors.As(err, &errs) || len(errs) == 0 || errs[0].Path != "record_to_task.attributes.index.field" {
		t.Fatalf("err = %v, want one at record_to_task.attributes.index.field", err)
	}
	if got := ValidateProtected(doc, []string{"Index_Case_Name__c"}); len(got) == 0 {
		t.Fatal("ValidateProtected found nothing")
	}
	m, err := ParseProtected([]byte("protected: [Other__c]\n"), []string{"Index_Case_Name__c"})
	if err != nil {
		t.Fatal(err)
	}
	if !m.IsProtected("INDEX_CASE_NAME__C") || !m.IsProtected("Other__c") || len(m.Protected()) != 2 {
		t.Fatalf("compiled protected list %v", m.Protected())
	}
}
