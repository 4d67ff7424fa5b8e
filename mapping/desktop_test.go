package mapping

import (
	"reflect"
	"strings"
	"testing"
)

func TestCallerLookup(t *testing.T) {
	m := mustParse(t, `caller_lookup:
  objects:
    - {object: Contact, phone_fields: [MobilePhone, Phone], label: {field: FirstName}}
    - {object: Lead, phone_fields: [Phone], label: {field: Name, transform: upper}}
`)
	objs := m.CallerLookup().Objects()
	if len(objs) != 2 || objs[0].Object() != "Contact" || objs[1].Object() != "Lead" {
		t.Fatalf("objects = %+v", objs)
	}
	if got := objs[0].Fields(); !reflect.DeepEqual(got, []string{"FirstName", "MobilePhone", "Phone"}) {
		t.Errorf("Fields = %v", got)
	}
	if got := objs[0].PhoneFields(); !reflect.DeepEqual(got, []string{"MobilePhone", "Phone"}) {
		t.Errorf("PhoneFields = %v", got)
	}
	if got := objs[1].Label(Record{"Name": "jo"}); got != "JO" {
		t.Errorf("Label = %q", got)
	}
	if got := objs[0].Label(Record{}); got != "" {
		t.Errorf("Label of nothing = %q", got)
	}
	if m.CallerLookup().Fingerprint() == "" {
		t.Error("no fingerprint")
	}
	other := mustParse(t, "caller_lookup:\n  objects:\n    - {object: Contact, phone_fields: [Phone], label: {field: FirstName}}\n")
	if other.CallerLookup().Fingerprint() == m.CallerLookup().Fingerprint() {
		t.Error("a different section has the same fingerprint")
	}
	var absent *CallerLookup
	if absent.Objects() != nil || absent.Fingerprint() != "" {
		t.Error("absent section must be empty")
	}
}

func TestCallerLookupAndDispositionsRefused(t *testing.T) {
	const outcome = "outcome_to_crm:\n  object: Task\n  external_id: Twilio_Task_Sid__c\n"
	tests := []struct {
		name, doc, path, msg string
	}{
		{"protected phone field", "protected: [Secret_Phone__c]\ncaller_lookup:\n  objects:\n    - {object: Contact, phone_fields: [Secret_Phone__c], label: {field: FirstName}}\n", "caller_lookup.objects[0].phone_fields[0]", "protected"},
		{"protected label", "protected: [Index_Case_Name__c]\ncaller_lookup:\n  objects:\n    - {object: Contact, phone_fields: [Phone], label: {field: Index_Case_Name__c}}\n", "caller_lookup.objects[0].label.field", "protected"},
		{"protected label through a relationship", "protected: [Index_Case_Name__c]\ncaller_lookup:\n  objects:\n    - {object: Contact, phone_fields: [Phone], label: {field: Account.Index_Case_Name__c}}\n", "caller_lookup.objects[0].label.field", "protected"},
		{"unknown section key", "caller_lookup:\n  objects: []\n  sosl: true\n", "caller_lookup.sosl", "unknown key"},
		{"unknown object key", "caller_lookup:\n  objects:\n    - {object: Contact, phone_fields: [Phone], label: {field: FirstName}, where: x}\n", "caller_lookup.objects[0].where", "unknown key"},
		{"no objects", "caller_lookup:\n  objects: []\n", "caller_lookup.objects", "non-empty list"},
		{"objects missing", "caller_lookup: {}\n", "caller_lookup.objects", "required"},
		{"no phone fields", "caller_lookup:\n  objects:\n    - {object: Contact, phone_fields: [], label: {field: FirstName}}\n", "caller_lookup.objects[0].phone_fields", "non-empty"},
		{"phone field not a name", "caller_lookup:\n  objects:\n    - {object: Contact, phone_fields: [\"Phone; DROP\"], label: {field: FirstName}}\n", "caller_lookup.objects[0].phone_fields[0]", "not a Salesforce API name"},
		{"phone field twice", "caller_lookup:\n  objects:\n    - {object: Contact, phone_fields: [Phone, phone], label: {field: FirstName}}\n", "caller_lookup.objects[0].phone_fields[1]", "twice"},
		{"object twice", "caller_lookup:\n  objects:\n    - {object: Contact, phone_fields: [Phone], label: {field: FirstName}}\n    - {object: contact, phone_fields: [Phone], label: {field: FirstName}}\n", "caller_lookup.objects[1].object", "twice"},
		{"label missing", "caller_lookup:\n  objects:\n    - {object: Contact, phone_fields: [Phone]}\n", "caller_lookup.objects[0].label", "required"},
		{"label reads an event", "caller_lookup:\n  objects:\n    - {object: Contact, phone_fields: [Phone], label: {path: task.x}}\n", "caller_lookup.objects[0].label.path", "Salesforce record"},
		{"object missing", "caller_lookup:\n  objects:\n    - {phone_fields: [Phone], label: {field: FirstName}}\n", "caller_lookup.objects[0].object", "required"},
		{"dispositions not a list", outcome + "  dispositions: Reached\n", "outcome_to_crm.dispositions", "list"},
		{"dispositions empty", outcome + "  dispositions: []\n", "outcome_to_crm.dispositions", "non-empty"},
		{"disposition twice", outcome + "  dispositions: [Reached, reached]\n", "outcome_to_crm.dispositions[1]", "twice"},
		{"disposition too long", outcome + "  dispositions: [" + strings.Repeat("x", 256) + "]\n", "outcome_to_crm.dispositions[0]", "255"},
		{"disposition a mapping", outcome + "  dispositions: [{a: b}]\n", "outcome_to_crm.dispositions[0]", "single value"},
		{"disposition blank", outcome + "  dispositions: [\" \"]\n", "outcome_to_crm.dispositions[0]", "non-empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := Validate([]byte(tc.doc))
			for _, e := range errs {
				if e.Path == tc.path && strings.Contains(e.Message, tc.msg) {
					return
				}
			}
			t.Errorf("want %s: %q; got %v", tc.path, tc.msg, errs)
		})
	}
}

func TestDispositions(t *testing.T) {
	m := mustParse(t, "outcome_to_crm:\n  object: Task\n  external_id: Twilio_Task_Sid__c\n  dispositions: [Reached, No answer, Left voicemail]\n")
	if got := m.OutcomeToCRM().Dispositions(); !reflect.DeepEqual(got, []string{"Reached", "No answer", "Left voicemail"}) {
		t.Errorf("Dispositions = %v", got)
	}
	m = mustParse(t, "outcome_to_crm:\n  object: Task\n  external_id: Twilio_Task_Sid__c\n")
	if got := m.OutcomeToCRM().Dispositions(); got != nil {
		t.Errorf("no dispositions configured: %v", got)
	}
	var none *Outcome
	if none.Dispositions() != nil {
		t.Error("nil section")
	}
}

func TestE164(t *testing.T) {
	for _, in := range []string{"+17185550199", "(718) 555-0199", "718-555-0199", "718 555 0199", "7185550199"} {
		if got, ok := E164(in); !ok || got != "+17185550199" {
			t.Errorf("E164(%q) = %q %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "abc", "12", "+1718555019999999"} {
		if got, ok := E164(in); ok {
			t.Errorf("E164(%q) = %q, want refusal", in, got)
		}
	}
}
