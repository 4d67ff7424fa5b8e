package mapping

import "testing"

func TestSummarize(t *testing.T) {
	base := `
record_to_task:
  object: Contact
  attributes:
    to: {field: MobilePhone, transform: e164}
    name: {field: FirstName}
protected: [Index_Case_Name__c]
`
	tests := []struct {
		name       string
		prev, next string
		want       string
	}{
		{name: "first version", prev: "", next: base, want: "added protected, record_to_task"},
		{name: "same", prev: base, next: base, want: "no changes (formatting or comments only)"},
		{name: "comment only", prev: base, next: base + "# note\n", want: "no changes (formatting or comments only)"},
		{name: "flow vs block style", prev: base, next: `
record_to_task:
  object: Contact
  attributes:
    to:
      field: MobilePhone
      transform: e164
    name: {field: FirstName}
protected: [Index_Case_Name__c]
`, want: "no changes (formatting or comments only)"},
		{name: "rule changed deep", prev: base, next: `
record_to_task:
  object: Contact
  attributes:
    to: {field: MobilePhone, transform: nope}
    name: {field: FirstName}
protected: [Index_Case_Name__c]
`, want: "changed record_to_task.attributes.to"},
		{name: "added and removed", prev: base, next: `
record_to_task:
  object: Contact
  attributes:
    to: {field: MobilePhone, transform: e164}
    language: {field: Lang__c}
reminders: {days: 14}
protected: [Index_Case_Name__c, Other__c]
`, want: "changed protected; added record_to_task.attributes.language, reminders; removed record_to_task.attributes.name"},
		{name: "many", prev: "a: {b: 1, c: 1, d: 1, e: 1, f: 1, g: 1}", next: "a: {b: 2, c: 2, d: 2, e: 2, f: 2, g: 2}",
			want: "changed a.b, a.c, a.d, a.e and 2 more"},
		{name: "section emptied", prev: base, next: "record_to_task:\nprotected: [Index_Case_Name__c]\n", want: "removed record_to_task"},
		{name: "unreadable", prev: "a: [", next: base, want: "replaced the document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Summarize([]byte(tc.prev), []byte(tc.next)); got != tc.want {
				t.Fatalf("Summarize = %q, want %q", got, tc.want)
			}
		})
	}
}
