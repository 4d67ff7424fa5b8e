package mapping

import (
	"errors"
	"testing"
)

// FuzzParse: Parse never panics, every refusal says why, and a document it
// accepts can be applied and round-trips through JSON().
func FuzzParse(f *testing.F) {
	f.Add(mustRead(f, "testdata/example.yaml"))
	f.Add(mustRead(f, "testdata/example.json"))
	rec := Record{
		"Outreach_Status__c": "Needs Outreach", "Monitoring_Status__c": "Active", "FirstName": "Ana",
		"MobilePhone": "6175550199", "Priority__c": 3.0, "Account": map[string]any{"Name": "x"},
		"Index_Case_Name__c": "secret",
	}
	ev := map[string]any{
		"task":    map[string]any{"sid": "WT1", "age": 5.0, "attributes": map[string]any{"crm": map[string]any{"record_id": "003A"}, "follow_up_date": "2025-01-02"}},
		"contact": map[string]any{"id": "003A"},
		"survey":  map[string]any{"date": "2025-01-02"},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 || m != nil {
				t.Fatalf("refusal without reasons: %v", err)
			}
			return
		}
		j, err := m.JSON()
		if err != nil {
			t.Fatalf("JSON: %v", err)
		}
		if _, err := Parse(j); err != nil {
			t.Fatalf("JSON() does not parse: %v\n%s", err, j)
		}
		if r := m.RecordToTask(); r != nil {
			r.Action(rec)
			attrs, _, _ := r.Apply(rec)
			if hasValue(attrs, "secret") {
				t.Fatal("protected value left through record_to_task")
			}
		}
		if c := m.ClickToCall(); c != nil {
			attrs, _ := c.Apply(rec)
			if hasValue(attrs, "secret") {
				t.Fatal("protected value left through click_to_call")
			}
		}
		if o := m.OutcomeToCRM(); o != nil {
			_, _, _ = o.Apply(ev)
		}
		if s := m.SurveyToCRM(); s != nil {
			_, _ = s.Apply(ev, map[string]string{"Fever__c": "yes"})
		}
		if r := m.Reminders(); r != nil {
			r.Active(rec)
			r.Start(rec)
			_, _ = r.To(rec)
			r.Render(r.Language(rec), r.Name(rec), "L")
			if r.Name(rec) == "secret" {
				t.Fatal("protected value left through reminders")
			}
		}
		for _, f := range m.RecordFields("Contact") {
			if m.IsProtected(f) {
				t.Fatalf("reads protected field %s", f)
			}
		}
	})
}

func hasValue(tree map[string]any, s string) bool {
	for _, v := range tree {
		if v == s {
			return true
		}
		if sub, ok := v.(map[string]any); ok && hasValue(sub, s) {
			return true
		}
	}
	return false
}
